"""No silent misconfiguration: policy warnings that leave the policy usable.

These are the usual ways a team misses a page although every name in the file is
valid: a service that escalates to nobody, a schedule with a hole, a person Tocsin
cannot reach, a first tier slower than the response target, a channel whose settings
are missing. They are computed over a horizon from an injected ``now``, so the same
policy may warn later (a rotation ends); the channel checks read the environment they
are given (the variables the channels' secrets come from).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.oncall.escalation import DEFAULT_POLICY, choose_escalation_policy
from tocsin.oncall.rules import coverage_gaps, to_utc
from tocsin.policy.base import format_loc
from tocsin.policy.durations import format_duration
from tocsin.policy.models import Policy
from tocsin.policy.oncall import Tier
from tocsin.policy.reach import channel_warnings

__all__ = ["WARNING_HORIZON", "PolicyWarning", "policy_warnings"]

#: How far ahead schedules and tiers are checked for holes.
WARNING_HORIZON = timedelta(weeks=8)

_Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class PolicyWarning:
    """``path`` is a location in the policy file, e.g. ``schedules[0]``."""

    path: str
    message: str


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _intersect(a: list[_Window], b: list[_Window]) -> list[_Window]:
    out: list[_Window] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _unreached(policy: Policy, tier: Tier, start: datetime, end: datetime) -> list[_Window]:
    """When within [start, end) none of the tier's targets reaches anyone."""
    nobody: list[_Window] = [(start, end)]
    for target in tier.targets:
        if target.person is not None:
            return []
        if target.team is not None:
            team = policy.team(target.team)
            if team is not None and team.members:
                return []
        elif target.schedule is not None:
            schedule = policy.schedule(target.schedule)
            if schedule is not None:
                nobody = _intersect(nobody, coverage_gaps(schedule, start, end))
        if not nobody:
            return []
    return nobody


def _worst_rank_by_policy(policy: Policy) -> dict[str, int]:
    """For each escalation policy, the worst severity rank that can end up using it
    (through a service, the ``default`` fallback, or a severity override)."""
    worst: dict[str, int] = {}
    for service in [*(s.name for s in policy.services), None]:
        for severity in policy.severities:
            chosen = choose_escalation_policy(policy, service=service, severity=severity.name)
            if chosen is not None:
                worst[chosen.name] = min(worst.get(chosen.name, severity.rank), severity.rank)
    return worst


def policy_warnings(
    policy: Policy, now: datetime, environ: Mapping[str, str] | None = None
) -> list[PolicyWarning]:
    """Everything in ``policy`` that can make a page go nowhere or go late, looking
    :data:`WARNING_HORIZON` ahead of ``now``; with ``environ``, also the channels that
    cannot send in it and who they leave unreached
    (:func:`tocsin.policy.reach.channel_warnings`)."""
    start = to_utc(now, "now")
    end = start + WARNING_HORIZON
    found: list[PolicyWarning] = []

    has_default = policy.escalation_policy(DEFAULT_POLICY) is not None
    for index, service in enumerate(policy.services):
        if service.escalation_policy is None and not has_default:
            found.append(
                PolicyWarning(
                    format_loc(("services", index)),
                    f"service {service.name!r} has no escalation_policy and there is no "
                    f"policy named {DEFAULT_POLICY!r}: its incidents page nobody",
                )
            )

    worst = _worst_rank_by_policy(policy)
    for index, escalation in enumerate(policy.escalation_policies):
        for tier_index, tier in enumerate(escalation.tiers):
            unreached = _unreached(policy, tier, start, end)
            if unreached:
                found.append(
                    PolicyWarning(
                        format_loc(("escalation_policies", index, "tiers", tier_index)),
                        f"tier {tier_index + 1} of {escalation.name!r} reaches nobody "
                        f"from {_iso(unreached[0][0])} (within the next 8 weeks)",
                    )
                )
        rank = worst.get(escalation.name)
        if rank is None:
            continue
        severity = policy.severities[rank - 1]
        first, respond = escalation.tiers[0].timeout, severity.respond_within
        if first > respond:
            found.append(
                PolicyWarning(
                    format_loc(("escalation_policies", index, "tiers", 0, "timeout")),
                    f"the first tier of {escalation.name!r} waits {format_duration(first)} "
                    f"before escalating, longer than {severity.name}'s respond_within "
                    f"({format_duration(respond)}): "
                    "the response target is missed before anyone else is paged",
                )
            )

    for index, schedule in enumerate(policy.schedules):
        gaps = coverage_gaps(schedule, start, end)
        if gaps:
            total = sum((b - a for a, b in gaps), timedelta(0))
            total -= timedelta(microseconds=total.microseconds)
            found.append(
                PolicyWarning(
                    format_loc(("schedules", index)),
                    f"schedule {schedule.name!r} has nobody on call from {_iso(gaps[0][0])} "
                    f"({len(gaps)} gap(s), {format_duration(total)} in total "
                    "within the next 8 weeks)",
                )
            )

    for index, person in enumerate(policy.people):
        if not (person.email or person.phone or person.chat):
            found.append(
                PolicyWarning(
                    format_loc(("people", index)),
                    f"person {person.name!r} has no contact method (email, phone or chat): "
                    "pages to them reach nobody",
                )
            )
    if environ is not None:
        found += [
            PolicyWarning(format_loc(loc), msg) for loc, msg in channel_warnings(policy, environ)
        ]
    return found
