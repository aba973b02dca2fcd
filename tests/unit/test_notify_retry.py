"""The retry decision after a send that did not deliver, and after a lost send: pure,
over plain data (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.notify.channels import (
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    SendError,
    TemporaryError,
)
from tocsin.notify.retry import (
    ErrorKind,
    RetryDecision,
    Verdict,
    after_error,
    after_lost_send,
    error_kind,
)
from tocsin.policy.channels import RetrySettings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RETRY = RetrySettings(
    max_attempts=3, backoff=timedelta(seconds=10), max_backoff=timedelta(minutes=5)
)


def decide(
    kind: ErrorKind,
    *,
    attempts: int = 1,
    message: str = "HTTP 503",
    retry_after: float | None = None,
    idempotent: bool = False,
) -> RetryDecision:
    return after_error(
        kind=kind,
        message=message,
        retry_after=retry_after,
        attempts=attempts,
        retry=RETRY,
        idempotent=idempotent,
        channel="sms",
        now=NOW,
        jitter=lambda: 0.5,
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RateLimited("slow down", retry_after=5), ErrorKind.rate_limited),
        (TemporaryError("HTTP 503"), ErrorKind.temporary),
        (OutcomeUnknown("timeout"), ErrorKind.unknown),
        (PermanentError("HTTP 404"), ErrorKind.permanent),
        (SendError("odd"), ErrorKind.permanent),
    ],
)
def test_error_kinds(error: SendError, kind: ErrorKind) -> None:
    assert error_kind(error) is kind


def test_a_temporary_error_is_retried_with_backoff() -> None:
    decision = decide(ErrorKind.temporary, attempts=1)
    # backoff 10 s, equal jitter at 0.5: 5 + 2.5
    assert decision.verdict is Verdict.retry and decision.retry
    assert decision.at == NOW + timedelta(seconds=7.5)
    assert decision.reason == "retry 2 of 3 in 8s (HTTP 503)"
    assert decision.attempts is None and not decision.block_channel
    second = decide(ErrorKind.temporary, attempts=2)
    assert second.at == NOW + timedelta(seconds=15)


def test_a_temporary_error_waits_at_least_its_retry_after() -> None:
    assert decide(ErrorKind.temporary, retry_after=60).at == NOW + timedelta(seconds=60)
    # ... but a shorter one does not shorten the backoff.
    assert decide(ErrorKind.temporary, retry_after=1).at == NOW + timedelta(seconds=7.5)


def test_no_retry_comes_back_within_a_second() -> None:
    quick = RetrySettings(
        max_attempts=3,
        backoff=timedelta(milliseconds=100),
        max_backoff=timedelta(milliseconds=100),
    )
    decision = after_error(
        kind=ErrorKind.temporary,
        message="HTTP 500",
        retry_after=None,
        attempts=1,
        retry=quick,
        idempotent=False,
        channel="sms",
        now=NOW,
        jitter=lambda: 0.0,
    )
    assert decision.at == NOW + timedelta(seconds=1)


def test_attempts_used_up_give_up() -> None:
    decision = decide(ErrorKind.temporary, attempts=3)
    assert decision.verdict is Verdict.give_up and decision.at is None
    assert decision.reason == "gave up after 3 attempts: HTTP 503"


def test_a_rate_limit_holds_the_channel_and_does_not_count() -> None:
    decision = decide(ErrorKind.rate_limited, attempts=3, retry_after=120)
    assert decision.verdict is Verdict.retry and decision.block_channel
    assert decision.at == NOW + timedelta(seconds=120)
    assert decision.attempts == 2
    assert decision.reason == "rate-limited by the receiver: retry after 2m"
    assert decide(ErrorKind.rate_limited, attempts=0, retry_after=0).attempts == 0
    assert decide(ErrorKind.rate_limited, retry_after=0).at == NOW + timedelta(seconds=1)


def test_an_unknown_outcome_is_resent_only_on_an_idempotent_channel() -> None:
    resent = decide(ErrorKind.unknown, message="no answer within 10s", idempotent=True)
    assert resent.verdict is Verdict.retry
    assert resent.reason == (
        "retry 2 of 3 in 8s (outcome unknown, resending with the same idempotency key)"
    )
    kept = decide(ErrorKind.unknown, message="no answer within 10s")
    assert kept.verdict is Verdict.not_resent
    assert kept.reason == "no answer within 10s (not resent: sms has no idempotency key)"
    said = decide(ErrorKind.unknown, message="not resent: no idempotency key here")
    assert said.reason == "not resent: no idempotency key here"
    spent = decide(ErrorKind.unknown, attempts=3, message="timeout", idempotent=True)
    assert spent.verdict is Verdict.give_up
    assert spent.reason == "gave up after 3 attempts: timeout"


def test_a_permanent_error_is_final() -> None:
    decision = decide(ErrorKind.permanent, message="HTTP 404", idempotent=True)
    assert decision == RetryDecision(Verdict.final, "HTTP 404")


LOST = "outcome unknown: the sender stopped before recording the outcome (crash or timeout)"


@pytest.mark.parametrize(
    ("configured", "idempotent", "attempts", "verdict", "why"),
    [
        (True, True, 1, Verdict.retry, "resending with the same idempotency key"),
        (True, True, 3, Verdict.give_up, "gave up after 3 attempts"),
        (True, False, 1, Verdict.not_resent, "not resent: sms has no idempotency key"),
        (False, False, 1, Verdict.not_resent, "not resent: sms is no longer configured"),
    ],
)
def test_a_lost_send(
    configured: bool, idempotent: bool, attempts: int, verdict: Verdict, why: str
) -> None:
    decision = after_lost_send(
        attempts=attempts,
        retry=RETRY,
        configured=configured,
        idempotent=idempotent,
        channel="sms",
        now=NOW,
    )
    assert decision.verdict is verdict
    assert decision.reason == f"{LOST}; {why}"
    assert decision.at == (NOW if verdict is Verdict.retry else None)
