"""Walk the policy's routing tree for one alert: which service, severity and
escalation policy, whether to open an incident, and how to group it.

The walk is Alertmanager's: a route that matches tries its children in order; the
first child that matches ends the search among its siblings unless it has
``continue: true``; a matching route none of whose children match is itself the
result. So one alert yields one decision, or several when ``continue`` is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

from tocsin.policy.alerting import Route, StormSettings
from tocsin.policy.matchers import matches
from tocsin.policy.models import Policy
from tocsin.policy.severities import Severity, UnknownSeverity

__all__ = [
    "DEFAULT_GROUP_BY",
    "DEFAULT_SEVERITY_LABEL",
    "PAGERDUTY_SEVERITY_RANKS",
    "RoutableAlert",
    "RouteDecision",
    "SeverityChoice",
    "SeverityReason",
    "resolve_severity",
    "route",
]

DEFAULT_SEVERITY_LABEL = "severity"
DEFAULT_GROUP_BY: tuple[str, ...] = ("alertname",)
#: PagerDuty's four event severities, by the rank of the policy severity they map to
#: (clamped to the number of severities the policy has).
PAGERDUTY_SEVERITY_RANKS: Mapping[str, int] = {"critical": 1, "error": 2, "warning": 3, "info": 4}
#: With no usable severity at all, an alert is treated like a PagerDuty "error", the
#: default Alertmanager's own PagerDuty receiver sends.
_FALLBACK_WORD = "error"
_T = TypeVar("_T")


class RoutableAlert(Protocol):
    """What routing needs from an alert; :class:`tocsin.ingest.AlertEvent` has it.

    (A protocol, so that this domain does not import the ingest layer above it.)
    """

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def severity_hint(self) -> str | None: ...


class SeverityReason(StrEnum):
    """Why a decision has its severity; shown on the alert's timeline."""

    explicit = "explicit"  # the route fixes `severity`
    mapped = "mapped"  # the label value is a key of the route's `severity_map`
    policy = "policy"  # the label value is a severity name or alias of the policy
    pagerduty = "pagerduty"  # the label value is a PagerDuty severity word
    default_severity = "default_severity"  # unknown value; the route's `default_severity`
    fallback = "fallback"  # unknown value, no default: treated as PagerDuty "error"


@dataclass(frozen=True)
class SeverityChoice:
    severity: str  # canonical name, e.g. "SEV2"
    reason: SeverityReason
    value: str | None  # the label value (or source severity) that was looked at


@dataclass(frozen=True)
class RouteDecision:
    """Where one alert goes. ``route_path`` lists the routes from the top to the one
    that decided, each by its ``name`` or its place in the file (``routes.routes[1]``)."""

    service: str | None
    severity: str
    severity_reason: SeverityReason
    severity_value: str | None
    escalation_policy: str | None
    open_incident: bool
    route_path: tuple[str, ...]
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    min_alerts: int = 1
    within: timedelta = timedelta(minutes=5)
    #: What the noise gate counts: the alerts of one group, or of the whole route.
    gate_per: str = "group"
    heartbeat: timedelta | None = None
    #: The route's own storm settings (None: ``alerting.storm``).
    storm: StormSettings | None = None


@dataclass(frozen=True)
class _Inherited:
    """The settings in force at a route, after inheritance from its ancestors."""

    service: str | None
    severity: str | None = None
    severity_from_label: str = DEFAULT_SEVERITY_LABEL
    severity_map: Mapping[str, str] = field(default_factory=dict)
    default_severity: str | None = None
    escalation_policy: str | None = None
    open_incident: bool = True
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    min_alerts: int = 1
    within: timedelta | None = None
    gate_per: str = "group"
    storm: StormSettings | None = None

    def child(self, node: Route) -> _Inherited:
        own_map = {key.strip().casefold(): value for key, value in node.severity_map.items()}
        return _Inherited(
            service=_first(node.service, self.service),
            severity=_first(node.severity, self.severity),
            severity_from_label=_first(node.severity_from_label, self.severity_from_label),
            severity_map={**self.severity_map, **own_map},
            default_severity=_first(node.default_severity, self.default_severity),
            escalation_policy=_first(node.escalation_policy, self.escalation_policy),
            open_incident=_first(node.open_incident, self.open_incident),
            group_by=_first(node.group_by, self.group_by),
            min_alerts=_first(node.min_alerts, self.min_alerts),
            within=_first(node.within, self.within),
            gate_per=_first(node.per, self.gate_per),
            storm=_first(node.storm, self.storm),
        )


def _first(own: _T | None, inherited: _T) -> _T:
    return inherited if own is None else own


def route(
    tree: Route | None,
    alert: RoutableAlert,
    *,
    policy: Policy,
    default_service: str | None = None,
) -> list[RouteDecision]:
    """The decisions for ``alert`` (at least one: the top route matches everything).

    ``tree`` is normally ``policy.routes``; without one, every alert takes the
    defaults. ``default_service`` is the service of the integration the alert came
    in on, used where no route names a service.
    """
    top = tree if tree is not None else Route()
    found: list[tuple[Route, _Inherited, tuple[str, ...]]] = []
    start = _Inherited(service=default_service).child(top)
    _walk(top, "routes", start, (), alert.labels, found)
    window = policy.alerting.correlation_window
    return [_decide(node, settings, path, alert, policy, window) for node, settings, path in found]


def _walk(
    node: Route,
    loc: str,
    settings: _Inherited,
    path: tuple[str, ...],
    labels: Mapping[str, str],
    found: list[tuple[Route, _Inherited, tuple[str, ...]]],
) -> None:
    """Collect the routes ``labels`` end at below ``node``, which matched (the top
    route matches every alert, whatever its matchers say). A child's settings are
    worked out only for the children that match."""
    path = (*path, node.name or loc)
    matched_child = False
    for index, child in enumerate(node.routes):
        if not matches(child.matchers, labels):
            continue
        child_loc = f"{loc}.routes[{index}]"
        _walk(child, child_loc, settings.child(child), path, labels, found)
        matched_child = True
        if not child.continue_:
            break
    if not matched_child:
        found.append((node, settings, path))


def _decide(
    node: Route,
    settings: _Inherited,
    path: tuple[str, ...],
    alert: RoutableAlert,
    policy: Policy,
    window: timedelta,
) -> RouteDecision:
    choice = resolve_severity(
        policy,
        value=alert.labels.get(settings.severity_from_label) or alert.severity_hint,
        fixed=settings.severity,
        severity_map=settings.severity_map,
        default=settings.default_severity,
    )
    return RouteDecision(
        service=settings.service,
        severity=choice.severity,
        severity_reason=choice.reason,
        severity_value=choice.value,
        escalation_policy=settings.escalation_policy,
        open_incident=settings.open_incident,
        route_path=path,
        group_by=settings.group_by,
        min_alerts=settings.min_alerts,
        within=settings.within or window,
        gate_per=settings.gate_per,
        heartbeat=node.heartbeat,
        storm=settings.storm,
    )


def resolve_severity(
    policy: Policy,
    *,
    value: str | None,
    fixed: str | None = None,
    severity_map: Mapping[str, str] | None = None,
    default: str | None = None,
) -> SeverityChoice:
    """Turn a source's severity word into a policy severity, saying how.

    In order: a ``fixed`` severity; ``value`` looked up in ``severity_map`` (keys
    case-folded); ``value`` as a severity name or alias of the policy (so
    ``critical`` is SEV1 in the example policy); ``value`` as a PagerDuty severity
    (critical, error, warning, info -> the 1st..4th severity); the ``default``; and
    finally what PagerDuty's ``error`` maps to. The policy's own names come before
    PagerDuty's words, so a policy that calls its second level ``critical`` is obeyed.
    Names that the policy does not define raise :class:`UnknownSeverity`; the policy
    checks make that impossible for a validated policy.
    """
    if fixed is not None:
        return SeverityChoice(policy.severity(fixed).name, SeverityReason.explicit, value)
    word = value.strip().casefold() if value else ""
    if word:
        if severity_map and word in severity_map:
            mapped = policy.severity(severity_map[word]).name
            return SeverityChoice(mapped, SeverityReason.mapped, value)
        try:
            return SeverityChoice(policy.severity(word).name, SeverityReason.policy, value)
        except UnknownSeverity:
            pass
        if word in PAGERDUTY_SEVERITY_RANKS:
            found = _by_rank(policy, PAGERDUTY_SEVERITY_RANKS[word])
            return SeverityChoice(found.name, SeverityReason.pagerduty, value)
    if default is not None:
        return SeverityChoice(policy.severity(default).name, SeverityReason.default_severity, value)
    fallback = _by_rank(policy, PAGERDUTY_SEVERITY_RANKS[_FALLBACK_WORD])
    return SeverityChoice(fallback.name, SeverityReason.fallback, value)


def _by_rank(policy: Policy, rank: int) -> Severity:
    return policy.severities[min(rank, len(policy.severities)) - 1]
