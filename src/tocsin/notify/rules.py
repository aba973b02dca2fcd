"""Pure delivery decisions, over plain data: which channels and when (notification
rules and broadcasts), how long to wait before a retry, when a rate limit lets the next
message go, and what a notification's state is given its deliveries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.policy import Policy, UnknownSeverity, format_duration
from tocsin.policy.channels import RateLimit, RetrySettings
from tocsin.policy.reach import DEFAULT_RULES

__all__ = [
    "DEFAULT_RULES",
    "PlannedBroadcast",
    "PlannedStep",
    "backoff",
    "deliverable_steps",
    "plan_broadcasts",
    "plan_steps",
    "rate_limit_text",
    "summarize",
    "throttled_until",
]


@dataclass(frozen=True)
class PlannedStep:
    step: int
    channel: str
    after: timedelta
    #: Skip the step if the incident is by then acknowledged/resolved (delayed steps only).
    unless: str | None


@dataclass(frozen=True)
class PlannedBroadcast:
    broadcast: str
    destination: int
    channel: str
    target: str | None
    template: str
    #: Why this destination cannot be reached (the delivery is recorded as failed).
    problem: str | None = None


def _severity_name(policy: Policy, label: str) -> str | None:
    try:
        return policy.severity(label).name
    except UnknownSeverity:
        return None


def _matches_severity(policy: Policy, wanted: Sequence[str], severity: str | None) -> bool:
    if not wanted:
        return True
    if severity is None:
        return False
    name = _severity_name(policy, severity)
    return name is not None and name in {_severity_name(policy, w) for w in wanted}


def plan_steps(
    policy: Policy, *, person: str, kind: str, severity: str | None
) -> list[PlannedStep]:
    """The delivery steps of a message for ``person``: the first matching rule of the
    person's own rules, else of the ``"*"`` rules, else the built-in default (email)."""
    for rules in (
        policy.notification_rules.get(person, ()),
        policy.notification_rules.get("*", ()),
        DEFAULT_RULES,
    ):
        for rule in rules:
            if rule.kinds and kind not in rule.kinds:
                continue
            if not _matches_severity(policy, rule.severities, severity):
                continue
            return [
                PlannedStep(
                    step=index,
                    channel=step.channel,
                    after=step.after,
                    unless=step.unless if step.after > timedelta(0) else None,
                )
                for index, step in enumerate(rule.notify)
            ]
    raise AssertionError("DEFAULT_RULES match every message")  # pragma: no cover


def deliverable_steps(
    steps: Sequence[PlannedStep],
    *,
    can_send: Callable[[str], bool],
    reaches: Callable[[str], bool],
    fallback: str | None,
) -> list[PlannedStep]:
    """The steps worth queueing: those on channels that can send (the others are skipped,
    quietly), plus the ``fallback`` channel at once, first, if none of them reaches the
    person at once (``reaches``: the channel can send and the person has an address on
    it), so that no page waits for a delayed step or goes nowhere."""
    kept = [step for step in steps if can_send(step.channel)]
    if fallback is not None and not any(
        step.after <= timedelta(0) and reaches(step.channel) for step in kept
    ):
        kept.insert(0, PlannedStep(len(steps), fallback, timedelta(0), None))
    return kept


def plan_broadcasts(
    policy: Policy,
    *,
    event: str,
    severity: str,
    services: Sequence[str],
) -> list[PlannedBroadcast]:
    """Where an incident's timeline ``event`` is announced, with which template."""
    planned: list[PlannedBroadcast] = []
    teams = sorted(
        {
            team
            for name in services
            if (service := policy.service(name)) is not None and (team := service.team)
        }
    )
    for broadcast in policy.broadcasts:
        template = next((t for e, t in broadcast.events.items() if e == event), None)
        if template is None:
            continue
        if not _matches_severity(policy, broadcast.severities, severity):
            continue
        if broadcast.services and not set(broadcast.services) & set(services):
            continue
        for index, destination in enumerate(broadcast.to):
            target = destination.target
            if target is not None and "{team}" in target:
                if not teams:
                    planned.append(
                        PlannedBroadcast(
                            broadcast.name,
                            index,
                            destination.channel,
                            target,
                            template,
                            problem=f"{target!r} needs a team, and no affected service has one",
                        )
                    )
                for team in teams:
                    planned.append(
                        PlannedBroadcast(
                            broadcast.name,
                            index,
                            destination.channel,
                            target.replace("{team}", team),
                            template,
                        )
                    )
                continue
            planned.append(
                PlannedBroadcast(broadcast.name, index, destination.channel, target, template)
            )
    return planned


def backoff(attempt: int, retry: RetrySettings, rand: Callable[[], float]) -> timedelta:
    """The wait after the ``attempt``-th failed attempt (1-based).

    Exponential (``backoff * 2**(attempt-1)``, capped at ``max_backoff``) with "equal
    jitter": half the nominal wait is fixed and half is random, so retries of many
    messages that failed together spread out, yet none comes back sooner than half the
    nominal wait. ``rand`` returns a float in [0, 1).
    """
    base = retry.backoff.total_seconds()
    nominal = min(retry.max_backoff.total_seconds(), base * 2 ** max(0, attempt - 1))
    return timedelta(seconds=nominal / 2 + rand() * nominal / 2)


def throttled_until(limit: RateLimit, recent: Iterable[datetime], now: datetime) -> datetime | None:
    """When the next message may go under ``limit``, given the start times of the sends
    so far; None if it may go now. Only sends within the last ``per`` count."""
    window = sorted(t for t in recent if t > now - limit.per)
    if len(window) < limit.count:
        return None
    # The next one may go when enough of the oldest have left the window.
    return window[len(window) - limit.count] + limit.per


def rate_limit_text(limit: RateLimit, channel: str, person: str | None = None) -> str:
    """``throttled: 5 sms in 15m`` (or ``... to alice in 15m``)."""
    per = format_duration(limit.per)
    to = f" to {person}" if person else ""
    return f"throttled: {limit.count} {channel}{to} in {per}"


def summarize(states: Iterable[str]) -> str:
    """A notification's state from its deliveries' states: pending/sending while any is
    still to go; then sent if any reached the recipient, failed if none did and one
    failed (the dead letter), cancelled if all were made moot."""
    seen = set(states)
    if "sending" in seen:
        return "sending"
    if "pending" in seen:
        return "pending"
    if "sent" in seen:
        return "sent"
    if "failed" in seen:
        return "failed"
    return "cancelled"
