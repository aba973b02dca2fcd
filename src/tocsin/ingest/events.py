"""The normalised alert that every inbound source becomes, and the error for bodies
that cannot become one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tocsin.errors import TocsinError

__all__ = [
    "ACTIONS",
    "SOURCES",
    "TITLE_MAX",
    "Action",
    "AlertEvent",
    "IngestError",
    "Link",
    "Source",
]

Source = Literal["alertmanager", "grafana", "pagerduty", "opsgenie", "generic"]
Action = Literal["trigger", "acknowledge", "resolve"]
SOURCES: tuple[Source, ...] = ("alertmanager", "grafana", "pagerduty", "opsgenie", "generic")
ACTIONS: tuple[Action, ...] = ("trigger", "acknowledge", "resolve")

#: Titles are cut to the incident title's limit; the full text stays in ``summary``.
TITLE_MAX = 300


class IngestError(TocsinError):
    """A body that cannot be turned into alert events. ``field`` is the path of the
    offending value in the body (``alerts[2].labels``, ``payload.severity``), or
    ``body`` for the body as a whole. The HTTP layer answers 400 with both."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Link:
    """A link or image attached to an alert (runbook, dashboard, source graph)."""

    href: str
    text: str = ""
    kind: Literal["link", "image"] = "link"


@dataclass(frozen=True)
class AlertEvent:
    """One alert, whatever sent it.

    ``dedup_key`` identifies the alert across repeats and its resolve: Alertmanager's
    and Grafana's ``fingerprint``, PagerDuty's ``dedup_key``, or else
    :func:`tocsin.alerts.rules.fingerprint` of the labels. ``severity_hint`` is the
    source's own word (``critical``, PagerDuty's ``error``), mapped to a policy
    severity by routing. Times are timezone-aware UTC. ``raw`` is the alert as
    received, kept for storage (minus secrets such as PagerDuty's ``routing_key``).
    """

    source: Source
    dedup_key: str
    action: Action
    title: str
    summary: str = ""
    severity_hint: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    source_url: str | None = None
    links: tuple[Link, ...] = ()
    raw: Any = None

    @property
    def firing(self) -> bool:
        return self.action == "trigger"
