"""Which metric names a PromQL expression reads, and which names Clout really exposes, so a
rename breaks the build rather than an alert or a dashboard panel; and the Prometheus tools the
alert tests run."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

import streams.metrics  # noqa: F401  (registers the worker's metrics on the default registry)
from app.api.metrics import ResponseCounter
from app.ops.alerts import recording_rules

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops/grafana/dashboards/clout.json"

_KEYWORDS = {"by", "without", "on", "ignoring", "and", "or", "unless", "offset", "bool"}
_KEYWORDS |= {"group_left", "group_right", "inf", "nan"}

PENDING_ELSEWHERE: dict[str, str] = {}
"""Names the rules already use that another branch adds; remove one once it is on main
(tests/unit/ops/test_alerts.py fails until it is)."""


def metric_names(expr: str) -> set[str]:
    """The series names `expr` selects (functions, keywords, labels and variables left out)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana's variables
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", text):
        name, call = match.groups()
        if call is None and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def exposed_names() -> set[str]:
    """Every series name the worker, the API and Prometheus itself expose, plus the recording
    rules' names (the ops collector's names are read from its source: it needs a snapshot)."""
    names = {"up"}
    registry = CollectorRegistry()
    ResponseCounter(app=None, registry=registry)  # type: ignore[arg-type]
    for source in (REGISTRY, registry):
        for family in source.collect():
            names |= {sample.name for sample in family.samples} | {family.name}
            if family.type == "counter":
                names.add(f"{family.name}_total")
            if family.type == "histogram":
                names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
    ops_source = (ROOT / "app/ops/metrics.py").read_text()
    names |= set(re.findall(r'"((?:kafka|clout)_[a-z_]+)"', ops_source))
    names |= {rule.name for rule in recording_rules()}
    return names


def dashboard_exprs() -> list[str]:
    """Every query of the Grafana dashboard (ops/grafana/dashboards/clout.json)."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def installed(tool: str) -> str:
    """A program of Debian's prometheus packages (scripts/install_prometheus.sh, run by `make
    test`); missing, it fails the test under CI and skips it elsewhere."""
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} is missing: run scripts/install_prometheus.sh (`make prometheus`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found
