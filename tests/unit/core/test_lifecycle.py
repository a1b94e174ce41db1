"""`with` and `async with` close what a Closing or AsyncClosing object holds, also on errors."""

from __future__ import annotations

import pytest

from app.core.lifecycle import AsyncClosing, Closing


class Held(Closing):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class AsyncHeld(AsyncClosing):
    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def test_with_returns_the_object_and_closes_it_once() -> None:
    held = Held()
    with held as entered:
        assert entered is held
        assert held.closed == 0
    assert held.closed == 1


async def test_async_with_closes_on_the_way_out_of_an_error() -> None:
    held = AsyncHeld()

    async def fail_inside() -> None:
        async with held as entered:
            assert entered is held
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()
    assert held.closed == 1


def test_a_class_must_say_how_it_closes() -> None:
    class Nothing(Closing):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Nothing()  # type: ignore[abstract]
