"""The policy file (``tocsin.yaml``) as one pydantic model, :class:`Policy`.

Its sections are described in their own modules (:mod:`tocsin.policy.severities`,
:mod:`tocsin.policy.people`, :mod:`tocsin.policy.oncall`, ...) on the base of
:mod:`tocsin.policy.base`; the checks that look across sections are in
:mod:`tocsin.policy.references`.

New top-level sections are added as new fields of :class:`Policy` with a default, so
older files keep loading.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from tocsin.policy.alerting import AlertingSettings, Route
from tocsin.policy.base import SKIP_REFERENCE_CHECKS, PolicyModel, Slug, format_loc
from tocsin.policy.channels import Broadcast, ChannelConfig, NotificationRule
from tocsin.policy.checklists import Checklist
from tocsin.policy.diagnostics import DiagnosticsSettings
from tocsin.policy.game_days import GameDay
from tocsin.policy.hints import ChangeSettings, HintSettings
from tocsin.policy.oncall import (
    CommanderAssignment,
    EscalationPolicy,
    Schedule,
    StakeholderMatrix,
    schedules_with_team_timezones,
)
from tocsin.policy.people import Person, Team
from tocsin.policy.playbooks import Playbook, check_playbooks
from tocsin.policy.prometheus import PrometheusSettings
from tocsin.policy.references import reference_issues
from tocsin.policy.roles import DEFAULT_ROLES, RoleDef
from tocsin.policy.runbooks import Runbook
from tocsin.policy.services import Service
from tocsin.policy.severities import Severity, UnknownSeverity
from tocsin.policy.slos import ServiceLevelObjective
from tocsin.policy.statuspage import StatusPageSettings
from tocsin.policy.tagging import TaggingRule
from tocsin.policy.templates import MessageTemplate

__all__ = ["Policy"]


class Policy(PolicyModel):
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
    prometheus: PrometheusSettings = Field(
        default=PrometheusSettings(), description="Who may scrape /metrics."
    )
    game_days: tuple[GameDay, ...] = Field(
        default=(), description="Drill scenarios: alerts with delays, run as a drill."
    )
    checklists: tuple[Checklist, ...] = Field(
        default=(), description="Procedures responders tick through, per role and severity."
    )
    changes: ChangeSettings = Field(
        default=ChangeSettings(), description="Deploys and other changes to services."
    )
    hints: HintSettings = Field(
        default=HintSettings(), description="Root-cause hints and downstream incidents."
    )
    diagnostics: DiagnosticsSettings = Field(
        default=DiagnosticsSettings(), description="Evidence collectors run for incidents."
    )
    playbooks: dict[Slug, Playbook] = Field(
        default_factory=dict, description="Remediation proposed for incidents, run on approval."
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
        problems = check_playbooks(self.diagnostics, self.playbooks)
        if problems:
            raise ValueError("; ".join(problems))
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

    def checklist(self, name: str) -> Checklist | None:
        return next((c for c in self.checklists if c.name == name), None)

    def escalation_policy(self, name: str) -> EscalationPolicy | None:
        return next((e for e in self.escalation_policies if e.name == name), None)
