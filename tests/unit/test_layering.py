"""The import contracts `make lint` runs (pyproject.toml [tool.importlinter]) fail on a violation.

Each case copies the real packages and configuration into a temporary folder, adds one module that
breaks one contract, and runs lint-imports there: the broken contract must fail the run, while the
unchanged copy passes.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the code and of the contracts' configuration, importable from its own folder."""
    root = tmp_path_factory.mktemp("layering")
    for package in ("app", "streams", "bench"):
        shutil.copytree(
            ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "tests" / "support").mkdir(parents=True)
    (root / "tests" / "__init__.py").touch()
    (root / "tests" / "support" / "__init__.py").touch()
    shutil.copy(ROOT / "tests/support/import_contracts.py", root / "tests/support")
    return root


def lint_imports(root: Path, contract: str | None = None) -> subprocess.CompletedProcess[str]:
    args = [str(LINT_IMPORTS), "--no-cache"]
    if contract is not None:
        args += ["--contract", contract]
    return subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=120, check=False)


def test_the_code_as_it_is_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("contract", "module", "source"),
    [
        ("pure-scoring", "app/scoring/violation.py", "import orjson\n"),
        ("pure-scoring", "app/scoring/violation.py", "from app.core.settings import Settings\n"),
        ("pure-step", "app/step/violation.py", "from app.store.dedupe import CHUNK_SIZE\n"),
        ("pure-step", "app/step/violation.py", "import faust\n"),
        (
            "pure-step",
            "app/simulation/violation.py",
            "from app.kafka.topics import partition_for\n",
        ),
        ("pure-step", "app/simulation/violation.py", "import aiokafka\n"),
        ("redis-behind-store", "app/ops/violation.py", "import redis.asyncio\n"),
        ("redis-behind-store", "streams/violation.py", "from redis.backoff import NoBackoff\n"),
        ("app-below-streams-and-bench", "app/ops/violation.py", "import streams.worker\n"),
        ("app-below-streams-and-bench", "app/cli/violation.py", "from bench import report\n"),
    ],
)
def test_a_violation_fails_the_contract(
    tree: Path, contract: str, module: str, source: str
) -> None:
    path = tree / module
    path.write_text(source)
    try:
        result = lint_imports(tree, contract)
    finally:
        path.unlink()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout


def test_the_cli_loads_streams_and_bench_only_when_their_command_runs() -> None:
    """Building the whole `clout` parser (every subcommand registered) imports neither."""
    probe = (
        "import sys; from app.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('streams', 'bench')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_tests_import_no_private_names_and_load_no_script_by_path() -> None:
    """What a test needs is public somewhere sensible: no `from app.x import _y` across packages,
    no script loaded from a file path."""
    problems: list[str] = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT:
                private = [a.name for a in node.names if _private(a.name)]
                if private:
                    problems.append(f"{where}:{node.lineno} imports {private} from {node.module}")
            if isinstance(node, ast.Attribute) and node.attr == "spec_from_file_location":
                problems.append(f"{where}:{node.lineno} loads a module from a file path")
    assert not problems, "\n".join(problems)


PROJECT = ("app", "streams", "bench")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")
