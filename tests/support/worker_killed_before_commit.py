"""`clout worker` that kills itself (SIGKILL) at its Nth offset commit, just before Kafka hears it.

By then Faust has run the write-behind flush (state of every acknowledged event written to the
table and its changelog) and flushed its producer; only the offset commit itself is missing. Run
as `python -m tests.support.worker_killed_before_commit worker ...` with
CLOUT_TEST_KILL_AT_COMMIT=N (a test-only fault, read here, never by Clout).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from app.cli import main
from streams.faust_compat import OffsetCommit, replace_offset_commit

KILL_AT = int(os.environ["CLOUT_TEST_KILL_AT_COMMIT"])


def commit_or_die(original: OffsetCommit) -> OffsetCommit:
    """The offset commit, except that the KILL_AT-th one kills the process before it is sent."""
    commits = 0

    async def commit(consumer: Any, offsets: Mapping[Any, int]) -> bool:
        nonlocal commits
        commits += 1
        if commits >= KILL_AT:
            print(f"fault: killed at commit {commits}, before committing {offsets}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return await original(consumer, offsets)

    return commit


replace_offset_commit(commit_or_die)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
