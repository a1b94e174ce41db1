"""`clout publish`: turning one NDJSON line into (kind, event), or a reason it cannot be."""

from __future__ import annotations

import pytest

from app.cli.publish import parse_line
from app.scoring.events import InvalidEvent, Kind


def test_the_kind_comes_from_the_line() -> None:
    kind, obj = parse_line(b'{"kind": "share", "event_id": "e1"}\n', None)
    assert kind is Kind.SHARE
    assert obj == {"kind": "share", "event_id": "e1"}


def test_forced_kind_applies_to_lines_without_one_and_agrees_with_the_rest() -> None:
    assert parse_line(b'{"event_id": "e1"}', "like")[0] is Kind.LIKE
    assert parse_line(b'{"kind": "like", "event_id": "e1"}', "like")[0] is Kind.LIKE


@pytest.mark.parametrize(
    ("line", "forced", "reason"),
    [
        (b"{not json", None, "not JSON"),
        (b"[1, 2]", None, "not an object"),
        (b'"text"', None, "not an object"),
        (b'{"event_id": "e1"}', None, "missing field: kind"),
        (b'{"kind": 3}', None, "wrong type: kind"),
        (b'{"kind": "poke"}', None, "unknown kind: 'poke'"),
        (b'{"kind": "share"}', "like", "kind 'share' conflicts with --kind like"),
    ],
)
def test_unusable_lines_say_why(line: bytes, forced: str | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_line(line, forced)
    assert caught.value.reason.startswith(reason)
