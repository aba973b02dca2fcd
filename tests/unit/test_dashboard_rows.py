"""The incident list's rows are rendered once while nothing they show changes: what a
page shows is always what rendering its incidents afresh would show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.incidents.models import IncidentRead
from tocsin.web.dashboard import incidents as dashboard
from tocsin.web.dashboard.views import age, render_fragment

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _read(number: int, **changes: Any) -> IncidentRead:
    values: dict[str, Any] = {
        "id": f"INC-{number}",
        "number": number,
        "title": f"Checkout <b>slow</b> {number}",
        "description": "",
        "status": "triggered",
        "severity": "SEV2",
        "severity_rank": 2,
        "services": ["checkout-api"],
        "tags": [],
        "roles": {},
        "started_at": NOW - timedelta(minutes=number),
        "detected_at": NOW,
        "acknowledged_at": None,
        "mitigated_at": None,
        "resolved_at": None,
        "closed_at": None,
        "created_at": NOW,
        "updated_at": NOW,
        "created_by": "test",
        "allowed_transitions": [],
        "drill": False,
        "drill_responders": [],
        "drill_pages_oncall": False,
    }
    return IncidentRead.model_validate(values | changes)


def _afresh(reads: list[IncidentRead], now: datetime) -> str:
    rows = [(read, age(read.started_at or read.detected_at, now)) for read in reads]
    return str(render_fragment("dashboard/_incident_rows.html", rows=rows))


def test_rows_shown_again_are_what_rendering_them_afresh_shows() -> None:
    reads = [_read(n) for n in range(1, 8)]
    assert dashboard.incident_rows(reads, NOW) == _afresh(reads, NOW)
    assert dashboard.incident_rows(reads, NOW) == _afresh(reads, NOW)  # kept rows

    changed = [
        _read(1, status="acknowledged"),
        _read(2, severity="SEV1", severity_rank=1),
        _read(3, title="A title closing </li>\n the row"),
        _read(4, services=["checkout-api", "payments-db"]),
        _read(5, drill=True),
        *reads[5:],
        _read(99),
    ]
    shown = dashboard.incident_rows(changed, NOW)
    assert shown == _afresh(changed, NOW)
    assert "acknowledged" in shown and "payments-db" in shown and "DRILL" in shown

    later = NOW + timedelta(minutes=3)  # every age moves on
    assert dashboard.incident_rows(reads, later) == _afresh(reads, later)


def test_the_rows_kept_are_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(dashboard, "MOST_ROWS_KEPT", 10)
    dashboard._rendered.clear()
    for start in range(0, 40, 8):
        reads = [_read(n) for n in range(start + 1, start + 9)]
        assert dashboard.incident_rows(reads, NOW) == _afresh(reads, NOW)
        assert len(dashboard._rendered) <= 10
