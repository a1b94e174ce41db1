"""Latency summaries: nearest-rank percentiles (a reported p99 is a latency that was observed)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < q <= 100:
        raise ValueError("q must be within (0, 100]")
    rank = math.ceil(q / 100 * len(sorted_values))
    return float(sorted_values[max(rank, 1) - 1])


def summarize(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> dict[str, float]:
    """count, p50, p95, p99, max and mean of `values`, multiplied by `scale` and rounded."""
    ordered = sorted(values)
    out = {f"p{q}": percentile(ordered, q) for q in (50, 95, 99)}
    out["max"] = float(ordered[-1])
    out["mean"] = sum(ordered) / len(ordered)
    summary = {k: round(v * scale, digits) for k, v in out.items()}
    summary["count"] = len(ordered)
    return summary
