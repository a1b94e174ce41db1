"""`GET /v1/scores/{id}/changes` on the real stack: the split, the window's start, and errors."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.card import ActorContribution, ScoreCard
from app.scoring.curve import DEFAULT_CURVE, Curve
from app.scoring.model import score_from_raw
from app.store import RedisKeys, ScoreWriter
from app.store.keys import utc_day
from tests.support.cards import DAY_MS, make_card, now_ms

pytestmark = pytest.mark.integration

LIKE_14D = 2 ** (-8 / 14)  # a like's value after 8 days (14-day half-life)
REFITTED = dataclasses.replace(
    DEFAULT_CURVE, version=1, scores=tuple(min(100.0, s + 1.5) for s in DEFAULT_CURVE.scores)
)


def graded(card: ScoreCard, curve: Curve) -> ScoreCard:
    """The card with the score and version `curve` gives its raw, as the worker makes it."""
    return dataclasses.replace(
        card, score=score_from_raw(card.raw, curve), curve_version=curve.version
    )


async def live_curve(redis: Redis, settings: Settings, curve: Curve) -> None:
    """Store `curve` as the live one, as a refit does."""
    key = RedisKeys(settings.redis_key_prefix).curve
    await redis.hset(
        key, mapping={"version": curve.version, "curve": orjson.dumps(curve.to_dict())}
    )


@pytest.fixture
async def week(writer: ScoreWriter) -> int:
    """alice: two likes on twitter 8 days ago; now those decayed plus one new share on
    instagram, and a new top actor."""
    at = now_ms()
    then = make_card(
        "alice",
        raw=2.0,
        updated_at_ms=at - 8 * DAY_MS,
        top_actors=(ActorContribution("fan-1", 2.0),),
    )
    await writer.write([graded(then, DEFAULT_CURVE)])
    liked = round(2.0 * LIKE_14D, 6)
    now = make_card(
        "alice",
        raw=liked + 3.0,
        updated_at_ms=at,
        components={"like": {"twitter": liked}, "share": {"instagram": 3.0}},
        top_actors=(ActorContribution("sharer", 3.0), ActorContribution("fan-1", 1.66)),
    )
    await writer.write([graded(now, DEFAULT_CURVE)])
    return at


async def test_the_change_splits_into_decay_and_new_engagement(
    api: httpx.AsyncClient, week: int
) -> None:
    response = await api.get("/v1/scores/alice/changes", params={"since": "7d"})
    assert response.status_code == 200
    body = response.json()
    liked = round(2.0 * LIKE_14D, 6)
    assert body["from_day"] == utc_day(week - 8 * DAY_MS).isoformat()
    assert (body["from_ms"], body["to_ms"]) == (week - 8 * DAY_MS, week)
    assert body["raw_then"] == 2.0
    assert body["raw_now"] == liked + 3.0
    assert body["decay"] == pytest.approx(liked - 2.0, abs=1e-12)
    assert body["new_engagement"] == pytest.approx(3.0, abs=1e-12)
    assert body["decay"] + body["new_engagement"] == pytest.approx(body["raw_change"], abs=1e-9)
    assert body["driver"] == "driven by +3.0 raw of new shares on instagram"
    assert body["refit_points"] == 0.0
    assert body["movement_points"] == pytest.approx(body["score_now"] - body["score_then"])
    assert [(c["kind"], c["network"]) for c in body["cells"]] == [
        ("share", "instagram"),
        ("like", "twitter"),
    ]
    assert [(m["actor_id"], m["then"], m["now"]) for m in body["movers"]] == [
        ("sharer", None, 3.0),
        ("fan-1", 2.0, 1.66),
    ]


async def test_a_day_starts_the_window_at_that_days_snapshot(
    api: httpx.AsyncClient, week: int
) -> None:
    today = utc_day(week).isoformat()
    body = (await api.get("/v1/scores/alice/changes", params={"since": today})).json()
    assert (body["from_day"], body["raw_change"], body["decay"]) == (today, 0.0, 0.0)
    assert body["driver"] == "decay while quiet"


async def test_a_window_longer_than_the_history_starts_at_its_oldest_day(
    api: httpx.AsyncClient, week: int
) -> None:
    body = (await api.get("/v1/scores/alice/changes", params={"since": "30d"})).json()
    assert body["from_day"] == utc_day(week - 8 * DAY_MS).isoformat()


async def test_a_refit_in_the_window_is_its_own_points(
    api: httpx.AsyncClient, writer: ScoreWriter, store_redis: Redis, isolated_settings: Settings
) -> None:
    at = now_ms()
    then = graded(make_card("bob", raw=3.0, updated_at_ms=at - DAY_MS), DEFAULT_CURVE)
    await writer.write([then])
    await live_curve(store_redis, isolated_settings, REFITTED)
    await writer.write([graded(dataclasses.replace(then, updated_at_ms=at), REFITTED)])

    body = (await api.get("/v1/scores/bob/changes", params={"since": "24h"})).json()

    assert body["raw_change"] == 0.0
    assert (body["curve_version_then"], body["curve_version_now"]) == (0, 1)
    assert body["refit_points"] == round(score_from_raw(3.0, REFITTED) - then.score, 1) > 0
    assert body["movement_points"] == 0.0
    assert body["driver"].endswith(f"a curve refit ({body['refit_points']:+.1f} points)")


async def test_a_card_not_yet_on_the_live_curve_is_503_with_retry_after(
    api: httpx.AsyncClient, week: int, store_redis: Redis, isolated_settings: Settings
) -> None:
    await live_curve(store_redis, isolated_settings, REFITTED)
    response = await api.get("/v1/scores/alice/changes")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "a refit is being taken up" in response.json()["detail"]


async def test_unknown_user_and_missing_day_are_404(api: httpx.AsyncClient, week: int) -> None:
    response = await api.get("/v1/scores/ghost/changes")
    assert (response.status_code, response.json()) == (404, {"detail": "no score for user 'ghost'"})
    day = (utc_day(week) - timedelta(days=3)).isoformat()
    response = await api.get("/v1/scores/alice/changes", params={"since": day})
    assert response.status_code == 404
    assert response.json() == {"detail": f"no daily snapshot of 'alice' to start {day!r} from"}


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("yesterday", "is not a day in the history (YYYY-MM-DD) or a time ago"),
        ("91d", "is beyond the 90-day history"),
        ("0d", "is not a day in the history"),
        ("7w", "is not a day in the history"),
    ],
)
async def test_a_bad_window_is_422_with_what_is_accepted(
    api: httpx.AsyncClient, week: int, since: str, message: str
) -> None:
    response = await api.get("/v1/scores/alice/changes", params={"since": since})
    assert response.status_code == 422
    assert message in response.json()["detail"][0]["msg"]
