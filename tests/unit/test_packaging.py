"""What ships: the wheel holds what a deployment runs, not the benchmark or the test tooling."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LUA_SCRIPTS = sorted((ROOT / "app" / "store").glob("*.lua"))


def test_the_store_has_its_lua_scripts() -> None:
    # The wheel check below needs them listed: a glob that found nothing would check nothing.
    assert {lua.name for lua in LUA_SCRIPTS} >= {"write_cards.lua", "confirm_feed.lua"}


def test_the_wheel_holds_what_runs_and_leaves_out_bench_and_devtools(tmp_path: Path) -> None:
    subprocess.run(
        [ROOT / ".tools" / "bin" / "uv", "build", "--wheel", "-q", "-o", tmp_path, ROOT],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("clout-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith(("bench/", "app/devtools/", "tests/"))]
    for needed in (
        "app/cli/__init__.py",
        "app/api/main.py",
        "app/store/writer.py",
        *(f"app/store/{lua.name}" for lua in LUA_SCRIPTS),
        "app/ops/static/ops.html",
        "streams/worker.py",
    ):
        assert needed in names
