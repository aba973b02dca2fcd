"""Pure escalation decisions: which policy, which step, whom to page, who commands.

Nothing here reads the clock or the database: the instant and the run-time overrides
are arguments, so the engine can compute a step, persist it and its timer in one
transaction, and tests can walk a whole climb without waiting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.oncall.rules import Override, on_call
from tocsin.policy.models import Policy
from tocsin.policy.oncall import EscalationPolicy, StakeholderStep, Target, Tier

__all__ = [
    "EscalationStep",
    "choose_commander",
    "choose_escalation_policy",
    "escalation_step",
    "resolve_targets",
    "stakeholder_steps",
]

#: The name of the escalation policy used by services that do not name one.
DEFAULT_POLICY = "default"


@dataclass(frozen=True)
class EscalationStep:
    """Step ``number`` of a climb (0 = first tier of the first round): tier
    ``tier_index`` of round ``round`` (0 = the first run through the tiers). When
    ``timeout`` passes without an acknowledgement, step ``number + 1`` is paged."""

    number: int
    round: int
    tier_index: int
    tier: Tier
    timeout: timedelta


def escalation_step(policy: EscalationPolicy, number: int) -> EscalationStep | None:
    """Step ``number`` of ``policy``, or ``None`` once every tier of every repeat
    (``len(tiers) * (repeat + 1)`` steps) has been paged."""
    if number < 0:
        raise ValueError(f"escalation step number must be >= 0, got {number}")
    round_, tier_index = divmod(number, len(policy.tiers))
    if round_ > policy.repeat:
        return None
    tier = policy.tiers[tier_index]
    return EscalationStep(number, round_, tier_index, tier, tier.timeout)


def choose_escalation_policy(
    policy: Policy, *, service: str | None, severity: str
) -> EscalationPolicy | None:
    """The service's escalation policy (or the one named ``default``), replaced by its
    ``severity_overrides`` entry for ``severity`` (name or alias) if it has one.
    Overrides are followed one hop only. Raises ``UnknownSeverity``."""
    canonical = policy.severity(severity).name
    found = policy.service(service) if service else None
    chosen = policy.escalation_policy(
        found.escalation_policy if found and found.escalation_policy else DEFAULT_POLICY
    )
    if chosen is None:
        return None
    for label, replacement in chosen.severity_overrides.items():
        if policy.severity(label).name == canonical:
            return policy.escalation_policy(replacement) or chosen
    return chosen


def resolve_targets(
    policy: Policy,
    targets: Sequence[Target],
    at: datetime,
    overrides_by_schedule: Mapping[str, Sequence[Override]],
) -> list[str]:
    """The people ``targets`` reach at ``at``: whoever is on call for a schedule, the
    person, every member of a team. Unique, in the order first reached; unknown
    names reach nobody (the loader has already refused them)."""
    people: dict[str, None] = {}
    for target in targets:
        if target.schedule is not None:
            schedule = policy.schedule(target.schedule)
            if schedule is not None:
                overrides = overrides_by_schedule.get(schedule.name, ())
                people.update(dict.fromkeys(on_call(schedule, at, overrides)))
        elif target.person is not None:
            people[target.person] = None
        elif target.team is not None:
            team = policy.team(target.team)
            if team is not None:
                people.update(dict.fromkeys(team.members))
    return list(people)


def stakeholder_steps(policy: Policy, severity: str) -> list[StakeholderStep]:
    """The stakeholder matrix steps for ``severity`` (name or alias), by ``after``;
    empty when the policy has no matrix for it. Raises ``UnknownSeverity``."""
    canonical = policy.severity(severity).name
    for matrix in policy.stakeholders:
        if policy.severity(matrix.severity).name == canonical:
            return sorted(matrix.steps, key=lambda step: step.after)
    return []


def _by_expertise(
    policy: Policy, candidates: Sequence[str], topics: Sequence[str]
) -> tuple[str, str]:
    """The candidate whose expertise overlaps ``topics`` most (first listed wins a
    draw), and a note saying why when there was a choice to make."""
    wanted = {t.casefold() for t in topics}

    def overlap(name: str) -> list[str]:
        person = policy.person(name)
        skills = person.expertise if person else ()
        return sorted({s for s in skills if s.casefold() in wanted})

    best = max(candidates, key=lambda name: len(overlap(name)))  # max keeps the first
    if len(candidates) == 1:
        return best, ""
    others = ", ".join(c for c in candidates if c != best)
    matched = overlap(best)
    why = f"expertise in {', '.join(matched)}" if matched else "no expertise match; first listed"
    return best, f"; chosen over {others} ({why})"


def choose_commander(
    policy: Policy,
    *,
    severity_rank: int,
    tags: Sequence[str],
    services: Sequence[str],
    at: datetime,
    overrides_by_schedule: Mapping[str, Sequence[Override]],
) -> tuple[str | None, str]:
    """The incident commander and the reason: an incident tagged as
    security -> the security lead; rank 1 -> the senior on call; otherwise (or if no
    senior is on call) the primary on call: the ``primary_schedule``, else the first
    tier of the affected services' escalation policies (also when nobody is on call
    in ``primary_schedule``). Several candidates -> the one with most expertise
    matching the incident's tags and services; the reason names the choice."""
    rules = policy.commander_assignment
    topics = [*tags, *services]
    security_tag = rules.security_tag if rules else "security"
    if rules and rules.security_lead and security_tag in {t.casefold() for t in tags}:
        return rules.security_lead, f"tagged {security_tag}: the security lead"

    def schedule_pick(name: str, role: str) -> tuple[str | None, str]:
        schedule = policy.schedule(name)
        people = on_call(schedule, at, overrides_by_schedule.get(name, ())) if schedule else []
        if not people:
            return None, f"nobody is on call in {name}"
        person, note = _by_expertise(policy, people, topics)
        return person, f"{role} on call ({name}){note}"

    missing = ""
    if severity_rank == 1 and rules and rules.senior_schedule:
        person, reason = schedule_pick(rules.senior_schedule, "worst severity: the senior")
        if person:
            return person, reason
        missing = f"{reason}; "
    if rules and rules.primary_schedule:
        person, reason = schedule_pick(rules.primary_schedule, "the primary")
        if person:
            return person, missing + reason
        missing += f"{reason}; "

    index = min(max(severity_rank, 1), len(policy.severities)) - 1
    severity = policy.severities[index].name
    candidates: dict[str, None] = {}
    sources: Sequence[str | None] = services or [None]
    for service in sources:
        chosen = choose_escalation_policy(policy, service=service, severity=severity)
        if chosen is not None:
            first = chosen.tiers[0].targets
            candidates.update(
                dict.fromkeys(resolve_targets(policy, first, at, overrides_by_schedule))
            )
    if not candidates:
        return None, missing + "nobody is reachable in the first escalation tier"
    person, note = _by_expertise(policy, list(candidates), topics)
    return person, f"{missing}the primary on call (first escalation tier){note}"
