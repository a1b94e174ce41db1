"""The CLI tests run on the single Redis server and on the private cluster."""

from __future__ import annotations

from tests.support.redis_variants import isolated_on_each_redis  # noqa: F401  (isolated_settings)
