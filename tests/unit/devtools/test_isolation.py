"""Isolation: each run gets topics, a consumer group and a Redis prefix of its own."""

from __future__ import annotations

from app.core.settings import Settings
from app.devtools.isolation import free_ports, isolated


def test_every_topic_the_settings_name_is_the_runs_own() -> None:
    defaults = Settings()
    one, other = isolated(defaults), isolated(defaults)
    topics = Settings.topic_settings()
    assert {"topic_likes", "topic_rekeyed", "topic_score_thresholds"} <= set(topics)
    assert "topic_partitions" not in topics  # a count, not a topic
    for name in topics:
        assert getattr(one, name) != getattr(defaults, name)
        assert getattr(one, name) != getattr(other, name)
    assert one.topic_dead_letters.endswith(".dead-letters")
    assert len({getattr(one, name) for name in topics}) == len(topics)
    assert (one.app_id, one.redis_key_prefix) != (other.app_id, other.redis_key_prefix)


def test_overrides_win_and_the_label_starts_the_tag() -> None:
    run = isolated(Settings(), "bench", topic_partitions=3)
    assert run.topic_partitions == 3
    assert run.redis_key_prefix.startswith("clout-bench")


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
