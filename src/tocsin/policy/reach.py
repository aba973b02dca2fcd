"""Which channels can send, and who they leave unreached: pure checks over the policy
and an environment (the variables the channels' secrets are read from).

A channel is *configured* when the policy defines it and every variable it needs to
send is set (:meth:`~tocsin.policy.channels.ConsoleChannel.needed_env`). Nothing is sent
by a channel that is not configured, and nothing fails for it: the delivery worker
skips its steps and broadcasts. So that no page is lost, a message for a person whom no
configured channel reaches at once also goes to the *fallback* channel: the first
channel of type ``console`` in the policy, else a built-in one called ``console``.

:func:`channel_warnings` says all of this once, for ``tocsin policy validate``, the
server's start-up and ``GET /api/v1/policy/warnings``, instead of every incident
recording the same failures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tocsin.policy.base import Loc
from tocsin.policy.channels import ChannelConfig, ConsoleChannel, NotificationRule, RuleStep
from tocsin.policy.models import Policy
from tocsin.policy.statuspage import SUBSCRIBER_CHANNEL

__all__ = [
    "BUILTIN_CONSOLE",
    "DEFAULT_RULES",
    "ChannelStatus",
    "channel_status",
    "channel_warnings",
    "delivery_channels",
    "message_noun",
]

#: The name of the console channel Tocsin adds when the policy defines none.
BUILTIN_CONSOLE = "console"

#: Everyone without rules (and no "*" rules) gets every message by email, at once.
DEFAULT_RULES: tuple[NotificationRule, ...] = (
    NotificationRule(notify=(RuleStep(channel="email"),)),
)

_NOUNS = {
    "page": ("page", "pages"),
    "stakeholder": ("stakeholder update", "stakeholder updates"),
    "reminder": ("reminder", "reminders"),
    "handoff": ("on-call handoff notice", "on-call handoff notices"),
    "subscriber": ("subscriber email", "subscriber emails"),
    "broadcast": ("announcement", "announcements"),
    "postmortem": ("post-mortem reminder", "post-mortem reminders"),
    "slo_burn": ("error-budget alert", "error-budget alerts"),
}


def message_noun(kind: str, *, plural: bool = False) -> str:
    """What a message of ``kind`` is called in text: ``page``, ``stakeholder update``."""
    one, many = _NOUNS.get(kind, (f"{kind} message", f"{kind} messages"))
    return many if plural else one


def delivery_channels(policy: Policy) -> dict[str, ChannelConfig]:
    """The policy's channels, plus the built-in ``console`` when it defines no console
    channel (and does not use the name for another one)."""
    channels: dict[str, ChannelConfig] = dict(policy.channels)
    has_console = any(isinstance(c, ConsoleChannel) for c in channels.values())
    if not has_console and BUILTIN_CONSOLE not in channels:
        channels[BUILTIN_CONSOLE] = ConsoleChannel(type="console")
    return channels


@dataclass(frozen=True)
class ChannelStatus:
    """What can send under one policy and environment."""

    #: Channels that can send, by name (the built-in console included).
    configured: Mapping[str, ChannelConfig]
    #: Every channel the policy defines or names that cannot send -> why not.
    not_configured: Mapping[str, str]
    #: Where a person's message goes when no configured channel reaches them at once.
    fallback: str | None

    def can_send(self, channel: str) -> bool:
        return channel in self.configured


def _named_channels(policy: Policy) -> list[tuple[Loc, str]]:
    """Every channel a rule step or broadcast names, with where (first mention first)."""
    named: list[tuple[Loc, str]] = []
    for owner, rules in policy.notification_rules.items():
        for index, rule in enumerate(rules):
            for position, step in enumerate(rule.notify):
                loc: Loc = ("notification_rules", owner, index, "notify", position, "channel")
                named.append((loc, step.channel))
    for index, broadcast in enumerate(policy.broadcasts):
        for position, destination in enumerate(broadcast.to):
            named.append((("broadcasts", index, "to", position, "channel"), destination.channel))
    if policy.status_page.subscriptions:
        named.append((("status_page", "subscriptions"), SUBSCRIBER_CHANNEL))
    return named


def _missing(config: ChannelConfig, environ: Mapping[str, str]) -> list[str]:
    return [name for name, _ in config.needed_env() if not environ.get(name, "").strip()]


def channel_status(policy: Policy, environ: Mapping[str, str]) -> ChannelStatus:
    """Which channels of ``policy`` can send with the variables in ``environ``."""
    configured: dict[str, ChannelConfig] = {}
    not_configured: dict[str, str] = {}
    for name, config in delivery_channels(policy).items():
        missing = _missing(config, environ)
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            not_configured[name] = f"{_join(missing)} {verb} not set"
        else:
            configured[name] = config
    named = [name for _, name in _named_channels(policy)]
    if _default_rules_used(policy):
        named += [step.channel for rule in DEFAULT_RULES for step in rule.notify]
    for name in named:
        if name not in configured and name not in not_configured:
            not_configured[name] = "it is not defined under channels"
    fallback = next((n for n, c in configured.items() if isinstance(c, ConsoleChannel)), None)
    return ChannelStatus(configured, not_configured, fallback)


# --- warnings -----------------------------------------------------------------------


def _join(items: Sequence[str], word: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _catch_all(rules: Iterable[NotificationRule]) -> bool:
    return any(not rule.kinds and not rule.severities for rule in rules)


def _default_rules_used(policy: Policy) -> bool:
    """Whether some message can fall through every rule to :data:`DEFAULT_RULES`."""
    if not policy.people:
        return False
    star = policy.notification_rules.get("*", ())
    if _catch_all(star):
        return False
    return any(not _catch_all(policy.notification_rules.get(p.name, ())) for p in policy.people)


def _describe(rule: NotificationRule) -> str:
    """``SEV1 pages``, ``SEV3/SEV4 messages``, ``messages`` (a rule for all of them)."""
    severities = "/".join(rule.severities)
    kinds = _join([message_noun(k, plural=True) for k in rule.kinds]) or "messages"
    return f"{severities} {kinds}".strip()


def _reach_warning(
    who: str, rules: Sequence[NotificationRule], status: ChannelStatus
) -> str | None:
    """The warning for one set of rules: the channels in them that cannot send, and the
    messages no configured channel reaches at once (they go to the fallback)."""
    unconfigured: list[str] = []
    unreached: list[str] = []
    for rule in rules:
        for step in rule.notify:
            if not status.can_send(step.channel) and step.channel not in unconfigured:
                unconfigured.append(step.channel)
        if not any(status.can_send(s.channel) and not s.after for s in rule.notify):
            unreached.append(_describe(rule))
    if not unconfigured:
        return None
    message = f"{who} cannot be reached by {_join(unconfigured, 'or')} (not configured)"
    if not unreached:
        return message
    if status.fallback is None:
        return f"{message}: their {_join(unreached)} reach them at once by no channel"
    return f"{message}: their {_join(unreached)} go to the {status.fallback} channel instead"


_ADDRESS_LABELS = {"email": "email address", "phone": "phone number", "slack": "Slack member id"}


def _address_warnings(policy: Policy, status: ChannelStatus) -> list[tuple[Loc, str]]:
    """People whose rules use a configured channel they have no address on."""
    found: list[tuple[Loc, str]] = []
    star = policy.notification_rules.get("*", DEFAULT_RULES)
    for index, person in enumerate(policy.people):
        fields: list[str] = []
        channels: list[str] = []
        for rule in policy.notification_rules.get(person.name, star):
            for step in rule.notify:
                config = status.configured.get(step.channel)
                field = config.address_field if config is not None else None
                if field and not getattr(person, field, None) and step.channel not in channels:
                    channels.append(step.channel)
                    if field not in fields:
                        fields.append(field)
        if channels:
            labels = [_ADDRESS_LABELS.get(f, f) for f in fields]
            found.append(
                (
                    ("people", index),
                    f"person {person.name!r} has no {_join(labels, 'or')}: "
                    f"{_join(channels)} cannot reach them",
                )
            )
    return found


def channel_warnings(policy: Policy, environ: Mapping[str, str]) -> list[tuple[Loc, str]]:
    """Once each: the channels that cannot send and why, who they leave unreached by
    what (and where those messages go instead), the broadcasts that go nowhere, the
    status-page subscribers left without email, and the people a configured channel has
    no address for."""
    status = channel_status(policy, environ)
    found: list[tuple[Loc, str]] = []
    first_mention = {name: loc for loc, name in reversed(_named_channels(policy))}
    for name, why in status.not_configured.items():
        loc: Loc = ("channels", name) if name in policy.channels else first_mention.get(name, ())
        found.append((loc, f"channel {name!r} is not configured ({why}): nothing is sent by it"))

    for owner, rules in policy.notification_rules.items():
        who = "everyone without rules of their own" if owner == "*" else owner
        message = _reach_warning(who, rules, status)
        if message is not None:
            found.append((("notification_rules", owner), message))
    default = [s.channel for r in DEFAULT_RULES for s in r.notify if not status.can_send(s.channel)]
    if _default_rules_used(policy) and default:
        instead = f"the {status.fallback} channel" if status.fallback else "no channel"
        found.append(
            (
                ("notification_rules",),
                f"a message no notification rule matches goes by {_join(default)} (the "
                f"default), which is not configured: it goes to {instead} instead",
            )
        )

    silent: dict[str, list[str]] = {}
    for broadcast in policy.broadcasts:
        for destination in broadcast.to:
            if not status.can_send(destination.channel):
                names = silent.setdefault(destination.channel, [])
                if broadcast.name not in names:
                    names.append(broadcast.name)
    if silent:
        parts = [f"{_join(names)} (by {channel})" for channel, names in silent.items()]
        found.append(
            (
                ("broadcasts",),
                f"broadcasts {_join(parts)} are not sent until their channels are configured",
            )
        )
    if policy.status_page.subscriptions and not status.can_send(SUBSCRIBER_CHANNEL):
        found.append(
            (
                ("status_page", "subscriptions"),
                f"status-page subscribers get no email (confirmations, updates) until the "
                f"{SUBSCRIBER_CHANNEL} channel is configured",
            )
        )
    return found + _address_warnings(policy, status)
