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
from tocsin.notify.channels.jira import JiraAdapter
from tocsin.notify.channels.pagerduty import PagerDutyAdapter
from tocsin.notify.channels.services import ChannelServices, UsesServices
from tocsin.notify.channels.slack import SlackAdapter
from tocsin.notify.channels.teams import TeamsAdapter
from tocsin.notify.channels.twilio import TwilioAdapter
from tocsin.notify.channels.webhook import WebhookAdapter
from tocsin.policy.channels import (
    ChannelConfig,
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

#: ``factory(name, settings, environ)`` -> a channel adapter.
ChannelFactory = Callable[[str, ChannelConfig, Mapping[str, str]], Channel]


def _email(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    assert isinstance(config, EmailChannel)
    return EmailAdapter(name, config, environ)


def _webhook(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    assert isinstance(config, WebhookChannel)
    return WebhookAdapter(name, config, environ)


def _slack(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    assert isinstance(config, SlackChannel)
    return SlackAdapter(name, config, environ)


def _twilio(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    assert isinstance(config, TwilioChannel)
    return TwilioAdapter(name, config, environ)


def _pagerduty(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    assert isinstance(config, PagerDutyChannel)
    return PagerDutyAdapter(name, config, environ)


def _jira(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    assert isinstance(config, JiraChannel)
    return JiraAdapter(name, config, environ)


def _teams(name: str, config: ChannelConfig, environ: Mapping[str, str]) -> Channel:
    assert isinstance(config, TeamsChannel)
    return TeamsAdapter(name, config, environ)


#: Channel type (the ``type:`` in the policy) -> factory.
FACTORIES: dict[str, ChannelFactory] = {
    "email": _email,
    "webhook": _webhook,
    "twilio": _twilio,
    "pagerduty": _pagerduty,
    "jira": _jira,
    "teams": _teams,
    "slack": _slack,
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
