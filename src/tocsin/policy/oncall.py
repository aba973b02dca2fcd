"""On-call sections of the policy: schedules, escalation policies, the stakeholder
matrix and commander assignment.

The models only check what one entry can check on its own (types, slugs, durations,
"exactly one of"). Everything that looks across entries or needs a name resolved is in
:func:`oncall_reference_issues`, which runs on the plain document so the loader can
point at the exact key and line. The pure rules that use these models live in
``tocsin.oncall``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from tocsin.policy.base import (
    Loc,
    PolicyModel,
    SeverityName,
    Slug,
    Timezone,
    entries,
    format_loc,
    index_by_name,
    strings,
    unknown_name,
)
from tocsin.policy.durations import Duration
from tocsin.policy.timefields import Delay, Instant, LocalDateTime, LocalTime, as_delay

__all__ = [
    "WEEKDAYS",
    "CommanderAssignment",
    "EscalationPolicy",
    "Layer",
    "Restriction",
    "Schedule",
    "StakeholderMatrix",
    "StakeholderStep",
    "StaticOverride",
    "Target",
    "Tier",
    "oncall_reference_issues",
    "schedules_with_team_timezones",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: In ``date.weekday()`` order: ``WEEKDAYS[d.weekday()]`` is the day's name.
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# --- schedules -----------------------------------------------------------------------


class Restriction(PolicyModel):
    """A weekly window of local time when a layer is active. A window belongs to the day
    it starts on; ``to`` at or before ``from`` runs past midnight into the next day
    (``from: '00:00'``, ``to: '00:00'`` is the whole day)."""

    model_config = ConfigDict(populate_by_name=True)

    days: tuple[Weekday, ...] = Field(min_length=1, description="Days the window starts on.")
    from_: LocalTime = Field(alias="from", description="Local start, 'HH:MM'.")
    to: LocalTime = Field(description="Local end, 'HH:MM'; at or before `from` = next day.")


class Layer(PolicyModel):
    """One rotation: participants take turns, each for one rotation length."""

    name: Slug
    rotation: Literal["daily", "weekly", "custom"]
    length: Duration | None = Field(
        default=None, description="Turn length; required for (and only for) custom."
    )
    start: LocalDateTime = Field(
        description="Local time of the first handoff; participants[0] starts then, "
        "and the layer covers nothing before it."
    )
    participants: tuple[Slug, ...] = Field(
        min_length=1, description="People from `people`, in turn order; may repeat."
    )
    restrictions: tuple[Restriction, ...] = Field(
        default=(), description="If given, the layer only covers these local windows."
    )


class StaticOverride(PolicyModel):
    """``person`` is on call from ``start`` to ``end``, whatever the layers say."""

    person: Slug
    start: Instant = Field(description="When the cover starts (with an offset).")
    end: Instant = Field(description="When it ends; after `start`.")


class Schedule(PolicyModel):
    """Who is on call when: layers of rotations (later layers win where they have
    someone), then overrides (which win over every layer)."""

    name: Slug
    description: str = ""
    timezone: Timezone | None = Field(
        default=None,
        description="IANA zone of every local time here; defaults to the team's, else UTC.",
    )
    team: Slug | None = Field(default=None, description="Owning team, from `teams`.")
    layers: tuple[Layer, ...] = Field(min_length=1, description="Lowest priority first.")
    overrides: tuple[StaticOverride, ...] = ()


# --- escalation ----------------------------------------------------------------------


class Target(PolicyModel):
    """Who to page: exactly one of a schedule (whoever is on call), a person, or a
    team (every member)."""

    schedule: Slug | None = None
    person: Slug | None = None
    team: Slug | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [k for k in ("schedule", "person", "team") if getattr(self, k) is not None]
        if len(given) != 1:
            found = f" (got {', '.join(given)})" if given else ""
            raise ValueError(f"a target names exactly one of schedule, person or team{found}")
        return self

    @property
    def kind(self) -> Literal["schedule", "person", "team"]:
        if self.schedule is not None:
            return "schedule"
        return "person" if self.person is not None else "team"

    @property
    def name(self) -> str:
        return self.schedule or self.person or self.team or ""


class Tier(PolicyModel):
    timeout: Duration = Field(description="Not acknowledged within this -> next tier.")
    targets: tuple[Target, ...] = Field(min_length=1)


class EscalationPolicy(PolicyModel):
    name: Slug
    description: str = ""
    repeat: int = Field(default=0, ge=0, description="Extra runs through all tiers.")
    tiers: tuple[Tier, ...] = Field(min_length=1)
    severity_overrides: dict[SeverityName, Slug] = Field(
        default_factory=dict,
        description="Severity (name or alias) -> the escalation policy to use instead.",
    )

    def __hash__(self) -> int:
        # Frozen models are hashable, and so is the Policy holding this one; the dict
        # field needs spelling out.
        overrides = tuple(self.severity_overrides.items())
        return hash((self.name, self.description, self.repeat, self.tiers, overrides))


class StakeholderStep(PolicyModel):
    after: Delay = Field(description="Time since the incident started.")
    notify: tuple[Target, ...] = Field(min_length=1)


class StakeholderMatrix(PolicyModel):
    """Who hears about an unresolved incident of ``severity`` as time passes
    (independent of acknowledgement)."""

    severity: SeverityName
    steps: tuple[StakeholderStep, ...] = Field(min_length=1, description="In order of `after`.")


class CommanderAssignment(PolicyModel):
    """Security incidents -> the security lead; the worst severity -> the
    senior on call; otherwise the primary on call."""

    security_lead: Slug | None = None
    security_tag: Slug = Field(default="security", description="Tag that marks security.")
    senior_schedule: Slug | None = None
    primary_schedule: Slug | None = Field(
        default=None,
        description="Absent: the first tier's on-call of the affected services' policies.",
    )


# --- document-level helpers ------------------------------------------------------------


def schedules_with_team_timezones(data: Any) -> Any:
    """Give each schedule without a ``timezone`` its team's (a ``mode="before"`` step of
    :class:`~tocsin.policy.models.Policy`, so that a :class:`Schedule` always knows its
    zone). Anything of an unexpected shape is left for validation to report."""
    if not isinstance(data, Mapping):
        return data
    schedules = data.get("schedules")
    if not isinstance(schedules, list | tuple):
        return data
    zones = {
        team.get("name"): team.get("timezone")
        for _, team in entries(data, "teams")
        if isinstance(team.get("timezone"), str)
    }
    filled: list[Any] = []
    for entry in schedules:
        if isinstance(entry, Mapping) and entry.get("timezone") is None:
            zone = zones.get(entry.get("team"))
            if isinstance(zone, str):
                entry = {**entry, "timezone": zone}
        filled.append(entry)
    return {**data, "schedules": filled}


def _instant(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    return None


def _severity_labels(data: Mapping[str, Any]) -> dict[str, str]:
    """casefolded name or alias -> canonical severity name."""
    labels: dict[str, str] = {}
    for _, entry in entries(data, "severities"):
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        labels.setdefault(name.casefold(), name)
        for _, alias in strings(entry.get("aliases")):
            labels.setdefault(alias.casefold(), name)
    return labels


class _Refs:
    """The names the on-call sections may refer to, and where problems go."""

    def __init__(self, data: Mapping[str, Any], issues: list[tuple[Loc, str]]) -> None:
        self.issues = issues
        self.people = {
            n: i for i, p in entries(data, "people") if isinstance(n := p.get("name"), str)
        }
        self.teams = {
            n: i for i, t in entries(data, "teams") if isinstance(n := t.get("name"), str)
        }
        self.schedules = index_by_name(data, "schedules", "name", "schedule", issues)
        self.policies = index_by_name(
            data, "escalation_policies", "name", "escalation policy", issues
        )
        self.severities = _severity_labels(data)

    def check(self, loc: Loc, kind: str, name: Any) -> None:
        known = {"person": self.people, "team": self.teams, "schedule": self.schedules}.get(
            kind, self.policies
        )
        if isinstance(name, str) and name not in known:
            self.issues.append((loc, unknown_name(kind, name, known)))

    def severity(self, loc: Loc, name: Any) -> str | None:
        """The canonical name of severity ``name``, reporting it when unknown."""
        if not isinstance(name, str):
            return None
        canonical = self.severities.get(name.strip().casefold())
        if canonical is None:
            valid = ", ".join(dict.fromkeys(self.severities.values()))
            self.issues.append((loc, f"unknown severity {name!r}; valid: {valid}"))
        return canonical

    def targets(self, loc: Loc, value: Any) -> None:
        if not isinstance(value, list | tuple):
            return
        for index, target in enumerate(value):
            if isinstance(target, Mapping):
                for kind in ("schedule", "person", "team"):
                    self.check((*loc, index, kind), kind, target.get(kind))


def _layer_issues(loc: Loc, layer: Mapping[str, Any], refs: _Refs) -> None:
    rotation, length = layer.get("rotation"), layer.get("length")
    if rotation == "custom" and length is None:
        refs.issues.append(((*loc, "rotation"), "a custom rotation needs a `length`, e.g. 12h"))
    elif rotation in ("daily", "weekly") and length is not None:
        refs.issues.append(
            ((*loc, "length"), f"`length` is only for custom rotations; {rotation} is fixed")
        )
    for i, person in strings(layer.get("participants")):
        refs.check((*loc, "participants", i), "person", person)


def _schedule_issues(data: Mapping[str, Any], refs: _Refs) -> None:
    for index, schedule in entries(data, "schedules"):
        loc: Loc = ("schedules", index)
        refs.check((*loc, "team"), "team", schedule.get("team"))
        layer_names: dict[str, int] = {}
        for li, layer in entries(schedule, "layers"):
            name = layer.get("name")
            if isinstance(name, str) and name in layer_names:
                first = format_loc((*loc, "layers", layer_names[name]))
                refs.issues.append(
                    ((*loc, "layers", li, "name"), f"duplicate layer {name!r} (see {first})")
                )
            elif isinstance(name, str):
                layer_names[name] = li
            _layer_issues((*loc, "layers", li), layer, refs)
        windows: list[tuple[datetime, datetime, int]] = []
        for oi, override in entries(schedule, "overrides"):
            oloc: Loc = (*loc, "overrides", oi)
            refs.check((*oloc, "person"), "person", override.get("person"))
            start, end = _instant(override.get("start")), _instant(override.get("end"))
            if start is None or end is None:
                continue
            if end <= start:
                refs.issues.append(((*oloc, "end"), "an override must end after it starts"))
                continue
            for other_start, other_end, other in windows:
                if start < other_end and other_start < end:
                    see = format_loc((*loc, "overrides", other))
                    refs.issues.append((oloc, f"override overlaps {see}"))
                    break
            windows.append((start, end, oi))


def _escalation_issues(data: Mapping[str, Any], refs: _Refs) -> None:
    for index, policy in entries(data, "escalation_policies"):
        loc: Loc = ("escalation_policies", index)
        for ti, tier in entries(policy, "tiers"):
            refs.targets((*loc, "tiers", ti, "targets"), tier.get("targets"))
        overrides = policy.get("severity_overrides")
        if not isinstance(overrides, Mapping):
            continue
        seen: dict[str, str] = {}
        for key, target in overrides.items():
            kloc: Loc = (*loc, "severity_overrides", key)
            canonical = refs.severity(kloc, key)
            if canonical is not None and canonical in seen:
                refs.issues.append(
                    (kloc, f"{key!r} is the same severity as {seen[canonical]!r}; list it once")
                )
            elif canonical is not None:
                seen[canonical] = str(key)
            if target == policy.get("name"):
                refs.issues.append((kloc, f"escalation policy {target!r} cannot override itself"))
            else:
                refs.check(kloc, "escalation policy", target)


def _stakeholder_issues(data: Mapping[str, Any], refs: _Refs) -> None:
    seen: dict[str, int] = {}
    for index, matrix in entries(data, "stakeholders"):
        loc: Loc = ("stakeholders", index)
        canonical = refs.severity((*loc, "severity"), matrix.get("severity"))
        if canonical is not None and canonical in seen:
            first = format_loc(("stakeholders", seen[canonical]))
            refs.issues.append(
                ((*loc, "severity"), f"severity {canonical!r} already has a matrix ({first})")
            )
        elif canonical is not None:
            seen[canonical] = index
        previous: timedelta | None = None
        for si, step in entries(matrix, "steps"):
            refs.targets((*loc, "steps", si, "notify"), step.get("notify"))
            after = as_delay(step.get("after"))
            if after is not None and previous is not None and after < previous:
                refs.issues.append(
                    ((*loc, "steps", si, "after"), "steps must be in order of `after`")
                )
            previous = after if after is not None else previous


def oncall_reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Cross-entry errors of the on-call sections, on the plain document: duplicate
    names, unknown people/teams/schedules/policies/severities, rotation lengths,
    inverted or overlapping static overrides, out-of-order stakeholder steps."""
    issues: list[tuple[Loc, str]] = []
    refs = _Refs(data, issues)
    for index, service in entries(data, "services"):
        name = service.get("escalation_policy")
        refs.check(("services", index, "escalation_policy"), "escalation policy", name)
    _schedule_issues(data, refs)
    _escalation_issues(data, refs)
    _stakeholder_issues(data, refs)
    assignment = data.get("commander_assignment")
    if isinstance(assignment, Mapping):
        loc: Loc = ("commander_assignment",)
        refs.check((*loc, "security_lead"), "person", assignment.get("security_lead"))
        refs.check((*loc, "senior_schedule"), "schedule", assignment.get("senior_schedule"))
        refs.check((*loc, "primary_schedule"), "schedule", assignment.get("primary_schedule"))
    return issues
