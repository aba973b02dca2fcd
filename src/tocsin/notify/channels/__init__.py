"""Delivery channel adapters, one module per channel type.

To add a channel type (slack, pagerduty, jira, teams, twilio, ...):

1. add its settings model to :data:`tocsin.policy.channels.ChannelConfig` (a pydantic
   model with ``type: Literal["slack"]``, secrets as ``*_env`` variable names);
2. write ``tocsin/notify/channels/<type>.py`` with a class that satisfies
   :class:`~tocsin.notify.channels.base.Channel`: ``name``, ``idempotent``,
   ``address(person)`` and ``send(message)`` raising the errors of
   :mod:`~tocsin.notify.channels.base`;
3. register its factory in :data:`FACTORIES` below.

Everything else (claiming, retries with backoff, rate limits, dead letters, timelines,
the pending view) is the delivery worker's, the same for every channel.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from tocsin.notify.channels.base import (
    Channel,
    IncidentSummary,
    OutboundMessage,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    Recipient,
    SendError,
    SendReceipt,
    TemporaryError,
)
from tocsin.notify.channels.email import EmailAdapter
from tocsin.notify.channels.webhook import WebhookAdapter
from tocsin.policy.channels import ChannelConfig, EmailChannel, WebhookChannel

__all__ = [
    "FACTORIES",
    "Channel",
    "ChannelFactory",
    "IncidentSummary",
    "OutboundMessage",
    "OutcomeUnknown",
    "PermanentError",
    "RateLimited",
    "Recipient",
    "SendError",
    "SendReceipt",
    "TemporaryError",
    "build_channel",
]

#: ``factory(name, settings, environ)`` -> a channel adapter.
ChannelFactory = Callable[[str, ChannelConfig, Mapping[str, str]], Channel]


def _email(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    assert isinstance(config, EmailChannel)
    return EmailAdapter(name, config, environ)


def _webhook(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    assert isinstance(config, WebhookChannel)
    return WebhookAdapter(name, config, environ)


#: Channel type (the ``type:`` in the policy) -> factory.
FACTORIES: dict[str, ChannelFactory] = {
    "email": _email,
    "webhook": _webhook,
}


def build_channel(
    name: str, config: ChannelConfig, environ: Mapping[str, str] | None = None
) -> Channel:
    """The adapter for one configured channel; secrets are read from ``environ``."""
    factory = FACTORIES.get(config.type)
    if factory is None:  # a settings model without an adapter yet
        raise LookupError(f"channel type {config.type!r} has no adapter")
    return factory(name, config, os.environ if environ is None else environ)
