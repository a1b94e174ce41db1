"""The dashboard in a terminal (`clout lag`): the same `/ops/lag` document drawn with rich.

It renders the JSON document rather than the Snapshot object so that a snapshot fetched from a
running dashboard (`clout lag --url`) and one computed locally look exactly alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "OK": "bold green",
    "WARN": "bold yellow",
    "ERR": "bold red",
    "STOP": "bold red",
    "STALL": "bold magenta",
    "REWIND": "bold dark_orange",
}


def fmt_int(value: float | None) -> str:
    """Thousands-separated integer, or a dash when unknown."""
    return "-" if value is None else f"{round(value):,}"


def fmt_rate(value: float | None) -> str:
    """A rate with a sensible number of decimals."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{round(value):,}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def fmt_duration(seconds: float | None) -> str:
    """Seconds as a short human duration (``4.2 s``, ``3 min 5 s``, ``2 h 1 min``)."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{round(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {round(seconds % 60)} s"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return f"{int(seconds // 86400)} d {int(seconds % 86400 // 3600)} h"


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, "bold"))


def _lag_seconds(row: Mapping[str, Any]) -> str:
    prefix = {"lower_bound": "≥ ", "extrapolated": "~ "}.get(
        row.get("lag_seconds_method") or "", ""
    )
    value = row.get("lag_seconds")
    return "-" if value is None else prefix + fmt_duration(value)


def _eta(eta: float | None, lag: int | None) -> str:
    if lag == 0:
        return "caught up"
    if eta is None:
        return "not catching up" if lag else "-"
    return fmt_duration(eta)


def render(doc: Mapping[str, Any]) -> RenderableType:
    """Header line, pipeline health, one table row per partition, then the score feed."""
    summary, pipeline, poll = doc["summary"], doc["pipeline"], doc["poll"]
    header = Text.assemble(
        ("group ", "dim"),
        (doc["group"], "bold"),
        "  ",
        _status(doc["status"]),
        ("  state ", "dim"),
        doc.get("group_state") or "unknown",
        ("  members ", "dim"),
        str(len(doc["members"])),
        ("  total lag ", "dim"),
        (fmt_int(summary["total_lag"]), "bold"),
        ("  max lag ", "dim"),
        fmt_duration(summary["max_lag_seconds"]),
        ("  catch-up ", "dim"),
        _eta(summary["eta_s"], summary["total_lag"]),
    )
    redis = pipeline.get("redis")
    if redis is None:
        redis_text = "unknown"
    elif redis["reachable"]:
        memory = redis.get("used_memory_bytes")
        redis_text = "up" + ("" if memory is None else f", {memory / 1048576:.1f} MiB used")
    else:
        redis_text = f"DOWN ({redis.get('error')})"
    last_write = None if redis is None else redis.get("last_write_age_s")
    health = Text.assemble(
        ("events/s ", "dim"),
        fmt_rate(pipeline["events_per_s"]),
        ("  produced/s ", "dim"),
        fmt_rate(summary["produce_rate"]),
        ("  dead letters/min ", "dim"),
        fmt_rate(pipeline["dead_letters_per_min"]),
        ("  redis ", "dim"),
        redis_text,
        ("  newest score write ", "dim"),
        "none yet" if last_write is None else fmt_duration(last_write) + " ago",
    )
    table = Table(show_edge=False, header_style="bold dim", pad_edge=False)
    for name, justify in (
        ("topic", "left"),
        ("part", "right"),
        ("status", "left"),
        ("lag", "right"),
        ("lag time", "right"),
        ("end", "right"),
        ("committed", "right"),
        ("log start", "right"),
        ("consumed/s", "right"),
        ("produced/s", "right"),
        ("catch-up", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("owner / note", overflow="ellipsis", no_wrap=True, max_width=48)
    for row in doc["partitions"]:
        note = row["error"] or ("warming up" if row["warming_up"] else row["owner"] or "unassigned")
        table.add_row(
            row["topic"],
            "-" if row["partition"] < 0 else str(row["partition"]),
            _status(row["status"]),
            fmt_int(row["lag"]),
            _lag_seconds(row),
            fmt_int(row["end"]),
            "none" if row["committed"] is None else fmt_int(row["committed"]),
            fmt_int(row["log_start"]),
            fmt_rate(row["consume_rate"]),
            fmt_rate(row["produce_rate"]),
            "-" if row["error"] else _eta(row["eta_s"], row["lag"]),
            Text(note, style="red" if row["error"] else "dim"),
        )
    parts: list[RenderableType] = [header, health]
    if poll.get("error"):
        parts.append(Text(f"Kafka could not be read: {poll['error']}", style="bold red"))
    parts.append(table)
    if doc.get("feed"):
        parts.append(_feed_table(doc["feed"]))
    return Group(*parts)


def _feed_table(rows: list[Mapping[str, Any]]) -> Table:
    """The score feed's topics, with each reading group's lag (as the page's feed table)."""
    table = Table(title="score feed", show_edge=False, header_style="bold dim", pad_edge=False)
    for name, justify in (
        ("topic", "left"),
        ("consumer group", "left"),
        ("partitions", "right"),
        ("records", "right"),
        ("lag", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        group = Text("no consumer", style="dim") if row["group"] is None else row["group"]
        table.add_row(
            row["topic"], group, str(row["partitions"]), fmt_int(row["end"]), fmt_int(row["lag"])
        )
    return table
