"""Reading the consumer group from the outside: one `collect()` is one `Observation`.

Uses only the aiokafka admin client, never a consumer in the group, so the observer cannot
disturb the worker's group or hide its failure: a stalled worker's commits stand still here too.

Per poll: cluster metadata for all topics (which topics and partitions exist and who leads them;
asking for *all* topics never auto-creates one, unlike a metadata request naming a missing
topic), the group's committed offsets and description (one coordinator lookup for both), and
ListOffsets (latest and earliest) sent to each partition leader. ListOffsets reports an error per
partition, so a partition that cannot be read becomes an error on its own row only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import for_code
from aiokafka.protocol.offset import OffsetRequest

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs, raise_if_tls_refused
from app.kafka.topics import feed_topics
from app.ops.lag import partition_lag
from app.ops.tracker import FeedLag, MemberInfo, Observation, PartitionObservation

log = logging.getLogger(__name__)

_LATEST = -1
_EARLIEST = -2
# How often the consumer groups reading the score feed are looked for again: finding them asks
# every group of the cluster for its offsets, so it is not done on every poll, and it runs beside
# the polls (a cluster with thousands of groups must not hold a poll past its timeout).
FEED_GROUPS_REFRESH_S = 30.0
# Groups asked at once while looking for the feed's consumers.
FEED_GROUPS_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class _Offsets:
    values: dict[tuple[str, int], int]
    errors: dict[tuple[str, int], str]


class KafkaLagCollector:
    """Polls Kafka for everything the tracker needs about one consumer group."""

    def __init__(
        self,
        settings: Settings,
        *,
        group: str | None = None,
        input_topics: Iterable[str] | None = None,
        dead_letter_topic: str | None = None,
    ) -> None:
        self.group = group if group is not None else settings.app_id
        self.input_topics = tuple(
            input_topics if input_topics is not None else settings.input_topics
        )
        self.dead_letter_topic = (
            dead_letter_topic if dead_letter_topic is not None else settings.topic_dead_letters
        )
        self.feed_topics = feed_topics(settings)
        self._settings = settings
        self._admin_client: AIOKafkaAdminClient | None = None
        self._feed_groups: list[str] = []
        self._feed_groups_found_at = -FEED_GROUPS_REFRESH_S
        self._finding: asyncio.Task[None] | None = None

    @property
    def _admin(self) -> AIOKafkaAdminClient:
        if self._admin_client is None:
            raise RuntimeError("KafkaLagCollector.start() has not been called")
        return self._admin_client

    async def start(self) -> None:
        """Connect to the cluster (bootstraps metadata).

        The admin client is created here, not in __init__: aiokafka clients need a running loop,
        and the dashboard is typically built at import time, before the server's loop exists.
        """
        if self._admin_client is not None:
            return
        admin = AIOKafkaAdminClient(
            **aiokafka_kwargs(self._settings),
            client_id="clout-ops",
            request_timeout_ms=int(self._settings.ops_kafka_timeout_s * 1000),
        )
        try:
            await admin.start()
        except BaseException as exc:
            await admin.close()
            if isinstance(exc, Exception):  # not a cancellation: say if TLS is why
                await raise_if_tls_refused(self._settings)
            raise
        self._admin_client = admin

    async def stop(self) -> None:
        """Close every connection."""
        finding, self._finding = self._finding, None
        if finding is not None:
            finding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await finding
        admin, self._admin_client = self._admin_client, None
        if admin is not None:
            await admin.close()

    async def collect(self) -> Observation:
        """One poll. Raises only when the cluster itself cannot be read (metadata)."""
        topics_meta = await self._admin.describe_topics()
        meta = {t["topic"]: t for t in topics_meta}
        committed, members, state, assignments_known, committed_error = await self._group()

        consumed = list(dict.fromkeys([*self.input_topics, *sorted({t for t, _ in committed})]))
        rows: dict[tuple[str, int], PartitionObservation] = {}
        readable: dict[tuple[str, int], int] = {}  # partition -> leader
        for topic in consumed:
            topic_meta = meta.get(topic)
            if topic_meta is None or topic_meta["error_code"]:
                reason = "topic does not exist" if topic_meta is None else _error(topic_meta)
                rows[(topic, -1)] = PartitionObservation(topic, -1, error=reason)
                continue
            for part in topic_meta["partitions"]:
                key = (topic, part["partition"])
                if part["error_code"] or part["leader"] < 0:
                    rows[key] = PartitionObservation(topic, key[1], error=_error(part))
                else:
                    readable[key] = part["leader"]

        watched: dict[tuple[str, int], int] = {}
        dlq_meta = meta.get(self.dead_letter_topic)
        if dlq_meta is not None and not dlq_meta["error_code"]:
            for part in dlq_meta["partitions"]:
                watched[(self.dead_letter_topic, part["partition"])] = part["leader"]

        feed: dict[tuple[str, int], int] = {}
        for topic in self.feed_topics:
            feed_meta = meta.get(topic)
            if feed_meta is not None and not feed_meta["error_code"]:
                for part in feed_meta["partitions"]:
                    feed[(topic, part["partition"])] = part["leader"]

        ends, starts, feed_committed = await asyncio.gather(
            self._list_offsets({**readable, **watched, **feed}, _LATEST),
            self._list_offsets({**readable, **feed}, _EARLIEST),
            self._feed_commits(),
        )
        ts_ms = int(time.time() * 1000)

        owners = {tp: member.member_id for member, tps in members for tp in tps}
        for key in readable:
            error = ends.errors.get(key) or starts.errors.get(key) or committed_error
            if error is not None:
                rows[key] = PartitionObservation(*key, owner=owners.get(key), error=error)
                continue
            rows[key] = PartitionObservation(
                topic=key[0],
                partition=key[1],
                log_start=starts.values[key],
                end=ends.values[key],
                committed=committed.get(key),
                owner=owners.get(key),
            )
        produced: dict[str, int] = {}
        if watched and all(key in ends.values for key in watched):
            produced[self.dead_letter_topic] = sum(ends.values[key] for key in watched)
        return Observation(
            ts_ms=ts_ms,
            group=self.group,
            group_state=state,
            members=tuple(member for member, _ in members),
            partitions=tuple(rows[key] for key in sorted(rows)),
            produced_ends=produced,
            assignments_known=assignments_known,
            feed=_feed_lags(self.feed_topics, feed, ends, starts, feed_committed),
        )

    async def _feed_commits(self) -> dict[str, dict[tuple[str, int], int]]:
        """Per known consumer group reading the feed, its committed offsets on the feed topics.

        Starts looking for the groups again (in the background) every `FEED_GROUPS_REFRESH_S`.
        """
        now = time.monotonic()
        if now - self._feed_groups_found_at >= FEED_GROUPS_REFRESH_S and (
            self._finding is None or self._finding.done()
        ):
            self._feed_groups_found_at = now
            self._finding = asyncio.create_task(self._find_feed_groups(), name="ops-feed-groups")
        return await self._commits_of(self._feed_groups)

    async def _find_feed_groups(self) -> None:
        """Ask every group of the cluster whether it has commits on the feed topics."""
        try:
            listed = await self._admin.list_consumer_groups()
            candidates = [str(g[0]) for g in listed if str(g[0]) != self.group]
            self._feed_groups = sorted(await self._commits_of(candidates))
        except Exception as exc:  # shown as the groups found last time; the next round retries
            log.warning("ops: looking for the score feed's consumer groups failed: %s", exc)

    async def _commits_of(self, groups: list[str]) -> dict[str, dict[tuple[str, int], int]]:
        """Each of `groups` that has commits on the feed topics, with those commits."""
        limit = asyncio.Semaphore(FEED_GROUPS_CONCURRENCY)
        commits: dict[str, dict[tuple[str, int], int]] = {}

        async def ask(group: str) -> None:
            async with limit:
                try:
                    offsets = await self._admin.list_consumer_group_offsets(group)
                except Exception:  # a group that went away meanwhile: not a feed reader now
                    return
            on_feed = {
                (tp.topic, tp.partition): meta.offset
                for tp, meta in offsets.items()
                if tp.topic in self.feed_topics and meta.offset >= 0
            }
            if on_feed:
                commits[group] = on_feed

        await asyncio.gather(*(ask(group) for group in groups))
        return commits

    async def _group(
        self,
    ) -> tuple[
        dict[tuple[str, int], int],
        list[tuple[MemberInfo, list[tuple[str, int]]]],
        str | None,
        bool,
        str | None,
    ]:
        """Committed offsets, members with their partitions, state, and a committed-offset error."""
        try:
            coordinator = await self._admin.find_coordinator(self.group)
            offsets, described = await asyncio.gather(
                self._admin.list_consumer_group_offsets(
                    self.group, group_coordinator_id=coordinator
                ),
                self._admin.describe_consumer_groups(
                    [self.group], group_coordinator_id=coordinator
                ),
            )
        except Exception as exc:  # any broker error is shown, never raised into the loop
            return {}, [], None, False, f"committed offsets unavailable: {_describe(exc)}"
        committed = {
            (tp.topic, tp.partition): meta.offset
            for tp, meta in offsets.items()
            if meta.offset >= 0
        }
        group = described[0].to_object()["groups"][0] if described else None
        if group is None or group["error_code"]:
            return committed, [], None, False, None
        members: list[tuple[MemberInfo, list[tuple[str, int]]]] = []
        known = True
        for member in group["members"]:
            try:
                assignment = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
                tps = [(tp.topic, tp.partition) for tp in assignment.partitions()]
            except Exception:  # not the standard consumer protocol: ownership unknown
                tps, known = [], False
            info = MemberInfo(
                member_id=member["member_id"],
                client_id=member["client_id"],
                host=member["client_host"],
                partitions=len(tps),
            )
            members.append((info, tps))
        return committed, members, group["state"], known, None

    async def _list_offsets(self, leaders: Mapping[tuple[str, int], int], spec: int) -> _Offsets:
        """ListOffsets (latest or earliest) sent to each leader; errors kept per partition."""
        by_leader: dict[int, dict[str, list[tuple[int, int]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for (topic, partition), leader in leaders.items():
            if leader >= 0:
                by_leader[leader][topic].append((partition, spec))
        values: dict[tuple[str, int], int] = {}
        errors: dict[tuple[str, int], str] = {}

        async def ask(leader: int, topics: dict[str, list[tuple[int, int]]]) -> None:
            request = OffsetRequest(-1, 0, list(topics.items()))
            try:
                # The admin client has no public ListOffsets call (aiokafka 0.14); sending the
                # request to the leader through it keeps the observer free of any consumer.
                # The one aiokafka private outside streams/faust_compat.py (app must not import
                # streams); that module's canary checks it too (`PRIVATES`).
                send = self._admin._send_request_to_node  # noqa: SLF001
                response: Any = await send(leader, request)
            except Exception as exc:
                for topic, parts in topics.items():
                    for partition, _ in parts:
                        errors[(topic, partition)] = _describe(exc)
                return
            for topic, parts in response.topics:
                for partition, error_code, *info in parts:
                    if error_code:
                        errors[(topic, partition)] = for_code(error_code).__name__
                    else:
                        values[(topic, partition)] = int(info[1])

        await asyncio.gather(*(ask(leader, topics) for leader, topics in by_leader.items()))
        return _Offsets(values, errors)


def _feed_lags(
    topics: Iterable[str],
    partitions: Iterable[tuple[str, int]],
    ends: _Offsets,
    starts: _Offsets,
    commits: Mapping[str, Mapping[tuple[str, int], int]],
) -> tuple[FeedLag, ...]:
    """One row per feed topic and reading group (a topic nobody reads: one row, no group)."""
    by_topic: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for key in partitions:
        if key in ends.values and key in starts.values:
            by_topic[key[0]].append(key)
    rows: list[FeedLag] = []
    for topic in topics:
        keys = by_topic.get(topic)
        if not keys:
            continue  # not created yet, or its offsets could not be read this poll
        end = sum(ends.values[key] for key in keys)
        readers = sorted(g for g, c in commits.items() if any(key[0] == topic for key in c))
        if not readers:
            rows.append(FeedLag(topic, len(keys), end))
        for group in readers:
            lag = sum(
                partition_lag(ends.values[key], commits[group].get(key), starts.values[key])
                for key in keys
            )
            rows.append(FeedLag(topic, len(keys), end, group, lag))
    return tuple(rows)


def _error(meta: Mapping[str, Any]) -> str:
    code = meta["error_code"]
    if code:
        return str(for_code(code).__name__)
    return "leader not available"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
