"""Prometheus Alertmanager's webhook (body version 4) into :class:`AlertEvent`.

Alertmanager posts a group of alerts::

    {"version": "4", "receiver": "...", "status": "firing", "groupKey": "...",
     "truncatedAlerts": 0, "groupLabels": {...}, "commonLabels": {...},
     "commonAnnotations": {...}, "externalURL": "...",
     "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                 "startsAt": "...", "endsAt": "0001-01-01T00:00:00Z",
                 "generatorURL": "...", "fingerprint": "c0e3b5d0a6fc4512"}]}

Each alert carries all of its labels, so the group-level ``common*`` fields add
nothing and are not read. Keys this parser does not know are ignored: Alertmanager
adds fields across versions. One bad alert refuses the whole body (Alertmanager never
sends one, so a bad body is a client bug to fix, not data to half-accept).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tocsin.alerts.rules import fingerprint
from tocsin.ingest import _fields as f
from tocsin.ingest.events import AlertEvent, IngestError, Link, Source

__all__ = [
    "STATUSES",
    "AlertmanagerBatch",
    "LinkFinder",
    "Reuse",
    "parse_alert",
    "parse_alertmanager",
    "parse_alertmanager_batch",
    "parse_batch",
]

STATUSES = ("firing", "resolved")


@dataclass(frozen=True)
class AlertmanagerBatch:
    """The alerts of one webhook call and the group's own fields.

    ``truncated_alerts`` > 0 means Alertmanager left that many alerts out
    (``max_alerts`` on the receiver); they are not lost — they arrive in later calls
    or stay visible in Alertmanager — but worth a note on the timeline.
    """

    events: list[AlertEvent]
    receiver: str | None = None
    status: str | None = None
    group_key: str | None = None
    truncated_alerts: int = 0
    external_url: str | None = None


def parse_alertmanager(body: Any, *, reuse: Reuse | None = None) -> list[AlertEvent]:
    """The alerts of an Alertmanager webhook body; raises :class:`IngestError`."""
    return parse_alertmanager_batch(body, reuse=reuse).events


def parse_alertmanager_batch(body: Any, *, reuse: Reuse | None = None) -> AlertmanagerBatch:
    """The alerts and the group fields of an Alertmanager webhook body."""
    return parse_batch(body, source="alertmanager", reuse=reuse)


#: Extra links an alert's source adds (Grafana's dashboard and silence URLs).
LinkFinder = Callable[[Mapping[str, Any], str], tuple[Link, ...]]
#: The event parsed earlier from an element equal to the one given, or None
#: (:meth:`tocsin.ingest.memo.ParseMemo.lookup`).
Reuse = Callable[[Any], AlertEvent | None]


def parse_batch(
    body: Any,
    *,
    source: Source,
    extra_links: LinkFinder | None = None,
    missing_alerts: str = "is missing; expected an array of alerts",
    reuse: Reuse | None = None,
) -> AlertmanagerBatch:
    """Any body in Alertmanager's webhook shape (Grafana's is one). ``reuse`` may
    answer an element's event instead of parsing it (an element equal to one parsed
    before has the same event); the others are parsed in full."""
    data = f.obj(body, f.BODY)
    status = data.get("status")
    if status is not None and status not in STATUSES:
        raise IngestError("status", f"must be one of {', '.join(STATUSES)}, not {status!r}")
    if "alerts" not in data:
        raise IngestError("alerts", missing_alerts)
    events: list[AlertEvent] = []
    for index, value in enumerate(f.array(data["alerts"], "alerts")):
        if reuse is not None:
            event = reuse(value)
            if event is not None:
                events.append(event)
                continue
        path = f"alerts[{index}]"
        links = extra_links(f.obj(value, path), path) if extra_links else ()
        events.append(parse_alert(value, path, source=source, extra_links=links))
    return AlertmanagerBatch(
        events=events,
        receiver=f.opt_str(data, "receiver", f.BODY),
        status=status,
        group_key=f.opt_str(data, "groupKey", f.BODY),
        truncated_alerts=f.opt_int(data, "truncatedAlerts", f.BODY) or 0,
        external_url=f.opt_str(data, "externalURL", f.BODY),
    )


def parse_alert(
    value: Any, path: str, *, source: Source = "alertmanager", extra_links: tuple[Link, ...] = ()
) -> AlertEvent:
    """One element of ``alerts``; Grafana's alerts share this shape."""
    alert = f.obj(value, path)
    status = f.choice(alert, "status", path, STATUSES)
    labels = f.str_map(alert, "labels", path, required=True)
    if not labels:
        raise IngestError(f.join(path, "labels"), "must not be empty; an alert is its labels")
    annotations = f.str_map(alert, "annotations", path)
    starts_at = f.timestamp(alert, "startsAt", path)
    ends_at = f.timestamp(alert, "endsAt", path)
    source_url = f.opt_str(alert, "generatorURL", path) or None
    given_key = f.opt_str(alert, "fingerprint", path, max_len=255)
    dedup_key = given_key if given_key and given_key.strip() else fingerprint(labels)
    summary = annotations.get("description") or annotations.get("summary") or ""
    return AlertEvent(
        source=source,
        dedup_key=dedup_key,
        action="trigger" if status == "firing" else "resolve",
        title=_title(labels, annotations) or f"Alert {dedup_key}",
        summary=summary,
        severity_hint=labels.get("severity"),
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        source_url=source_url,
        links=_links(source_url, annotations) + extra_links,
        raw=value,
    )


def _title(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """``HighErrorRate: 5xx rate above 5%``: the alert name and its summary."""
    name = labels.get("alertname", "").strip()
    summary = f.title_from(annotations.get("summary", ""))
    return f.title_from(f"{name}: {summary}" if name and summary else name or summary)


def _links(source_url: str | None, annotations: Mapping[str, str]) -> tuple[Link, ...]:
    links: list[Link] = []
    if source_url:
        links.append(Link(source_url, "Source"))
    runbook = annotations.get("runbook_url", "").strip()
    if runbook:
        links.append(Link(runbook, "Runbook"))
    return tuple(links)
