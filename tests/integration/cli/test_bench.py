"""`clout bench --quick` on the real stack: CI's smoke check that the benchmark harness works.

It asserts that every figure was produced and every event was counted, never how fast anything
was (timings on a shared machine are reported by the benchmark, not judged by tests).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.settings import Settings
from app.devtools.worker_process import settings_env
from streams import metrics

pytestmark = pytest.mark.integration

HEADLINE = (
    "events",
    "consume_limit_eps",
    "pipeline_eps",
    "throughput_ratio",
    "decode_limit_eps",
    "faust_floor_eps",
    "faust_floor_default_eps",
    "floor_ratio",
    "envelope_eps",
    "pipeline_feed_off_eps",
    "pipeline_feed_on_again_eps",
    "pipeline_topics_eps",
    "e2e_envelope_p99_ms",
    "e2e_p50_ms",
    "e2e_p95_ms",
    "e2e_p99_ms",
    "lookup_p99_us",
    "raw_hgetall_p99_us",
    "lookup_ratio",
    "rss_bytes_per_user",
)


@pytest.fixture(scope="module")
def quick_run(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One `clout bench --quick` run into a temporary folder; its results document."""
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "bench", "--quick", "--out", str(out)],
        env={**os.environ, **settings_env(stack)},
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, f"clout bench --quick failed:\n{done.stderr[-4000:]}"
    assert (out / "latest.png").stat().st_size > 10_000, "the chart was not drawn"
    results: dict[str, object] = json.loads((out / "latest.json").read_text())
    results["_out"] = str(out)
    return results


def test_every_headline_figure_is_a_positive_number(quick_run: dict[str, object]) -> None:
    for key in HEADLINE:
        value = quick_run[key]
        assert isinstance(value, int | float), (key, value)
        assert math.isfinite(value), (key, value)
        assert value > 0, (key, value)
    assert quick_run["mode"] == "quick"
    # The feed's cost compares the feed-off pipeline with the mean of the two feed-on ones run
    # before and after it (negative: within the noise).
    feed_on = (quick_run["pipeline_eps"] + quick_run["pipeline_feed_on_again_eps"]) / 2  # type: ignore[operator]
    cost = 1 - feed_on / quick_run["pipeline_feed_off_eps"]  # type: ignore[operator]
    assert quick_run["feed_cost"] == round(cost, 3)
    for section in ("machine", "versions", "settings", "config", "targets"):
        assert quick_run[section], section


def test_the_worker_time_per_event_is_broken_down_by_stage(quick_run: dict[str, object]) -> None:
    for key in ("stage_us_per_event", "envelope_stage_us_per_event"):
        stages = quick_run[key]
        assert isinstance(stages, dict)
        assert list(stages) == list(metrics.STAGES)
        for name in ("decode_validate", "fold", "scoring", "redis"):
            assert stages[name] > 0, (key, name)


def test_every_event_was_counted(quick_run: dict[str, object]) -> None:
    total = quick_run["verified_total"]
    assert isinstance(total, dict)
    assert total["counted"] == total["expected_counted"]
    assert total["duplicates"] == total["expected_duplicates"]
    assert total["counted"] + total["duplicates"] == total["sent"]
    pipeline = quick_run["pipeline"]
    assert isinstance(pipeline, dict)
    verified = pipeline["verified"]
    assert verified["consumed"] == quick_run["events"]
    assert verified["counted"] + verified["duplicates"] == quick_run["events"]
    assert verified["refused"] == 0  # dead letters other than forwarded duplicates
    assert verified["committed_offsets"] == quick_run["events"]
    e2e = quick_run["e2e"]
    assert isinstance(e2e, dict)
    assert e2e["tracers_missing"] == 0
    assert e2e["latency_ms"]["count"] == e2e["tracers"] > 0


def test_lookups_and_memory_stages_were_measured(quick_run: dict[str, object]) -> None:
    lookup = quick_run["lookup"]
    assert isinstance(lookup, dict)
    assert set(lookup) == {"c1", "c50"}
    for figures in lookup.values():
        for kind in ("raw_hgetall", "client_get", "http"):
            assert figures[kind]["count"] > 0
            assert 0 < figures[kind]["p50"] <= figures[kind]["p99"]
    http_auth = quick_run["http_auth"]
    assert isinstance(http_auth, dict)
    assert http_auth["concurrency"] == 1
    for kind in ("with_key", "without_key"):
        assert http_auth[kind]["count"] > 0
        assert 0 < http_auth[kind]["p50"] <= http_auth[kind]["p99"]
    assert (
        http_auth["p99_cost_us"] == http_auth["with_key"]["p99"] - http_auth["without_key"]["p99"]
    )
    memory = quick_run["memory"]
    assert isinstance(memory, list)
    config = quick_run["config"]
    assert isinstance(config, dict)
    assert [stage["users"] for stage in memory] == list(config["memory_stages"])
    assert all(stage["rss_bytes"] > 0 and stage["disk_bytes"] > 0 for stage in memory)
    assert all(stage["rss_at_quiet_bytes"] > 0 for stage in memory)


def test_readme_table_is_generated_from_the_results(
    quick_run: dict[str, object], tmp_path: Path
) -> None:
    from bench import report

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{report.START}\nstale table\n{report.END}\nafter\n")
    results = json.loads((Path(str(quick_run["_out"])) / "latest.json").read_text())
    report.update_readme(readme, report.table(results))
    text = readme.read_text()
    assert text.startswith(f"# x\n\nbefore\n{report.START}\n")
    assert text.endswith(f"{report.END}\nafter\n")
    assert "stale table" not in text
    assert f"{results['pipeline_eps']:,.0f} events/s" in text
    assert f"p99 {report.fmt_ms(results['e2e_p99_ms'])}" in text
    assert f"the key costs **{results['http_auth']['p99_cost_us']:,.0f} µs** at p99" in text


def test_the_cluster_phase_reports_lookups_beside_the_single_server(
    quick_run: dict[str, object],
) -> None:
    cluster = quick_run["lookup_cluster"]
    assert isinstance(cluster, dict)
    for variant, shards in (("single", 1), ("cluster", 16)):
        figures = cluster[variant]
        assert figures["leaderboard_shards"] == shards
        assert figures["write"]["cards_per_s"] > 0
        for level in (1, 50):
            get = figures[f"get_c{level}"]
            assert get["count"] > 0
            assert 0 < get["p50"] <= get["p99"], (variant, level, get)
            assert get["redis_cpu_us_per_get"] >= 0  # CPU counters tick in whole ms
