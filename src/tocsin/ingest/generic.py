"""Tocsin's own simple alert JSON, for scripts and tools without a richer format.

One alert, or several under ``alerts``::

    {"title": "Disk almost full on db-1", "severity": "warning",
     "dedup_key": "disk-db-1", "labels": {"service": "payments-db"},
     "annotations": {"runbook_url": "..."}, "status": "firing",
     "source_url": "https://monitoring.example.com/..."}

Only ``title`` is required, and only for a firing alert. ``status`` is ``firing``
(default) or ``resolved``. ``details`` is accepted for ``annotations`` and may hold
any JSON (nested values are kept as JSON text). Label values may be numbers or
booleans (kept as their JSON text). Without ``dedup_key`` the alert is identified by
its labels, or by its title when it has no labels — so a resolve must repeat them.
"""

from __future__ import annotations

from typing import Any

from tocsin.alerts.rules import fingerprint
from tocsin.ingest import _fields as f
from tocsin.ingest.events import AlertEvent, IngestError

__all__ = ["STATUSES", "parse_generic"]

STATUSES = ("firing", "resolved")
DEDUP_KEY_MAX = 255


def parse_generic(body: Any) -> list[AlertEvent]:
    """The alerts of a generic body; raises :class:`IngestError`."""
    data = f.obj(body, f.BODY)
    if "alerts" in data:
        alerts = f.array(data["alerts"], "alerts")
        return [_alert(value, f"alerts[{i}]") for i, value in enumerate(alerts)]
    return [_alert(data, f.BODY)]


def _alert(value: Any, path: str) -> AlertEvent:
    alert = f.obj(value, path)
    status = alert.get("status", "firing")
    if status not in STATUSES:
        raise IngestError(
            f.join(path, "status"), f"must be one of {', '.join(STATUSES)}, not {status!r}"
        )
    title = (f.opt_str(alert, "title", path) or "").strip()
    if status == "firing" and not title:
        raise IngestError(f.join(path, "title"), "is missing or blank")
    labels = f.str_map(alert, "labels", path, coerce=True)
    annotations = {
        **f.str_map(alert, "details", path, any_json=True),
        **f.str_map(alert, "annotations", path, any_json=True),
    }
    given_key = (f.opt_str(alert, "dedup_key", path, max_len=DEDUP_KEY_MAX) or "").strip()
    if given_key:
        dedup_key = given_key
    elif labels:
        dedup_key = fingerprint(labels)
    elif title:
        dedup_key = fingerprint({"title": title})
    else:
        raise IngestError(
            f.join(path, "dedup_key"),
            "is missing; a resolved alert needs its dedup_key, labels or title",
        )
    source_url = (f.opt_str(alert, "source_url", path) or "").strip() or None
    return AlertEvent(
        source="generic",
        dedup_key=dedup_key,
        action="trigger" if status == "firing" else "resolve",
        title=f.title_from(title),
        summary=annotations.get("description") or annotations.get("summary") or title,
        severity_hint=f.opt_str(alert, "severity", path) or None,
        labels=labels,
        annotations=annotations,
        source_url=source_url,
        raw=value,
    )
