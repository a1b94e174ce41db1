"""Clout's one configuration object: every address, topic name and tunable, read from `CLOUT_*`.

This is the only module that reads the environment. Nested groups use `__` in variable names,
e.g. ``CLOUT_SCORING__LIKE_HALF_LIFE_DAYS=7``.
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from functools import lru_cache
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, JsonValue, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.scoring.decay import MS_PER_DAY, MS_PER_HOUR
from app.scoring.events import Kind
from app.scoring.params import ModelParams

_MODEL = ModelParams()  # the model's defaults have one owner: app/scoring/params.py
_INT_PARAMS = frozenset(f.name for f in dataclass_fields(ModelParams) if f.type == "int")


def _model_param(
    param: str,
    unit: float = 1,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> Any:
    """A ScoringSettings field for ModelParams' `param`, in operator units of `unit` model units
    (e.g. days of `MS_PER_DAY` ms): its default is the model's own, converted, and
    `Settings.model_params()` converts it back by the same `unit`."""
    extra: dict[str, JsonValue] = {"model_param": param, "unit": unit}
    default = getattr(_MODEL, param)
    if unit != 1:
        default /= unit
    return Field(default, json_schema_extra=extra, gt=gt, ge=ge, le=le)


class ScoringSettings(BaseModel):
    """Tunables of the influence model in operator units (days, hours, seconds); documented in
    docs/scoring.md. Each names its ModelParams field and unit once (`_model_param`); only the
    bounds live here."""

    like_half_life_days: float = _model_param("like_half_life_ms", MS_PER_DAY, gt=0)
    share_half_life_days: float = _model_param("share_half_life_ms", MS_PER_DAY, gt=0)
    mention_half_life_days: float = _model_param("mention_half_life_ms", MS_PER_DAY, gt=0)
    like_weight: float = _model_param("like_weight", gt=0)
    mention_weight: float = _model_param("mention_weight", gt=0)
    share_weight: float = _model_param("share_weight", gt=0)
    actor_weight_floor: float = _model_param("actor_weight_floor", gt=0, le=1)
    horizon_days: float = _model_param("horizon_ms", MS_PER_DAY, gt=0)
    max_future_skew_s: float = _model_param("max_future_ms", 1000, ge=0)
    dedupe_window_hours: float = Field(24.0, gt=0)  # the deduplicator's, not the model's
    actor_weight_pivot: float = _model_param("actor_weight_pivot", gt=0)
    actor_weight_exponent: float = _model_param("actor_weight_exponent", ge=0)
    actor_weight_cap: float = _model_param("actor_weight_cap", gt=0)
    repeat_half_life_days: float = _model_param("repeat_half_life_ms", MS_PER_DAY, gt=0)
    top_actors: int = _model_param("top_actors", ge=1)
    top_topics: int = _model_param("top_topics", ge=1)
    influential_share: float = _model_param("influential_share", gt=0, le=1)
    burst_half_life_hours: float = _model_param("burst_half_life_ms", MS_PER_HOUR, gt=0)
    burst_tolerance: float = _model_param("burst_tolerance", gt=0)
    trusted_actor_score: float = _model_param("trusted_actor_score", ge=0)
    celebrity_score: float = _model_param("celebrity_score", ge=1, le=100)
    style_dominance: float = _model_param("style_dominance", gt=0, le=1)
    specialist_share: float = _model_param("specialist_share", gt=0, le=1)


class CurveSettings(BaseModel):
    """The live score curve (docs/scoring.md "The live curve")."""

    refit_interval_s: float = Field(3600.0, gt=0)  # the worker refits when the curve is older
    max_step: float = Field(2.0, gt=0, le=99)  # most points a scheduled refit moves any score
    min_population: int = Field(1000, ge=1)  # fewer active users: the default curve
    active_floor_raw: float = Field(0.01, ge=0)  # active users have a raw above this
    follow_interval_s: float = Field(2.0, gt=0)  # how often a worker checks the curve version
    history: int = Field(24, ge=1)  # refits kept in the curve history


class TopicSettings(BaseModel):
    """Topic leaderboards and topic curves (#31; docs/scoring.md "Topics", docs/redis.md)."""

    leaderboard_size: int = Field(1000, ge=1)  # users kept per topic leaderboard shard
    retention_days: float = Field(7.0, gt=0)  # a topic no card listed for this long is removed
    min_population: int = Field(200, ge=1)  # fewer users on its board: the global curve
    max_curves: int = Field(100, ge=0)  # most topics with their own curve (the most populous)


class AlertSettings(BaseModel):
    """Thresholds of the Prometheus alert rules (docs/ops.md "Alerts"). The shipped
    ops/prometheus/clout.rules.yml is `clout alerts rules` at these defaults, so this is their
    one owner; the partition statuses the rules page on are the ops page's own gauges."""

    runbook_url: str = "docs/ops.md"  # each alert links here, #its-name
    evaluation_interval_s: float = Field(30.0, gt=0)  # how often Prometheus evaluates the rules
    lag_seconds: float = Field(300.0, gt=0)  # a partition this far behind in time pages
    lag_for_s: float = Field(120.0, ge=0)
    status_for_s: float = Field(120.0, ge=0)  # STALL or STOP held this long pages
    warn_for_s: float = Field(600.0, ge=0)  # WARN (lag growing) held this long: a ticket
    target_down_for_s: float = Field(120.0, ge=0)  # a /metrics endpoint not answering
    dead_letter_ratio: float = Field(0.01, gt=0, le=1)  # dead letters per message read
    dead_letter_for_s: float = Field(300.0, ge=0)
    redis_down_for_s: float = Field(60.0, ge=0)
    score_write_age_s: float = Field(300.0, gt=0)  # newest score write older, input arriving
    curve_refit_intervals: float = Field(3.0, gt=1)  # curve older than this many refit intervals
    api_5xx_ratio: float = Field(0.01, gt=0, le=1)
    api_429_ratio: float = Field(0.05, gt=0, le=1)
    api_for_s: float = Field(300.0, ge=0)


Allocator = Literal["jemalloc", "system"]
"""The worker's malloc choices (streams/allocator.py)."""


class Settings(BaseSettings):
    """Everything Clout needs to know about its surroundings, with local-stack defaults."""

    model_config = SettingsConfigDict(
        env_prefix="CLOUT_", env_nested_delimiter="__", extra="ignore"
    )

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: SecretStr | None = None  # secrets: never shown by repr or dumps
    kafka_sasl_password: SecretStr | None = None
    # TLS (SSL, SASL_SSL; app/security/tls.py): the CA that signed the brokers (unset: the
    # system's), a client certificate and key for mutual TLS, and the key's password if it is
    # encrypted.
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = True  # the broker's certificate must name its host

    # Topics
    topic_likes: str = "clout.likes"
    topic_shares: str = "clout.shares"
    topic_mentions: str = "clout.mentions"
    topic_dead_letters: str = "clout.dead-letters"
    topic_rekeyed: str = "clout.rekeyed"
    # The score feed (docs/guarantees.md "Score feed"): compacted changes, threshold crossings
    topic_scores: str = "clout.scores"
    topic_score_thresholds: str = "clout.score-thresholds"
    topic_partitions: int = Field(8, ge=1)
    topic_replication_factor: int = Field(1, ge=1)
    # Replicas that must have a write before the broker acknowledges it to an acks=all producer
    # (the SDK, the worker); with replication 3, 2 survives one broker loss without losing data.
    topic_min_insync_replicas: int = Field(1, ge=1)

    # Worker
    app_id: str = "clout-scorer"
    table_store: str = "rocksdb://"
    data_dir: str = "data/worker"
    # The table's RocksDB memory, per partition (streams/worker.py `table_options`): memtable
    # size and block cache. Faust's defaults (three 64 MiB memtables and a 2 GiB cache per
    # partition) let a worker's RSS grow with its users; state is read through the write-behind
    # cache, and SST reads the block cache misses come from the OS page cache, outside RSS.
    table_write_buffer_bytes: int = Field(4 << 20, ge=1 << 20)
    table_block_cache_bytes: int = Field(8 << 20, ge=1 << 20)
    worker_metrics_port: int = Field(6066, ge=0, le=65535)  # Prometheus; 0 turns it off
    # Faust's per-message cost (README "Performance"): uvloop and Faust's repaired Cython paths.
    worker_event_loop: Literal["asyncio", "uvloop"] = "uvloop"
    worker_cython_optimizations: bool = True
    worker_faust_statistics: bool = False  # Faust's own per-message Monitor counters (unread)
    # Hand each fetched message to its stream inline rather than through Faust's per-message
    # race of four futures (streams/faust_compat.py `InlineDeliveryConsumer`).
    worker_inline_delivery: bool = True
    # The broker holds a fetch until it has this many bytes or this long has passed (well inside
    # the batch wait). Faust asks for 1 byte, so a fetch returns a few records each, at a high
    # CPU cost per event (README's settings table has the measurement).
    worker_fetch_min_bytes: int = Field(65_536, ge=1)
    worker_fetch_max_wait_ms: int = Field(20, ge=0)
    # Python's cyclic garbage collector (streams/worker.py `tune_garbage_collector`): freeze the
    # heap built at start and collect generation 0 every 50,000 allocations rather than 700.
    worker_gc_tuned: bool = True
    # The worker's malloc (streams/allocator.py): jemalloc, preloaded by re-executing `clout
    # worker` (README's settings table has the measurements); "system" keeps the C library's.
    worker_allocator: Allocator = "jemalloc"
    # Write-behind per-user state (streams/state.py): users kept decoded in memory, per worker.
    state_cache_users: int = Field(20_000, ge=1)
    # Offsets commit this often, and every commit first flushes the write-behind state (one table
    # write and changelog record per user changed since the last). Longer coalesces more writes
    # per user but stalls the agent longer at each flush (CHANGELOG.md). Faust's default.
    worker_commit_interval_s: float = Field(2.8, gt=0)
    batch_max_events: int = Field(2000, ge=1)
    batch_max_wait_s: float = Field(0.05, gt=0)
    sweep_interval_s: float = Field(60.0, gt=0)
    # Shifts the worker's scoring clock (negative: the past), so a test or demo can score days
    # apart in minutes; validation, cards, history days and the sweep all follow it. Keep 0.
    worker_clock_offset_s: float = 0.0
    sweep_batch_users: int = Field(2000, ge=1)
    redis_retry_max_backoff_s: float = Field(5.0, gt=0)
    # The worker's score feed; off: no feed records (the benchmark measures both)
    feed_enabled: bool = True
    # Visible scores whose crossing gets a record on topic_score_thresholds; JSON in the env
    feed_thresholds: tuple[float, ...] = (40.0, 50.0, 60.0, 70.0, 80.0)
    # Points below a threshold a score must fall to count as back down (no flapping)
    feed_hysteresis: float = Field(1.0, ge=0)
    # How long the group waits for a silent (crashed) worker before moving its partitions to
    # the others; Kafka brokers accept 6 s .. 30 min by default.
    worker_session_timeout_s: float = Field(60.0, ge=6, le=1800)

    # Redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_username: SecretStr | None = None
    redis_password: SecretStr | None = None
    redis_key_prefix: str = "clout:v2"
    # TLS when `redis_url` is rediss:// (app/security/tls.py), as for Kafka above.
    redis_ssl_cafile: str | None = None
    redis_ssl_certfile: str | None = None
    redis_ssl_keyfile: str | None = None
    redis_ssl_key_password: SecretStr | None = None
    redis_ssl_check_hostname: bool = True
    # Redis Cluster (docs/redis.md): `redis_url` names any one node; the client finds the rest.
    redis_cluster: bool = False
    # More seed nodes of the cluster, "host:port,host:port": a new client still finds the
    # cluster when the node of `redis_url` is down.
    redis_cluster_nodes: str = ""
    # Sorted sets the leaderboard is split over (docs/redis.md); None: 1 on a single server,
    # 16 on a cluster. Readers and the writer must agree: it is part of the key schema.
    redis_leaderboard_shards: int | None = Field(None, ge=1, le=1024)

    # HTTP API and ops dashboard
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    api_readiness_timeout_s: float = Field(2.0, gt=0)  # per dependency checked by GET /readyz
    # API keys (docs/ops.md): on|off; off is refused unless api_host is a loopback address
    api_auth: bool = True
    # The key Clout's own HTTP clients send (`clout lag --url`); a secret like any credential
    api_key: SecretStr | None = None
    # HTTPS (uvicorn's TLS): the API's certificate chain and key (and the key's password).
    api_ssl_certfile: str | None = None
    api_ssl_keyfile: str | None = None
    api_ssl_key_password: SecretStr | None = None
    # The CA Clout's own HTTP clients (`clout lag --url https://...`) trust; unset: the system's
    api_ssl_cafile: str | None = None
    # `clout api` refuses to serve API keys over plain HTTP beyond loopback; true allows it
    # (a TLS-terminating proxy in front, on a private network: docs/ops.md).
    api_allow_plaintext: bool = False
    # Ops dashboard (docs/ops.md): poll period, Burrow-style status window, allowances
    ops_poll_interval_s: float = Field(2.0, gt=0)
    ops_status_window_s: float = Field(60.0, gt=0)
    ops_rate_window_s: float = Field(30.0, gt=0)
    ops_history_s: float = Field(3600.0, gt=0)
    ops_allowed_lag: int = Field(0, ge=0)
    ops_kafka_timeout_s: float = Field(10.0, gt=0)

    # Local development stack (scripts/stack.py); the broker and Redis ports come from the
    # addresses above.
    stack_kafka_controller_port: int = Field(9093, ge=1, le=65535)
    # 1: one combined broker+controller. 3: three combined nodes (a KRaft quorum of 3) on the
    # bootstrap port + 0, 2, 4 and the controller port + 0, 2, 4.
    stack_brokers: int = Field(1, ge=1, le=5)
    # "cluster": `make stack-up` starts a Redis Cluster (three masters, one replica each) on
    # stack_redis_cluster_port and the five ports after it, instead of the single server.
    stack_redis: Literal["single", "cluster"] = "single"
    stack_redis_cluster_port: int = Field(7000, ge=1, le=55530)
    # "on": `make stack-up` also starts Prometheus (the shipped rules, scraping the worker and
    # the API on their configured ports) and Alertmanager on loopback (docs/ops.md "Alerts").
    stack_alerts: Literal["off", "on"] = "off"
    stack_prometheus_port: int = Field(9090, ge=1, le=65535)
    # 9093 is Kafka's controller port, 9192-9197 the TLS stack's
    stack_alertmanager_port: int = Field(9293, ge=1, le=65535)
    # true: `make stack-up` also starts a TLS Kafka node and a TLS-only redis-server with a CA of
    # their own in .stack/tls (app/devtools/local_tls.py), and prints the CLOUT_* settings to
    # reach them. Kafka's ports: between nodes (plain) +0, SASL_SSL +1, mTLS +2, an expired
    # certificate +3, a wrong-host one +4, the controller +5.
    stack_tls: bool = False
    stack_tls_kafka_port: int = Field(9192, ge=1, le=65530)
    stack_tls_redis_port: int = Field(6390, ge=1, le=65535)

    scoring: ScoringSettings = ScoringSettings()
    curve: CurveSettings = CurveSettings()
    topics: TopicSettings = TopicSettings()
    alerts: AlertSettings = AlertSettings()

    @field_validator("feed_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        """Distinct visible scores (1..100), kept sorted: crossings are counted in order."""
        if any(not 1 <= t <= 100 for t in value):
            raise ValueError("feed thresholds must be visible scores between 1 and 100")
        return tuple(sorted(set(value)))

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        """The first bootstrap server as (host, port); the local stack listens there."""
        first = self.kafka_bootstrap.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        return host or "127.0.0.1", int(port)

    @property
    def redis_host_port(self) -> tuple[str, int]:
        """Redis host and port from `redis_url`; the local stack listens there."""
        parts = urlsplit(self.redis_url)
        return parts.hostname or "127.0.0.1", parts.port or 6379

    @property
    def redis_cluster_seeds(self) -> list[tuple[str, int]]:
        """The extra seed nodes of `redis_cluster_nodes` as (host, port) pairs."""
        seeds = []
        for item in filter(None, (part.strip() for part in self.redis_cluster_nodes.split(","))):
            host, _, port = item.rpartition(":")
            seeds.append((host or "127.0.0.1", int(port)))
        return seeds

    @property
    def leaderboard_shards(self) -> int:
        """How many sorted sets hold the leaderboard (`redis_leaderboard_shards`, resolved)."""
        return resolve_leaderboard_shards(self.redis_leaderboard_shards, cluster=self.redis_cluster)

    @classmethod
    def topic_settings(cls) -> tuple[str, ...]:
        """The settings that name a Kafka topic: the `topic_*` strings (not the counts)."""
        return tuple(
            name
            for name, info in cls.model_fields.items()
            if name.startswith("topic_") and info.annotation is str
        )

    @property
    def input_topics(self) -> tuple[str, str, str]:
        """The three engagement topics, in signal-kind order (likes, shares, mentions)."""
        return (self.topic_likes, self.topic_shares, self.topic_mentions)

    @property
    def topic_of_kind(self) -> dict[Kind, str]:
        """The input topic of each signal kind: the one map the publisher and the worker share."""
        return {
            Kind.LIKE: self.topic_likes,
            Kind.SHARE: self.topic_shares,
            Kind.MENTION: self.topic_mentions,
        }

    def model_params(self) -> ModelParams:
        """The influence model's parameters (app/scoring) from the `scoring` group, in model
        units: each setting named by `_model_param`, times its unit."""
        values: dict[str, Any] = {}
        for name, info in ScoringSettings.model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict):
                param, unit = str(extra["model_param"]), cast(float, extra["unit"])
                value = getattr(self.scoring, name) * unit
                values[param] = int(value) if param in _INT_PARAMS else float(value)
        return ModelParams(**values)


def resolve_leaderboard_shards(configured: int | None, *, cluster: bool) -> int:
    """The leaderboard's shard count: as configured, else 1 on a single server and 16 on a
    cluster (spread over the masters; each rank read costs a ZCOUNT per shard)."""
    if configured is not None:
        return configured
    return 16 if cluster else 1


def reveal(secret: SecretStr | None) -> str | None:
    """The plain value of an optional secret, for the one client call that needs it."""
    return None if secret is None else secret.get_secret_value()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
