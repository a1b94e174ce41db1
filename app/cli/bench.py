"""`clout bench [--quick]`: the benchmark against the local stack (see bench/ and README).

Writes `latest.json` and `latest.png` to the results folder; a full run with the default folder
also regenerates the README's performance table. `--readme` only redraws that table and the chart
from the existing results. Targets are reported, never enforced: the exit code is 0 whenever
every figure was measured and every event was counted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from app.core.settings import get_settings


def register(subparsers: Any) -> None:
    """Add the `bench` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="measure throughput, latency, lookups and memory against the local stack"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (CI smoke run, under 90 s)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results folder (default: bench/results, or bench/results/quick with --quick)",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="only redraw the README table and the chart from the results folder's latest.json",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the worker during the pipeline phase"
    )
    parser.add_argument("--events", type=_positive, help="backlog size N for throughput")
    parser.add_argument("--e2e-rate", type=float, help="events/s during the latency phase")
    parser.add_argument("--e2e-seconds", type=float, help="length of the latency phase")
    parser.add_argument(
        "--memory-users", type=_stages, help="tracked-user stages, e.g. 100000,1000000"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark (or only regenerate the README table); imported lazily."""
    try:
        from bench import report
        from bench.config import FULL, QUICK
        from bench.runner import RESULTS, ROOT, run_bench, write_json
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] not in ("bench", "app"):
            raise
        # The wheel leaves the benchmark out (pyproject.toml): it runs from a checkout.
        print(
            f"clout bench: {exc.name} is not installed; run `make bench` in a checkout",
            file=sys.stderr,
        )
        return 2

    default_out = args.out is None
    out: Path = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    readme = ROOT / "README.md"
    if args.readme:
        results = report.load(out / "latest.json")
        report.update_readme(readme, report.table(results, _shown(out, ROOT)))
        report.chart(results, out / "latest.png")
        print(f"bench: README table and {out / 'latest.png'} redrawn from {out / 'latest.json'}")
        return 0
    config = (QUICK if args.quick else FULL).with_overrides(
        events=args.events,
        e2e_rate=args.e2e_rate,
        e2e_seconds=args.e2e_seconds,
        memory_stages=args.memory_users,
        profile=args.profile or None,
    )
    out.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(run_bench(config, get_settings(), out))
    write_json(results, out / "latest.json")
    report.chart(results, out / "latest.png")
    print(f"bench: wrote {out / 'latest.json'} and {out / 'latest.png'}")
    if default_out and not args.quick:
        try:
            report.update_readme(readme, report.table(results))
            print("bench: README performance table regenerated")
        except report.MarkersMissing as exc:
            print(f"bench: {exc}; README left as it is", file=sys.stderr)
    for name, target in results["targets"].items():
        verdict = "met" if target["met"] else f"MISSED ({target['limited_by']})"
        print(f"  {name} = {target['value']:g} (target {target['target']}): {verdict}")
    return 0


def _shown(folder: Path, root: Path) -> str:
    """How the README links to a results folder: relative to the repository when inside it."""
    try:
        return folder.resolve().relative_to(root).as_posix()
    except ValueError:
        return folder.resolve().as_posix()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _stages(text: str) -> tuple[int, ...]:
    try:
        stages = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("comma-separated user counts, e.g. 10000,20000") from None
    if not stages or any(s < 1 for s in stages) or list(stages) != sorted(set(stages)):
        raise argparse.ArgumentTypeError("increasing positive user counts")
    return stages
