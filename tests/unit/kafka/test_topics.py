"""The partition-count check that keeps the worker from re-keying forever."""

from __future__ import annotations

import pytest

from app.core.errors import ConfigurationError
from app.core.settings import Settings
from app.kafka.topics import TopicLayoutError, check_partition_counts


def counts(settings: Settings, default: int, **overrides: int) -> dict[str, int]:
    names = [
        *settings.input_topics,
        settings.topic_rekeyed,
        settings.topic_dead_letters,
        settings.topic_scores,
        settings.topic_score_thresholds,
    ]
    return {name: overrides.get(name, default) for name in names}


def test_matching_counts_pass_and_the_dead_letter_topic_may_differ() -> None:
    settings = Settings(topic_partitions=8)
    layout = counts(settings, 8, **{settings.topic_dead_letters: 1})

    check_partition_counts(settings, layout)


def test_an_input_or_rekey_topic_with_another_count_is_refused_with_the_fix() -> None:
    settings = Settings(topic_partitions=8)
    layout = counts(settings, 8, **{settings.topic_likes: 1, settings.topic_rekeyed: 3})

    with pytest.raises(TopicLayoutError) as refused:
        check_partition_counts(settings, layout)

    message = str(refused.value)
    assert f"{settings.topic_likes} has 1" in message
    assert f"{settings.topic_rekeyed} has 3" in message
    assert settings.topic_shares not in message
    assert "CLOUT_TOPIC_PARTITIONS=8" in message
    assert isinstance(refused.value, ConfigurationError)


def test_a_feed_topic_with_another_count_is_refused() -> None:
    settings = Settings(topic_partitions=8)
    layout = counts(settings, 8, **{settings.topic_scores: 4})

    with pytest.raises(TopicLayoutError, match=f"{settings.topic_scores} has 4"):
        check_partition_counts(settings, layout)
