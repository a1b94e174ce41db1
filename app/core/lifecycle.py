"""`with` / `async with` for objects that hold a connection: one definition of enter and exit.

A class names how it closes (`close()` or `aclose()`) and inherits the context-manager protocol;
one that must do something on entry (subscribe, connect) overrides `__enter__`/`__aenter__`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class AsyncClosing(ABC):
    """`async with obj:` returns `obj` and awaits `obj.aclose()` on the way out."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release what this object holds."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Closing(ABC):
    """`with obj:` returns `obj` and calls `obj.close()` on the way out."""

    @abstractmethod
    def close(self) -> None:
        """Release what this object holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
