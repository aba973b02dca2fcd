"""What happens after a send that did not deliver: a pure decision over plain data.

Given the attempts so far, the kind of error the adapter raised, the Retry-After it
reported and the channel's retry settings, :func:`after_error` says: retry at T (and
whether the whole channel waits, for a rate limit), give up (attempts used up), stop
(the error is final), or do not resend (the outcome is unknown and the channel honours
no idempotency key: the escalation, not a blind resend, covers the person).
:func:`after_lost_send` says the same for a send whose sender missed its deadline.

The delivery worker applies the decision (:func:`tocsin.notify.deliveries.apply`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tocsin.notify.channels.base import OutcomeUnknown, RateLimited, SendError, TemporaryError
from tocsin.notify.rules import backoff
from tocsin.policy import format_duration
from tocsin.policy.channels import RetrySettings

__all__ = [
    "MIN_WAIT",
    "ErrorKind",
    "RetryDecision",
    "Verdict",
    "after_error",
    "after_lost_send",
    "error_kind",
]

#: No retry comes back sooner than this, whatever the settings or the receiver say.
MIN_WAIT = timedelta(seconds=1)
_LOST = "the sender stopped before recording the outcome (crash or timeout)"


class ErrorKind(StrEnum):
    """What the adapter said about a send (see :mod:`tocsin.notify.channels.base`)."""

    rate_limited = "rate_limited"
    temporary = "temporary"
    unknown = "unknown"
    permanent = "permanent"


class Verdict(StrEnum):
    retry = "retry"  # try again at ``at``
    give_up = "give_up"  # worth another try, but the attempts are used up
    final = "final"  # retrying will not help
    not_resent = "not_resent"  # perhaps delivered; the channel cannot drop a repeat


@dataclass(frozen=True)
class RetryDecision:
    verdict: Verdict
    #: For a retry, why the delivery waits (its ``delay_reason``); otherwise the error
    #: it fails with.
    reason: str
    #: When to try again (retry only).
    at: datetime | None = None
    #: The attempts to record (a rate-limited attempt does not count); None: unchanged.
    attempts: int | None = None
    #: A rate limit: nothing goes on the channel before ``at``.
    block_channel: bool = False

    @property
    def retry(self) -> bool:
        return self.verdict is Verdict.retry


def error_kind(error: SendError) -> ErrorKind:
    if isinstance(error, RateLimited):
        return ErrorKind.rate_limited
    if isinstance(error, TemporaryError):
        return ErrorKind.temporary
    if isinstance(error, OutcomeUnknown):
        return ErrorKind.unknown
    return ErrorKind.permanent


def _fmt(delta: timedelta) -> str:
    return format_duration(timedelta(seconds=max(0, round(delta.total_seconds()))))


def after_error(
    *,
    kind: ErrorKind,
    message: str,
    retry_after: float | None,
    attempts: int,
    retry: RetrySettings,
    idempotent: bool,
    channel: str,
    now: datetime,
    jitter: Callable[[], float],
) -> RetryDecision:
    """The decision after the ``attempts``-th attempt failed with ``message``.

    A rate limit waits Retry-After (at least :data:`MIN_WAIT`), holds the whole channel
    and does not count the attempt. A temporary error, or an unknown outcome on an
    idempotent channel, is retried with backoff (``jitter`` as in
    :func:`tocsin.notify.rules.backoff`; a temporary error's Retry-After lengthens the
    wait) while ``attempts < retry.max_attempts``."""
    if kind is ErrorKind.rate_limited:
        wait = max(MIN_WAIT, timedelta(seconds=retry_after or 0))
        return RetryDecision(
            Verdict.retry,
            f"rate-limited by the receiver: retry after {_fmt(wait)}",
            at=now + wait,
            attempts=max(0, attempts - 1),  # not the message's fault
            block_channel=True,
        )
    resend = kind is ErrorKind.temporary or (kind is ErrorKind.unknown and idempotent)
    if resend and attempts < retry.max_attempts:
        wait = backoff(attempts, retry, jitter)
        if kind is ErrorKind.temporary and retry_after is not None:
            wait = max(wait, timedelta(seconds=retry_after))
        wait = max(wait, MIN_WAIT)
        what = (
            "outcome unknown, resending with the same idempotency key"
            if kind is ErrorKind.unknown
            else message
        )
        return RetryDecision(
            Verdict.retry,
            f"retry {attempts + 1} of {retry.max_attempts} in {_fmt(wait)} ({what})",
            at=now + wait,
        )
    if resend:
        return RetryDecision(Verdict.give_up, f"gave up after {attempts} attempts: {message}")
    if kind is ErrorKind.unknown:
        if "idempotency" not in message:
            message += f" (not resent: {channel} has no idempotency key)"
        return RetryDecision(Verdict.not_resent, message)
    return RetryDecision(Verdict.final, message)


def after_lost_send(
    *,
    attempts: int,
    retry: RetrySettings,
    configured: bool,
    idempotent: bool,
    channel: str,
    now: datetime,
) -> RetryDecision:
    """The decision for a send whose sender missed its deadline (crashed or hung): its
    outcome is unknown, so it is sent again at once only on a configured channel that
    honours an idempotency key, while attempts are left."""
    if configured and idempotent and attempts < retry.max_attempts:
        return RetryDecision(
            Verdict.retry,
            f"outcome unknown: {_LOST}; resending with the same idempotency key",
            at=now,
        )
    if not configured:
        verdict, why = Verdict.not_resent, f"not resent: {channel} is no longer configured"
    elif idempotent:
        verdict, why = Verdict.give_up, f"gave up after {attempts} attempts"
    else:
        verdict, why = Verdict.not_resent, f"not resent: {channel} has no idempotency key"
    return RetryDecision(verdict, f"outcome unknown: {_LOST}; {why}")
