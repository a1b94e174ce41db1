"""`clout publish FILE`: send newline-delimited JSON events to Kafka through the producer SDK.

Each non-blank line is one event object with a ``"kind"`` field ("like", "share" or "mention"),
unless ``--kind`` gives the kind of every line. Events go to Kafka in envelopes (up to 500
events of one topic and partition per message) unless ``--no-envelopes`` sends one per message.
Lines are validated with the worker's rules; the summary lists every rejected line with its
number and reason, and the exit code is 1 if any line was rejected (2 if the file cannot be read
or Kafka cannot be reached).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.core.settings import get_settings
from app.kafka.publisher import EventPublisher, parse_kind
from app.scoring.events import InvalidEvent, Kind

CHUNK_LINES = 1000
"""Lines validated and sent per `publish_many` call: bounds memory and paces the progress bar."""


@dataclass
class PublishSummary:
    """Outcome of a file: how many lines were accepted, and each rejected line's reason."""

    accepted: int = 0
    blank: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def register(subparsers: Any) -> None:
    """Add the `publish` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "publish", help="validate and send newline-delimited JSON events to Kafka"
    )
    parser.add_argument("file", help='NDJSON file of events ("-" reads standard input)')
    parser.add_argument(
        "--kind",
        choices=[k.value for k in Kind],
        help='kind of every event (otherwise each line needs a "kind" field)',
    )
    parser.add_argument(
        "--show",
        type=int,
        default=100,
        metavar="N",
        help="list at most N rejected lines in the summary (0: all; default 100)",
    )
    parser.add_argument(
        "--no-envelopes",
        action="store_true",
        help="one event per Kafka message (default: envelopes of up to 500 per partition)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Publish the file and print the summary; see the module docstring for exit codes."""
    console = Console(stderr=True)
    try:
        stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        console.print(f"[red]cannot read {args.file}:[/red] {exc}")
        return 2
    try:
        summary = asyncio.run(
            publish_file(stream, args.kind, console, envelopes=not args.no_envelopes)
        )
    except (KafkaError, OSError) as exc:
        console.print(f"[red]publishing failed:[/red] {type(exc).__name__}: {exc}")
        return 2
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    print_summary(summary, console, args.show)
    return 1 if summary.rejected else 0


async def publish_file(
    stream: IO[bytes], kind: str | None, console: Console, *, envelopes: bool = True
) -> PublishSummary:
    """Read, validate and send every line of `stream`, chunk by chunk, with a progress bar."""
    summary = PublishSummary()
    total = _size_of(stream)
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if total is None else TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("accepted {task.fields[accepted]:,}  rejected {task.fields[rejected]:,}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    async with EventPublisher(get_settings(), envelopes=envelopes) as publisher:
        with progress:
            task = progress.add_task("publishing", total=total, accepted=0, rejected=0)
            for chunk, consumed in _chunks(stream):
                events: list[tuple[Kind, object]] = []
                numbers: list[int] = []
                for number, line in chunk:
                    if not line.strip():
                        summary.blank += 1
                        continue
                    try:
                        events.append(parse_line(line, kind))
                        numbers.append(number)
                    except InvalidEvent as exc:
                        summary.rejected.append((number, exc.reason))
                for number, result in zip(
                    numbers, await publisher.publish_many(events), strict=True
                ):
                    if result.accepted:
                        summary.accepted += 1
                    else:
                        summary.rejected.append((number, result.reason or "rejected"))
                progress.update(
                    task,
                    advance=consumed if total is not None else len(chunk),
                    accepted=summary.accepted,
                    rejected=len(summary.rejected),
                )
    summary.rejected.sort()
    return summary


def parse_line(line: bytes, forced_kind: str | None) -> tuple[Kind, object]:
    """(kind, event object) from one NDJSON line; InvalidEvent says why it is unusable."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc.msg}") from exc
    if not isinstance(obj, dict):
        raise InvalidEvent("not an object")
    named = obj.get("kind")
    if forced_kind is not None:
        if named is not None and named != forced_kind:
            raise InvalidEvent(f"kind {str(named)[:32]!r} conflicts with --kind {forced_kind}")
        return Kind(forced_kind), obj
    if named is None:
        raise InvalidEvent("missing field: kind")
    if not isinstance(named, str):
        raise InvalidEvent("wrong type: kind")
    return parse_kind(named), obj


def print_summary(summary: PublishSummary, console: Console, show: int) -> None:
    """Counts, then the rejected lines (number and reason), at most `show` of them (0: all)."""
    out = Console()
    rejected = len(summary.rejected)
    colour = "red" if rejected else "green"
    out.print(
        f"[{colour}]accepted {summary.accepted:,}, rejected {rejected:,}[/{colour}]"
        + (f" ({summary.blank:,} blank lines skipped)" if summary.blank else "")
    )
    if not rejected:
        return
    listed = summary.rejected if show <= 0 else summary.rejected[:show]
    table = Table(title="Rejected lines")
    table.add_column("line", justify="right")
    table.add_column("reason")
    for number, reason in listed:
        table.add_row(str(number), reason)
    out.print(table)
    if len(listed) < rejected:
        out.print(f"... and {rejected - len(listed):,} more (use --show 0 to list all)")


def _chunks(stream: IO[bytes]) -> Iterator[tuple[list[tuple[int, bytes]], int]]:
    """(lines numbered from 1, bytes consumed) in chunks of CHUNK_LINES."""
    chunk: list[tuple[int, bytes]] = []
    consumed = 0
    for number, line in enumerate(stream, start=1):
        chunk.append((number, line))
        consumed += len(line)
        if len(chunk) >= CHUNK_LINES:
            yield chunk, consumed
            chunk, consumed = [], 0
    if chunk:
        yield chunk, consumed


def _size_of(stream: IO[bytes]) -> int | None:
    """The file's size for a byte-based progress bar; None for pipes."""
    try:
        size = os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):
        return None
    return size if size > 0 else None
