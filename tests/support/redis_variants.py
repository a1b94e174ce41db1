"""Running a test on the shared single Redis server and on the private Redis Cluster."""

from __future__ import annotations

import pytest

from app.core.settings import Settings
from app.devtools.isolation import isolated

REDIS_VARIANTS = ["single", pytest.param("cluster", marks=pytest.mark.redis_cluster)]
"""Fixture params that run a test on the shared single server and on the private cluster."""


def stack_on(request: pytest.FixtureRequest) -> Settings:
    """The stack settings for a fixture parametrized with REDIS_VARIANTS."""
    fixture = "cluster_stack" if request.param == "cluster" else "stack"
    settings: Settings = request.getfixturevalue(fixture)
    return settings


@pytest.fixture(params=REDIS_VARIANTS, name="isolated_settings")
def isolated_on_each_redis(request: pytest.FixtureRequest) -> Settings:
    """Settings unique to this test, on the single server and (a second run) on the cluster.

    A conftest that imports it runs its folder's tests on both (it overrides the session-wide
    `isolated_settings` of tests/conftest.py)."""
    return isolated(stack_on(request))
