"""Identity and grouping of alerts: fingerprints for alerts without a dedup key, the
group key that decides which alerts share an incident, and the noise gate."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from tocsin.alerts.rules.routing import RouteDecision

__all__ = ["ALL_LABELS", "fingerprint", "gate_open", "group_key"]

#: In ``group_by``, groups by every label (as in Alertmanager).
ALL_LABELS = "..."


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity for an alert that came without a dedup key: the first 16 hex
    digits of the SHA-256 of its sorted label pairs. Order of the labels and of the
    keys in the JSON does not matter; any change of a name or value does."""
    canonical = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def group_key(
    decision: RouteDecision, labels: Mapping[str, str], *, alert_key: str | None = None
) -> str:
    """``service:{name="value",...}`` over the route's ``group_by`` labels, sorted by
    name; a missing label counts as empty, as in Alertmanager. Readable, so it can be
    shown and stored as is (``checkout-api:{alertname="HighErrorRate"}``).

    ``alert_key`` is the identity of an alert that is a group of its own unless it
    has one of the labels its route groups by: a PagerDuty event's ``dedup_key``
    (each is one alert, and by default one incident, as at PagerDuty; a route with
    ``group_by: [source]`` groups PagerDuty events by their source). Such an alert's
    key is ``service:dedup_key="..."``."""
    if alert_key is not None and not _has_any(labels, decision.group_by):
        return f"{decision.service or ''}:dedup_key={json.dumps(alert_key, ensure_ascii=False)}"
    group_by = set(decision.group_by)
    names = sorted(labels) if ALL_LABELS in group_by else sorted(group_by)
    pairs = ",".join(
        f"{name}={json.dumps(labels.get(name, ''), ensure_ascii=False)}" for name in names
    )
    return f"{decision.service or ''}:{{{pairs}}}"


def _has_any(labels: Mapping[str, str], group_by: tuple[str, ...]) -> bool:
    if ALL_LABELS in group_by:
        return bool(labels)
    return any(name in labels for name in group_by)


def gate_open(count_in_window: int, min_alerts: int) -> bool:
    """The noise gate: a route with ``min_alerts: N`` opens an incident only once N
    matching alerts (this one included) arrived within its window."""
    return count_in_window >= min_alerts
