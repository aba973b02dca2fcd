"""The ``routes:`` and ``alerting:`` sections of the policy: where alerts go and how
they are grouped, correlated and quietened.

``routes`` is a tree in the style of Alertmanager's ``route:``. The top entry is the
default route and matches every alert; its ``routes`` are tried in order and the
first that matches wins, unless it says ``continue: true``, in which case the later
siblings are tried too and every match counts. A route that leaves a setting out
inherits it from its parent. The decisions themselves are made in
:mod:`tocsin.alerts.rules.routing`; this module only describes and checks the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.functional_validators import AfterValidator
from pydantic_core import PydanticCustomError

from tocsin.policy.base import SKIP_REFERENCE_CHECKS, Loc, PolicyModel, mappings, unknown_name
from tocsin.policy.durations import Duration
from tocsin.policy.matchers import Matcher, MatcherError, parse_matcher

__all__ = [
    "AlertingSettings",
    "CascadeSettings",
    "FlappingSettings",
    "MaintenanceWindowConfig",
    "PagerDutyEventsSettings",
    "Route",
    "StormSettings",
    "alerting_reference_issues",
]


def _check_matcher(value: str, info: ValidationInfo) -> str:
    # The loader validates with reference checks switched off and runs
    # alerting_reference_issues itself, which reports bad matchers; reporting them here
    # as well would show each one twice.
    if info.context and info.context.get(SKIP_REFERENCE_CHECKS):
        return value
    try:
        parse_matcher(value)
    except MatcherError as exc:
        raise PydanticCustomError("matcher", "{error}", {"error": str(exc)}) from None
    return value


MatcherText = Annotated[
    str,
    AfterValidator(_check_matcher),
    WithJsonSchema(
        {
            "type": "string",
            "description": "A label matcher as in Alertmanager: name, an operator "
            "(= equal, != not equal, =~ regex, !~ not regex; regexes match the whole "
            "value) and a value, quoted or bare.",
            "examples": ['severity=~"critical|high"', "service=checkout"],
        }
    ),
]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError(
            "instant_offset",
            "needs a UTC offset, e.g. '2026-03-01T22:00:00Z' or '2026-03-01T23:00:00+01:00'",
        )
    return value


#: A moment in time, written with its offset (kept in that offset).
_OffsetDatetime = Annotated[datetime, AfterValidator(_aware)]


class Route(PolicyModel):
    """One node of the routing tree. Unset fields are inherited from the parent route;
    the defaults in the descriptions apply at the top."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )

    name: str | None = Field(
        default=None, description="Shown in the alert's timeline; defaults to its position."
    )
    match: tuple[MatcherText, ...] = Field(
        default=(),
        description="All must match (none = match everything). Not allowed on the top route.",
    )
    service: str | None = Field(
        default=None,
        description="Service from `services`; default: the service of the integration "
        "that received the alert.",
    )
    severity: str | None = Field(
        default=None,
        description="A fixed severity (name or alias) for these alerts, ignoring labels.",
    )
    severity_from_label: str | None = Field(
        default=None,
        description="The label that carries the alert's severity (default `severity`). "
        "Its value is looked up in `severity_map`, then among the severities' names and "
        "aliases, then as a PagerDuty severity (critical, error, warning, info).",
    )
    severity_map: dict[str, str] = Field(
        default_factory=dict,
        description="Label value -> severity, e.g. {warning: SEV3}; merged with the "
        "parents' maps (the child wins). Values are compared ignoring case.",
    )
    default_severity: str | None = Field(
        default=None,
        description="Used when the label gives no known severity; default: what a "
        "PagerDuty `error` maps to (the second severity).",
    )
    escalation_policy: str | None = Field(
        default=None, description="Escalation policy from `escalation_policies`."
    )
    open_incident: bool | None = Field(
        default=None,
        description="Whether these alerts open incidents (default true). With false they "
        "are stored and visible but page nobody.",
    )
    group_by: tuple[str, ...] | None = Field(
        default=None,
        description="Labels whose values, with the service, form the group key: alerts "
        "with the same key within the correlation window join one incident. Default "
        "[alertname]; `...` means all labels.",
    )
    continue_: bool = Field(
        default=False,
        alias="continue",
        description="After matching, keep trying the later sibling routes too.",
    )
    min_alerts: int | None = Field(
        default=None,
        ge=1,
        description="Noise gate: open an incident only once this many matching alerts "
        "arrived within `within` (default 1).",
    )
    within: Duration | None = Field(
        default=None,
        description="The noise gate's window; default `alerting.correlation_window`.",
    )
    per: Literal["group", "route"] | None = Field(
        default=None,
        description="What the noise gate counts: `group` (default) the alerts of one alert "
        "group (same group key, e.g. the same alertname), `route` every alert the route "
        "matched, whatever its group.",
    )
    heartbeat: Duration | None = Field(
        default=None,
        description="These alerts are a dead man's switch (like Prometheus' Watchdog): "
        "each one is a ping, and no ping for this long opens an incident. Applies to "
        "this route only (not inherited).",
    )
    storm: StormSettings | None = Field(
        default=None,
        description="Alert-storm collapsing for these alerts, replacing `alerting.storm` "
        "(inherited by child routes), e.g. `{enabled: false}` for a route whose alerts "
        "must each page on their own.",
    )
    routes: tuple[Route, ...] = Field(default=(), description="Child routes, tried in order.")

    _matchers: tuple[Matcher, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _parse_matchers(self) -> Self:
        parsed: list[Matcher] = []
        for text in self.match:
            try:
                parsed.append(parse_matcher(text))
            except MatcherError:
                # Only reachable when the loader skipped field checks; it refuses the
                # file because alerting_reference_issues reports the matcher.
                continue
        self._matchers = tuple(parsed)
        return self

    @property
    def matchers(self) -> tuple[Matcher, ...]:
        # Read from pydantic's private store directly: ``self._matchers`` goes through
        # BaseModel.__getattr__, which cost a fifth of routing a new alert.
        private = self.__pydantic_private__
        assert private is not None
        matchers: tuple[Matcher, ...] = private["_matchers"]
        return matchers


class CascadeSettings(PolicyModel):
    """Many alerts across services at once are one problem."""

    min_alerts: int = Field(
        default=5, ge=2, description="At least this many distinct related alerts ..."
    )
    min_services: int = Field(default=2, ge=1, description="... on at least this many services")
    window: Duration | None = Field(
        default=None, description="... within this window (default `correlation_window`)."
    )


class FlappingSettings(PolicyModel):
    """An alert that keeps firing and resolving is kept to its one incident, and its
    re-fires page nobody again while it flaps. Flapping never lowers a severity: the
    incident stays at least as severe as its firing alerts (the flapping one included)
    and as a person set it."""

    transitions: int = Field(
        default=4,
        ge=2,
        description="An alert that fires/resolves at least this many times ...",
    )
    window: Duration | None = Field(
        default=None,
        description=(
            "... within this window (default `correlation_window`) is flapping: its "
            "re-fires join its incident without paging again; the incident's severity "
            "is never lowered."
        ),
    )


class StormSettings(PolicyModel):
    """A burst of many distinct alerts for one service (or one integration) is one
    problem: after ``threshold`` new alert groups opened incidents within ``window``,
    further new alerts join one "alert storm" incident instead of opening their own,
    and the incidents the burst already opened are merged into it."""

    enabled: bool = Field(default=True, description="Collapse alert storms (default true).")
    threshold: int = Field(
        default=10,
        ge=1,
        description="More than this many new alert groups opening incidents ...",
    )
    window: Duration = Field(
        default=timedelta(minutes=2),
        json_schema_extra={"default": "2m"},
        description="... within this window are a storm. The storm incident takes new "
        "alerts for as long as they keep coming within this window of each other.",
    )
    scope: Literal["service", "integration"] = Field(
        default="service",
        description="Count new alert groups per service (default), or per integration "
        "(alerts without a service are always counted per integration).",
    )


class PagerDutyEventsSettings(PolicyModel):
    """The PagerDuty Events API v2 endpoints (``/v2/enqueue``, ``/v2/change/enqueue``)."""

    rate_limit: int | None = Field(
        default=None,
        ge=1,
        description="At most this many events per routing key (integration key) within "
        "`rate_window`, as PagerDuty limits each key; more are refused with 429, which "
        "PagerDuty's clients retry later. Counted by each server process. Default: no "
        "limit.",
    )
    rate_window: Duration = Field(
        default=timedelta(minutes=1),
        json_schema_extra={"default": "1m"},
        description="The sliding window `rate_limit` counts in.",
    )


class MaintenanceWindowConfig(PolicyModel):
    """A planned window in which a service's alerts are stored but page nobody."""

    service: str = Field(description="Service from `services`.")
    start: _OffsetDatetime = Field(description="ISO 8601 with offset, e.g. 2026-03-01T22:00:00Z.")
    end: _OffsetDatetime = Field(description="Exclusive end; must be after `start`.")
    comment: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class AlertingSettings(PolicyModel):
    correlation_window: Duration = Field(
        default=timedelta(minutes=5),
        json_schema_extra={"default": "5m"},
        description="Alerts with the same group key within this window join one incident.",
    )
    reopen_window: Duration = Field(
        default=timedelta(hours=1),
        json_schema_extra={"default": "1h"},
        description="A new firing this soon after its incident resolved reopens it; "
        "later ones open a new incident.",
    )
    resolve_action: Literal["monitoring", "resolved"] = Field(
        default="monitoring",
        description="What happens to an alert-opened incident once all its alerts resolved.",
    )
    cascade: CascadeSettings = CascadeSettings()
    flapping: FlappingSettings = FlappingSettings()
    storm: StormSettings = StormSettings()
    pagerduty: PagerDutyEventsSettings = PagerDutyEventsSettings()
    maintenance_windows: tuple[MaintenanceWindowConfig, ...] = ()

    @property
    def cascade_window(self) -> timedelta:
        return self.cascade.window or self.correlation_window

    @property
    def flapping_window(self) -> timedelta:
        return self.flapping.window or self.correlation_window


# --- cross-reference checks (on the plain document; see tocsin.policy.base) -----------


def _names(data: Mapping[str, Any], section: str) -> list[str]:
    return [e["name"] for _, e in mappings(data.get(section)) if isinstance(e.get("name"), str)]


def _severity_labels(data: Mapping[str, Any]) -> dict[str, str]:
    """Every severity name and alias as written, to its canonical name."""
    labels: dict[str, str] = {}
    for _, entry in mappings(data.get("severities")):
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        aliases = entry.get("aliases")
        others = aliases if isinstance(aliases, Sequence) and not isinstance(aliases, str) else []
        for label in [name, *others]:
            if isinstance(label, str):
                labels.setdefault(label, name)
    return labels


class _Checker:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.services = _names(data, "services")
        self.policies = _names(data, "escalation_policies")
        self.severities = _severity_labels(data)
        self.folded = {label.casefold() for label in self.severities}
        self.issues: list[tuple[Loc, str]] = []

    def severity(self, loc: Loc, value: Any) -> None:
        if isinstance(value, str) and value.strip().casefold() not in self.folded:
            names = sorted(set(self.severities.values()))
            message = unknown_name("severity", value, list(self.severities))
            self.issues.append((loc, f"{message} (severities: {', '.join(names)})"))

    def route(self, node: Mapping[str, Any], loc: Loc) -> None:
        is_root = len(loc) == 1
        match = node.get("match")
        if isinstance(match, Sequence) and not isinstance(match, str):
            if is_root and match:
                self.issues.append(
                    (
                        (*loc, "match"),
                        "the top route is the default and matches every alert; "
                        "put matchers on a route under its `routes`",
                    )
                )
            for index, text in enumerate(match):
                if isinstance(text, str):
                    try:
                        parse_matcher(text)
                    except MatcherError as exc:
                        self.issues.append(((*loc, "match", index), str(exc)))
        if is_root and node.get("continue") is True:
            self.issues.append(((*loc, "continue"), "the top route has no siblings to continue to"))
        service = node.get("service")
        if isinstance(service, str) and service not in self.services:
            self.issues.append(((*loc, "service"), unknown_name("service", service, self.services)))
        policy = node.get("escalation_policy")
        if isinstance(policy, str) and policy not in self.policies:
            message = unknown_name("escalation policy", policy, self.policies)
            if not self.policies:
                message += " (no `escalation_policies` are defined)"
            self.issues.append(((*loc, "escalation_policy"), message))
        self.severity((*loc, "severity"), node.get("severity"))
        self.severity((*loc, "default_severity"), node.get("default_severity"))
        severity_map = node.get("severity_map")
        if isinstance(severity_map, Mapping):
            for key, value in severity_map.items():
                self.severity((*loc, "severity_map", str(key)), value)
        for index, child in mappings(node.get("routes")):
            self.route(child, (*loc, "routes", index))


def alerting_reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Problems in ``routes`` and ``alerting`` that field validation cannot see:
    unknown services, severities and escalation policies, and bad matchers (with the
    matcher named). Entries of the wrong shape are skipped; field errors cover them."""
    checker = _Checker(data)
    routes = data.get("routes")
    if isinstance(routes, Mapping):
        checker.route(routes, ("routes",))
    alerting = data.get("alerting")
    if isinstance(alerting, Mapping):
        for index, window in mappings(alerting.get("maintenance_windows")):
            service = window.get("service")
            if isinstance(service, str) and service not in checker.services:
                loc: Loc = ("alerting", "maintenance_windows", index, "service")
                checker.issues.append((loc, unknown_name("service", service, checker.services)))
    return checker.issues
