"""The pure parts of API keys: the key format, digests, names, redaction, rate decisions."""

from __future__ import annotations

import pytest

from app.security.access import (
    MAX_PRESENTED_LEN,
    ApiKeyRecord,
    PresentedKey,
    RateDecision,
    Scope,
    Verdict,
    check_name,
    mint_key,
    parse_key,
    redact_keys,
    secret_digest,
)


def record_for(parts: PresentedKey, **overrides: object) -> ApiKeyRecord:
    fields: dict[str, object] = {
        "key_id": parts.key_id,
        "name": "svc",
        "scopes": frozenset({Scope.SCORES_READ}),
        "rate_per_s": 10,
        "daily": 100,
        "created_at_ms": 1,
        "revoked": False,
        "digest": secret_digest(parts.secret),
    }
    fields.update(overrides)
    return ApiKeyRecord(**fields)  # type: ignore[arg-type]


def test_a_minted_key_parses_back_to_its_parts() -> None:
    parts, text = mint_key()
    assert text.startswith(f"clout_{parts.key_id}_")
    assert parse_key(text) == parts
    assert len(parts.key_id) == 12
    assert len(parts.secret) == 43  # 32 random bytes, URL-safe base64


def test_minted_keys_differ() -> None:
    assert len({mint_key()[1] for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "text",
    [
        "",
        "clout_",
        "clout_0123456789ab",
        "clout_0123456789ab_short",
        "other_0123456789ab_" + "a" * 43,
        "clout_0123456789AB_" + "a" * 43,  # ids are lowercase hex
        "clout_0123456789ab_" + "a" * 42 + "!",
        "clout_0123456789ab_" + "a" * 44,
        " clout_0123456789ab_" + "a" * 43,
        "clout_0123456789ab_" + "a" * MAX_PRESENTED_LEN,
    ],
)
def test_anything_else_is_not_a_key(text: str) -> None:
    assert parse_key(text) is None


def test_the_secret_never_shows_in_a_repr() -> None:
    parts, _ = mint_key()
    assert parts.secret not in repr(parts)
    assert parts.secret not in repr(record_for(parts))


def test_a_record_matches_only_its_own_secret() -> None:
    parts, _ = mint_key()
    record = record_for(parts)
    assert record.matches(parts)
    assert not record.matches(PresentedKey(parts.key_id, mint_key()[0].secret))
    assert not record.matches(PresentedKey("ffffffffffff", parts.secret))
    assert record.digest == secret_digest(parts.secret) != parts.secret


def test_redaction_masks_the_secret_and_keeps_the_id() -> None:
    parts, text = mint_key()
    line = f'127.0.0.1 - "GET /v1/scores/a?key={text} HTTP/1.1" 401'
    clean = redact_keys(line)
    assert parts.secret not in clean
    assert f"clout_{parts.key_id}_***" in clean
    assert redact_keys("nothing here") == "nothing here"


@pytest.mark.parametrize("name", ["svc", "make-run", "team.prometheus_1", "a" * 64])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "a" * 65, "é"])
def test_bad_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ValueError, match=r"1\.\.64 letters"):
        check_name(name)


def test_an_admitted_request_reports_the_bucket() -> None:
    # 7 tokens left, 300 ms to the next whole token, 300 ms to full, 5 used of 100 today
    decision = RateDecision.from_reply(10, 100, [0, 7, 0, 300, 5, 3600])
    assert decision.allowed
    assert decision.headers() == {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "7",
        "X-RateLimit-Reset": "1",
    }


def test_over_the_rate_says_when_to_retry() -> None:
    decision = RateDecision.from_reply(10, 100, [1, 0, 40, 1000, 10, 3600])
    assert not decision.allowed
    assert decision.verdict is Verdict.OVER_RATE
    assert decision.headers() == {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1",
        "Retry-After": "1",  # whole seconds, at least 1
    }
    slow = RateDecision.from_reply(1, 100, [1, 0, 2500, 2500, 3, 3600])
    assert slow.headers()["Retry-After"] == "3"


def test_when_the_daily_quota_is_closer_the_headers_report_it() -> None:
    near = RateDecision.from_reply(10, 100, [0, 9, 0, 100, 98, 5000])
    assert near.headers() == {
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "2",
        "X-RateLimit-Reset": "5000",
    }
    spent = RateDecision.from_reply(10, 100, [2, 10, 0, 0, 100, 5000])
    assert spent.verdict is Verdict.OVER_DAILY
    assert spent.headers()["Retry-After"] == "5000"
    assert spent.headers()["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("verdict", [Verdict.REVOKED, Verdict.UNKNOWN])
def test_revoked_or_deleted_keys_are_not_admitted(verdict: Verdict) -> None:
    decision = RateDecision.from_reply(10, 100, [int(verdict), 0, 0, 0, 0, 0])
    assert decision.verdict is verdict
    assert not decision.allowed
