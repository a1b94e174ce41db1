"""A deterministic synthetic population of engagement events, for calibration, tests and benches.

Same arguments, same events: every random draw comes from one `random.Random(seed)`, and nothing
iterates over a hash-ordered collection. The population is shaped like a real one:

* audience sizes (how often a user is engaged with) and activity (how often a user engages) are
  log-normal, so a few users get most of the attention; `audience_sigma` sets the weight of
  that tail (the reference population's 1.7 by default), and `events / users` the activity per
  user, so other communities can be simulated too;
* users live on one to four of eight networks, with a primary one;
* each user's content draws its own like/share/mention mix;
* some engagement comes from a user's small circle of fans, who come back (repeat engagement);
* viral posts produce bursts of hundreds of engagements within hours;
* bot farms (fresh accounts that never receive engagement) hit a customer in one burst within
  minutes;
* about 0.5% of events are delivered twice with the same `event_id` (producer retries);
* with `topics` (the default), users have topic affinities: what their content is about, over a
  long tail of `TOPIC_COUNT` topics of Zipf-like popularity; `FOCUSED_SHARE` of users are focused
  (one topic holds most of their content), the others mixed (a few topics with uneven weights),
  and `TAGGED_SHARE` of engagements say what they were about (one topic, sometimes two). Topics
  are drawn from a random stream of their own, so the events are otherwise the same with or
  without them.

Events are yielded in exact `ts` order, all within `[end_ms - span, end_ms]`.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from random import Random

from app.scoring.decay import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE
from app.scoring.events import Kind, WireValue

NETWORKS = ("twitter", "instagram", "tiktok", "youtube", "linkedin", "facebook", "reddit", "twitch")
NETWORK_SHARES = (30.0, 24.0, 18.0, 10.0, 8.0, 5.0, 3.0, 2.0)
KINDS = (Kind.LIKE, Kind.SHARE, Kind.MENTION)

RETRY_RATE = 0.005
"""Share of events delivered a second time with the same event_id."""
FAN_SHARE = 0.25
"""Share of single engagements that come from the target's circle of returning fans."""
VIRAL_RATE = 0.004
"""Per trigger: chance of a viral burst instead of a single engagement."""
BOT_BURST_RATE = 0.0005
"""Per trigger: chance of a bought burst from a bot farm."""
BOTS_PER_USER = 0.05
"""Bot accounts per real user; bots only ever engage, in bursts."""
REFERENCE_AUDIENCE_SIGMA = 1.7
"""Log-normal sigma of audience sizes in the reference population (docs/scoring.md)."""
TOPIC_COUNT = 300
"""Distinct topics of the synthetic population (`topic000` .. `topic299`, most popular first)."""
TOPIC_ZIPF = 1.1
"""Topic popularity falls as rank ** -TOPIC_ZIPF: a few big topics and a long tail."""
FOCUSED_SHARE = 0.25
"""Share of users whose content is mostly about one topic."""
FOCUS_WEIGHT = 0.9
"""A focused user's share of content about their main topic."""
TAGGED_SHARE = 0.6
"""Share of engagements that name what they were about."""
TWO_TOPICS_SHARE = 0.2
"""Share of tagged engagements that name two topics."""
_EVENTS_PER_TRIGGER = 1.36  # rough mean, for pacing; the pacing adapts to what is left anyway

WireEvent = dict[str, WireValue]


@dataclass(slots=True)
class _Profile:
    user_id: str
    networks: tuple[str, ...]
    network_cum: list[float]
    kind_cum: list[float]
    posts: int


@dataclass(slots=True)
class TopicAffinity:
    """What one user's content is about: topics and their cumulative weights."""

    topics: tuple[str, ...]
    cum: list[float]

    @property
    def focused(self) -> bool:
        """Whether one topic holds `FOCUS_WEIGHT` of the content."""
        return len(self.topics) > 1 and self.cum[0] >= FOCUS_WEIGHT * self.cum[-1]


TOPICS = tuple(f"topic{i:03d}" for i in range(TOPIC_COUNT))
_TOPIC_CUM = list(accumulate((i + 1) ** -TOPIC_ZIPF for i in range(TOPIC_COUNT)))


def topic_affinity(rng: Random) -> TopicAffinity:
    """A user's topics: focused (one main topic, a little of others) or mixed (2..6 topics)."""

    def draw(count: int) -> list[str]:
        chosen: list[str] = []
        while len(chosen) < count:
            topic = TOPICS[min(bisect(_TOPIC_CUM, rng.random() * _TOPIC_CUM[-1]), TOPIC_COUNT - 1)]
            if topic not in chosen:
                chosen.append(topic)
        return chosen

    if rng.random() < FOCUSED_SHARE:
        topics = draw(3)
        rest = (1 - FOCUS_WEIGHT) / 2
        return TopicAffinity(tuple(topics), list(accumulate((FOCUS_WEIGHT, rest, rest))))
    topics = draw(rng.randint(2, 6))
    weights = [rng.lognormvariate(0.0, 0.8) for _ in topics]
    return TopicAffinity(tuple(topics), list(accumulate(weights)))


def generate_events(
    users: int,
    events: int,
    seed: int,
    end_ms: int,
    span_days: float = 30,
    audience_sigma: float = REFERENCE_AUDIENCE_SIGMA,
    *,
    topics: bool = True,
) -> Iterator[tuple[Kind, WireEvent]]:
    """Yield `events` (kind, wire JSON dict) pairs among `users` users, in `ts` order.

    `end_ms` is fixed by the caller (not the clock) so that the same seed gives the same events.
    `audience_sigma` is the tail weight of audience sizes (higher: a few users get more).
    `topics`: tag engagements with what they were about (False: no event has `topics`).
    """
    if users < 2:
        raise ValueError("need at least two users (nobody may engage with themselves)")
    if events < 0 or span_days <= 0 or audience_sigma <= 0:
        raise ValueError("events must be >= 0, span_days and audience_sigma > 0")
    generator = _Generator(users, events, seed, end_ms, span_days, audience_sigma)
    generator.topic_rng = Random(f"topics-{seed}") if topics else None
    return generator.run()


class _Generator:
    """The state of one generation run; `run()` is the event iterator."""

    def __init__(
        self, users: int, events: int, seed: int, end_ms: int, span_days: float, sigma: float
    ) -> None:
        self.rng = Random(seed)
        self.events = events
        self.seed = seed
        self.end_ms = end_ms
        self.start_ms = end_ms - int(span_days * MS_PER_DAY)
        self.heap: list[tuple[int, int, Kind, WireEvent]] = []
        self.serial = 0
        self.profiles: list[_Profile] = []
        popularity: list[float] = []
        activity: list[float] = []
        width = len(str(users - 1))
        rng = self.rng
        for i in range(users):
            pop = rng.lognormvariate(0.0, sigma)
            popularity.append(pop)
            activity.append(rng.lognormvariate(0.0, 1.2) * pop**0.25)
            self.profiles.append(self._profile(f"u{i:0{width}d}", pop))
        self.popularity_cum = list(accumulate(popularity))
        self.activity_cum = list(accumulate(activity))
        n_bots = max(1, int(users * BOTS_PER_USER))
        self.bots = [f"bot{i:0{len(str(n_bots - 1))}d}" for i in range(n_bots)]
        self.fans: dict[int, list[int]] = {}
        self.topic_rng: Random | None = None
        self.affinities: dict[str, TopicAffinity] = {}

    def _profile(self, user_id: str, popularity: float) -> _Profile:
        rng = self.rng
        count = rng.choices((1, 2, 3, 4), weights=(50, 28, 14, 8))[0]
        networks: list[str] = []
        while len(networks) < count:
            network = rng.choices(NETWORKS, weights=NETWORK_SHARES)[0]
            if network not in networks:
                networks.append(network)
        network_weights = [1.0] + [rng.uniform(0.05, 0.6) for _ in networks[1:]]
        kind_weights = (
            1.0,
            rng.lognormvariate(math.log(0.12), 0.8),
            rng.lognormvariate(math.log(0.12), 0.8),
        )
        return _Profile(
            user_id=user_id,
            networks=tuple(networks),
            network_cum=list(accumulate(network_weights)),
            kind_cum=list(accumulate(kind_weights)),
            posts=1 + min(49, int(popularity * 3)),
        )

    # -- draws ---------------------------------------------------------------------------------

    def _pick(self, cum: list[float]) -> int:
        return min(bisect(cum, self.rng.random() * cum[-1]), len(cum) - 1)

    def _actor_for(self, target: int) -> int:
        rng = self.rng
        if rng.random() < FAN_SHARE:
            fans = self.fans.get(target)
            if fans is None:
                fans = [self._pick(self.activity_cum) for _ in range(5)]
                self.fans[target] = fans
            actor = fans[rng.randrange(len(fans))]
        else:
            actor = self._pick(self.activity_cum)
        if actor == target:
            actor = (actor + 1 + rng.randrange(len(self.profiles) - 1)) % len(self.profiles)
        return actor

    def _network(self, profile: _Profile) -> str:
        return profile.networks[self._pick(profile.network_cum)]

    def _kind(self, profile: _Profile) -> Kind:
        return KINDS[self._pick(profile.kind_cum)]

    def _post(self, profile: _Profile, network: str) -> str:
        return f"{profile.user_id}-{network[:2]}{self.rng.randrange(profile.posts)}"

    def _push(self, ts: int, kind: Kind, actor_id: str, target: _Profile, network: str) -> None:
        if ts > self.end_ms:
            return
        if kind is Kind.MENTION:
            post_id = None if self.rng.random() < 0.4 else f"{actor_id}-m{self.serial}"
        else:
            post_id = self._post(target, network)
        self.serial += 1
        event: WireEvent = {
            "event_id": f"ev{self.seed}-{self.serial}",
            "network": network,
            "actor_id": actor_id,
            "target_id": target.user_id,
            "post_id": post_id,
            "ts": ts,
        }
        if self.topic_rng is not None:
            tagged = self._topics_of(target.user_id, self.topic_rng)
            if tagged:
                event["topics"] = tagged
        heapq.heappush(self.heap, (ts, self.serial, kind, event))

    def _topics_of(self, user_id: str, rng: Random) -> list[str]:
        """What one engagement with `user_id` was about (empty: it does not say)."""
        affinity = self.affinities.get(user_id)
        if affinity is None:
            affinity = self.affinities[user_id] = topic_affinity(rng)
        if rng.random() >= TAGGED_SHARE:
            return []
        cum = affinity.cum
        first = affinity.topics[min(bisect(cum, rng.random() * cum[-1]), len(cum) - 1)]
        if rng.random() < TWO_TOPICS_SHARE:
            second = affinity.topics[min(bisect(cum, rng.random() * cum[-1]), len(cum) - 1)]
            if second != first:
                return [first, second]
        return [first]

    # -- triggers ------------------------------------------------------------------------------

    def _single(self, ts: int) -> None:
        target = self._pick(self.popularity_cum)
        profile = self.profiles[target]
        actor = self.profiles[self._actor_for(target)].user_id
        self._push(ts, self._kind(profile), actor, profile, self._network(profile))

    def _viral(self, ts: int, budget: int) -> None:
        rng = self.rng
        target = self._pick(self.popularity_cum)
        profile = self.profiles[target]
        network = self._network(profile)
        size = min(budget, 3000, int(20 * rng.paretovariate(1.2)))
        tau = rng.uniform(0.5, 6.0) * MS_PER_HOUR
        for _ in range(size):
            actor = self.profiles[self._actor_for(target)].user_id
            when = ts + int(rng.expovariate(1.0) * tau)
            self._push(when, self._kind(profile), actor, profile, network)

    def _bot_burst(self, ts: int, budget: int) -> None:
        rng = self.rng
        profile = self.profiles[rng.randrange(len(self.profiles))]
        network = profile.networks[0]
        size = min(budget, len(self.bots), 2000, int(50 * rng.paretovariate(1.5)))
        for bot in rng.sample(self.bots, size):
            kind = rng.choices(KINDS, weights=(85, 10, 5))[0]
            self._push(ts + rng.randrange(10 * MS_PER_MINUTE), kind, bot, profile, network)

    def run(self) -> Iterator[tuple[Kind, WireEvent]]:
        rng = self.rng
        heap = self.heap
        yielded = 0
        t = float(self.start_ms)
        while yielded < self.events:
            remaining = self.events - yielded - len(heap)
            if remaining <= 0:
                if not heap:
                    return
                now = self.end_ms  # nothing more to start: drain what is scheduled
            else:
                gap = rng.expovariate(1.0) * (self.end_ms - t) * _EVENTS_PER_TRIGGER / remaining
                t = min(t + gap, float(self.end_ms))
                now = int(t)
                roll = rng.random()
                if roll < BOT_BURST_RATE:
                    self._bot_burst(now, remaining)
                elif roll < BOT_BURST_RATE + VIRAL_RATE:
                    self._viral(now, remaining)
                else:
                    self._single(now)
            while heap and heap[0][0] <= now and yielded < self.events:
                _, _, kind, event = heapq.heappop(heap)
                yield kind, event
                yielded += 1
                if yielded < self.events and rng.random() < RETRY_RATE:
                    yield kind, dict(event)
                    yielded += 1
