"""What an HTTP answer means for a delivery, decided once for every HTTP channel.

The ladder (each adapter words its own error message, then calls
:meth:`Classified.error`):

- 2xx: delivered (unless the body says otherwise: ``body_status``, e.g. Teams reporting
  a failure inside a 200, or Slack's ``{"ok": false, "error": ...}``);
- a status in ``maybe_done`` (Teams and Twilio: 500, 502, 504, after which the message
  may have been posted anyway): outcome unknown, never blindly resent on a channel
  that honours no idempotency key;
- 429: rate-limited; the whole channel waits ``Retry-After`` (``rate_limit_wait``
  seconds when the receiver gives none);
- 408, 425 and 5xx: temporary, retried with backoff; a ``Retry-After`` the receiver
  sent is honoured (the retry waits at least that long);
- anything else (3xx are not followed, 4xx): permanent.

``Retry-After`` is parsed by :func:`parse_retry_after` only: delay-seconds or an
HTTP-date, clamped to [0, :data:`MAX_RETRY_AFTER`]. (No retry comes back sooner than
the delivery worker's one-second minimum anyway.)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from tocsin.notify.channels.base import (
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    SendError,
    TemporaryError,
)

__all__ = [
    "DEFAULT_RATE_LIMIT_WAIT",
    "MAX_RETRY_AFTER",
    "TEMPORARY",
    "Classified",
    "HttpOutcome",
    "classify",
    "header",
    "parse_retry_after",
]

#: The longest a receiver may make a channel wait (longer answers are cut to this).
MAX_RETRY_AFTER = 3600.0
#: How long a 429 without a usable ``Retry-After`` holds the channel.
DEFAULT_RATE_LIMIT_WAIT = 60.0
#: Statuses below 500 worth another attempt (429 is rate limiting, handled apart).
TEMPORARY = frozenset({408, 425})


class HttpOutcome(StrEnum):
    delivered = "delivered"
    rate_limited = "rate_limited"
    temporary = "temporary"
    unknown = "unknown"
    permanent = "permanent"


@dataclass(frozen=True)
class Classified:
    """One answer, classified. ``status`` is the effective status (a failure reported
    inside a 2xx body replaces the 2xx); ``retry_after`` is in seconds (for a rate limit,
    never None); ``told`` says whether it came from the receiver's Retry-After."""

    outcome: HttpOutcome
    status: int
    retry_after: float | None = None
    told: bool = False

    @property
    def delivered(self) -> bool:
        return self.outcome is HttpOutcome.delivered

    def error(self, message: str) -> SendError:
        """The send error for this answer, with the adapter's ``message``."""
        match self.outcome:
            case HttpOutcome.rate_limited:
                assert self.retry_after is not None
                return RateLimited(message, retry_after=self.retry_after)
            case HttpOutcome.temporary:
                return TemporaryError(message, retry_after=self.retry_after)
            case HttpOutcome.unknown:
                return OutcomeUnknown(message)
            case HttpOutcome.permanent:
                return PermanentError(message)
        raise ValueError(f"HTTP {self.status} was delivered: no error")


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A header's value, whatever the client's header mapping (case-insensitive or
    not; a list of values gives its first)."""
    if not headers:
        return None
    wanted = name.lower()
    items: Iterable[tuple[Any, Any]] = headers.items()
    for key, value in items:
        if str(key).lower() == wanted:
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            return None if value is None else str(value)
    return None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds, or an HTTP-date
    taken against ``now``), clamped to [0, MAX_RETRY_AFTER]; None if absent or unusable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def classify(
    status: int,
    headers: Mapping[str, Any] | None = None,
    *,
    body: str = "",
    body_status: Callable[[str], int | None] | None = None,
    maybe_done: Collection[int] = (),
    rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT,
    now: datetime | None = None,
) -> Classified:
    """Classify an HTTP answer (see the module's docstring for the ladder).

    ``body_status(body)`` may return the status a 2xx body reports instead (a failure
    inside a success); ``maybe_done`` are statuses after which the message may have gone
    out anyway; ``rate_limit_wait`` is the wait of a 429 without a usable Retry-After."""
    if 200 <= status < 300 and body_status is not None:
        status = body_status(body) or status
    if 200 <= status < 300:
        return Classified(HttpOutcome.delivered, status)
    if status in maybe_done:
        return Classified(HttpOutcome.unknown, status)
    wait = parse_retry_after(header(headers, "retry-after"), now=now)
    if status == 429:
        if wait is None:
            return Classified(HttpOutcome.rate_limited, status, rate_limit_wait)
        return Classified(HttpOutcome.rate_limited, status, wait, told=True)
    if status in TEMPORARY or status >= 500:
        return Classified(HttpOutcome.temporary, status, wait, told=wait is not None)
    return Classified(HttpOutcome.permanent, status)
