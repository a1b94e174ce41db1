"""The tests mirror the source: every module with logic has its test file at the mirrored path,
each API route module has its own, and no test module imports another (shared tooling lives in
tests/support/).

`app/<package>/<module>.py` is tested in `tests/unit/<package>/test_<module>.py`, or, where it
needs the real Redis or Kafka, `tests/integration/<package>/test_<module>.py`;
`streams/<module>.py` in `tests/unit/streams/test_<module>.py` (or integration). An API route
module `app/api/routes/<name>.py` in `tests/integration/api/routes/test_<name>.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("app", "streams")

WITHOUT_A_TEST_FILE: dict[str, str] = {
    # Entry points and declarations: nothing to test apart from what they start or declare.
    "app/cli/__main__.py": "`python -m app.cli` calls `main`; tests run the CLI this way",
    "app/cli/worker.py": "`clout worker`: starts streams.worker.run_worker (tests/support/worker)",
    "app/core/errors.py": "one exception class; tests of its raisers check it",
    "app/api/deps.py": "Annotated aliases FastAPI resolves; every route test goes through them",
    "app/api/schemas.py": "response models; the route tests and the OpenAPI test check them",
    # Development tooling (`make stack-up`, `make run`, the bench and the tests' fixtures): every
    # integration test that starts a worker, a cluster or a TLS stack runs it.
    "app/devtools/local_tls.py": "the TLS stack; tests/reliability/test_tls.py runs on it",
    "app/devtools/processes.py": "child process helpers of the stack and the test fixtures",
    "app/devtools/redis_cluster.py": "the private cluster fixture every redis_cluster test uses",
    "app/devtools/worker_process.py": "the worker child process of the integration tests",
}
"""Modules that make no sense to unit test, each with the reason; any other module without a
test file at its mirrored path fails `test_every_module_with_logic_has_a_mirrored_test`."""


def mirrored(source: Path) -> list[Path]:
    """Where the test file of `source` (relative to the repository) may be."""
    parts = source.with_suffix("").parts
    package = parts[1:-1] if parts[0] == "app" else parts[:-1]
    name = f"test_{parts[-1]}.py"
    return [ROOT / "tests" / kind / Path(*package, name) for kind in ("unit", "integration")]


def modules() -> list[Path]:
    """Every module of app/ and streams/ (relative paths), packages' __init__ left out."""
    return sorted(
        path.relative_to(ROOT)
        for top in SOURCES
        for path in (ROOT / top).rglob("*.py")
        if path.name != "__init__.py"
    )


def test_the_mirror_of_a_module() -> None:
    assert mirrored(Path("app/store/topics.py")) == [
        ROOT / "tests/unit/store/test_topics.py",
        ROOT / "tests/integration/store/test_topics.py",
    ]
    assert mirrored(Path("streams/state.py"))[0] == ROOT / "tests/unit/streams/test_state.py"
    assert mirrored(Path("app/step/plan.py"))[0] == ROOT / "tests/unit/step/test_plan.py"
    assert mirrored(Path("app/core/settings.py"))[0] == ROOT / "tests/unit/core/test_settings.py"


def test_every_module_with_logic_has_a_mirrored_test() -> None:
    missing = [
        f"{source}: add {mirrored(source)[0].relative_to(ROOT)} (or the integration twin)"
        for source in modules()
        if str(source) not in WITHOUT_A_TEST_FILE and not any(p.exists() for p in mirrored(source))
    ]
    assert not missing, "modules without a test file at the mirrored path:\n" + "\n".join(missing)


def test_the_allow_list_names_only_untested_modules_that_exist() -> None:
    stale = [
        source
        for source in WITHOUT_A_TEST_FILE
        if not (ROOT / source).exists() or any(p.exists() for p in mirrored(Path(source)))
    ]
    assert not stale, f"remove from WITHOUT_A_TEST_FILE (gone, or tested now): {stale}"


def test_each_route_module_has_its_own_route_test() -> None:
    routes = sorted((ROOT / "app/api/routes").glob("*.py"))
    missing = [
        route.name
        for route in routes
        if route.name != "__init__.py"
        and not (ROOT / "tests/integration/api/routes" / f"test_{route.name}").exists()
    ]
    assert not missing, f"route modules without tests/integration/api/routes/test_*.py: {missing}"


def imported_modules(path: Path) -> list[str]:
    """The modules `path` imports (absolute names; relative imports are left out)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_no_test_module_imports_another() -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for name in imported_modules(path)
        if name.startswith("tests.") and not name.startswith("tests.support")
    ]
    assert not offending, "move what is shared to tests/support/:\n" + "\n".join(offending)
