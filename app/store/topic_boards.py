"""The write side of topic influence (#31): topic leaderboards, the live-topics set, and the
removal of topics that faded out (docs/redis.md "Topics").

Every applied card puts its user on the board of each topic it is influential about (score: the
topic raw) and takes the user off the boards of the topics its previous card listed and this one
does not (the card script says which). Each touched board shard is trimmed to its top
`leaderboard_size` members in the same round trip, so a board never holds more than
`leaderboard_size` users per shard, and `{topics}` records when a card last listed each topic.
A topic no card has listed for the retention period loses its board shards, its curve and its
place in `{topics}` (`remove_faded`), so keys do not grow with every topic ever named.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from app.scoring.card import ScoreCard
from app.store.connection import AnyPipeline, RedisClient
from app.store.keys import RedisKeys, shard_of

DEFAULT_TOPIC_LEADERBOARD_SIZE = 1000
"""Users kept per topic leaderboard shard (`Settings.topics.leaderboard_size`)."""

# KEYS[1]: {topics}. ARGV: [1] the cutoff (ms), then topics. Removes each topic whose last
# listing is still at or before the cutoff (a card that listed it since keeps it) and returns
# the removed ones, so their boards and curves are deleted only when no card came in between.
_REMOVE_FADED_LUA = """
local removed = {}
for i = 2, #ARGV do
  local seen = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if seen and tonumber(seen) <= tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    removed[#removed + 1] = ARGV[i]
  end
end
return removed
"""


class TopicBoards:
    """Topic leaderboards under `prefix`, sharded like the global one (`shards`)."""

    def __init__(self, redis: RedisClient, prefix: str, shards: int, leaderboard_size: int) -> None:
        if shards < 1 or leaderboard_size < 1:
            raise ValueError("need at least one shard and a leaderboard size of at least 1")
        self._redis = redis
        self._keys = RedisKeys(prefix)
        self.shards = shards
        self.leaderboard_size = leaderboard_size
        self._remove_faded = redis.register_script(_REMOVE_FADED_LUA)

    def board_keys(self, topic: str) -> list[str]:
        """Every shard of the topic's leaderboard."""
        return [self._keys.topic_leaderboard(topic, k, self.shards) for k in range(self.shards)]

    def _key(self, topic: str, user_id: str) -> str:
        shard = shard_of(user_id, self.shards) if self.shards > 1 else 0
        return self._keys.topic_leaderboard(topic, shard, self.shards)

    def queue_cards(
        self,
        pipe: AnyPipeline,
        cards: Iterable[ScoreCard],
        left: Mapping[str, Iterable[str]],
    ) -> None:
        """Queue the board updates of applied cards (the newest per user): ZADD to the boards of
        the topics each card lists, ZREM from those in `left` (user -> topics its previous card
        listed) that it no longer lists, trim every touched shard, and stamp `{topics}`."""
        adds: dict[str, dict[str, float]] = defaultdict(dict)
        removes: dict[str, list[str]] = defaultdict(list)
        listed: dict[str, int] = {}
        for card in cards:
            listing = {t.topic for t in card.influential_about}
            for topic in card.influential_about:
                adds[self._key(topic.topic, card.user_id)][card.user_id] = topic.raw
                listed[topic.topic] = max(listed.get(topic.topic, 0), card.updated_at_ms)
            for topic_left in left.get(card.user_id, ()):
                if topic_left not in listing:
                    removes[self._key(topic_left, card.user_id)].append(card.user_id)
        for key, members in removes.items():
            pipe.zrem(key, *members)
        for key, mapping in adds.items():
            pipe.zadd(key, mapping)
            # Keep the top `leaderboard_size`: ranks 0 .. -(size + 1) are the lowest raws.
            pipe.zremrangebyrank(key, 0, -(self.leaderboard_size + 1))
        if listed:
            pipe.zadd(self._keys.topics, listed, gt=True)

    async def remove_faded(self, now_ms: int, retention_ms: int) -> list[str]:
        """Delete every topic no card listed in the last `retention_ms`: its board shards, its
        curve and its `{topics}` entry. Returns the topics removed."""
        cutoff = now_ms - retention_ms
        stale = await self._redis.zrangebyscore(self._keys.topics, "-inf", cutoff)
        if not stale:
            return []
        removed: list[str] = await self._remove_faded(
            keys=[self._keys.topics], args=[cutoff, *stale]
        )
        if removed:
            pipe = self._redis.pipeline(transaction=False)
            for topic in removed:
                for key in self.board_keys(topic):
                    # One key a command (shards are in many slots), and as a raw command: a
                    # cluster pipeline's unlink() is a coroutine that splits keys, not a queued
                    # command.
                    pipe.execute_command("UNLINK", key)
            pipe.hdel(self._keys.topic_curves, *removed)
            *_, curves_removed = await pipe.execute()
            if curves_removed:
                # Workers reload the topic curves (a topic that comes back starts on the global).
                await self._redis.hincrby(self._keys.topic_curves, "_version", 1)
        return removed
