"""Pure decisions about alerts, over plain data: no database, no clock (``now`` is an
argument). One module per kind of rule, re-exported here so that callers have one
place to import from:

- :mod:`~tocsin.alerts.rules.outcomes` — :class:`AlertOutcome`, what became of an alert;
- :mod:`~tocsin.alerts.rules.routing` — the routing tree: service, severity, escalation;
- :mod:`~tocsin.alerts.rules.silences` — silences and maintenance windows;
- :mod:`~tocsin.alerts.rules.grouping` — fingerprints, group keys, the noise gate;
- :mod:`~tocsin.alerts.rules.cascades` — many alerts on related services at once;
- :mod:`~tocsin.alerts.rules.flapping` — alerts that fire and resolve again and again;
- :mod:`~tocsin.alerts.rules.storms` — bursts of distinct alerts on one service;
- :mod:`tocsin.policy.matchers` — label matchers (``severity=~"critical|high"``).
"""

from __future__ import annotations

from tocsin.alerts.rules.cascades import (
    CascadeDecision,
    CascadeReason,
    RecentAlert,
    detect_cascade,
)
from tocsin.alerts.rules.flapping import detect_flapping, flapping_severity
from tocsin.alerts.rules.grouping import ALL_LABELS, fingerprint, gate_open, group_key
from tocsin.alerts.rules.outcomes import AlertOutcome
from tocsin.alerts.rules.routing import (
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
from tocsin.alerts.rules.silences import (
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
