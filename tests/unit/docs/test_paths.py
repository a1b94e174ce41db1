"""Every file a reader is sent to by README.md or docs/*.md exists.

Three ways a document names a file: a Markdown link (relative to the document), a repository path
such as `app/store/keys.py` anywhere in the text, and a bare file name in README's layout block,
which must exist somewhere under the folder that line describes.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("app", "streams", "bench", "tests", "scripts", "docs")

LINK = re.compile(r"\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(TOP) + r")/[\w./-]*[\w/])")
LAYOUT_LINE = re.compile(r"^(\w+)/\s{2,}")
BARE_FILE = re.compile(r"(?<![\w./-])(\w+\.(?:py|js|html|css|sh))\b")


def named_paths(doc: Path) -> list[tuple[str, Path]]:
    """(as written, where it must be) for every link and repository path in `doc`."""
    text = doc.read_text()
    found: list[tuple[str, Path]] = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        found.append((target, doc.parent / target.split("#")[0]))
    for path in REPO_PATH.findall(text):
        found.append((path, ROOT / path))
    return found


def layout_files() -> list[tuple[str, Path]]:
    """(file name, folder) for each bare file name in README's layout block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Development", 1)[1].split("```", 2)[1]
    found: list[tuple[str, Path]] = []
    folder: Path | None = None
    for line in block.splitlines():
        top = LAYOUT_LINE.match(line)
        if top:
            folder = ROOT / top.group(1)
        if folder is None:
            continue
        for name in BARE_FILE.findall(REPO_PATH.sub("", line)):
            found.append((name, folder))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_path_a_document_names_exists(doc: Path) -> None:
    missing = sorted({written for written, path in named_paths(doc) if not path.exists()})
    assert not missing, f"{doc.name} names files that do not exist: {missing}"


def test_every_file_in_the_readme_layout_exists_under_its_folder() -> None:
    files = layout_files()
    assert len(files) > 10, "the layout block was not found"
    missing = [f"{folder.name}/…/{name}" for name, folder in files if not any(folder.rglob(name))]
    assert not missing, f"README's layout names files that do not exist: {missing}"


def test_a_wrong_path_is_caught(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("see `app/store/nowhere.py` and [this](missing.md)\n")
    assert [p.exists() for _, p in named_paths(doc)] == [False, False]


DOTTED = re.compile(r"`((?:app|streams|bench)(?:\.\w+)+)`")
FAUST_APP = ("app.on_partitions_revoked", "app.transport")  # Faust's App, not the package


def resolves(dotted: str) -> bool:
    """Whether `dotted` is a module, or a name defined in the longest module prefix of it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_dotted_name_a_document_uses_exists(doc: Path) -> None:
    names = {n for n in DOTTED.findall(doc.read_text()) if n not in FAUST_APP}
    missing = sorted(name for name in names if not resolves(name))
    assert not missing, f"{doc.name} names code that does not exist: {missing}"


def test_a_wrong_dotted_name_is_caught() -> None:
    assert resolves("app.store.keys.shard_of")
    assert not resolves("app.store.keys.no_such_function")
    assert not resolves("app.no_such_module")
