"""The ``slos:`` section of the policy: availability objectives and error budgets.

One entry per service (for example 99.9 % over 30 days = a 43.2 minute budget)::

    slos:
      - service: checkout-api
        objective: 99.9
        window: 30d
        severity_weights: {SEV1: 1.0, SEV2: 0.5, SEV3: 0.1, SEV4: 0}
        burn_rate_alerts:
          - {window: 1h, threshold: 14.4}
          - {window: 6h, threshold: 6}
          - {window: 3d, threshold: 1}

Availability is computed from the impact windows of the service's incidents (see
:mod:`tocsin.metrics.budget`): a severity's weight says how much of the service one of
its incidents takes down (1.0 = full outage, 0.5 = degraded for half the users, 0 = no
budget spent). The math lives in :mod:`tocsin.metrics`; this module only describes and
checks the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field

from tocsin.policy.base import Loc, PolicyModel, mappings, unknown_name
from tocsin.policy.durations import Duration

__all__ = [
    "DEFAULT_BURN_RATE_ALERTS",
    "DEFAULT_SEVERITY_WEIGHTS",
    "BurnRateAlert",
    "ServiceLevelObjective",
    "slos_reference_issues",
]

#: Weight of an incident by its severity's rank when ``severity_weights`` leaves the
#: severity out: rank 1 (SEV1) a full outage, rank 2 half, rank 3 a tenth, then none.
DEFAULT_SEVERITY_WEIGHTS: tuple[float, ...] = (1.0, 0.5, 0.1)


class BurnRateAlert(PolicyModel):
    """Alert when the budget burns ``threshold`` times faster than the objective allows,
    measured over the last ``window`` (the multiwindow alerts of the Google SRE
    workbook: 14.4 over 1 h spends 2 % of a 30-day budget in that hour)."""

    window: Duration = Field(description="Look-back window of the burn rate, e.g. 1h.")
    threshold: float = Field(gt=0, description="Burn rate that raises the alert, e.g. 14.4.")


DEFAULT_BURN_RATE_ALERTS: tuple[BurnRateAlert, ...] = (
    BurnRateAlert(window=timedelta(hours=1), threshold=14.4),
    BurnRateAlert(window=timedelta(hours=6), threshold=6),
    BurnRateAlert(window=timedelta(days=3), threshold=1),
)

Weight = Annotated[float, Field(ge=0, le=1)]


class ServiceLevelObjective(PolicyModel):
    """An availability objective for one service from ``services``."""

    service: str = Field(description="A service from `services`.")
    objective: float = Field(gt=0, lt=100, description="Target availability in percent, e.g. 99.9.")
    window: Duration = Field(
        default=timedelta(days=30), description="Rolling window of the objective."
    )
    severity_weights: dict[str, Weight] = Field(
        default_factory=dict,
        description="Severity name (or alias) -> share of the service an incident of it "
        "takes down, 0 to 1. Severities left out weigh 1.0, 0.5, 0.1 for the three "
        "worst levels and 0 below.",
    )
    burn_rate_alerts: tuple[BurnRateAlert, ...] = Field(
        default=DEFAULT_BURN_RATE_ALERTS,
        description="Burn-rate thresholds that notify the owning team's lead.",
    )

    @property
    def budget(self) -> timedelta:
        """The time the service may be down within ``window`` (43.2 min for 99.9 %/30 d)."""
        return self.window * (1 - self.objective / 100)

    def weight(self, severity: str, rank: int, aliases: Sequence[str] = ()) -> float:
        """The weight of an incident of ``severity`` (rank 1 = worst)."""
        by_label = {k.casefold(): v for k, v in self.severity_weights.items()}
        for label in (severity, *aliases):
            found = by_label.get(label.casefold())
            if found is not None:
                return found
        if 1 <= rank <= len(DEFAULT_SEVERITY_WEIGHTS):
            return DEFAULT_SEVERITY_WEIGHTS[rank - 1]
        return 0.0


# --- cross-reference checks (on the plain document, like the other sections) ---------


def _names(data: Mapping[str, Any], section: str, keys: tuple[str, ...]) -> set[str]:
    names: set[str] = set()
    for _, entry in mappings(data.get(section)):
        for key in keys:
            value = entry.get(key)
            if isinstance(value, str):
                names.add(value)
            elif isinstance(value, Sequence):
                names.update(v for v in value if isinstance(v, str))
    return names


def slos_reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Unknown services and severities, and a second objective for the same service."""
    issues: list[tuple[Loc, str]] = []
    services = _names(data, "services", ("name",))
    labels = _names(data, "severities", ("name", "aliases"))
    folded = {label.casefold() for label in labels}
    seen: dict[str, int] = {}
    for index, entry in mappings(data.get("slos")):
        service = entry.get("service")
        if isinstance(service, str):
            if service not in services:
                issues.append(
                    (("slos", index, "service"), unknown_name("service", service, services))
                )
            elif service in seen:
                issues.append(
                    (
                        ("slos", index, "service"),
                        f"service {service!r} already has an objective (see slos[{seen[service]}])",
                    )
                )
            else:
                seen[service] = index
        weights = entry.get("severity_weights")
        if isinstance(weights, Mapping):
            for name in weights:
                if isinstance(name, str) and name.casefold() not in folded:
                    loc: Loc = ("slos", index, "severity_weights", name)
                    issues.append((loc, unknown_name("severity", name, labels)))
    return issues
