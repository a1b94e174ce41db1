"""Where a "since" window starts: a day in the history, or a time ago (`7d`, `24h`, `90m`).

Used by the client, the API and the CLI alike, so `?since=` and `--since` accept the same text.
The window starts at a daily snapshot (app/scoring/attribution.py): for a day, that day's; for a
time ago, the newest snapshot taken at or before that instant, or, when the history does not
reach back that far, its oldest one (the answer says which day it started from).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from app.scoring.attribution import Snapshot
from app.scoring.decay import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE
from app.store.keys import HISTORY_DAYS

_UNITS_MS = {"m": MS_PER_MINUTE, "h": MS_PER_HOUR, "d": MS_PER_DAY}
_AGO = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")
MAX_AGO_MS = HISTORY_DAYS * MS_PER_DAY
SINCE_HELP = "a day in the history (YYYY-MM-DD) or a time ago: 24h, 7d, 30d, 90m (up to 90d)"


@dataclass(frozen=True, slots=True)
class Since:
    """The start of a window: a history `day`, or else `ago_ms` before now."""

    text: str
    day: date | None = None
    ago_ms: int = 0

    def pick(self, snapshots: Mapping[str, Snapshot], now_ms: int) -> tuple[str, Snapshot] | None:
        """The (day, snapshot) the window starts from, or None when there is none to start from."""
        if self.day is not None:
            key = self.day.isoformat()
            found = snapshots.get(key)
            return None if found is None else (key, found)
        instant = now_ms - self.ago_ms
        ordered = sorted(snapshots.items(), key=lambda item: item[1].updated_at_ms)
        before = [item for item in ordered if item[1].updated_at_ms <= instant]
        if before:
            return before[-1]
        return ordered[0] if ordered else None


def parse_since(text: str) -> Since:
    """`Since` from its text; ValueError with what is accepted otherwise."""
    value = text.strip()
    match = _AGO.match(value)
    if match:
        ago_ms = int(match[1]) * _UNITS_MS[match[2]]
        if ago_ms > MAX_AGO_MS:
            raise ValueError(f"since {text!r} is beyond the {HISTORY_DAYS}-day history")
        return Since(value, ago_ms=ago_ms)
    try:
        return Since(value, day=date.fromisoformat(value))
    except ValueError:
        raise ValueError(f"since {text!r} is not {SINCE_HELP}") from None
