"""Pure decisions about alerts, over plain data: no database, no clock (``now`` is an
argument).

The pipeline stages each have a small module, re-exported here so that callers have
one place to import from:

- :mod:`tocsin.policy.matchers` — label matchers (``severity=~"critical|high"``);
- :mod:`tocsin.alerts.routing` — the routing tree: service, severity, escalation;
- :mod:`tocsin.alerts.silences` — silences and maintenance windows;
- :mod:`tocsin.alerts.correlation` — cascades and flapping;
- this module — fingerprints, group keys, the noise gate and :class:`AlertOutcome`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from enum import StrEnum

from tocsin.alerts.correlation import (
    CascadeDecision,
    CascadeReason,
    RecentAlert,
    detect_cascade,
    detect_flapping,
)
from tocsin.alerts.routing import (
    DEFAULT_GROUP_BY,
    DEFAULT_SEVERITY_LABEL,
    PAGERDUTY_SEVERITY_RANKS,
    RoutableAlert,
    RouteDecision,
    SeverityChoice,
    SeverityReason,
    resolve_severity,
    route,
)
from tocsin.alerts.silences import (
    InvalidSilence,
    MaintenanceWindow,
    Silence,
    SilenceState,
    in_maintenance,
    silenced_by,
)
from tocsin.policy.matchers import Matcher, MatcherError, MatchOp, matches, parse_matcher

__all__ = [
    "ALL_LABELS",
    "DEFAULT_GROUP_BY",
    "DEFAULT_SEVERITY_LABEL",
    "PAGERDUTY_SEVERITY_RANKS",
    "AlertOutcome",
    "CascadeDecision",
    "CascadeReason",
    "InvalidSilence",
    "MaintenanceWindow",
    "MatchOp",
    "Matcher",
    "MatcherError",
    "RecentAlert",
    "RoutableAlert",
    "RouteDecision",
    "SeverityChoice",
    "SeverityReason",
    "Silence",
    "SilenceState",
    "detect_cascade",
    "detect_flapping",
    "fingerprint",
    "flapping_severity",
    "gate_open",
    "group_key",
    "in_maintenance",
    "matches",
    "parse_matcher",
    "resolve_severity",
    "route",
    "silenced_by",
]

#: In ``group_by``, groups by every label (as in Alertmanager).
ALL_LABELS = "..."


class AlertOutcome(StrEnum):
    """What became of one incoming alert; recorded on the alert and the timeline."""

    new_incident = "new_incident"  # it opened an incident
    attached = "attached"  # it joined the open incident of its group
    deduplicated = "deduplicated"  # a repeat of an open alert: counted, nothing else
    silenced = "silenced"  # an active silence matched; stored, pages nobody
    maintenance = "maintenance"  # its service is in a maintenance window
    below_threshold = "below_threshold"  # the route's noise gate is still closed
    no_incident_route = "no_incident_route"  # its route says open_incident: false
    resolved = "resolved"  # a resolve for a stored alert
    flapping = "flapping"  # fires and resolves too often: its re-fires page nobody
    cascade = "cascade"  # part of a cascade: joined the one cascade-failure incident


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity for an alert that came without a dedup key: the first 16 hex
    digits of the SHA-256 of its sorted label pairs. Order of the labels and of the
    keys in the JSON does not matter; any change of a name or value does."""
    canonical = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def group_key(decision: RouteDecision, labels: Mapping[str, str]) -> str:
    """``service:{name="value",...}`` over the route's ``group_by`` labels, sorted by
    name; a missing label counts as empty, as in Alertmanager. Readable, so it can be
    shown and stored as is (``checkout-api:{alertname="HighErrorRate"}``)."""
    group_by = set(decision.group_by)
    names = sorted(labels) if ALL_LABELS in group_by else sorted(group_by)
    pairs = ",".join(
        f"{name}={json.dumps(labels.get(name, ''), ensure_ascii=False)}" for name in names
    )
    return f"{decision.service or ''}:{{{pairs}}}"


def gate_open(count_in_window: int, min_alerts: int) -> bool:
    """The noise gate: a route with ``min_alerts: N`` opens an incident only once N
    matching alerts (this one included) arrived within its window."""
    return count_in_window >= min_alerts


def flapping_severity(
    current: int, *, alert: int, firing: Iterable[int] = (), person: int | None = None
) -> int:
    """The severity rank (lower is more severe) an incident has once one of its alerts
    flaps: ``current``, raised to the worst of the flapping alert's own routed severity
    (``alert``), the other alerts of the incident that still fire (``firing``) and the
    last severity a person set (``person``).

    Flapping only stops the re-fires from paging again; it never lowers a severity. A
    flapping alert is as real a problem as its route says (an outage that comes back
    within the hour is still an outage), so its incident is never less severe than it.
    Raising to the person's severity repairs an incident lowered behind their back.
    """
    floors = [current, alert, *firing]
    if person is not None:
        floors.append(person)
    return min(floors)
