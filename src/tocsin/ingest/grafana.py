"""Grafana unified alerting's webhook contact point into :class:`AlertEvent`.

Grafana copies Alertmanager's body (receiver, status, alerts[], groupKey,
commonLabels, externalURL, ...) and adds ``orgId``, ``title``, ``state`` and
``message`` to the group, and ``silenceURL``, ``dashboardURL``, ``panelURL``,
``imageURL``, ``values`` and ``valueString`` to each alert. The extra URLs become
links; everything else is kept in ``raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from tocsin.ingest import _fields as f
from tocsin.ingest.alertmanager import AlertmanagerBatch, parse_batch
from tocsin.ingest.events import AlertEvent, Link

__all__ = ["parse_grafana", "parse_grafana_batch"]

_LINKS: tuple[tuple[str, str, Literal["link", "image"]], ...] = (
    ("dashboardURL", "Dashboard", "link"),
    ("panelURL", "Panel", "link"),
    ("imageURL", "Image", "image"),
    ("silenceURL", "Silence in Grafana", "link"),
)


def parse_grafana(body: Any) -> list[AlertEvent]:
    """The alerts of a Grafana webhook body; raises :class:`IngestError`."""
    return parse_grafana_batch(body).events


def parse_grafana_batch(body: Any) -> AlertmanagerBatch:
    return parse_batch(
        body,
        source="grafana",
        extra_links=_extra_links,
        missing_alerts="is missing; expected an array of alerts (this endpoint takes "
        "Grafana's unified alerting webhook, not the legacy dashboard-alert one)",
    )


def _extra_links(alert: Mapping[str, Any], path: str) -> tuple[Link, ...]:
    links: list[Link] = []
    for key, text, link_kind in _LINKS:
        url = (f.opt_str(alert, key, path) or "").strip()
        if url:
            links.append(Link(url, text, link_kind))
    return tuple(links)
