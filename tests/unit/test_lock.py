"""uv.lock is what every install path installs, and a lock that drifted or was damaged fails."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

from streams import faust_compat

ROOT = Path(__file__).resolve().parents[2]
CHECK_LOCK = ROOT / "scripts" / "check_lock.py"
EXACT_PINS = ("faust-streaming", "mode-streaming", "aiokafka")
TYPED_AGAINST = ("redis", "fastapi", "pydantic", "pydantic-settings", "orjson")


def locked_versions() -> dict[str, set[str]]:
    """Package name -> the versions uv.lock pins (more than one where Python versions differ)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    found: dict[str, set[str]] = {}
    for package in lock["package"]:
        found.setdefault(package["name"], set()).add(package["version"])
    return found


def requirements() -> dict[str, str]:
    """Runtime requirement name -> its specifier, from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^]]*\])?(.*)", requirement)
        assert match, requirement
        found[match.group(1).lower()] = match.group(3)
    return found


def test_the_virtualenv_holds_exactly_the_locked_versions() -> None:
    locked = locked_versions()
    installed = {dist.metadata["Name"].lower(): dist.version for dist in metadata.distributions()}
    differing = {
        name: (installed[name], versions)
        for name, versions in locked.items()
        if name in installed and name != "clout" and installed[name] not in versions
    }
    assert not differing, f"installed vs locked: {differing}; run `make lint` to sync"
    for name in EXACT_PINS + TYPED_AGAINST:
        assert installed[name] in locked[name]


def test_internals_we_touch_are_pinned_and_the_rest_bounded() -> None:
    specs = requirements()
    for name in EXACT_PINS:
        (version,) = locked_versions()[name]
        assert specs[name] == f"=={version}", name
        assert faust_compat.PINNED[name] == version, "the start-up check pins what the lock pins"
    for name in TYPED_AGAINST:
        assert ",<" in specs[name], f"{name} needs an upper bound below its next major"


def run_check_lock(project: Path) -> subprocess.CompletedProcess[str]:
    """scripts/check_lock.py on a project directory."""
    return subprocess.run(
        [sys.executable, str(CHECK_LOCK), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copy_project(tmp_path: Path) -> Path:
    """The files a resolution reads, with the lock, in a scratch directory."""
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def delete_line(path: Path, pattern: str) -> None:
    """Remove the first line that contains `pattern`."""
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if pattern in line)
    path.write_text("".join(lines[:index] + lines[index + 1 :]))


def test_the_committed_lock_is_exactly_its_resolution() -> None:
    result = run_check_lock(ROOT)
    assert result.returncode == 0, result.stderr


DAMAGES: dict[str, Callable[[Path], None]] = {
    "a dependency edge deleted": lambda p: delete_line(p / "uv.lock", '{ name = "pygments" },'),
    "a wheel deleted": lambda p: delete_line(p / "uv.lock", "orjson-3.13.0-cp311-cp311-manylinux"),
    "a package's version deleted": lambda p: delete_line(p / "uv.lock", 'version = "2.14.4"'),
    "a range bumped without re-locking": lambda p: (p / "pyproject.toml").write_text(
        (p / "pyproject.toml").read_text().replace('"orjson>=3.10,<4"', '"orjson>=3.12,<4"')
    ),
}


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_a_stale_or_damaged_lock_fails_with_the_remedy(tmp_path: Path, damage: str) -> None:
    project = copy_project(tmp_path)
    before = (project / "uv.lock").read_text() + (project / "pyproject.toml").read_text()
    DAMAGES[damage](project)
    assert (project / "uv.lock").read_text() + (project / "pyproject.toml").read_text() != before
    result = run_check_lock(project)
    assert result.returncode == 1
    assert "make lock" in result.stderr


def test_uv_itself_is_pinned_with_hashes() -> None:
    (pin,) = (ROOT / "scripts" / "uv-requirements.in").read_text().split()
    pinned = (ROOT / "scripts" / "uv-requirements.txt").read_text()
    assert f"{pin} \\" in pinned
    assert pinned.count("--hash=sha256:") >= 2


def test_make_and_ci_install_through_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "sync --locked --extra dev" in makefile
    assert "scripts/check_lock.py" in makefile
    assert "--require-hashes" in makefile
    assert "pip install -e" not in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def build_stage(dockerfile: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile's `build` stage, continuation lines joined."""
    joined = dockerfile.replace("\\\n", " ")
    stage: list[tuple[str, str]] = []
    current = None
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction == "FROM":
            current = arguments.split()[-1] if " AS " in arguments.upper() else None
            continue
        if current == "build":
            stage.append((instruction, arguments))
    return stage


def build_kernel_wheel(out: Path) -> None:
    """What the Dockerfile's kernel stage builds: the kernel's wheel, with uv.lock's maturin."""
    uv = ROOT / ".tools" / "bin" / "uv"
    build = ["build", "--wheel", "--package", "clout-kernel", "--python", sys.executable]
    subprocess.run(
        [uv, *build, "-o", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=900,
    )


def test_the_dockerfile_install_steps_install_the_lock(tmp_path: Path) -> None:
    """Run the build stage's steps here (no Docker engine), with / moved under tmp_path."""
    stage = build_stage((ROOT / "Dockerfile").read_text())
    assert any("uv sync --locked" in args for op, args in stage if op == "RUN")
    base_python = tmp_path / "python"
    subprocess.run([sys.executable, "-m", "venv", str(base_python)], check=True, timeout=120)

    def moved(text: str) -> str:
        return re.sub(r"(?<![\w.])/(srv|opt)/", f"{tmp_path}/\\1/", text)

    env = {key: value for key, value in os.environ.items() if not key.startswith("UV_")}
    env["PATH"] = f"{base_python / 'bin'}:{os.environ['PATH']}"
    workdir = tmp_path
    for instruction, arguments in stage:
        if instruction == "WORKDIR":
            workdir = Path(moved(arguments))
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "ENV":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                env[key] = moved(value)
        elif instruction == "COPY" and arguments.startswith("--from=kernel "):
            # The kernel stage is a Rust image; its one output, the wheel, is built here.
            built = Path(moved(arguments.split()[-1]))
            build_kernel_wheel(built)
            assert list(built.glob("clout_kernel-*.whl"))
        elif instruction == "COPY":
            *sources, target = arguments.split()
            for source in sources:
                destination = workdir / target
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, destination, dirs_exist_ok=True)
                else:
                    destination.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / source, destination / Path(source).name)
        elif instruction == "RUN":
            subprocess.run(
                ["bash", "-c", moved(arguments)], cwd=workdir, env=env, check=True, timeout=600
            )
        else:
            pytest.fail(f"the test cannot run a {instruction} step yet")
    image_python = Path(env["UV_PROJECT_ENVIRONMENT"]) / "bin" / "python"
    report = subprocess.run(
        [
            str(image_python),
            "-c",
            "import importlib.metadata as m, streams.worker, app.api.main, clout_kernel;"
            "print(m.version('redis'), m.version('faust-streaming'), m.version('fastapi'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    locked = locked_versions()
    names = ("redis", "faust-streaming", "fastapi")
    for name, version in zip(names, report.stdout.split(), strict=True):
        assert version in locked[name], name
