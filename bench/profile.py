"""Optional py-spy sampling of the worker during the pipeline measurement (`--profile`).

py-spy attaches to the running worker from outside (no code change in streams/); its collapsed
stacks are summarised into the functions that take the most samples, by self and total time.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


class Profiler:
    """A `py-spy record` child process sampling one pid into a collapsed-stacks file."""

    def __init__(self, pid: int, output: Path, rate: int = 100) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.output = output
        self._proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "-o",
                output,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        """Stop sampling; py-spy writes its file on SIGINT."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        try:
            _, err = self._proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            _, err = self._proc.communicate()
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")


STAGES = (
    ("write-behind flush (encode + RocksDB + changelog enqueue)", "StateCache.flush"),
    ("scoring batch: load states (cache, table get on a miss)", "BatchScorer._load_states"),
    (
        "score write, behind the agent: cards into Redis, feed, due index",
        "BatchScorer._write_scores",
    ),
    ("scoring batch: score cards, wait for the write before", "BatchScorer._publish_scores"),
    ("scoring batch: dedupe + actor lookup (Redis)", "BatchScorer._with_redis_retry"),
    ("scoring batch: dead letters and re-keys", "BatchScorer._dead_letter"),
    ("plan: triage (decode, validate, partition)", "triage "),
    ("plan: replay check + fold (apply_event)", "fold "),
    ("plan: replay check + fold (apply_event)", "split_replays"),
    ("scoring batch: rest", "BatchScorer.process"),
    ("faust: changelog producer, one send per key", "ProducerBuffer._send_pending"),
    ("aiokafka: producer sender (changelog, dead letters)", "Sender._"),
    ("faust: consumer fetch -> conductor", "Consumer._drain_messages"),
    ("faust: conductor on_message", "on_message"),
    ("faust: stream drain, take_events, acks", "Stream."),
    ("faust: stores, other", "Store."),
    ("event loop waiting in select", "select"),
)
"""Where a sample belongs: the first stage whose marker appears in its stack."""


def summarize_collapsed(path: Path, top: int = 25) -> str:
    """Samples per pipeline stage, then the heaviest functions by self and total samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
        stage = next((s for s, marker in STAGES if any(marker in f for f in frames)), "other")
        stages[stage] += count
    if not samples:
        return "no samples\n"
    lines = [f"{samples} samples of the worker's busy threads", "", "share %  stage"]
    lines += [f"{100 * n / samples:6.1f}  {stage}" for stage, n in stages.most_common()]
    lines += ["", "self %  function"]
    lines += [f"{100 * n / samples:6.1f}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "total %  function (inclusive)"]
    lines += [f"{100 * n / samples:6.1f}  {frame}" for frame, n in total.most_common(top * 2)]
    return "\n".join(lines) + "\n"
