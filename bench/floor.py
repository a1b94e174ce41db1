"""The Faust floor: a Faust agent that only counts, built from the worker's own Faust settings.

Run as a child process (`python -m bench.floor --total N --result PATH --group G`, configured by
the same CLOUT_* environment as the worker). It reads the run's input topics from the start in its
own consumer group (G), with the worker's batch size and wait (`take_events`), counts messages and
writes `{"events": N, "seconds": span}` to PATH once it has seen `total`; the span runs from the
first batch in hand to the last. No decoding, no table, no Redis: whatever the worker does beyond
this is Clout's own cost: `pipeline_eps / faust_floor_eps` is the share of Faust's speed kept.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path
from typing import cast

import faust
import orjson

from app.core.settings import get_settings
from streams.allocator import use_allocator
from streams.topics import declare_topics
from streams.worker import faust_app, tune_garbage_collector, use_event_loop


def main() -> int:
    """Count `--total` messages, write the result file, then stop the worker cleanly."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--group", required=True, help="its own consumer group (app id)")
    args = parser.parse_args()
    settings = get_settings()
    use_allocator(settings.worker_allocator)  # may re-execute this process, as the worker does
    use_event_loop(settings)
    app = faust_app(settings, app_id=args.group)
    topics = declare_topics(app, settings)
    seen = 0
    first = 0.0

    @app.agent(topics.inputs, name="count-only")
    async def count_only(stream: faust.StreamT[bytes]) -> None:
        nonlocal seen, first
        async for batch in cast("faust.Stream[bytes]", stream).take_events(
            settings.batch_max_events, within=settings.batch_max_wait_s
        ):
            if not seen:
                first = time.perf_counter()
            seen += len(batch)
            if seen >= args.total:
                span = time.perf_counter() - first
                args.result.write_bytes(orjson.dumps({"events": seen, "seconds": span}))
                os.kill(os.getpid(), signal.SIGTERM)

    worker = faust.Worker(app, loglevel="warning")
    worker.spinner = None
    tune_garbage_collector(settings)  # the worker's process set-up too, as its event loop
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
