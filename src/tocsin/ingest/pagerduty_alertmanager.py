"""Alertmanager's own PagerDuty integration (``pagerduty_configs``), recognised in a
PagerDuty event.

Alertmanager sends one event per alert group. Its default ``details`` put the group's
alerts into ``custom_details.firing`` as text (the ``pagerduty.default.instances``
template)::

    Labels:
     - alertname = HighErrorRate
     - service = checkout-api
    Annotations:
     - summary = 5xx above 5%
    Source: http://prometheus:9090/graph?...

so the alerts' labels would be lost on the way. :func:`alertmanager_alerts` reads
them back; the event then carries the labels (and annotations) that all its firing
alerts share, as Alertmanager's ``CommonLabels`` — so that routes on ``service`` or
``alertname`` match these events like the alerts themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["InstanceText", "alertmanager_alerts", "common_pairs"]

_LABELS = "Labels:"
_ANNOTATIONS = "Annotations:"
_SOURCE = "Source:"
_ITEM = re.compile(r" - ([A-Za-z_][A-Za-z0-9_]*) = (.*)")


@dataclass
class InstanceText:
    """One alert of the ``firing`` text."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    source: str = ""


def alertmanager_alerts(text: str) -> list[InstanceText]:
    """The alerts listed in Alertmanager's ``pagerduty.default.instances`` text, or
    ``[]`` when ``text`` is not such a list. A value that spans lines (annotations
    often do) keeps its line breaks."""
    if not text.startswith(_LABELS):
        return []
    alerts: list[InstanceText] = []
    section: dict[str, str] | None = None
    last: str | None = None
    for line in text.split("\n"):
        if line == _LABELS:
            alerts.append(InstanceText())
            section, last = alerts[-1].labels, None
        elif line == _ANNOTATIONS and alerts:
            section, last = alerts[-1].annotations, None
        elif line.startswith(_SOURCE) and alerts and section is not None:
            alerts[-1].source = line[len(_SOURCE) :].strip()
            section, last = None, None
        elif section is not None and (match := _ITEM.fullmatch(line)):
            last = match[1]
            section[last] = match[2]
        elif section is not None and last is not None:
            section[last] += "\n" + line
    return [alert for alert in alerts if alert.labels]


def common_pairs(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The name/value pairs every map has (Alertmanager's ``CommonLabels``)."""
    if not maps:
        return {}
    first, *rest = maps
    return {k: v for k, v in first.items() if all(other.get(k) == v for other in rest)}
