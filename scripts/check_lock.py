"""Fail when uv.lock is not exactly what `make lock` would write for pyproject.toml.

    python scripts/check_lock.py [PROJECT_DIR]

`uv lock --check` only asks whether the lock still satisfies pyproject.toml; a lock with a line
deleted (a dependency edge, a wheel and its hash) can pass it. So the lock is also resolved again
in a scratch copy of the project's metadata and the lock, with `--refresh`: uv keeps every locked
version and rewrites everything else (edges, wheels, hashes) from the index, and the result is
compared byte for byte. Starting from the lock's versions matters because the package index this
machine sees fills in over time: a release from before `[tool.uv] exclude-newer` that was not
served when the lock was made (hypothesis 6.170.29 on 2026-12-07) made a resolution from nothing
differ from an intact lock.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REMEDY = "run `make lock` and commit uv.lock"
IGNORED = shutil.ignore_patterns("target", ".venv", "__pycache__", "*.so")


def uv_command() -> str:
    """The uv that the Makefile pins (scripts/uv-requirements.txt) into .tools/."""
    pinned = ROOT / ".tools" / "bin" / "uv"
    if not pinned.exists():
        sys.exit("check_lock: .tools/bin/uv is missing; `make lock-check` installs it")
    return str(pinned)


def copy_metadata(project: Path, scratch: Path) -> None:
    """What a resolution reads: pyproject.toml, the lock and each uv workspace member's
    directory."""
    shutil.copy2(project / "pyproject.toml", scratch / "pyproject.toml")
    shutil.copy2(project / "uv.lock", scratch / "uv.lock")
    config = tomllib.loads((project / "pyproject.toml").read_text())
    members = config.get("tool", {}).get("uv", {}).get("workspace", {}).get("members", [])
    for member in members:
        shutil.copytree(project / member, scratch / member, ignore=IGNORED)


def uv_lock(*args: str) -> subprocess.CompletedProcess[str]:
    """`uv lock` with `args`, its output captured."""
    return subprocess.run(
        [uv_command(), "lock", *args], capture_output=True, text=True, check=False
    )


def problems(project: Path) -> list[str]:
    """Why uv.lock in `project` is stale or damaged; empty when it is exactly as resolved."""
    check = uv_lock("--check", "--directory", str(project))
    if check.returncode != 0:
        return [f"uv.lock does not match pyproject.toml:\n{check.stderr.strip()}"]
    with tempfile.TemporaryDirectory(prefix="clout-lock-") as tmp:
        scratch = Path(tmp)
        copy_metadata(project, scratch)
        fresh = uv_lock("--refresh", "--quiet", "--directory", str(scratch))
        if fresh.returncode != 0:
            return [f"resolving the lock again failed:\n{fresh.stderr.strip()}"]
        expected = (scratch / "uv.lock").read_text().splitlines()
    actual = (project / "uv.lock").read_text().splitlines()
    if actual == expected:
        return []
    diff = difflib.unified_diff(actual, expected, "uv.lock", "resolved again", lineterm="", n=1)
    shown = list(diff)[:40]
    return ["uv.lock differs from its resolution again:\n" + "\n".join(shown)]


def main() -> int:
    """Print what is wrong with the lock and exit 1, or exit 0 when it is exact."""
    project = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    found = problems(project)
    for problem in found:
        print(f"check_lock: {problem}", file=sys.stderr)
    if found:
        print(f"check_lock: {REMEDY}", file=sys.stderr)
        return 1
    print("check_lock: uv.lock is exactly the resolution of pyproject.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
