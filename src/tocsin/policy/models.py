"""The policy file (``tocsin.yaml``) as pydantic models.

Every model forbids unknown keys, so a typo in the YAML is an error instead of a
silently ignored setting, and every model is frozen: one :class:`Policy` object is
shared by all threads and is replaced as a whole, never edited in place.

New top-level sections are added as new fields of :class:`Policy` with a default, so
older files keep loading.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from tocsin.policy.alerting import AlertingSettings, Route, alerting_reference_issues
from tocsin.policy.channels import (
    Broadcast,
    ChannelConfig,
    NotificationRule,
    delivery_reference_issues,
)
from tocsin.policy.durations import Duration
from tocsin.policy.runbooks import Runbook, runbooks_reference_issues
from tocsin.policy.slos import ServiceLevelObjective, slos_reference_issues
from tocsin.policy.statuspage import StatusPageSettings, statuspage_reference_issues
from tocsin.policy.templates import MessageTemplate

__all__ = [
    "DEFAULT_ROLES",
    "SKIP_REFERENCE_CHECKS",
    "Loc",
    "Person",
    "Policy",
    "RoleDef",
    "Service",
    "Severity",
    "StatusPageComponent",
    "TaggingRule",
    "Team",
    "UnknownSeverity",
    "format_loc",
    "reference_issues",
]

#: A location inside the policy document, as pydantic reports it: ``("services", 0, "team")``.
Loc = tuple[str | int, ...]

#: Validation-context key; the loader sets it because it runs :func:`reference_issues`
#: itself, on the raw document, so it can report them together with field errors.
SKIP_REFERENCE_CHECKS = "tocsin_skip_reference_checks"


@dataclass(frozen=True)
class _Pattern:
    """``Annotated`` marker: the string must match ``pattern``. Gives a readable error
    (pydantic's own shows only the regex) and keeps the pattern in the JSON Schema."""

    pattern: str
    what: str
    rule: str  # completes "<value> is not a valid <what>: use ..."
    example: str

    def _check(self, value: str) -> str:
        if not re.match(self.pattern, value):
            raise PydanticCustomError(
                "policy_pattern",
                "{value} is not a valid {what}: use {rule}, e.g. {example}",
                {
                    "value": repr(value),
                    "what": self.what,
                    "rule": self.rule,
                    "example": repr(self.example),
                },
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        description = f"A {self.what}: {self.rule}, e.g. {self.example!r}."
        return {"type": "string", "pattern": self.pattern, "description": description}


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            "unknown time zone {value}; use an IANA name such as 'America/Los_Angeles' or 'UTC'",
            {"value": repr(value)},
        ) from None
    return value


SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
Slug = Annotated[
    str,
    _Pattern(SLUG_PATTERN, "name", "lower-case letters, digits, '.', '_' and '-'", "checkout-api"),
]
SeverityName = Annotated[
    str,
    _Pattern(
        r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        "severity name",
        "letters, digits, '.', '_' and '-' (matched ignoring case)",
        "SEV1",
    ),
]
Email = Annotated[
    str,
    _Pattern(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "email address", "name@domain", "alice@example.com"),
]
Phone = Annotated[
    str,
    _Pattern(
        r"^\+[1-9][0-9]{1,14}$",
        "phone number",
        "E.164, a '+' and up to 15 digits, quoted in YAML",
        "+15555550101",
    ),
]
SlackMemberId = Annotated[
    str,
    _Pattern(
        r"^[UW][A-Z0-9]{2,20}$",
        "Slack member id",
        "'U' or 'W' and upper-case letters and digits (Profile → Copy member ID)",
        "U012ABCDEF",
    ),
]
Timezone = Annotated[
    str,
    AfterValidator(_check_timezone),
    WithJsonSchema({"type": "string", "description": "IANA time zone, e.g. 'Europe/Berlin'."}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnknownSeverity(ValueError):
    """A severity name or alias that the policy does not define."""


class Severity(_Model):
    """One severity level. Levels are listed worst first; ``rank`` 1 is the worst."""

    # Each Policy gets its own copies, because the rank is set from the position.
    model_config = ConfigDict(revalidate_instances="always")

    name: SeverityName = Field(description="Canonical name shown everywhere, e.g. SEV1.")
    aliases: tuple[SeverityName, ...] = Field(
        default=(), description="Other names accepted for this level (case-insensitive)."
    )
    description: str = Field(default="", description="What this level means.")
    respond_within: Duration = Field(description="Target time to acknowledge / respond.")
    escalate_after: Duration = Field(description="Escalate when unacknowledged this long.")
    update_every: Duration = Field(description="Status update cadence while open.")
    resolve_target: Duration = Field(description="Target time to resolve (MTTR target).")
    postmortem_required: bool = Field(default=False, description="Require a post-mortem.")

    _rank: int = PrivateAttr(default=0)

    @property
    def rank(self) -> int:
        """1 for the worst level, increasing by position in ``severities``."""
        return self._rank

    @property
    def labels(self) -> tuple[str, ...]:
        """The name followed by the aliases."""
        return (self.name, *self.aliases)


class RoleDef(_Model):
    """An incident role (commander, scribe, ...)."""

    name: Slug
    label: str = Field(default="", description="Display label; defaults from the name.")
    description: str = ""
    multiple: bool = Field(default=False, description="Whether several people can hold it.")

    @model_validator(mode="before")
    @classmethod
    def _default_label(cls, data: Any) -> Any:
        if (
            isinstance(data, Mapping)
            and not data.get("label")
            and isinstance(data.get("name"), str)
        ):
            return {**data, "label": data["name"].replace("_", " ").capitalize()}
        return data


class Team(_Model):
    name: Slug
    description: str = ""
    timezone: Timezone = Field(default="UTC", description="Time zone its schedules use.")
    members: tuple[Slug, ...] = Field(default=(), description="Names from `people`.")
    lead: Slug | None = Field(default=None, description="A member of the team.")


class Person(_Model):
    name: Slug = Field(description="Short handle used everywhere else in the policy.")
    full_name: str | None = None
    email: Email | None = None
    chat: str | None = Field(default=None, description="Chat handle, e.g. '@alice'.")
    phone: Phone | None = None
    slack: SlackMemberId | None = Field(
        default=None, description="Slack member id (invites, DMs, who clicked in Slack)."
    )
    timezone: Timezone = "UTC"
    expertise: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        return self.full_name or self.name


class StatusPageComponent(_Model):
    component: str = Field(min_length=1, description="Component name on the status page.")
    group: str | None = Field(default=None, description="Optional component group.")


class Service(_Model):
    name: Slug
    description: str = ""
    team: Slug | None = Field(default=None, description="Owning team, from `teams`.")
    tier: int = Field(default=3, ge=1, le=4, description="1 = most critical ... 4 = least.")
    depends_on: tuple[Slug, ...] = Field(default=(), description="Names from `services`.")
    customer_facing: bool = False
    status_page: StatusPageComponent | None = Field(
        default=None, description="Where it appears on the status page; absent = not shown."
    )
    escalation_policy: Slug | None = Field(
        default=None, description="From `escalation_policies`; absent = the one named `default`."
    )


class TaggingRule(_Model):
    """Add ``tag`` to an incident whose title or description contains a keyword."""

    tag: Slug
    keywords: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        min_length=1, description="Whole words or phrases, matched case-insensitively."
    )


DEFAULT_ROLES: tuple[RoleDef, ...] = (
    RoleDef(
        name="commander",
        label="Incident commander",
        description="Coordinates the response, makes decisions, owns communication.",
    ),
    RoleDef(
        name="tech_lead",
        label="Technical lead",
        description="Leads the technical investigation and the fix.",
    ),
    RoleDef(
        name="comms_lead",
        label="Communications lead",
        description="Status page, customer and stakeholder updates.",
    ),
    RoleDef(
        name="scribe",
        label="Scribe",
        description="Keeps the timeline, decisions and action items.",
    ),
    RoleDef(
        name="sme",
        label="Subject matter expert",
        description="Specialist knowledge of an affected component.",
        multiple=True,
    ),
)


# The on-call models build on the types above, so they are imported here rather than at
# the top (tocsin.policy.oncall imports this module). The package imports this module
# first, which makes the order safe.
from tocsin.policy.oncall import (  # noqa: E402
    CommanderAssignment,
    EscalationPolicy,
    Schedule,
    StakeholderMatrix,
    oncall_reference_issues,
    schedules_with_team_timezones,
)


class Policy(_Model):
    """The whole policy file. Only ``severities`` is required."""

    version: Literal[1] = Field(default=1, description="Policy file format version.")
    severities: tuple[Severity, ...] = Field(min_length=1, description="Worst first.")
    roles: tuple[RoleDef, ...] = DEFAULT_ROLES
    teams: tuple[Team, ...] = ()
    people: tuple[Person, ...] = ()
    services: tuple[Service, ...] = ()
    tagging: tuple[TaggingRule, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    escalation_policies: tuple[EscalationPolicy, ...] = ()
    stakeholders: tuple[StakeholderMatrix, ...] = Field(
        default=(), description="Who hears about an unresolved incident, by severity."
    )
    commander_assignment: CommanderAssignment | None = None
    routes: Route | None = Field(
        default=None, description="Alert routing tree; the top entry is the default route."
    )
    alerting: AlertingSettings = AlertingSettings()
    slos: tuple[ServiceLevelObjective, ...] = Field(
        default=(), description="Availability objectives and error budgets, per service."
    )
    channels: dict[Slug, ChannelConfig] = Field(
        default_factory=dict, description="Delivery channels (email, webhook, ...) by name."
    )
    notification_rules: dict[str, tuple[NotificationRule, ...]] = Field(
        default_factory=dict, description="Person (or '*') -> how they are reached."
    )
    broadcasts: tuple[Broadcast, ...] = Field(
        default=(), description="Channel-level announcements of incidents, by severity."
    )
    templates: dict[Slug, MessageTemplate] = Field(
        default_factory=dict, description="Jinja2 message templates by name."
    )
    runbooks: dict[Slug, Runbook] = Field(
        default_factory=dict, description="Response procedures by name, step by step."
    )
    status_page: StatusPageSettings = Field(
        default=StatusPageSettings(), description="The public status page and its automation."
    )

    _severity_index: dict[str, Severity] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _schedule_timezones(cls, data: Any) -> Any:
        return schedules_with_team_timezones(data)

    @model_validator(mode="after")
    def _finish(self, info: ValidationInfo) -> Self:
        if not (info.context and info.context.get(SKIP_REFERENCE_CHECKS)):
            issues = reference_issues(self.model_dump())
            if issues:
                raise ValueError("; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in issues))
        index: dict[str, Severity] = {}
        for position, severity in enumerate(self.severities):
            severity._rank = position + 1
            for label in severity.labels:
                index.setdefault(label.casefold(), severity)
        self._severity_index = index
        return self

    def severity(self, name: str) -> Severity:
        """The severity called ``name`` or one of its aliases, case-insensitively."""
        found = self._severity_index.get(name.strip().casefold())
        if found is None:
            raise UnknownSeverity(f"unknown severity {name!r}; valid: {self.severity_choices()}")
        return found

    def severity_choices(self) -> str:
        """``"SEV1 (P0, critical), SEV2 (P1, high), ..."`` for help and error texts."""
        return ", ".join(
            f"{s.name} ({', '.join(s.aliases)})" if s.aliases else s.name for s in self.severities
        )

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def person(self, name: str) -> Person | None:
        return next((p for p in self.people if p.name == name), None)

    def team(self, name: str) -> Team | None:
        return next((t for t in self.teams if t.name == name), None)

    def role(self, name: str) -> RoleDef | None:
        return next((r for r in self.roles if r.name == name), None)

    def schedule(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if s.name == name), None)

    def escalation_policy(self, name: str) -> EscalationPolicy | None:
        return next((e for e in self.escalation_policies if e.name == name), None)


# --- cross-reference checks ---------------------------------------------------------
#
# These run on the plain document (dicts and lists), not on validated models, so that
# the loader can report them in the same pass as field errors: a file with a bad
# duration *and* an unknown team shows both. Entries of the wrong shape are skipped;
# the field validation reports those.


def format_loc(loc: Loc) -> str:
    """``("services", 0, "team")`` -> ``"services[0].team"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _entries(data: Mapping[str, Any], section: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    items = data.get(section)
    if isinstance(items, Sequence) and not isinstance(items, str):
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                yield index, item


def _strings(value: Any) -> Iterator[tuple[int, str]]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield index, item


def _unknown(kind: str, name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}{hint}"


def _names(
    data: Mapping[str, Any], section: str, key: str, kind: str, issues: list[tuple[Loc, str]]
) -> dict[str, int]:
    """Index a section by name, reporting duplicates."""
    seen: dict[str, int] = {}
    for index, entry in _entries(data, section):
        name = entry.get(key)
        if not isinstance(name, str):
            continue
        if name in seen:
            first = format_loc((section, seen[name]))
            issues.append(((section, index, key), f"duplicate {kind} {name!r} (see {first})"))
        else:
            seen[name] = index
    return seen


def _severity_issues(data: Mapping[str, Any], issues: list[tuple[Loc, str]]) -> None:
    owner: dict[str, tuple[int, str]] = {}
    for index, entry in _entries(data, "severities"):
        labels: list[tuple[Loc, str]] = []
        if isinstance(entry.get("name"), str):
            labels.append((("severities", index, "name"), entry["name"]))
        labels += [
            (("severities", index, "aliases", i), a) for i, a in _strings(entry.get("aliases"))
        ]
        for loc, label in labels:
            key = label.casefold()
            if key not in owner:
                owner[key] = (index, label)
            elif owner[key][0] != index:
                other = owner[key]
                issues.append(
                    (
                        loc,
                        f"{label!r} is already used by {format_loc(('severities', other[0]))} "
                        f"({other[1]!r}); severity names and aliases must be unique, ignoring case",
                    )
                )


def _dependency_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each elementary cycle found by depth-first search, once, rotated to its least name."""
    cycles: dict[tuple[str, ...], list[str]] = {}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if nxt == node or nxt not in graph:
                continue  # self-references and unknown names are reported separately
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                start = cycle.index(min(cycle))
                rotated = cycle[start:] + cycle[:start]
                cycles.setdefault(tuple(rotated), rotated)
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return list(cycles.values())


def _service_issues(
    data: Mapping[str, Any],
    services: Mapping[str, int],
    teams: Mapping[str, int],
    issues: list[tuple[Loc, str]],
) -> None:
    graph: dict[str, list[str]] = {}
    for index, entry in _entries(data, "services"):
        name = entry.get("name")
        team = entry.get("team")
        if isinstance(team, str) and team not in teams:
            issues.append((("services", index, "team"), _unknown("team", team, teams)))
        deps: list[str] = []
        for i, dep in _strings(entry.get("depends_on")):
            loc: Loc = ("services", index, "depends_on", i)
            if dep == name:
                issues.append((loc, f"service {dep!r} cannot depend on itself"))
            elif dep not in services:
                issues.append((loc, _unknown("service", dep, services)))
            deps.append(dep)
        if isinstance(name, str) and services.get(name) == index:
            graph[name] = deps
    for cycle in _dependency_cycles(graph):
        loc = ("services", services[cycle[0]], "depends_on")
        issues.append((loc, "dependency cycle: " + " -> ".join([*cycle, cycle[0]])))


def reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Errors that span entries: duplicates, unknown references, dependency cycles."""
    issues: list[tuple[Loc, str]] = []
    _severity_issues(data, issues)
    _names(data, "roles", "name", "role", issues)
    people = _names(data, "people", "name", "person", issues)
    teams = _names(data, "teams", "name", "team", issues)
    services = _names(data, "services", "name", "service", issues)
    _names(data, "tagging", "tag", "tagging rule for tag", issues)
    for index, entry in _entries(data, "teams"):
        members = [m for _, m in _strings(entry.get("members"))]
        for i, member in _strings(entry.get("members")):
            if member not in people:
                issues.append((("teams", index, "members", i), _unknown("person", member, people)))
        lead = entry.get("lead")
        if isinstance(lead, str) and lead not in members:
            issues.append(
                (("teams", index, "lead"), f"lead {lead!r} is not one of the team's members")
            )
    _service_issues(data, services, teams, issues)
    issues += oncall_reference_issues(data)
    issues += alerting_reference_issues(data)
    issues += slos_reference_issues(data)
    issues += delivery_reference_issues(data)
    issues += statuspage_reference_issues(data)
    issues += runbooks_reference_issues(data)
    return issues
