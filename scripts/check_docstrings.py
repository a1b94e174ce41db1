"""`make lint`: docstrings and comments in app/ and streams/ say what and why, not what a run
measured (rates, µs, profiler shares, crash-test logs: those belong in the bench, CHANGELOG.md
and docs/).

Usage: python scripts/check_docstrings.py [FOLDER ...]  (default: app streams). Prints each
offending line as path:line: text and exits 1 if there is any.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

MEASUREMENT = re.compile(
    r"events/s|\d\s?µs\b|py-spy|crash[- ]test|slowlog|samples were|micro-benchmark|dev machine",
    re.IGNORECASE,
)
"""What a measurement looks like in prose: a rate, a time in µs, a profiler's or a run's words."""


def _texts(source: str) -> Iterator[tuple[int, str]]:
    """(first line, text) of every docstring, attribute docstring and comment in `source`."""
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for statement in body:
            if (
                isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)
            ):
                yield statement.lineno, statement.value.value
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def measurements(path: Path) -> list[str]:
    """`path:line: text` for each docstring or comment of `path` that quotes a measurement."""
    found = []
    for line, text in _texts(path.read_text(encoding="utf-8")):
        for match in MEASUREMENT.finditer(text):
            offset = text.count("\n", 0, match.start())
            quoted = text.splitlines()[offset].strip()
            found.append(f"{path}:{line + offset}: {quoted}")
    return found


def main(folders: list[str]) -> int:
    """Check every .py file under `folders`; 1 if any docstring or comment quotes a measurement."""
    found = [
        hit
        for folder in folders
        for path in sorted(Path(folder).rglob("*.py"))
        for hit in measurements(path)
    ]
    for hit in found:
        print(hit)
    if found:
        print(
            "docstrings and comments say what and why: move these measurements to the bench, "
            "CHANGELOG.md or docs/",
            file=sys.stderr,
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["app", "streams"]))
