"""Topics through the real pipeline (#31): `clout simulate` (topic-tagged traffic) -> Kafka ->
worker -> Redis -> the served API, on the single redis-server and on the private Redis Cluster
(topic boards in 16 shards each).

- `GET /v1/topics/{topic}/leaderboard`: the top 10 of the three largest topics equal the
  brute-force ranking of every stored card's `influential_about` by topic raw;
- `GET /v1/influencers`: each combination of filters, walked through its cursors, equals the
  brute-force filter of every stored card, in board order, and no call reads more rows than the
  stated budget;
- gaming: three twins share one history in a topic; one then gets a week of organic engagement
  in that topic from established users, one the same number of bought engagements (fresh
  accounts, one burst at the end), as `clout gaming-report` stages them. Organic must gain at
  least `GAMING_BAR` times the bought points in the topic's score, the bar the global score
  meets (tests/unit/simulation/test_gaming.py, tests/e2e/test_population_scores.py).
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.scoring.decay import MS_PER_DAY, MS_PER_MINUTE
from app.store.client import ScoreClient
from app.store.keys import shard_of
from app.store.models import UserScore
from app.store.topics import SCAN_BUDGET
from tests.support.api import api_process, issue_key
from tests.support.cli import clout
from tests.support.kafka import encode, make_event, produce
from tests.support.redis_variants import REDIS_VARIANTS, stack_on
from tests.support.worker import WorkerProcess, wait_caught_up, wait_until_consuming

pytestmark = pytest.mark.e2e

USERS, EVENTS, SEED = 3000, 40_000, 31
GAMING_BAR = 10.0
"""Organic points per bought point the global score is held to (`clout gaming-report`)."""
CAMPAIGN = 300  # engagements per twin, organic or bought
HISTORY = 40  # shared engagements of the twins before the campaigns


@dataclass(frozen=True)
class Stored:
    """Every scored user's card as the API serves it."""

    cards: dict[str, dict[str, Any]]

    def about(self, user: str, topic: str) -> dict[str, Any] | None:
        return next((t for t in self.cards[user]["influential_about"] if t["topic"] == topic), None)

    def topic_ranking(self, topic: str, shards: int, kept: int) -> list[tuple[str, float]]:
        """(user, topic raw) of every card listing `topic` that the topic's board keeps (the
        top `kept` of each of its `shards` shards), as one sorted set orders them."""
        rows = [(u, t["raw"]) for u in self.cards if (t := self.about(u, topic)) is not None]
        ranked = sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)
        per_shard: Counter[int] = Counter()
        board = []
        for user, raw in ranked:
            shard = shard_of(user, shards)
            if per_shard[shard] < kept:
                per_shard[shard] += 1
                board.append((user, raw))
        return board

    def global_ranking(self) -> list[str]:
        return sorted(self.cards, key=lambda u: (self.cards[u]["raw"], u), reverse=True)


def main_network(components: Mapping[str, Mapping[str, float]]) -> str | None:
    """The network holding most of the raw (ties: first by name), written out independently."""
    totals: Counter[str] = Counter()
    for networks in components.values():
        totals.update(networks)
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[0][0] if ranked and ranked[0][1] > 0 else None


def brute_force(stored: Stored, params: Mapping[str, Any], shards: int, kept: int) -> list[str]:
    """The users `/v1/influencers` must return for `params`, in its board's order."""
    topic = params.get("topic")
    order = (
        stored.global_ranking()
        if topic is None
        else [u for u, _ in stored.topic_ranking(str(topic), shards, kept)]
    )
    kept = []
    for user in order:
        card = stored.cards[user]
        standing = None if topic is None else stored.about(user, str(topic))
        graded = card["score"] if standing is None else standing["score"]
        if "min_score" in params and graded < params["min_score"]:
            continue
        if "style" in params and card["style"] != params["style"]:
            continue
        if "network" in params and main_network(card["components"]) != params["network"]:
            continue
        kept.append(user)
    return kept


async def walk(http: httpx.AsyncClient, params: dict[str, Any]) -> tuple[list[str], list[int]]:
    """Every user `/v1/influencers` returns for `params`, following cursors; rows per call."""
    users: list[str] = []
    scanned: list[int] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 100} | ({} if cursor is None else {"cursor": cursor})
        response = await http.get("/v1/influencers", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        users += [i["user_id"] for i in body["influencers"]]
        scanned.append(body["scanned"])
        cursor = body["next_cursor"]
        if cursor is None:
            return users, scanned


def campaign_events(
    topic: str, established: list[str], now_ms: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The twins' events in production order: the shared history, the organic week, the bought
    burst, and one identical last event each, so all three cards are written at the end."""
    rng = random.Random(SEED)
    run = uuid.uuid4().hex[:6]
    base, organic, bought = (f"twin-{name}-{run}" for name in ("base", "organic", "bought"))
    kinds = rng.choices(("likes", "shares", "mentions"), (75, 12, 13), k=HISTORY + CAMPAIGN)
    historians, fans, last = established[:HISTORY], established[HISTORY:-1], established[-1]

    def event(kind: str, actor: str, target: str, ts: int) -> tuple[str, dict[str, Any]]:
        return kind, make_event(actor, target, ts=ts, network="instagram", topics=[topic])

    history = sorted(now_ms - 20 * MS_PER_DAY + rng.randrange(12 * MS_PER_DAY) for _ in historians)
    for target in (base, organic, bought):
        for i, (actor, ts) in enumerate(zip(historians, history, strict=True)):
            yield event(kinds[i], actor, target, ts)
    week = sorted(
        now_ms - 7 * MS_PER_DAY + rng.randrange(7 * MS_PER_DAY - 11 * MS_PER_MINUTE)
        for _ in range(CAMPAIGN)
    )
    burst = sorted(
        now_ms - 11 * MS_PER_MINUTE + rng.randrange(10 * MS_PER_MINUTE) for _ in range(CAMPAIGN)
    )
    for i in range(CAMPAIGN):
        yield event(kinds[HISTORY + i], fans[i], organic, week[i])
    for i in range(CAMPAIGN):
        yield event(kinds[HISTORY + i], f"fresh-{run}-{i}", bought, burst[i])
    for target in (base, organic, bought):
        yield event("likes", last, target, now_ms - 30_000)


async def produce_events(settings: Settings, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Each (kind, event) to its kind's input topic, keyed by target, in the given order."""
    by_topic: dict[str, list[tuple[bytes, bytes]]] = {}
    for kind, e in events:
        by_topic.setdefault(getattr(settings, f"topic_{kind}"), []).append(encode(e))
    for topic, messages in by_topic.items():
        await produce(settings, topic, messages)


async def stored_cards(settings: Settings) -> Stored:
    """Every ranked user's card, read through the store client (the brute force's input)."""
    async with ScoreClient.from_settings(settings) as client:
        total = await client.size()
        users: list[str] = []
        for offset in range(0, total, 1000):
            rows, _ = await client.leaderboard.top(offset, 1000)
            users += [u for u, _ in rows]
        cards: dict[str, dict[str, Any]] = {}
        for start in range(0, len(users), 100):
            found = await client.get_many(users[start : start + 100])
            cards |= {u: as_json(s) for u, s in found.items() if s is not None}
    return Stored(cards)


def as_json(score: UserScore) -> dict[str, Any]:
    decoded: dict[str, Any] = orjson.loads(orjson.dumps(score))
    return decoded


async def points(settings: Settings, topic: str, about: dict[str, Any]) -> float:
    """The unrounded topic score of a topic entry, on the curve that graded it."""
    async with ScoreClient.from_settings(settings) as client:
        if about["curve"] == "global":
            curve = await client.curves.load()
        else:
            own = (await client.curves.load_topics()).get(topic)
            assert own is not None, f"{topic} is graded on its own curve, which is missing"
            curve = own
    return curve.score(about["raw"])


@pytest.fixture(params=REDIS_VARIANTS)
def redis_variant_stack(request: pytest.FixtureRequest) -> Settings:
    """The stack on the single redis-server, then on the private Redis Cluster (16 shards)."""
    return stack_on(request)


async def test_topics_through_the_pipeline(redis_variant_stack: Settings, tmp_path: Path) -> None:
    settings = isolated(redis_variant_stack, worker_metrics_port=0)
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    try:
        await wait_until_consuming(settings, [worker])
        code, out, err = await clout(
            settings,
            "simulate",
            "--users",
            str(USERS),
            "--events",
            str(EVENTS),
            "--seed",
            str(SEED),
            timeout_s=600,
        )
        assert code == 0, out + err
        assert f"accepted={EVENTS} rejected=0" in out
        inputs = [*settings.input_topics, settings.topic_rekeyed]
        await wait_caught_up(settings, inputs, deadline_s=600, alive=[worker])
        stored = await stored_cards(settings)
        sizes = Counter(t["topic"] for c in stored.cards.values() for t in c["influential_about"])
        assert len(sizes) >= 3, f"the simulation tagged too few topics: {sizes}"
        topics = [t for t, _ in sizes.most_common(3)]
        print(
            f"{len(stored.cards)} cards, {len(sizes)} topics, the largest: {sizes.most_common(3)}"
        )
        gamed = topics[0]
        established = sorted(u for u, c in stored.cards.items() if c["score"] >= 30.0)
        assert len(established) > HISTORY + CAMPAIGN
        rng = random.Random(SEED)
        actors = rng.sample(established, HISTORY + CAMPAIGN + 1)
        twins_events = list(campaign_events(gamed, actors, int(time.time() * 1000)))
        await produce_events(settings, twins_events)
        await wait_caught_up(settings, inputs, deadline_s=300, alive=[worker])
    finally:
        worker.stop()

    stored = await stored_cards(settings)
    kept = settings.topics.leaderboard_size  # per shard
    async with ScoreClient.from_settings(settings) as client:
        shards = client.leaderboard.shards
    key = await issue_key(settings)
    with api_process(settings, tmp_path / "api.log") as base_url:
        http = httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": key}, timeout=30)
        for topic in topics:
            response = await http.get(f"/v1/topics/{topic}/leaderboard", params={"limit": 10})
            board = response.json()
            expected = stored.topic_ranking(topic, shards, kept)
            assert [(e["user_id"], e["raw"]) for e in board["entries"]] == expected[:10], topic
            assert board["total"] == len(expected)
            assert [e["score"] for e in board["entries"]] == [
                (stored.about(u, topic) or {}).get("score") for u, _ in expected[:10]
            ]

        networks = Counter(main_network(c["components"]) for c in stored.cards.values())
        network = networks.most_common(1)[0][0]
        queries: list[dict[str, Any]] = [
            {"topic": topics[0]},
            {"topic": topics[0], "min_score": 40},
            {"topic": topics[1], "style": "specialist"},
            {"topic": topics[2], "network": network, "min_score": 20},
            {"min_score": 60},
            {"style": "specialist", "network": network},
            {"topic": topics[1], "min_score": 30, "style": "explorer", "network": network},
        ]
        for params in queries:
            got, scanned = await walk(http, params)
            print(f"{params}: {len(got)} users, {len(scanned)} calls")
            assert got == brute_force(stored, params, shards, kept), params
            assert max(scanned) <= SCAN_BUDGET

        twins = {
            name: next(u for u in stored.cards if u.startswith(f"twin-{name}-"))
            for name in ("base", "organic", "bought")
        }
        cards = {n: (await http.get(f"/v1/scores/{u}")).json() for n, u in twins.items()}
        await http.aclose()

    topic_points, global_points = {}, {}
    async with ScoreClient.from_settings(settings) as client:
        curve = await client.curves.load()
    for name, card in cards.items():
        about = next(t for t in card["influential_about"] if t["topic"] == gamed)
        topic_points[name] = await points(settings, gamed, about)
        global_points[name] = curve.score(card["raw"])
    organic_gain = topic_points["organic"] - topic_points["base"]
    bought_gain = topic_points["bought"] - topic_points["base"]
    global_organic = global_points["organic"] - global_points["base"]
    global_bought = global_points["bought"] - global_points["base"]
    print(
        f"{gamed} score: organic +{organic_gain:.3f}, bought +{bought_gain:.3f}; "
        f"global score: organic +{global_organic:.3f}, bought +{global_bought:.3f}"
    )
    assert organic_gain > 0.0
    assert bought_gain * GAMING_BAR <= organic_gain
