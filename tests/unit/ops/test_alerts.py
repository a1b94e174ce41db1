"""The shipped Prometheus rules: generated from Settings, valid, unit-tested by promtool with a
firing and a quiet case per alert, reading only metrics that exist, each with a runbook."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.core.settings import AlertSettings, Settings
from app.ops.alerts import alerting_rules, duration, recording_rules, rules_yaml
from tests.support.promql import (
    PENDING_ELSEWHERE,
    ROOT,
    dashboard_exprs,
    exposed_names,
    installed,
    metric_names,
)

RULES = ROOT / "ops/prometheus/clout.rules.yml"
RULE_TESTS = ROOT / "ops/prometheus/clout.rules.test.yml"
OPS_DOC = ROOT / "docs/ops.md"


@pytest.fixture(scope="module")
def promtool() -> str:
    return installed("promtool")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_the_shipped_rules_are_generated_from_the_settings_defaults() -> None:
    """One owner for every threshold: `clout alerts rules` at the defaults, byte for byte."""
    assert RULES.read_text() == rules_yaml(Settings()), (
        "ops/prometheus/clout.rules.yml is stale: run "
        "`.venv/bin/clout alerts rules --out ops/prometheus/clout.rules.yml`"
    )


def test_thresholds_follow_the_settings() -> None:
    settings = Settings(alerts=AlertSettings(lag_seconds=90, lag_for_s=45, curve_refit_intervals=4))
    text = rules_yaml(settings)
    assert "expr: 'kafka_consumergroup_lag_seconds > 90'\n        for: 45s" in text
    assert f"clout_curve_last_refit_age_seconds > {4 * 3600}'" in text


@pytest.mark.parametrize(
    ("seconds", "text"), [(120, "2m"), (3600, "1h"), (45, "45s"), (1.5, "1500ms"), (90, "90s")]
)
def test_durations_in_prometheus_units(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(recording_rules()) + len(alerting_rules(Settings()))} rules" in (
        result.stdout
    )


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_catch_a_threshold_moved_by_one(promtool: str, tmp_path: Path) -> None:
    """The boundary cases bite: lag pages at 300 s, so rules that page at 299 s fail them."""
    (tmp_path / "clout.rules.yml").write_text(
        rules_yaml(Settings(alerts=AlertSettings(lag_seconds=299)))
    )
    shutil.copy(RULE_TESTS, tmp_path / "clout.rules.test.yml")
    result = run(promtool, "test", "rules", str(tmp_path / "clout.rules.test.yml"))
    assert result.returncode != 0
    assert "CloutConsumerLagHigh" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases: dict[str, set[bool]] = {}
    suite: dict[str, Any] = yaml.safe_load(RULE_TESTS.read_text())
    for test in suite["tests"]:
        for case in test["alert_rule_test"]:
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    for rule in alerting_rules(Settings()):
        assert cases.get(rule.name) == {True, False}, f"{rule.name}: {cases.get(rule.name)}"


def test_every_alert_has_a_severity_and_a_runbook_paragraph() -> None:
    doc = OPS_DOC.read_text()
    alerts_section = doc.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    headings = set(re.findall(r"^### (\w+)$", alerts_section, flags=re.MULTILINE))
    for rule in alerting_rules(Settings()):
        assert rule.labels["severity"] in {"critical", "warning"}
        assert rule.annotations["runbook_url"] == f"docs/ops.md#{rule.name.lower()}"
        assert rule.name in headings, f"docs/ops.md 'Alerts' has no '### {rule.name}'"


def test_the_rules_read_only_metrics_that_exist() -> None:
    exposed = exposed_names()
    used = set().union(
        *(metric_names(r.expr) for r in [*recording_rules(), *alerting_rules(Settings())])
    )
    missing = used - exposed - set(PENDING_ELSEWHERE)
    assert not missing, f"the rules read metrics nothing exposes: {sorted(missing)}"
    landed = set(PENDING_ELSEWHERE) & exposed
    assert not landed, f"now exposed on this branch, drop from PENDING_ELSEWHERE: {landed}"
    assert set(PENDING_ELSEWHERE) <= used


def test_metric_names_of_an_expression() -> None:
    expr = (
        'increase(a_total{cause="x"}[15m]) > 0 or (b > 0 unless b offset 15m) and on() '
        '(sum by (topic) (c{topic=~"t1|t2"}) > 0) * histogram_quantile(0.9, d_bucket[$w])'
    )
    assert metric_names(expr) == {"a_total", "b", "c", "d_bucket"}


def test_the_compose_prometheus_and_alertmanager_configs_are_valid(
    promtool: str, tmp_path: Path
) -> None:
    """promtool checks the compose Prometheus config with its rules (the bearer key file, made
    by a compose service, stands in here); amtool checks Alertmanager's."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text())
    key = tmp_path / "prometheus-key"
    key.write_text("clout_x_y")
    for job in config["scrape_configs"]:
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(key)
    shutil.copy(RULES, tmp_path / "clout.rules.yml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(recording_rules()) + len(alerting_rules(Settings()))
    assert f"SUCCESS: {count} rules found" in result.stdout + result.stderr
    amtool = installed("amtool")
    result = run(amtool, "check-config", str(ROOT / "ops/alertmanager/alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_queries_only_recording_rules_and_metrics_that_exist() -> None:
    """A renamed metric or recording rule breaks the build, not the dashboard."""
    exposed = exposed_names() | {"ALERTS"}  # Prometheus' own series of alert states
    for expr in dashboard_exprs():
        names = metric_names(expr)
        assert names, expr
        assert names <= exposed, f"{expr}: {sorted(names - exposed)} exposed by nothing"


def test_the_dashboard_shows_what_operators_page_on() -> None:
    used = set().union(*(metric_names(expr) for expr in dashboard_exprs()))
    for name in (
        "kafka_consumergroup_lag",
        "kafka_consumergroup_lag_seconds",
        "clout:events_consumed:rate1m",
        "clout:dead_letters_per_minute:rate5m",
        "clout:batch_seconds:quantile5m",
        "clout_redis_up",
        "clout_score_last_write_age_seconds",
    ):
        assert name in used, name


def test_the_docs_show_every_alert_setting_with_its_default() -> None:
    """docs/ops.md's table of `CLOUT_ALERTS__*` follows Settings, the thresholds' one owner."""
    section = OPS_DOC.read_text().split("\n## Alerts\n", 1)[1].split("\n### ", 1)[0]
    defaults = AlertSettings()
    shown: set[str] = set()
    row = re.compile(r"^\| (`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*) \| ([^|]+) \|", re.MULTILINE)
    for names, values in row.findall(section):
        keys = re.findall(r"`([A-Z0-9_]+)`", names)
        for key, value in zip(keys, values.split(","), strict=True):
            field = key.lower()
            expected = getattr(defaults, field)
            text = value.split()[0].strip("`")
            assert (text if isinstance(expected, str) else float(text)) == expected, key
            shown.add(field)
    assert shown == set(AlertSettings.model_fields)
