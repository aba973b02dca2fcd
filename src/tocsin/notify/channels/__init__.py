"""Delivery channel adapters, one module per channel type.

To add a channel type:

1. add its settings model to :data:`tocsin.policy.channels.ChannelConfig` (a pydantic
   model with ``type: Literal["slack"]``, secrets as ``*_env`` variable names);
2. write ``tocsin/notify/channels/<type>.py`` with a class that satisfies
   :class:`~tocsin.notify.channels.base.Channel`: ``name``, ``idempotent``,
   ``address(person)`` and ``send(message)`` raising the errors of
   :mod:`~tocsin.notify.channels.base`;
3. add ``"<type>": _factory(<Settings>, <Adapter>)`` to :data:`FACTORIES` below.

Everything else (claiming, retries with backoff, rate limits, dead letters, timelines,
the pending view) is the delivery worker's, the same for every channel.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TypeVar

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
from tocsin.notify.channels.console import ConsoleAdapter
from tocsin.notify.channels.email import EmailAdapter
from tocsin.notify.channels.jira import JiraAdapter
from tocsin.notify.channels.pagerduty import PagerDutyAdapter
from tocsin.notify.channels.services import ChannelServices, UsesServices
from tocsin.notify.channels.slack import SlackAdapter
from tocsin.notify.channels.teams import TeamsAdapter
from tocsin.notify.channels.twilio import TwilioAdapter
from tocsin.notify.channels.webhook import WebhookAdapter
from tocsin.policy.channels import (
    ChannelConfig,
    ConsoleChannel,
    EmailChannel,
    JiraChannel,
    PagerDutyChannel,
    SlackChannel,
    TeamsChannel,
    TwilioChannel,
    WebhookChannel,
)

__all__ = [
    "FACTORIES",
    "Channel",
    "ChannelFactory",
    "ChannelServices",
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

_S = TypeVar("_S")

#: ``factory(name, settings, environ)`` -> a channel adapter.
ChannelFactory = Callable[[str, ChannelConfig, Mapping[str, str]], Channel]


def _factory(
    settings: type[_S], adapter: Callable[[str, _S, Mapping[str, str]], Channel]
) -> ChannelFactory:
    """The factory of one channel type: its settings model and its adapter class."""

    def build(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
        assert isinstance(config, settings)
        return adapter(name, config, environ)

    return build


#: Channel type (the ``type:`` in the policy) -> factory.
FACTORIES: dict[str, ChannelFactory] = {
    "email": _factory(EmailChannel, EmailAdapter),
    "webhook": _factory(WebhookChannel, WebhookAdapter),
    "twilio": _factory(TwilioChannel, TwilioAdapter),
    "pagerduty": _factory(PagerDutyChannel, PagerDutyAdapter),
    "jira": _factory(JiraChannel, JiraAdapter),
    "teams": _factory(TeamsChannel, TeamsAdapter),
    "slack": _factory(SlackChannel, SlackAdapter),
    "console": _factory(ConsoleChannel, ConsoleAdapter),
}


def build_channel(
    name: str,
    config: ChannelConfig,
    environ: Mapping[str, str] | None = None,
    *,
    services: ChannelServices | None = None,
) -> Channel:
    """The adapter for one configured channel; secrets are read from ``environ``. An
    adapter that keeps references in an outside system gets ``services`` (the delivery
    worker's database and clock; see :mod:`tocsin.notify.channels.services`)."""
    factory = FACTORIES.get(config.type)
    if factory is None:  # a settings model without an adapter yet
        raise LookupError(f"channel type {config.type!r} has no adapter")
    adapter = factory(name, config, os.environ if environ is None else environ)
    if services is not None and isinstance(adapter, UsesServices):
        adapter.use_services(services)
    return adapter
