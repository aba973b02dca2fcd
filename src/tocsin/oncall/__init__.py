"""On call: schedules, rotations, overrides (who is on call at t), escalation policies.

The modules here are pure (``rules``, ``escalation``, ``warnings``, ``ical``); the
database-backed use cases are in ``service`` and are not imported by this package.
"""

from tocsin.oncall.escalation import (
    EscalationStep,
    choose_commander,
    choose_escalation_policy,
    escalation_step,
    resolve_targets,
    stakeholder_steps,
)
from tocsin.oncall.ical import calendar_events, schedule_ical
from tocsin.oncall.rules import (
    OVERRIDE_LAYER,
    Handoff,
    Override,
    Shift,
    coverage_gaps,
    handoffs,
    on_call,
    shifts,
)
from tocsin.oncall.warnings import PolicyWarning, policy_warnings

__all__ = [
    "OVERRIDE_LAYER",
    "EscalationStep",
    "Handoff",
    "Override",
    "PolicyWarning",
    "Shift",
    "calendar_events",
    "choose_commander",
    "choose_escalation_policy",
    "coverage_gaps",
    "escalation_step",
    "handoffs",
    "on_call",
    "policy_warnings",
    "resolve_targets",
    "schedule_ical",
    "shifts",
    "stakeholder_steps",
]
