"""Redis: the key schema (docs/redis.md), the worker's writer and the services' read client.

This is the only package that imports redis; everything else talks to Redis through it.
"""

from app.store.client import ChangeFeed, ScoreClient
from app.store.connection import (
    STORE_ERRORS,
    StoreError,
    discover_topology,
    redis_from_settings,
)
from app.store.keys import HISTORY_DAYS, RedisKeys, percentile
from app.store.models import (
    CorruptRecord,
    CurveChanging,
    DailyScore,
    LeaderboardEntry,
    NoSnapshot,
    ScoreChange,
    UserScore,
)
from app.store.sync_client import SyncChangeFeed, SyncScoreClient
from app.store.windows import Since, parse_since
from app.store.writer import ScoreWriter

__all__ = [
    "HISTORY_DAYS",
    "STORE_ERRORS",
    "ChangeFeed",
    "CorruptRecord",
    "CurveChanging",
    "DailyScore",
    "LeaderboardEntry",
    "NoSnapshot",
    "RedisKeys",
    "ScoreChange",
    "ScoreClient",
    "ScoreWriter",
    "Since",
    "StoreError",
    "SyncChangeFeed",
    "SyncScoreClient",
    "UserScore",
    "discover_topology",
    "parse_since",
    "percentile",
    "redis_from_settings",
]
