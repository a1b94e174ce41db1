"""What ships: the wheel holds what a deployment runs, not the benchmark or the test tooling."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_leaves_out_bench_and_devtools(tmp_path: Path) -> None:
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
        "app/ops/static/ops.html",
        "streams/worker.py",
    ):
        assert needed in names
