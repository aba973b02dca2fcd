"""Reliability metrics: MTTD/MTTA/MTTM/MTTR, SLA compliance, SLOs and error budgets,
the monthly review and the Prometheus exposition.

``rules`` and ``budget`` are pure (plain records in, numbers out); ``service`` loads
the records from the database; ``burn_alerts`` is the engine's burn-rate watch;
``report`` and ``charts`` render the monthly review; ``prometheus`` serves ``/metrics``.
"""

from tocsin.metrics.budget import BurnRate, Impact, SloStatus, slo_status
from tocsin.metrics.rules import (
    ActionItemFacts,
    IncidentFacts,
    MetricsSummary,
    Period,
    PostmortemInputs,
    Stats,
    summarize,
)

__all__ = [
    "ActionItemFacts",
    "BurnRate",
    "Impact",
    "IncidentFacts",
    "MetricsSummary",
    "Period",
    "PostmortemInputs",
    "SloStatus",
    "Stats",
    "slo_status",
    "summarize",
]
