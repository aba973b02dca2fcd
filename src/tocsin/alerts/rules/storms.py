"""Pure decisions about alert storms: when a burst becomes a storm, and how a storm
is summed up for people (title, top alertnames and label values).

A storm is counted in *new alert groups that opened incidents* within the window, per
service (or per integration): repeats of one alert, alerts that join an existing
incident and muted alerts never count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

from tocsin.policy import Policy, format_duration
from tocsin.policy.alerting import Route

__all__ = [
    "KEEP_VALUES",
    "TOP",
    "count_alert",
    "describe_storm",
    "merge_counts",
    "storm_begins",
    "storm_look_ahead",
    "storm_title",
    "top_counts",
]

#: How many alertnames / label values a summary names.
TOP = 5
#: How many distinct alertnames / label values a storm keeps counting (the largest).
KEEP_VALUES = 200
#: Labels that say nothing about what is wrong, left out of the label-value counts.
_SKIPPED_LABELS = frozenset({"alertname", "severity", "service", "prometheus", "receive_resolved"})


def storm_begins(opened: int, threshold: int) -> bool:
    """True when one more new alert group, after ``opened`` within the window, makes
    the burst a storm ("more than ``threshold``")."""
    return opened >= threshold


def storm_look_ahead(policy: Policy) -> int:
    """How many of the alerts that arrived after a chunk (and wait in the inbox) its
    storm judgement must see: one more than the largest threshold of a storm rule
    that is on (for ``alerting.storm`` or a route's), 0 when none is. Enough to know
    whether the burst crosses a threshold, whatever the chunk's size."""
    rules = [policy.alerting.storm]
    routes: list[Route] = [policy.routes] if policy.routes is not None else []
    while routes:
        route = routes.pop()
        if route.storm is not None:
            rules.append(route.storm)
        routes.extend(route.routes)
    thresholds = [rule.threshold for rule in rules if rule.enabled]
    return max(thresholds) + 1 if thresholds else 0


def count_alert(
    labels: Mapping[str, str], alertnames: dict[str, int], label_values: dict[str, int]
) -> None:
    """Add one alert's alertname and label values to a storm's counts."""
    name = labels.get("alertname")
    if name:
        alertnames[name] = alertnames.get(name, 0) + 1
    for label, value in labels.items():
        if label in _SKIPPED_LABELS or label.startswith("__") or not value:
            continue
        pair = f"{label}={value}"
        label_values[pair] = label_values.get(pair, 0) + 1


def merge_counts(
    kept: Mapping[str, int], added: Mapping[str, int], keep: int = KEEP_VALUES
) -> dict[str, int]:
    """``kept`` plus ``added``, cut to the ``keep`` largest (ties: the name first)."""
    merged = dict(kept)
    for name, count in added.items():
        merged[name] = merged.get(name, 0) + count
    if len(merged) <= keep:
        return merged
    return dict(top_counts(merged, keep))


def top_counts(counts: Mapping[str, int], n: int = TOP) -> list[tuple[str, int]]:
    """The ``n`` largest counts, largest first; equal counts by name."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def _listed(pairs: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in pairs)


def storm_title(scope_name: str, alerts: int, alertnames: Mapping[str, int]) -> str:
    """``Alert storm on checkout-api: 1,204 alerts (HighLatency x800, DiskFull x404)``."""
    top = top_counts(alertnames, 3)
    title = f"Alert storm on {scope_name}: {alerts:,} alerts"
    if top:
        title += f" ({_listed(top)}{', …' if len(alertnames) > len(top) else ''})"
    return title[:300]


def describe_storm(
    scope_name: str,
    alerts: int,
    window: timedelta,
    threshold: int,
    alertnames: Mapping[str, int],
    label_values: Mapping[str, int],
) -> str:
    """The storm incident's description: what it is and what it is made of."""
    lines = [
        f"More than {threshold} new alert groups opened on {scope_name} within "
        f"{format_duration(window)}: their alerts are collected here instead of each "
        f"paging on its own. {alerts:,} alerts so far.",
    ]
    if alertnames:
        lines.append(f"Top alertnames: {_listed(top_counts(alertnames))}.")
    if label_values:
        lines.append(f"Top label values: {_listed(top_counts(label_values))}.")
    return "\n".join(lines)
