"""`clout follow`: print score changes or threshold crossings from the feed as they happen."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError

from app.feed import ScoreFeed, ScoreRecord, ThresholdRecord
from app.settings import Settings, get_settings


def register(subparsers: Any) -> None:
    """Add the `follow` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "follow",
        help="print score changes from the score feed as they happen",
        description=(
            "Follow the worker's score feed (CLOUT_TOPIC_SCORES) until Ctrl-C. Without --group "
            "nothing is committed and printing starts at the end of the topic."
        ),
    )
    parser.add_argument(
        "--thresholds",
        action="store_true",
        help="follow threshold crossings (CLOUT_TOPIC_SCORE_THRESHOLDS) instead",
    )
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the beginning (the scores topic: every user's latest score first)",
    )
    parser.add_argument(
        "--group", help="join this consumer group: resume where it stopped, commit as it prints"
    )
    parser.add_argument("--json", action="store_true", help="print each record's JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print records until interrupted; exit status 1 when Kafka cannot be read."""
    try:
        asyncio.run(follow(get_settings(), args))
    except KafkaError as exc:
        print(f"clout follow: Kafka unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


async def follow(settings: Settings, args: argparse.Namespace) -> None:
    """Print every record of the feed as it arrives (committing after each with --group)."""
    feed = ScoreFeed(
        settings,
        group=args.group,
        from_beginning=args.from_beginning,
        thresholds=args.thresholds,
    )
    async with feed:
        async for record in feed:
            print(record.to_json().decode() if args.json else describe(record), flush=True)
            if args.group:
                await feed.commit()


def describe(record: ScoreRecord | ThresholdRecord) -> str:
    """One line for a person: when, who, what changed, and why."""
    when = datetime.fromtimestamp(record.updated_at / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    was = "new" if record.previous is None else f"{record.previous:.1f}"
    if isinstance(record, ThresholdRecord):
        arrow = "above" if record.direction == "up" else "below"
        return (
            f"{when}  {record.user_id}  {record.direction} {arrow} {record.threshold:g}"
            f"  ({was} -> {record.score:.1f}, {record.cause})"
        )
    return f"{when}  {record.user_id}  {was} -> {record.score:.1f}  ({record.cause})"
