"""PagerDuty change events (``POST /v2/change/enqueue``): something changed on a
service — a deploy, a configuration update — that is not a problem in itself::

    {"routing_key": "<integration key>",
     "payload": {"summary": "Deployed checkout 1.4.2", "source": "ci",
                 "timestamp": "2026-03-02T08:55:00Z", "custom_details": {...}},
     "links": [{"href": "https://ci/builds/812", "text": "Build 812"}]}

Only ``routing_key`` and ``payload.summary`` (at most 1,024 characters) are required.
The values come back storable (see :mod:`tocsin.alerts.sanitize`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tocsin.alerts.sanitize import clean_json, clean_text
from tocsin.ingest import _fields as f
from tocsin.ingest.pagerduty import SUMMARY_MAX, links_of

__all__ = ["ChangeEvent", "parse_pd_change", "pd_change_accepted"]


@dataclass(frozen=True)
class ChangeEvent:
    summary: str
    source: str | None
    timestamp: datetime | None
    links: tuple[dict[str, str], ...]
    custom_details: Any


def parse_pd_change(body: Any) -> tuple[str, ChangeEvent]:
    """``(routing_key, change)``; raises :class:`~tocsin.ingest.IngestError` naming the
    field for anything else."""
    data = f.obj(body, f.BODY)
    routing_key = f.req_str(data, "routing_key", f.BODY)
    payload = f.obj(data.get("payload"), "payload")
    summary = f.req_str(payload, "summary", "payload", max_len=SUMMARY_MAX)
    source = f.opt_str(payload, "source", "payload")
    timestamp = f.timestamp(payload, "timestamp", "payload")
    details = payload.get("custom_details")
    if details is not None:
        f.json_text(details, "payload.custom_details")  # refuses what cannot be stored
    links = tuple(
        {"href": clean_text(link.href), "text": clean_text(link.text)} for link in links_of(data)
    )
    change = ChangeEvent(
        summary=clean_text(summary),
        source=clean_text(source) if source else None,
        timestamp=timestamp,
        links=links,
        custom_details=clean_json(details),
    )
    return routing_key, change


def pd_change_accepted(change_id: int) -> dict[str, str]:
    """The 202 body: PagerDuty's, plus the stored change's ``id`` (which pdpyras'
    ``send_change_event`` returns)."""
    return {"status": "success", "message": "Change event processed", "id": str(change_id)}
