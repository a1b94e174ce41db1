"""Presenting results: the PNG chart and the README's generated performance table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import auth_cost

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


class MarkersMissing(RuntimeError):
    """The README has no `<!-- bench:start -->` ... `<!-- bench:end -->` block to rewrite."""


def load(path: Path) -> dict[str, Any]:
    """Results written by a run."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def chart(results: dict[str, Any], path: Path) -> None:
    """Four panels, each figure beside the limit it is measured against and its target."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (thr, lat), (look, mem) = axes
    mode = results["mode"]
    fig.suptitle(
        f"Clout benchmark ({mode} run, {results['started_at']}, {results['machine']['cores']} "
        f"cores, load {results['machine']['load_average_start'][0]})",
        fontsize=12,
    )

    names = [
        "bare\nconsumer",
        "+ JSON\ndecode",
        "Faust floor\n(defaults)",
        "Faust\nfloor",
        "pipeline",
        "pipeline,\nenvelopes",
    ]
    values = [
        results["consume_limit_eps"],
        results["decode_limit_eps"],
        results["faust_floor_default_eps"],
        results["faust_floor_eps"],
        results["pipeline_eps"],
        results["envelope_eps"],
    ]
    bars = thr.bar(names, values)
    for bar, color in zip(bars, ["#999", "#bbb", "#d96", "#e90", "#2a7", "#175"], strict=True):
        bar.set_color(color)
    thr.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
    floor = results["faust_floor_eps"]
    thr.axhline(0.8 * floor, color="#c33", linestyle="--", label="target: 0.8 of the Faust floor")
    thr.set_yscale("log")
    thr.set_ylim(top=max(values) * 8)  # room for the legend above the bars
    thr.set_ylabel("events/s (log)")
    thr.set_title(f"Throughput, {results['events']:,} events: floor_ratio {results['floor_ratio']}")
    thr.legend(loc="upper right")

    runs = [
        results["e2e"],
        *([results["e2e_below_capacity"]] if results.get("e2e_below_capacity") else []),
    ]
    quantiles = ("p50", "p95", "p99")
    span = 0.8 / len(runs)
    for i, (run, color) in enumerate(zip(runs, ("#37a", "#8bd"), strict=False)):
        values = [run["latency_ms"][q] for q in quantiles]
        bars = lat.bar(
            [x + i * span for x in range(3)],
            values,
            span,
            color=color,
            label=f"at {run['rate_eps']:,.0f} events/s",
        )
        lat.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
    lat.set_xticks([x + span * (len(runs) - 1) / 2 for x in range(3)])
    lat.set_xticklabels(quantiles)
    lat.axhline(250, color="#c33", linestyle="--", label="target p99: 250 ms")
    lat.set_yscale("log")
    top = max(max(run["latency_ms"]["p99"] for run in runs), 250)
    lat.set_ylim(top=top * 20)  # room for the legend above the bars
    lat.set_ylabel("ms, produce → score visible (log)")
    lat.set_title("End-to-end latency, one worker")
    lat.legend(loc="upper left", fontsize=8)

    kinds = [("raw_hgetall", "raw HGETALL", "#999"), ("client_get", "ScoreClient.get()", "#2a7")]
    kinds.append(("http", "HTTP GET", "#e90"))
    groups = sorted(results["lookup"], key=lambda c: int(c[1:]))
    width = 0.8 / len(kinds)
    for i, (key, label, color) in enumerate(kinds):
        xs = [g + i * width for g in range(len(groups))]
        p99 = [results["lookup"][c][key]["p99"] for c in groups]
        p50 = [results["lookup"][c][key]["p50"] for c in groups]
        look.bar(xs, p99, width, color=color, alpha=0.45)
        look.bar(xs, p50, width, color=color, label=f"{label} (p50 solid, p99 light)")
    look.set_xticks([g + width for g in range(len(groups))])
    look.set_xticklabels([f"concurrency {c[1:]}" for c in groups])
    look.set_yscale("log")
    highest = max(results["lookup"][c][k]["p99"] for c in groups for k, _, _ in kinds)
    look.set_ylim(top=highest * 20)
    look.set_ylabel("µs per lookup (log)")
    look.set_title(f"Lookup: get() / raw p99 = {results['lookup_ratio']} (target ≤ 2)")
    look.legend(loc="upper left", fontsize=8)

    stages = results["memory"]
    labels = [f"{s['users']:,} users" for s in stages]
    xs = list(range(len(stages)))
    mem.bar([x - 0.2 for x in xs], [s["rss_bytes_per_user"] for s in stages], 0.4, label="RSS")
    mem.bar([x + 0.2 for x in xs], [s["disk_bytes_per_user"] for s in stages], 0.4, label="disk")
    mem.axhline(1024, color="#c33", linestyle="--", label="target RSS: 1024 B")
    mem.set_xticks(xs)
    mem.set_xticklabels(labels)
    mem.set_ylabel("bytes per tracked user")
    mem.set_title("Worker memory and table size per user")
    mem.legend(loc="upper right")

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _n(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ms(value: float) -> str:
    """Milliseconds: one decimal below 100 ms, whole (with separators) above."""
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _verdict(results: dict[str, Any], key: str) -> str:
    target = results["targets"][key]
    if target["met"]:
        return "met"
    return f"**missed**: {target['limited_by']}"


def _stages(results: dict[str, Any]) -> str:
    """Each stage's µs per event in the two pipeline runs, as `stage a / b`."""
    single, envelopes = results["stage_us_per_event"], results["envelope_stage_us_per_event"]
    return ", ".join(
        f"{name.replace('_', ' ')} {single[name]:g} / {envelopes[name]:g}" for name in single
    )


def table(results: dict[str, Any], folder: str = "bench/results") -> str:
    """The README block: every row generated from `folder`/latest.json's results."""
    json_path, png_path = f"{folder}/latest.json", f"{folder}/latest.png"
    m = results["machine"]
    e2e = results["e2e"]
    lat = e2e["latency_ms"]
    lookup = results["lookup"]
    pipe = results["pipeline"]
    env = results["envelopes"]
    env_e2e = env["e2e"]
    env_lat = env_e2e["latency_ms"]
    rows = [
        "| measure | result | measured against, same run | target | verdict |",
        "| --- | --- | --- | --- | --- |",
        f"| pipeline throughput, {results['events']:,} single-event messages | "
        f"{_n(results['pipeline_eps'])} events/s (all {pipe['verified']['counted']:,} counted, "
        f"{pipe['verified']['duplicates']:,} duplicates dropped) | a Faust agent that only "
        f"counts, worker's Faust settings: {_n(results['faust_floor_eps'])} events/s, "
        f"floor_ratio **{results['floor_ratio']}** | floor_ratio ≥ 0.8 | "
        f"{_verdict(results, 'floor_ratio')} |",
        f"| worker wall time per event by stage, single-event messages / 100-event envelopes "
        f"(µs) | {_stages(results)} | an event's wall time at "
        f"{_n(results['pipeline_eps'])} / {_n(results['envelope_eps'])} events/s: "
        f"{_n(1e6 / results['pipeline_eps'])} / {_n(1e6 / results['envelope_eps'])} µs; the "
        f"score write runs behind the next batch, overlapping the other stages (what no stage "
        f"counts: Faust's delivery, commits, waiting) | - | - |",
        f"| Faust floor with Faust's defaults (asyncio loop, no Cython fast paths, Faust's "
        f"per-message statistics, Python's GC schedule, Faust's per-message race, 1-byte "
        f"fetches) | "
        f"{_n(results['faust_floor_default_eps'])} events/s | the "
        f"worker's settings (event loop `{results['settings']['worker_event_loop']}`, "
        f"`cython_optimizations={results['settings']['worker_cython_optimizations']}`, "
        f"statistics {'on' if results['settings']['worker_faust_statistics'] else 'off'}, "
        f"GC {'tuned' if results['settings']['worker_gc_tuned'] else 'default'}, "
        f"delivery {'inline' if results['settings']['worker_inline_delivery'] else 'raced'}, "
        f"fetches of {results['settings']['worker_fetch_min_bytes']:,} bytes or "
        f"{results['settings']['worker_fetch_max_wait_ms']} ms): "
        f"{_n(results['faust_floor_eps'])} events/s | - | - |",
        f"| pipeline throughput, {env['pipeline']['verified']['consumed']:,} events in "
        f"{env['envelope_events']}-event envelopes | {_n(results['envelope_eps'])} events/s "
        f"(all counted) | single-event messages: {_n(results['pipeline_eps'])} events/s "
        f"| ≥ 50,000 events/s | {_verdict(results, 'envelope_eps')} |",
        f"| pipeline throughput with the score feed on (its records to Kafka, its marks in "
        f"Redis) | {_n(results['pipeline_eps'])} events/s | the same "
        f"backlog on a worker with the feed off: {_n(results['pipeline_feed_off_eps'])} "
        f"events/s, run between this one and another with the feed on "
        f"({_n(results['pipeline_feed_on_again_eps'])} events/s); feed_cost against their mean "
        f"**{results['feed_cost']:.1%}** (worker CPU per event "
        f"{results['feed_cpu_cost']:+.1%}) | feed_cost ≤ 15% | "
        f"{_verdict(results, 'feed_cost')} |",
        f"| end-to-end latency in envelopes at {env_e2e['rate_eps']:,.0f} events/s for "
        f"{env_e2e['seconds']:.0f} s ({env_lat['count']:,} tracer events) | p50 "
        f"{fmt_ms(env_lat['p50'])}, p95 {fmt_ms(env_lat['p95'])}, "
        f"**p99 {fmt_ms(env_lat['p99'])}** | "
        f"handed over every {env_e2e['tick_ms']:g} ms in envelopes of up to "
        f"{env_e2e['envelope_events']} per partition; {env_e2e['backlog_at_end']:,} events "
        f"queued when producing stopped | p99 ≤ 500 ms | "
        f"{_verdict(results, 'e2e_envelope_p99_ms')} |",
        f"| bare aiokafka `getmany` + `orjson.loads` + a dict update | "
        f"{_n(results['decode_limit_eps'])} events/s | without decoding: "
        f"{_n(results['consume_limit_eps'])} events/s; pipeline / consumer "
        f"{results['throughput_ratio']} | - | - |",
        f"| end-to-end latency at {e2e['rate_eps']:,.0f} events/s for {e2e['seconds']:.0f} s "
        f"({lat['count']:,} tracer events) | p50 {fmt_ms(lat['p50'])}, p95 {fmt_ms(lat['p95'])}, "
        f"**p99 {fmt_ms(lat['p99'])}** | produced at {_n(e2e['achieved_eps'])} events/s; "
        f"{e2e['backlog_at_end']:,} events queued when producing stopped | p99 ≤ 250 ms "
        f"| {_verdict(results, 'e2e_p99_ms')} |",
    ]
    if "pipeline_topics_eps" in results:  # results from before #31 have no tagged run
        rows.append(
            f"| pipeline throughput, the same backlog topic-tagged (60% of events name 1..2 "
            f"topics) | {_n(results['pipeline_topics_eps'])} events/s | untagged (the two "
            f"feed-on runs): "
            f"{_n((results['pipeline_eps'] + results['pipeline_feed_on_again_eps']) / 2)} "
            f"events/s; topics_cost "
            f"**{results['topics_cost']:.1%}** (worker CPU per event "
            f"{results['topics_cpu_cost']:+.1%}) | - | - |"
        )
    under = results.get("e2e_below_capacity")
    if under:
        ulat = under["latency_ms"]
        rows.append(
            f"| end-to-end latency below capacity: {under['rate_eps']:,.0f} events/s for "
            f"{under['seconds']:.0f} s ({ulat['count']:,} tracer events) | "
            f"p50 {fmt_ms(ulat['p50'])}, "
            f"p95 {fmt_ms(ulat['p95'])}, p99 {fmt_ms(ulat['p99'])} | "
            f"{results['config']['e2e_headroom']:.0%} of the measured pipeline throughput; "
            f"{under['backlog_at_end']:,} events queued when producing stopped | - | - |"
        )
    for conc in sorted(lookup, key=lambda c: int(c[1:])):
        row = lookup[conc]
        level = conc[1:]
        headline = level == str(results["lookup_concurrency"])
        rows.append(
            f"| `ScoreClient.get()`, concurrency {level} | p50 {_n(row['client_get']['p50'])} µs, "
            f"p99 {_n(row['client_get']['p99'])} µs | raw HGETALL p50 "
            f"{_n(row['raw_hgetall']['p50'])} µs, p99 {_n(row['raw_hgetall']['p99'])} µs: "
            f"p99 ratio **{row['client_ratio_p99']}** | "
            + ("ratio ≤ 2 | " + _verdict(results, "lookup_ratio") if headline else "- | -")
            + " |"
        )
        rows.append(
            f"| HTTP `GET /v1/scores/{{id}}`, concurrency {level} | p50 {_n(row['http']['p50'])} "
            f"µs, p99 {_n(row['http']['p99'])} µs | raw HGETALL: p99 ratio "
            f"{row['http_ratio_p99']} | - | - |"
        )
    rows.extend(cluster_rows(results.get("lookup_cluster")))
    rows.extend(auth_cost.readme_row(results))
    for stage in results["memory"]:
        last = stage is results["memory"][-1]
        marginal = stage.get("rss_marginal_bytes_per_user")
        extra = f"; each added user {marginal:,.0f} B" if marginal is not None else ""
        topics = stage.get("topics_per_user")
        about = f" with {topics} topics each" if topics else ""
        rows.append(
            f"| worker memory, {stage['users']:,} tracked users{about} | RSS "
            f"{_n(stage['rss_bytes_per_user'])} B/user ({stage['rss_bytes'] / 2**20:,.0f} MiB"
            f"{', on ' + stage['allocator'] if 'allocator' in stage else ''})"
            f"{extra}; table on disk "
            f"{_n(stage['disk_bytes_per_user'])} B/user | Redis keeps "
            f"{_n(stage['redis_bytes_per_user'])} B/user (score + history hashes) | "
            + (
                "RSS ≤ 1024 B/user | " + _verdict(results, "rss_bytes_per_user")
                if last
                else "- | -"
            )
            + " |"
        )
    intro = (
        f"Generated from [`{json_path}`]({json_path}) by `clout bench --readme`; chart: "
        f"[`{png_path}`]({png_path}). {results['mode'].capitalize()} "
        f"run of {results['started_at']} on {m['cpu']} ({m['cores']} cores, shared with other "
        f"work: load average {m['load_average_start'][0]} at the start, "
        f"{m.get('load_average_end', ['?'])[0]} at the end), Kafka {m['kafka']}, Redis "
        f"{m['redis']}, one worker, {results['settings']['topic_partitions']} partitions per "
        f"topic, commit `{m['git_commit'][:10]}`"
        + (" plus uncommitted changes in the working tree." if m["git_dirty"] else ".")
    )
    return f"{intro}\n\n" + "\n".join(rows) + "\n"


def cluster_rows(cluster: dict[str, Any] | None) -> list[str]:
    """Rows of the Redis Cluster phase (bench/cluster.py): get() and writes, cluster beside
    the single server, same users, same run."""
    if not cluster:
        return []
    rows = []
    single, many = cluster["single"], cluster["cluster"]
    levels = sorted(int(k[5:]) for k in many if k.startswith("get_c"))
    for level in levels:
        s, c = single[f"get_c{level}"], many[f"get_c{level}"]
        rows.append(
            f"| `ScoreClient.get()` on a {cluster['masters']}-master Redis Cluster "
            f"({many['leaderboard_shards']} leaderboard shards), concurrency {level}, "
            f"{cluster['users']:,} users | p50 {_n(c['p50'])} µs, p99 {_n(c['p99'])} µs; Redis CPU "
            f"{c['redis_cpu_us_per_get']} µs per get | single server, same users: p50 "
            f"{_n(s['p50'])} µs, p99 {_n(s['p99'])} µs; Redis CPU {s['redis_cpu_us_per_get']} µs "
            "per get | - | - |"
        )
    rows.append(
        f"| `ScoreWriter.write()` on the cluster, batches of 2,000 | "
        f"{_n(many['write']['cards_per_s'])} cards/s; Redis CPU "
        f"{many['write']['redis_cpu_us_per_card']} µs per card | single server: "
        f"{_n(single['write']['cards_per_s'])} cards/s; Redis CPU "
        f"{single['write']['redis_cpu_us_per_card']} µs per card | - | - |"
    )
    return rows


def update_readme(readme: Path, block: str) -> None:
    """Replace only the text between the bench markers."""
    text = readme.read_text()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise MarkersMissing(f"{readme} has no {START} ... {END} block")
    head = text[: start + len(START)]
    readme.write_text(f"{head}\n{block}{text[end:]}")
