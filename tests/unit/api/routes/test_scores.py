"""Parsing `?ids=` of GET /v1/scores: order, duplicates, and the bounds."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError

from app.api.routes.scores import MAX_IDS_PER_CALL, parse_ids


async def test_comma_separated_and_repeated_ids_are_merged_in_order() -> None:
    assert await parse_ids(["b,a", "c", "a"]) == ["b", "a", "c"]


async def test_empty_parts_are_ignored() -> None:
    assert await parse_ids(["a,,b,"]) == ["a", "b"]


async def test_the_limit_counts_distinct_ids() -> None:
    ids = [f"u{i}" for i in range(MAX_IDS_PER_CALL)]
    assert await parse_ids([",".join(ids + ids)]) == ids


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([""], "at least one"),
        ([",,"], "at least one"),
        ([",".join(f"u{i}" for i in range(MAX_IDS_PER_CALL + 1))], "at most 100"),
        (["ok," + "x" * 129], "longer than 128"),
    ],
)
async def test_bad_id_lists_are_422(ids: list[str], message: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        await parse_ids(ids)
    (error,) = caught.value.errors()
    assert error["loc"] == ("query", "ids")
    assert message in error["msg"]


async def test_ids_of_the_maximum_length_are_fine() -> None:
    assert await parse_ids(["y" * 128]) == ["y" * 128]
