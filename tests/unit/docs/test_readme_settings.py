"""README's settings table names every setting of `Settings` and nothing else, so it cannot drift.

A row's first cell names its variables in backticks: `CLOUT_API_HOST`, several in one cell
(`CLOUT_API_HOST`, `CLOUT_API_PORT`), a family by suffix (`CLOUT_TOPIC_LIKES` / `_SHARES`: the
suffix replaces the previous name's last word), or a nested group (`CLOUT_SCORING__*`, documented
in the doc the row links to).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from app.core.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
TABLE_HEADER = "| variable | default | meaning |"
NAME = re.compile(r"`(CLOUT_[A-Z0-9_]+(?:__\*)?|_[A-Z0-9_]+)`")


def table_rows(readme: str) -> list[str]:
    """The first cells of the settings table's rows."""
    lines = readme.splitlines()
    start = lines.index(TABLE_HEADER) + 2  # past the header and its | --- | line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1])
    return rows


def named_variables(cells: list[str]) -> set[str]:
    """Every variable the cells name, suffix families spelled out."""
    names: set[str] = set()
    for cell in cells:
        previous = ""
        for token in NAME.findall(cell):
            if token.startswith("_"):
                token = previous.rsplit("_", 1)[0] + token
            names.add(token)
            previous = token
    return names


def setting_variables() -> dict[str, str]:
    """The environment variable of each setting -> the setting and its default (a nested
    group's settings are `CLOUT_<GROUP>__<SETTING>`)."""
    variables = {}
    for name, info in Settings.model_fields.items():
        group = info.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            for inner, inner_info in group.model_fields.items():
                variable = f"CLOUT_{name.upper()}__{inner.upper()}"
                variables[variable] = f"Settings.{name}.{inner}, default {inner_info.default!r}"
        else:
            variables[f"CLOUT_{name.upper()}"] = f"Settings.{name}, default {info.default!r}"
    return variables


def covered(variable: str, documented: set[str]) -> bool:
    """Whether the table names `variable`, itself or by its group's `CLOUT_<GROUP>__*` row."""
    group, nested, _ = variable.partition("__")
    return variable in documented or (bool(nested) and f"{group}__*" in documented)


def test_the_table_parses_as_its_rows_are_written() -> None:
    cells = [
        "`CLOUT_A_B`, `CLOUT_A_C`",
        "`CLOUT_TOPIC_LIKES` / `_SHARES` / `_MENTIONS`",
        "`CLOUT_SCORING__*`",
    ]
    assert named_variables(cells) == {
        "CLOUT_A_B",
        "CLOUT_A_C",
        "CLOUT_TOPIC_LIKES",
        "CLOUT_TOPIC_SHARES",
        "CLOUT_TOPIC_MENTIONS",
        "CLOUT_SCORING__*",
    }


def test_every_setting_has_a_row_in_the_readme() -> None:
    documented = named_variables(table_rows((ROOT / "README.md").read_text()))
    missing = [
        f"| `{variable}` | ... | ... |  <- {source}"
        for variable, source in setting_variables().items()
        if not covered(variable, documented)
    ]
    assert not missing, "README.md's settings table has no row for:\n" + "\n".join(missing)


def test_every_row_of_the_readme_is_a_setting() -> None:
    documented = named_variables(table_rows((ROOT / "README.md").read_text()))
    variables = setting_variables()
    groups = {variable.partition("__")[0] + "__*" for variable in variables if "__" in variable}
    stale = sorted(documented - set(variables) - groups)
    assert not stale, f"README.md's settings table names variables Settings does not have: {stale}"
