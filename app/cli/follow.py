"""`clout follow`: print score changes or threshold crossings from the feed as they happen."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError

from app.core.settings import Settings, get_settings
from app.kafka.score_feed import ScoreFeed, ScoreRecord, ThresholdRecord


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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Either stops `clout follow` cleanly (consumer closed, group left), exiting 128 + its number."""


def run(args: argparse.Namespace) -> int:
    """Print records until SIGINT or SIGTERM; exit status 1 when Kafka cannot be read."""
    try:
        return asyncio.run(follow_until_stopped(get_settings(), args))
    except KafkaError as exc:
        print(f"clout follow: Kafka unavailable: {exc}", file=sys.stderr)
        return 1


async def follow_until_stopped(settings: Settings, args: argparse.Namespace) -> int:
    """`follow` until a stop signal; returns the exit status (130 for Ctrl-C, 143 for SIGTERM).

    The handlers are installed whatever disposition the process inherited: a shell starts a
    script's background job with SIGINT ignored, and Python then never turns Ctrl-C into
    KeyboardInterrupt, so `clout follow` started that way used to ignore it for good.
    """
    loop = asyncio.get_running_loop()
    following = asyncio.current_task()
    assert following is not None  # we run inside asyncio.run
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        following.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        await follow(settings, args)
    except asyncio.CancelledError:
        if not received:
            raise
        return 128 + received[0]
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
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
        driver = f"; {record.driver}" if record.driver else ""
        return (
            f"{when}  {record.user_id}  {record.direction} {arrow} {record.threshold:g}"
            f"  ({was} -> {record.score:.1f}, {record.cause}{driver})"
        )
    return f"{when}  {record.user_id}  {was} -> {record.score:.1f}  ({record.cause})"
