"""The worker's memory allocator: jemalloc, preloaded by re-executing `clout worker` once.

glibc's malloc keeps what the worker frees (decoded batches, flushed table values, RocksDB's
blocks) fragmented over its per-thread arenas and rarely returns it: at 1M tracked users with 16
topics each the worker held 1,718 B/user of RSS on glibc and 548 B/user on jemalloc with
`JEMALLOC_CONF` (one `make bench` each; README's settings table). An allocator must be in place
before the process allocates anything, so the worker's command re-executes itself with jemalloc
in `LD_PRELOAD` (Settings `worker_allocator`; "system" keeps the C library's malloc).
"""

from __future__ import annotations

import ctypes.util
import logging
import os
import sys
from pathlib import Path

from app.core.settings import Allocator

log = logging.getLogger(__name__)

JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:1000"
"""jemalloc's settings for the worker, unless `MALLOC_CONF` gives others. By default jemalloc
returns freed pages only as it allocates again, 10 s after they were freed: an idle worker
kept the pages of its last batches and flushes (resident 644 MB for 259 MB allocated at 100k
users). A background thread returning them after 1 s held resident within 10% of allocated."""
PRELOADED_MARK = "CLOUT_WORKER_ALLOCATOR_PRELOADED"
"""Set in the re-executed process, so a preload the loader refused never re-executes again."""


def jemalloc_library() -> str | None:
    """The jemalloc library the dynamic loader finds (Debian: libjemalloc2), or None."""
    if not sys.platform.startswith("linux"):
        return None  # LD_PRELOAD is the Linux loader's; elsewhere the system allocator stays
    return ctypes.util.find_library("jemalloc")


def loaded_allocator(maps: Path = Path("/proc/self/maps")) -> Allocator:
    """Which allocator a process runs on, read from its memory map (`/proc/<pid>/maps`)."""
    try:
        mapped = maps.read_text()
    except OSError:
        return "system"
    return "jemalloc" if "libjemalloc" in mapped else "system"


def preloaded_command(library: str, environ: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """This process's own command line, and its environment with `library` preloaded (and
    `JEMALLOC_CONF`, unless the environment sets `MALLOC_CONF`)."""
    preload = " ".join(part for part in (library, environ.get("LD_PRELOAD", "")) if part)
    env = {"MALLOC_CONF": JEMALLOC_CONF, **environ, "LD_PRELOAD": preload, PRELOADED_MARK: "1"}
    return [sys.executable, *sys.orig_argv[1:]], env


def use_allocator(wanted: Allocator) -> None:
    """Re-execute this process on jemalloc when wanted and not loaded yet (then never returns).

    Call it first thing in the worker's command: the process is replaced, keeping its pid, its
    arguments and its environment. Without jemalloc the worker runs on the system allocator and
    says so.
    """
    if wanted != "jemalloc" or loaded_allocator() == "jemalloc":
        return
    if os.environ.get(PRELOADED_MARK):
        log.warning("jemalloc was preloaded but is not loaded: running on the system allocator")
        return
    library = jemalloc_library()
    if library is None:
        log.warning(
            "jemalloc not found (Debian: apt-get install libjemalloc2): the worker runs on the "
            "system allocator and holds several times the memory per user; "
            "CLOUT_WORKER_ALLOCATOR=system silences this"
        )
        return
    argv, env = preloaded_command(library, dict(os.environ))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
