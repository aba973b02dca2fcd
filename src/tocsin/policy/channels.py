"""The delivery sections of the policy: ``channels``, ``notification_rules`` and
``broadcasts``.

``channels`` configures the adapters that carry messages (name -> settings with a
``type``)::

    channels:
      email:
        type: email
        host: smtp.example.com
        security: starttls             # starttls | ssl | none
        username: tocsin
        password_env: TOCSIN_SMTP_PASSWORD
        from: "Tocsin <tocsin@example.com>"
      ops-webhook:
        type: webhook
        url: https://ops.example.com/tocsin
        secret_env: TOCSIN_WEBHOOK_SECRET
        person_rate_limit: {count: 5, per: 15m}

Secrets are never written in the file: a setting ending in ``_env`` names the
environment variable that holds the secret, read when the message is sent.

``notification_rules`` says how each person is reached (person name, or ``"*"`` for
everyone without rules of their own; the built-in default is email at once for every
kind of message). The first rule whose kinds and severities match a message applies::

    notification_rules:
      alice:
        - severities: [SEV1]
          kinds: [page]
          notify:
            - {channel: slack}
            - {channel: sms}
            - {channel: email, after: 2m}   # only if still unacknowledged by then

``broadcasts`` posts an incident's announcements, updates and resolution to channel-level
destinations (the incidents channel, the team channel, a ticket tracker), by severity.

A channel is *configured* when it is defined here and every environment variable it
needs to send (:meth:`needed_env`) is set; until then nothing is sent by it, quietly,
and the policy warnings say so once (:mod:`tocsin.policy.reach`). A rule or broadcast
may name a channel that is not configured (yet): its steps are skipped, and a message
for a person that no configured channel reaches at once goes to the ``console``
channel, which needs no outside service (built in when the file defines none).
Adding a channel type: add its settings model below (with a ``type`` literal) to
:data:`ChannelConfig`, and its adapter to :mod:`tocsin.notify.channels`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from tocsin.policy.base import SLUG_PATTERN, Loc, PolicyModel, mappings, unknown_name
from tocsin.policy.durations import Duration
from tocsin.policy.templates import BUILTIN_TEMPLATES, templates_reference_issues
from tocsin.policy.timefields import Delay

__all__ = [
    "BROADCAST_EVENTS",
    "DEFAULT_BROADCAST_TEMPLATES",
    "Broadcast",
    "BroadcastDestination",
    "ChannelConfig",
    "ConsoleChannel",
    "EmailChannel",
    "JiraChannel",
    "NotificationRule",
    "PagerDutyChannel",
    "RateLimit",
    "RetrySettings",
    "RuleStep",
    "SlackChannel",
    "TeamsChannel",
    "TwilioChannel",
    "WebhookChannel",
    "delivery_reference_issues",
]

ChannelName = Annotated[str, Field(pattern=SLUG_PATTERN, description="A name from `channels`.")]
EnvName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable that holds the secret.",
    ),
]


# --- channels ------------------------------------------------------------------------


class RateLimit(PolicyModel):
    """At most ``count`` messages per ``per``; more wait (they are delayed, never dropped)."""

    count: int = Field(ge=1, le=1_000_000)
    per: Duration


class RetrySettings(PolicyModel):
    """Retries of errors the channel calls temporary: exponential backoff with jitter."""

    max_attempts: int = Field(default=10, ge=1, le=100, description="Attempts in all.")
    backoff: Duration = Field(default=timedelta(seconds=10), description="First wait.")
    max_backoff: Duration = Field(default=timedelta(minutes=10), description="Longest wait.")


class _ChannelBase(PolicyModel):
    timeout: Duration = Field(
        default=timedelta(seconds=10), description="Network timeout of one send."
    )
    concurrency: int = Field(default=4, ge=1, le=64, description="Sends in flight at once.")
    retry: RetrySettings = RetrySettings()
    rate_limit: RateLimit | None = Field(
        default=None, description="For the whole channel, e.g. a provider's quota."
    )
    person_rate_limit: RateLimit | None = Field(
        default=None, description="For each recipient, e.g. 5 SMS in 15m."
    )

    #: The person's field that holds their address on this channel (None: every person
    #: has one, or the channel posts to channel-level targets).
    address_field: ClassVar[str | None] = None

    def needed_env(self) -> tuple[tuple[str, str], ...]:
        """The environment variables this channel cannot send without, each with what it
        holds. Until every one is set the channel is not configured: nothing is sent by
        it (and nothing fails)."""
        return ()


class ConsoleChannel(_ChannelBase):
    """Delivered by Tocsin itself, with no outside service: each message is written as
    one line to the server's standard error and kept in the outbox, where
    `tocsin notifications console` and the incident page show it in full. Pages a person
    cannot get on any configured channel at once go here too."""

    type: Literal["console"]


class EmailChannel(_ChannelBase):
    """SMTP. Email carries no idempotency key: a send whose outcome is unknown (the
    connection dropped after the message data went out) is never repeated."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Default: 587 starttls, 465 ssl, 25 none."
    )
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: EnvName | None = None
    from_: str = Field(alias="from", min_length=3, description='"Name <address>" or an address.')
    reply_to: str | None = None
    verify_tls: bool = Field(default=True, description="Check the server's certificate.")
    ca_file: str | None = Field(default=None, description="Extra CA bundle (PEM) to trust.")

    address_field: ClassVar[str | None] = "email"

    def needed_env(self) -> tuple[tuple[str, str], ...]:
        return ((self.password_env, "the SMTP password"),) if self.password_env else ()


class WebhookChannel(_ChannelBase):
    """HTTP POST of a JSON document, signed with HMAC-SHA256 when ``secret_env`` is set.
    Sends ``Idempotency-Key``, so a send whose outcome is unknown is safely repeated."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="Where to POST.")
    secret_env: EnvName | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers.")
    verify_tls: bool = True

    def needed_env(self) -> tuple[tuple[str, str], ...]:
        return ((self.secret_env, "the signing secret"),) if self.secret_env else ()


class TwilioChannel(_ChannelBase):
    """SMS or voice calls through Twilio's REST API, to each person's ``phone``. Twilio
    honours no idempotency key: a send whose outcome is unknown is not repeated."""

    type: Literal["twilio"]
    mode: Literal["sms", "voice"] = Field(
        default="sms",
        description="sms: a text message; voice: a call that reads the page out and takes "
        "1 to acknowledge.",
    )
    account_sid: str | None = Field(
        default=None, pattern=r"^AC[0-9a-fA-F]{32}$", description="The account SID (AC...)."
    )
    account_sid_env: EnvName | None = Field(
        default=None, description="Or the environment variable that holds the account SID."
    )
    auth_token_env: EnvName = Field(
        description="Environment variable holding the auth token (also checks the "
        "signatures of Twilio's webhooks)."
    )
    from_number: str = Field(
        pattern=r"^\+[1-9][0-9]{6,14}$", description='The Twilio number, E.164 ("+15555550100").'
    )
    base_url: str = Field(
        default="https://api.twilio.com",
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="Where Twilio's REST API is (a proxy or a test server).",
    )
    status_callback: str | None = Field(
        default=None, pattern=r"^https?://", description="Twilio posts delivery status here."
    )
    language: str = Field(default="en-US", description="Language of the voice call.")

    address_field: ClassVar[str | None] = "phone"

    def needed_env(self) -> tuple[tuple[str, str], ...]:
        token = ((self.auth_token_env, "the Twilio auth token"),)
        if self.account_sid_env is None:
            return token
        return ((self.account_sid_env, "the Twilio account SID"), *token)

    @model_validator(mode="after")
    def _one_account_sid(self) -> TwilioChannel:
        if (self.account_sid is None) == (self.account_sid_env is None):
            raise ValueError("set exactly one of account_sid and account_sid_env")
        return self


class SlackChannel(_ChannelBase):
    """Slack through its Web API: messages to a channel (a broadcast's ``#incidents``) or
    to a person's DM (their ``slack`` member id), and, for an incident at or above
    ``incident_channel_min_severity``, a channel of its own with a pinned summary.
    Each message carries its delivery key in Slack message metadata and a repeat looks
    for it first, so a send whose outcome is unknown is safely repeated."""

    type: Literal["slack"]
    token_env: EnvName = Field(description="Holds the bot token (xoxb-...).")
    signing_secret_env: EnvName | None = Field(
        default=None,
        description="Holds the app's signing secret; needed for the buttons and /incident.",
    )
    base_url: str = Field(
        default="https://slack.com/api/", pattern=r"^https?://", description="Web API root."
    )
    incident_channel_min_severity: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Incidents this severe or worse get their own channel; absent = none.",
    )
    channel_prefix: str = Field(
        default="incident",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,29}$",
        description="Incident channels are named <prefix>-YYYY-MM-DD-<slug of the title>.",
    )
    broadcast_channel: str | None = Field(
        default=None,
        min_length=2,
        description="Where each new incident channel is announced, e.g. '#incidents'.",
    )
    verify_tls: bool = True

    address_field: ClassVar[str | None] = "slack"

    def needed_env(self) -> tuple[tuple[str, str], ...]:
        return ((self.token_env, "the Slack bot token"),)


PagerDutySeverity = Literal["critical", "error", "warning", "info"]
_PD_SEVERITIES: dict[str, PagerDutySeverity] = {
    "SEV1": "critical",
    "SEV2": "error",
    "SEV3": "warning",
    "SEV4": "info",
}
_JIRA_PRIORITIES = {"p1": "Highest", "p2": "High", "p3": "Medium", "p4": "Low"}


class PagerDutyChannel(_ChannelBase):
    """Forwards incidents to PagerDuty's Events API v2 (trigger, acknowledge, resolve
    under one ``dedup_key`` per incident). A broadcast's ``target`` may pick a routing
    key from ``routing_key_envs`` (e.g. ``target: "{team}"``). One send at a time by
    default, so that an incident's events reach PagerDuty in order."""

    type: Literal["pagerduty"]
    routing_key_env: EnvName = Field(description="Holds the integration's routing key.")
    routing_key_envs: dict[str, EnvName] = Field(
        default_factory=dict, description="Broadcast target -> variable holding its routing key."
    )
    base_url: str = Field(
        default="https://events.pagerduty.com",
        pattern=r"^https://[^/?#]+/?$",
        description="The Events API (PagerDuty's client accepts https:// only).",
    )
    source: str = Field(default="tocsin", min_length=1, description="payload.source.")
    severities: dict[str, PagerDutySeverity] = Field(
        default_factory=lambda: dict(_PD_SEVERITIES),
        description="Tocsin severity -> PagerDuty severity (others: error).",
    )
    verify_tls: bool = True
    ca_file: str | None = Field(default=None, description="Extra CA bundle (PEM) to trust.")
    concurrency: int = Field(default=1, ge=1, le=64, description="Sends in flight at once.")

    def needed_env(self) -> tuple[tuple[str, str], ...]:
        return ((self.routing_key_env, "the routing key"),)


class JiraChannel(_ChannelBase):
    """Jira issues: one per incident (created once, then commented on with every update
    and the resolution) and, with ``tocsin actions sync-jira``, one per action item.
    Basic auth with ``email`` and an API token (Jira Cloud), or a personal access token
    alone (Jira Server / Data Center). A broadcast's ``target`` is the project key."""

    type: Literal["jira"]
    base_url: str = Field(
        pattern=r"^https?://[^?#]+$", description="e.g. https://acme.atlassian.net"
    )
    email: str | None = Field(default=None, description="Account for basic auth (Jira Cloud).")
    api_token_env: EnvName = Field(description="Holds the API token (or personal access token).")
    project: str | None = Field(
        default=None, pattern=r"^[A-Z][A-Z0-9_]+$", description="Default project key."
    )
    issue_type: str = Field(default="Task", min_length=1)
    labels: tuple[str, ...] = Field(default=(), description="Added to every issue Tocsin creates.")
    label_prefix: str = Field(
        default="tocsin",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Issues are labelled <prefix>-inc-7 / <prefix>-action-5; a retry looks "
        "for the label before creating.",
    )
    resolve_transition: str | None = Field(
        default=None, description="Workflow transition applied when the incident resolves."
    )
    reopen_transition: str | None = Field(
        default=None, description="Workflow transition applied when the incident reopens."
    )
    action_items: bool = Field(default=True, description="Action items sync to this channel.")
    action_item_project: str | None = Field(
        default=None, pattern=r"^[A-Z][A-Z0-9_]+$", description="Default: `project`."
    )
    action_item_type: str | None = Field(default=None, description="Default: `issue_type`.")
    priorities: dict[str, str] = Field(
        default_factory=lambda: dict(_JIRA_PRIORITIES),
        description="Action-item priority (p1..p4) -> Jira priority name; empty = not set.",
    )
    verify_tls: bool = True
    ca_file: str | None = Field(default=None, description="Extra CA bundle (PEM) to trust.")
    concurrency: int = Field(default=1, ge=1, le=64, description="Sends in flight at once.")

    def needed_env(self) -> tuple[tuple[str, str], ...]:
        return ((self.api_token_env, "the Jira API token"),)


class TeamsChannel(_ChannelBase):
    """Microsoft Teams through an incoming webhook or a Workflows URL (the URL is the
    secret, so it comes from the environment): one Adaptive Card per message. Teams
    honours no idempotency key: a send whose outcome is unknown is not repeated."""

    type: Literal["teams"]
    url_env: EnvName = Field(description="Holds the webhook / Workflows URL.")
    url_envs: dict[str, EnvName] = Field(
        default_factory=dict, description="Broadcast target -> variable holding its URL."
    )
    verify_tls: bool = True

    def needed_env(self) -> tuple[tuple[str, str], ...]:
        return ((self.url_env, "the Teams webhook URL"),)


#: Every channel type; a new one adds its settings model here.
ChannelConfig = Annotated[
    EmailChannel
    | WebhookChannel
    | TwilioChannel
    | SlackChannel
    | PagerDutyChannel
    | JiraChannel
    | TeamsChannel
    | ConsoleChannel,
    Field(discriminator="type"),
]


# --- who gets what -------------------------------------------------------------------


class RuleStep(PolicyModel):
    channel: ChannelName
    after: Delay = Field(
        default=timedelta(0), description="Wait this long after the message was decided."
    )
    unless: Literal["acknowledged", "resolved", "never"] = Field(
        default="acknowledged",
        description="A delayed step is skipped once the incident is acknowledged "
        "(or resolved), or is always sent (never).",
    )


class NotificationRule(PolicyModel):
    kinds: tuple[str, ...] = Field(
        default=(), description="Message kinds (page, stakeholder, reminder...); empty = all."
    )
    severities: tuple[str, ...] = Field(
        default=(),
        description="Severity names or aliases; empty = all (and messages without an incident).",
    )
    notify: tuple[RuleStep, ...] = Field(min_length=1)


BroadcastEvent = Literal[
    "declared", "acknowledged", "update_posted", "severity_changed", "resolved", "reopened"
]
BROADCAST_EVENTS: tuple[BroadcastEvent, ...] = (
    "declared",
    "acknowledged",
    "update_posted",
    "severity_changed",
    "resolved",
    "reopened",
)
#: Which template announces which timeline event, unless a broadcast says otherwise.
DEFAULT_BROADCAST_TEMPLATES: Mapping[BroadcastEvent, str] = {
    "declared": "initial_announcement",
    "update_posted": "update",
    "resolved": "resolution",
}


def _default_events() -> dict[BroadcastEvent, str]:
    return dict(DEFAULT_BROADCAST_TEMPLATES)


class BroadcastDestination(PolicyModel):
    channel: ChannelName
    target: str | None = Field(
        default=None,
        description="Where in the channel, e.g. '#incidents'; '{team}' becomes each owning "
        "team's name ('#team-{team}').",
    )


class Broadcast(PolicyModel):
    name: str = Field(pattern=SLUG_PATTERN)
    severities: tuple[str, ...] = Field(default=(), description="Empty = every severity.")
    services: tuple[str, ...] = Field(default=(), description="Empty = every service.")
    events: dict[BroadcastEvent, str] = Field(
        default_factory=_default_events,
        description="Timeline event -> template that announces it.",
    )
    to: tuple[BroadcastDestination, ...] = Field(min_length=1)


# --- cross-reference checks (on the plain document, like the other sections) ---------


def _names(data: Mapping[str, Any], section: str, key: str) -> list[str]:
    return [e[key] for _, e in mappings(data.get(section)) if isinstance(e.get(key), str)]


def _severity_labels(data: Mapping[str, Any]) -> list[str]:
    labels: list[str] = []
    for _, entry in mappings(data.get("severities")):
        for value in [entry.get("name"), *(entry.get("aliases") or ())]:
            if isinstance(value, str):
                labels.append(value)
    return labels


def _check_severities(
    value: Any, loc: Loc, labels: Sequence[str], issues: list[tuple[Loc, str]]
) -> None:
    folded = {label.casefold() for label in labels}
    if isinstance(value, Sequence) and not isinstance(value, str):
        for i, name in enumerate(value):
            if isinstance(name, str) and name.casefold() not in folded:
                issues.append(((*loc, i), unknown_name("severity", name, labels)))


def delivery_reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Unknown people, severities, services and templates in the delivery sections, and
    every template's compile-and-render check."""
    issues: list[tuple[Loc, str]] = []
    people = _names(data, "people", "name")
    services = _names(data, "services", "name")
    labels = _severity_labels(data)
    channels = data.get("channels")
    for name, settings in channels.items() if isinstance(channels, Mapping) else ():
        if not isinstance(settings, Mapping):
            continue
        threshold = settings.get("incident_channel_min_severity")
        if isinstance(threshold, str) and threshold.casefold() not in map(str.casefold, labels):
            where: Loc = ("channels", name, "incident_channel_min_severity")
            issues.append((where, unknown_name("severity", threshold, labels)))
    rules = data.get("notification_rules")
    if isinstance(rules, Mapping):
        for person, entries in rules.items():
            if person != "*" and person not in people:
                issues.append(
                    (("notification_rules", person), unknown_name("person", person, people))
                )
            for index, rule in mappings(entries):
                loc: Loc = ("notification_rules", person, index, "severities")
                _check_severities(rule.get("severities"), loc, labels, issues)
    templates = data.get("templates")
    known_templates = set(BUILTIN_TEMPLATES)
    if isinstance(templates, Mapping):
        for name in templates:
            if isinstance(name, str) and not re.match(SLUG_PATTERN, name):
                issues.append(
                    (
                        ("templates", name),
                        f"template name {name!r}: use lower-case letters, digits, '.', '_' and '-'",
                    )
                )
            known_templates.add(str(name))
    seen: dict[str, int] = {}
    for index, entry in mappings(data.get("broadcasts")):
        name = entry.get("name")
        if isinstance(name, str):
            if name in seen:
                issues.append(
                    (
                        ("broadcasts", index, "name"),
                        f"duplicate broadcast {name!r} (see broadcasts[{seen[name]}])",
                    )
                )
            seen.setdefault(name, index)
        _check_severities(
            entry.get("severities"), ("broadcasts", index, "severities"), labels, issues
        )
        for i, service in enumerate(entry.get("services") or ()):
            if isinstance(service, str) and service not in services:
                issues.append(
                    (
                        ("broadcasts", index, "services", i),
                        unknown_name("service", service, services),
                    )
                )
        events = entry.get("events")
        if isinstance(events, Mapping):
            for event, template in events.items():
                if isinstance(template, str) and template not in known_templates:
                    issues.append(
                        (
                            ("broadcasts", index, "events", event),
                            unknown_name("template", template, sorted(known_templates)),
                        )
                    )
    issues += templates_reference_issues(data)
    return issues
