"""The interface between the delivery worker and a channel adapter.

An adapter is a small object with a ``send`` method (see :class:`Channel`). The worker
gives it one :class:`OutboundMessage` at a time, from a thread of the channel's own
pool, and reads the outcome from what ``send`` does:

- returns a :class:`SendReceipt` — delivered; the delivery becomes ``sent``;
- raises :class:`TemporaryError` — nothing was delivered, try again later (backoff with
  jitter, up to the channel's ``retry.max_attempts``); :class:`RateLimited` is a
  temporary error that says when (``retry_after``): the whole channel waits that long,
  and the attempt does not count;
- raises :class:`PermanentError` — nothing was delivered and retrying will not help
  (bad address, 4xx, authentication refused): the delivery fails at once;
- raises :class:`OutcomeUnknown` — the message may or may not have arrived (the
  connection dropped after the data went out). It is sent again only if the channel
  sets ``idempotent = True``, that is, if the receiver can drop a second copy by
  ``OutboundMessage.key``; otherwise the delivery fails, and the escalation (not a
  blind resend) covers the person.

Any other exception is treated as :class:`OutcomeUnknown`. Error messages end up in the
API and on incident timelines: they must never contain a secret (a password, a token, a
URL with credentials).

Exception tree::

    SendError
    ├── TemporaryError
    │   └── RateLimited
    ├── PermanentError
    └── OutcomeUnknown
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

__all__ = [
    "Channel",
    "IncidentSummary",
    "OutboundMessage",
    "OutcomeUnknown",
    "PermanentError",
    "RateLimited",
    "Recipient",
    "SendError",
    "SendReceipt",
    "TemporaryError",
]


class SendError(Exception):
    """Base of what ``Channel.send`` raises. ``str(error)`` is shown to users."""

    retryable: ClassVar[bool] = False


class TemporaryError(SendError):
    """Not delivered; a later attempt may succeed."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        #: Seconds the receiver asked us to wait (HTTP Retry-After), if it said.
        self.retry_after = retry_after


class RateLimited(TemporaryError):
    """The receiver is rate-limiting us; nothing goes on this channel for ``retry_after``
    seconds, and the attempt is not counted against ``max_attempts``."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)


class PermanentError(SendError):
    """Not delivered, and retrying will not change that."""


class OutcomeUnknown(SendError):
    """Perhaps delivered, perhaps not: resent only on an idempotent channel."""


@dataclass(frozen=True)
class Recipient:
    """The person a message is for, with the contact details the policy has."""

    name: str
    display_name: str
    email: str | None = None
    chat: str | None = None
    phone: str | None = None
    slack: str | None = None  # Slack member id


@dataclass(frozen=True)
class IncidentSummary:
    id: str  # "INC-7"
    title: str
    severity: str
    status: str


@dataclass(frozen=True)
class OutboundMessage:
    """One delivery, as the adapter sees it."""

    #: Stable across every attempt of this delivery: the idempotency key.
    key: str
    channel: str
    kind: str
    #: The address on this channel: from ``Channel.address`` for a person, or the
    #: broadcast's target ("#incidents"); None when neither gives one.
    target: str | None
    subject: str
    text: str
    html: str | None
    person: Recipient | None  # None for channel-level broadcasts
    incident: IncidentSummary | None
    reason: str
    attempt: int  # 1 for the first attempt
    created_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendReceipt:
    """What the receiver answered (shown nowhere secret-bearing): "250 queued", "HTTP 200"."""

    detail: str = ""


class Channel(Protocol):
    """A configured channel: one adapter instance per channel in the policy.

    ``send`` is called from worker threads, several at a time up to the channel's
    ``concurrency``; it must bound its own network waits by the channel's ``timeout``.
    """

    #: The channel's name in the policy ("email", "ops-webhook").
    name: str
    #: True if the receiver drops a second copy with the same ``OutboundMessage.key``.
    idempotent: bool

    def address(self, person: Recipient) -> str | None:
        """The person's address on this channel, or None if the policy has none."""
        ...

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Deliver one message or raise a :class:`SendError` saying why not."""
        ...
