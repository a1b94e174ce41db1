"""Clout's compiled per-event path (Rust via PyO3; the sources are in kernel/src).

One call per Kafka batch: `Triager.triage` decodes and validates record values, `fold` folds the
accepted events into per-user `Signals`, `Scorer.score` makes the changed users' cards and
`card_rows` encodes cards for the Redis writer (app/store/writer.py). The
semantics are the Python model's (app/scoring), which stays the readable reference;
tests/unit/kernel holds the kernel to it.
"""

from typing import TYPE_CHECKING

from clout_kernel._kernel import Scorer, Signals, Triager, card_rows, fold

if TYPE_CHECKING:
    from clout_kernel._kernel import Params, Part, Refusal

__all__ = ["Params", "Part", "Refusal", "Scorer", "Signals", "Triager", "card_rows", "fold"]
