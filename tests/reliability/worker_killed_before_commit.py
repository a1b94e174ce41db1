"""`clout worker` that kills itself (SIGKILL) at its Nth offset commit, just before Kafka hears it.

By then Faust has run the write-behind flush (state of every acknowledged event written to the
table and its changelog) and flushed its producer; only the offset commit itself is missing. Run
as `python -m tests.reliability.worker_killed_before_commit worker ...` with
CLOUT_TEST_KILL_AT_COMMIT=N (a test-only fault, read here, never by Clout).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from faust.transport.consumer import ThreadDelegateConsumer

from app.cli import main

KILL_AT = int(os.environ["CLOUT_TEST_KILL_AT_COMMIT"])
_original_commit = ThreadDelegateConsumer._commit
_commits = 0


async def _commit_or_die(self: Any, offsets: Any) -> bool:
    global _commits
    _commits += 1
    if _commits >= KILL_AT:
        print(f"fault: killed at commit {_commits}, before committing {offsets}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    result: bool = await _original_commit(self, offsets)
    return result


# The Kafka driver's consumer (aiokafka) inherits `_commit` from the thread-delegating consumer.
ThreadDelegateConsumer._commit = _commit_or_die  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
