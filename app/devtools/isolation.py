"""Settings of their own for one test or benchmark run on a shared Kafka and Redis."""

from __future__ import annotations

import uuid
from typing import Any

from app.settings import Settings


def isolated(settings: Settings, label: str = "t", **overrides: Any) -> Settings:
    """A copy of settings with topics, consumer group and Redis prefix unique to this run."""
    tag = f"{label}{uuid.uuid4().hex[:10]}"
    return settings.model_copy(
        update={
            "topic_likes": f"{tag}.likes",
            "topic_shares": f"{tag}.shares",
            "topic_mentions": f"{tag}.mentions",
            "topic_dead_letters": f"{tag}.dead-letters",
            "topic_rekeyed": f"{tag}.rekeyed",
            "app_id": f"clout-{tag}",
            "redis_key_prefix": f"clout-{tag}",
            **overrides,
        }
    )
