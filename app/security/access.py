"""Who may read: the API key format, scopes, key records and rate-limit decisions (pure).

A key reads ``clout_<key id>_<secret>``. The key id is public (it names the record in Redis and
shows in `clout keys list`); the secret is 256 random bits, stored only as its SHA-256. A digest
of a random 256-bit secret needs no salt or slow hash: nothing smaller than the secret itself can
be guessed. The Redis side (records, the rate-limit script) is app/store/api_keys.py.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

KEY_PREFIX = "clout"
KEY_ID_BYTES = 6  # 12 hex characters: enough to tell keys apart, not a secret
SECRET_BYTES = 32  # 256 bits
MAX_PRESENTED_LEN = 128  # anything longer is not one of our keys; never hashed
_KEY_RE = re.compile(r"clout_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

MAX_RATE_PER_S = 100_000
MAX_DAILY = 1_000_000_000
DEFAULT_RATE_PER_S = 10  # Klout's API allowed 10 calls a second ...
DEFAULT_DAILY = 20_000  # ... and 20,000 a day per key


class Scope(StrEnum):
    """What a key may read."""

    SCORES_READ = "scores:read"  # /v1/*
    OPS_READ = "ops:read"  # /ops data, /ops/lag, /ops/stream, /metrics


@dataclass(frozen=True, slots=True)
class PresentedKey:
    """A key as a client sent it, split into its public id and its secret."""

    key_id: str
    secret: str = field(repr=False)  # never in a log line or a traceback


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """What Redis holds about one key (its secret only as a digest)."""

    key_id: str
    name: str
    scopes: frozenset[Scope]
    rate_per_s: int
    daily: int
    created_at_ms: int
    revoked: bool
    digest: str

    def matches(self, presented: PresentedKey) -> bool:
        """True when `presented` is this key: same id and a secret with the stored digest,
        compared in constant time."""
        return presented.key_id == self.key_id and hmac.compare_digest(
            self.digest, secret_digest(presented.secret)
        )


def mint_key() -> tuple[PresentedKey, str]:
    """A fresh random key: its parts and the text to hand to the client (shown once)."""
    parts = PresentedKey(secrets.token_hex(KEY_ID_BYTES), secrets.token_urlsafe(SECRET_BYTES))
    return parts, f"{KEY_PREFIX}_{parts.key_id}_{parts.secret}"


def parse_key(text: str) -> PresentedKey | None:
    """The parts of a presented key, or None if the text cannot be one of our keys."""
    if len(text) > MAX_PRESENTED_LEN:
        return None
    match = _KEY_RE.fullmatch(text)
    return None if match is None else PresentedKey(match[1], match[2])


def secret_digest(secret: str) -> str:
    """The stored form of a secret: its SHA-256 in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def redact_keys(text: str) -> str:
    """`text` with the secret of every key-shaped string in it replaced by ``***``."""
    if KEY_PREFIX + "_" not in text:  # the common case, without running the pattern
        return text
    return _KEY_RE.sub(lambda m: f"{KEY_PREFIX}_{m[1]}_***", text)


def check_name(name: str) -> str:
    """`name` if it is a valid key name (1..64 of letters, digits, ``.``, ``_``, ``-``)."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"bad key name {name[:80]!r}: 1..64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


class Verdict(IntEnum):
    """The rate-limit script's first reply value (app/store/api_keys.py)."""

    ALLOWED = 0
    OVER_RATE = 1
    OVER_DAILY = 2
    REVOKED = 3
    UNKNOWN = 4


@dataclass(frozen=True, slots=True)
class RateDecision:
    """One request's admission by the token bucket (rate/s, burst = rate) and the daily quota.

    Built from the script's reply by `from_reply`; the headers report the policy closest to
    running out (fewest requests left), as the IETF RateLimit header draft suggests.
    """

    verdict: Verdict
    limit: int = 0
    remaining: int = 0
    reset_s: int = 0
    retry_after_s: int = 0

    @property
    def allowed(self) -> bool:
        """Whether the request may proceed."""
        return self.verdict is Verdict.ALLOWED

    @classmethod
    def from_reply(cls, rate_per_s: int, daily: int, reply: list[int]) -> RateDecision:
        """Decode ``[verdict, tokens left, ms to next token, ms to a full bucket, used today,
        seconds to UTC midnight]``."""
        verdict = Verdict(reply[0])
        if verdict in (Verdict.REVOKED, Verdict.UNKNOWN):
            return cls(verdict)
        tokens, next_token_ms, full_ms, used, day_left_s = reply[1:6]
        daily_left = max(0, daily - used)
        if verdict is Verdict.OVER_DAILY or daily_left < tokens:
            limit, remaining, reset_s = daily, daily_left, day_left_s
        else:
            limit, remaining, reset_s = rate_per_s, tokens, math.ceil(full_ms / 1000)
        retry_after_s = 0
        if verdict is Verdict.OVER_RATE:
            retry_after_s = max(1, math.ceil(next_token_ms / 1000))
        elif verdict is Verdict.OVER_DAILY:
            retry_after_s = max(1, day_left_s)
        return cls(verdict, limit, remaining, reset_s, retry_after_s)

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` (and ``Retry-After`` when refused) for the response."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_s),
        }
        if self.retry_after_s:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers
