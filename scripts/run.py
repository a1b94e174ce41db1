"""`make run`: the main job on a local stack (already started by `make stack-up`).

Starts the worker, the API with the ops dashboard, and a gentle stream of demo traffic, prints
where everything is with a fresh local API key, and stops all of them on Ctrl-C, SIGTERM (what a
supervisor sends) or SIGHUP (the terminal closed), reporting each one's exit code.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.errors import ConfigurationError  # noqa: E402
from app.core.settings import Settings  # noqa: E402
from app.kafka.topics import ensure_topics  # noqa: E402
from app.security.access import Scope  # noqa: E402
from app.store.api_keys import ApiKeyStore  # noqa: E402

CLOUT = [sys.executable, "-m", "app.cli"]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
CHILD_STOP_TIMEOUT_S = 30.0
LOCAL_KEY_NAME = "make-run"


async def local_api_key(settings: Settings) -> str:
    """A new key for this run (scores:read and ops:read); the previous run's is revoked."""
    async with ApiKeyStore.from_settings(settings) as store:
        scopes = [Scope.SCORES_READ, Scope.OPS_READ]
        _, key = await store.create(LOCAL_KEY_NAME, scopes, 50, 100_000, replace=True)
    return key


class StopRequested(Exception):
    """SIGTERM or SIGHUP arrived: stop everything, as on Ctrl-C."""


def request_stop(signum: int, frame: FrameType | None) -> NoReturn:
    """Signal handler: unwind the supervision loop so its `finally` stops the children."""
    raise StopRequested(signal.Signals(signum).name)


def stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child still running (each stops cleanly on it), SIGKILL what outlives the
    timeout, and say how each one ended."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for name, child in children.items():
        try:
            child.wait(CHILD_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(
                f"run: {name} did not stop in {CHILD_STOP_TIMEOUT_S:.0f}s; killing it", flush=True
            )
            child.kill()
            child.wait()
        print(f"run: {name} exited with {child.returncode}", flush=True)


def main() -> int:
    """Run worker, API and demo producer until interrupted or one of them exits."""
    settings = Settings()
    try:
        created = asyncio.run(ensure_topics(settings))
    except ConfigurationError as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 2
    if created:
        print(f"run: created topics {', '.join(created)}", flush=True)
    scheme = "https" if settings.api_ssl_certfile else "http"  # CLOUT_STACK_TLS's settings
    base = f"{scheme}://{settings.api_host}:{settings.api_port}"
    key = asyncio.run(local_api_key(settings)) if settings.api_auth else None
    curl_options = f" -H 'X-API-Key: {key}'" if key else ""
    if scheme == "https" and settings.api_ssl_cafile:
        curl_options += f" --cacert {settings.api_ssl_cafile}"
    commands = {
        "worker": [*CLOUT, "worker"],
        "api": [*CLOUT, "api"],
        "demo": [
            *CLOUT,
            "simulate",
            "--users",
            "2000",
            "--events",
            "2000000",
            "--seed",
            "7",
            "--rate",
            "50",
        ],
    }
    print(
        f"""
Clout is running (Ctrl-C stops it):
  worker          consuming {", ".join(settings.input_topics)} from {settings.kafka_bootstrap}
  demo traffic    50 events/s of a synthetic population (clout simulate)
  score feed      {settings.topic_scores}, {settings.topic_score_thresholds} (Kafka)
  API             {base}/docs
  ops dashboard   {base}/ops      (JSON: {base}/ops/lag, Prometheus: {base}/metrics)
  API key         {key or "none needed (CLOUT_API_AUTH=off)"}
                  (scores:read + ops:read, 50/s; new on every `make run`: paste it into /ops)

Try:
  curl -s{curl_options} '{base}/v1/leaderboard?limit=5'
  curl -s{curl_options} {base}/v1/scores/<user_id>
  .venv/bin/clout top --limit 10
  .venv/bin/clout explain <user_id>
  .venv/bin/clout lag
  .venv/bin/clout follow              (score changes as they happen; --thresholds: crossings)
""",
        flush=True,
    )
    children: dict[str, subprocess.Popen[bytes]] = {}
    for sig in STOP_SIGNALS:
        signal.signal(sig, request_stop)
    try:
        for name, cmd in commands.items():
            children[name] = subprocess.Popen(cmd, cwd=ROOT)
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        failed = [name for name, child in children.items() if child.poll() is not None]
        print(f"run: {', '.join(failed)} exited; stopping the rest", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, StopRequested):
        return 0
    finally:
        for sig in (*STOP_SIGNALS, signal.SIGINT):  # a second signal must not cut the clean-up
            signal.signal(sig, signal.SIG_IGN)
        stop_children(children)


if __name__ == "__main__":
    sys.exit(main())
