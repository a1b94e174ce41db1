"""TopicReader on the real Redis (single server and cluster): topic boards and the campaign
query against a brute-force reading of the same users."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.card import ScoreCard, TopicInfluence
from app.store import ScoreClient, ScoreWriter
from app.store.topics import (
    SCAN_BUDGET,
    InfluencerQuery,
    InvalidCursor,
    encode_cursor,
    main_network,
)
from tests.support.cards import make_card, now_ms
from tests.support.topics import write_topics

pytestmark = pytest.mark.integration

TOPICS = ("coffee", "tea", "chess")
NETWORKS = ("instagram", "twitter", "bsky")
STYLES = ("broadcaster", "specialist", "explorer")
USERS = SCAN_BUDGET + 300  # the campaign query must continue past one call's budget


@dataclass(frozen=True)
class Population:
    cards: dict[str, ScoreCard]
    about: dict[str, list[TopicInfluence]]


def population(seed: int = 31) -> Population:
    """Users with random raws, styles and networks; about half influential about 1..3 topics,
    and a block of exact raw ties (only the id orders them)."""
    rng = random.Random(seed)
    cards: dict[str, ScoreCard] = {}
    about: dict[str, list[TopicInfluence]] = {}
    for i in range(USERS):
        user = f"u{i:05d}"
        raw = 4.0 if i % 50 == 0 else round(rng.lognormvariate(0.0, 1.5), 6)
        score = round(min(100.0, 1.0 + 10.0 * raw), 1)
        split = rng.random()
        networks = rng.sample(NETWORKS, 2)
        components = {"like": {networks[0]: raw * split, networks[1]: raw * (1 - split)}}
        cards[user] = make_card(user, score, raw, components=components, style=rng.choice(STYLES))
        if rng.random() < 0.5:
            shares = sorted((rng.random() for _ in range(rng.randint(1, 3))), reverse=True)
            chosen = rng.sample(TOPICS, len(shares))
            about[user] = [
                TopicInfluence(
                    topic=t,
                    share=round(s / 3, 4),
                    raw=2.0 if i % 40 == 0 else round(raw * s / 3, 6),
                    score=round(min(100.0, 1.0 + 30.0 * raw * s / 3), 1),
                    curve="topic",
                )
                for t, s in zip(chosen, shares, strict=True)
            ]
    return Population(cards, about)


@pytest.fixture
async def people(
    writer: ScoreWriter, store_redis: Redis, isolated_settings: Settings
) -> Population:
    pop = population()
    cards = list(pop.cards.values())
    for start in range(0, len(cards), 500):
        await writer.write(cards[start : start + 500])
    await write_topics(store_redis, isolated_settings.redis_key_prefix, pop.about, now_ms())
    return pop


def topic_ranking(pop: Population, topic: str) -> list[tuple[str, float]]:
    """(user, topic raw) by topic raw, then id, both descending: one sorted set's order."""
    rows = [(u, t.raw) for u, ts in pop.about.items() for t in ts if t.topic == topic]
    return sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)


async def test_topic_pages_equal_the_brute_force_ranking(
    client: ScoreClient, people: Population
) -> None:
    for topic in TOPICS:
        expected = topic_ranking(people, topic)
        entries, total = await client.topic_top(topic, 1000, 0)
        assert total == len(expected)
        assert [(e.user_id, e.raw) for e in entries] == expected
        assert [e.rank for e in entries] == list(range(1, len(expected) + 1))
        mine = {u: t for u, ts in people.about.items() for t in ts if t.topic == topic}
        assert [(e.score, e.share) for e in entries] == [
            (mine[e.user_id].score, mine[e.user_id].share) for e in entries
        ]
        page, _ = await client.topic_top(topic, 7, 20)
        assert [(e.user_id, e.raw) for e in page] == expected[20:27]
        assert [e.rank for e in page] == list(range(21, 28))
    assert await client.topic_top("nobody-talks-about-this", 10, 0) == ([], 0)


async def test_get_carries_influential_about(client: ScoreClient, people: Population) -> None:
    user = next(u for u, ts in people.about.items() if len(ts) >= 2)
    score = await client.get(user)
    assert score is not None
    assert list(score.influential_about) == sorted(people.about[user], key=lambda t: -t.share)
    lonely = next(u for u in people.cards if u not in people.about)
    found = await client.get(lonely)
    assert found is not None
    assert found.influential_about == ()


def brute_force(pop: Population, query: InfluencerQuery) -> list[str]:
    """The users passing every filter, in the board's order, from the population itself."""
    if query.topic is None:
        order = sorted(pop.cards, key=lambda u: (pop.cards[u].raw, u), reverse=True)
    else:
        order = [u for u, _ in topic_ranking(pop, query.topic)]
    kept = []
    for user in order:
        card = pop.cards[user]
        standing = next((t for t in pop.about.get(user, []) if t.topic == query.topic), None)
        graded = card.score if query.topic is None else standing.score if standing else 0.0
        if query.style is not None and card.style != query.style:
            continue
        if query.network is not None and main_network(card.components) != query.network:
            continue
        if query.min_score is not None and graded < query.min_score:
            continue
        kept.append(user)
    return kept


async def walk(client: ScoreClient, query: InfluencerQuery) -> tuple[list[str], list[int]]:
    """Every match of `query`, following cursors; and the rows each call read."""
    users: list[str] = []
    scanned: list[int] = []
    cursor = None
    while True:
        page = await client.find(query, cursor)
        users += [i.user_id for i in page.influencers]
        scanned.append(page.scanned)
        assert len(page.influencers) <= query.limit
        if page.next_cursor is None:
            return users, scanned
        cursor = page.next_cursor


@pytest.mark.parametrize(
    "query",
    [
        InfluencerQuery(limit=100),
        InfluencerQuery(topic="coffee", limit=10),
        InfluencerQuery(topic="tea", min_score=20.0, limit=100),
        InfluencerQuery(topic="chess", style="specialist", network="bsky", limit=5),
        InfluencerQuery(min_score=30.0, style="explorer", network="instagram", limit=100),
        InfluencerQuery(style="broadcaster", limit=1),
        InfluencerQuery(min_score=100.0, style="broadcaster", network="bsky", limit=100),
    ],
    ids=repr,
)
async def test_find_walk_equals_brute_force(
    client: ScoreClient, people: Population, query: InfluencerQuery
) -> None:
    expected = brute_force(people, query)
    got, scanned = await walk(client, query)
    assert got == expected
    assert max(scanned) <= SCAN_BUDGET
    board_size = USERS if query.topic is None else len(topic_ranking(people, query.topic))
    assert sum(scanned) <= board_size


async def test_find_stops_at_the_limit_and_at_the_budget(
    client: ScoreClient, people: Population
) -> None:
    first = await client.find(InfluencerQuery(limit=3))
    leaders = sorted(people.cards, key=lambda u: (people.cards[u].raw, u), reverse=True)
    assert [i.user_id for i in first.influencers] == leaders[:3]
    assert first.scanned == 3
    assert first.next_cursor is not None
    second = await client.find(InfluencerQuery(limit=3), first.next_cursor)
    assert [i.user_id for i in second.influencers] == leaders[3:6]
    # Nobody passes: one call reads its budget and hands back a cursor.
    none = await client.find(InfluencerQuery(style="celebrity"))
    assert (none.influencers, none.scanned) == ([], SCAN_BUDGET)
    assert none.next_cursor is not None


async def test_cursors_are_checked(client: ScoreClient, people: Population) -> None:
    page = await client.find(InfluencerQuery(topic="coffee", limit=1))
    assert page.next_cursor is not None
    with pytest.raises(InvalidCursor, match="another topic"):
        await client.find(InfluencerQuery(topic="tea", limit=1), page.next_cursor)
    for bad in ("not base64!", "Zm9v", encode_cursor("coffee", -1), "Y29mZmVlOjAx"):
        with pytest.raises(InvalidCursor):
            await client.find(InfluencerQuery(topic="coffee", limit=1), bad)
