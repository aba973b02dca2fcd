"""Metrics, SLOs, the monthly report and /metrics over HTTP, on SQLite and PostgreSQL.

The 200-incident fixture of ``tests/unit/test_metrics_rules.py`` is written to the
database as it is (the timestamps matter, so the rows are inserted directly rather
than driven through the lifecycle), and every answer is checked against the table
computed by hand there. The burn-rate watch is driven through the real engine worker
with the fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.support.prometheus import samples, value
from tests.unit.test_metrics_rules import (
    BUDGET_SECONDS,
    EXPECTED_BUDGET,
    EXPECTED_CROSSINGS,
    EXPECTED_RESOLUTION,
    EXPECTED_RESPONSE,
    EXPECTED_WEEKS,
    FIXTURE,
    NOW,
    check_stats,
)

from tocsin.clock import FakeClock
from tocsin.db import SessionFactory, session_scope
from tocsin.db.jobs import Job
from tocsin.engine.worker import Worker
from tocsin.incidents import service as incidents
from tocsin.incidents.models import (
    Incident,
    IncidentCreate,
    IncidentService,
    TimelineEvent,
)
from tocsin.incidents.rules import IncidentStatus
from tocsin.metrics.burn_alerts import TIMELINE_KIND, ensure_slo_evaluation
from tocsin.notify.models import Notification, NotificationKind
from tocsin.notify.service import enqueue
from tocsin.web.context import AppContext

if TYPE_CHECKING:
    from tests.conftest import LiveServer


def load_fixture(sessions: SessionFactory) -> None:
    """Write the fixture's incidents, services and timeline events."""
    with session_scope(sessions) as session:
        for spec in FIXTURE:
            incident = Incident(
                number=spec.number,
                title=spec.title,
                description="",
                status=spec.status,
                severity=spec.severity,
                severity_rank=spec.rank,
                tags=spec.tags,
                started_at=spec.started_at,
                detected_at=spec.detected_at,
                acknowledged_at=spec.acknowledged_at,
                mitigated_at=spec.mitigated_at,
                resolved_at=spec.resolved_at,
                created_at=spec.detected_at,
                updated_at=spec.detected_at,
                created_by="fixture",
                services=[IncidentService(service=spec.service)],
                drill="drill" in spec.tags,  # the fixture's drill D
            )
            session.add(incident)
            session.flush()
            for kind, data in spec.events:
                session.add(
                    TimelineEvent(
                        incident_id=incident.id,
                        at=spec.detected_at + timedelta(minutes=1),
                        actor="tocsin",
                        kind=kind,
                        summary=kind,
                        data=data,
                    )
                )


Connect = Callable[..., httpx.Client]


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    live_server.clock.set(NOW)
    load_fixture(live_server.context.sessions)
    return live_server


@pytest.fixture
def viewer(server: LiveServer) -> Iterator[httpx.Client]:
    token = server.make_token("viewer")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as api:
        yield api


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------- summary


def _from_json(data: Any, measure: str, severity: str) -> dict[str, Any]:
    part = data[measure]
    found: dict[str, Any] = part["overall"] if severity == "all" else part["by_severity"][severity]
    return found


def test_summary_agrees_with_the_hand_computed_table(viewer: httpx.Client) -> None:
    data = _ok(viewer.get("/api/v1/metrics/summary", params={"window": "30d"}))
    check_stats(data, _from_json)
    for key, expected in (
        ("response_sla", EXPECTED_RESPONSE),
        ("resolution_sla", EXPECTED_RESOLUTION),
    ):
        for severity, (met, breached, pending) in expected.items():
            part = data[key]["overall" if severity == "all" else "by_severity"]
            found = part if severity == "all" else part[severity]
            assert (found["met"], found["breached"], found["pending"]) == (met, breached, pending)
    assert (data["incidents"], data["open"], data["drills_excluded"]) == (200, 4, 1)
    assert data["window_seconds"] == 30 * 86400
    assert data["by_severity"] == {"SEV1": 50, "SEV2": 50, "SEV3": 50, "SEV4": 50}
    assert data["by_service"] == {"auth-service": 100, "checkout-api": 100}
    assert data["escalations"]["rate"] == 0.25
    assert (data["repeats"]["count"], data["repeats"]["rate"]) == (4, 0.02)
    assert [(p["start"][:10], p["count"]) for p in data["by_period"]] == EXPECTED_WEEKS
    # Post-mortems hold no data here: the rates are n/a (null), never a made-up 0 %.
    assert data["postmortem_completion"]["rate"] is None
    assert data["action_items_on_time"]["rate"] is None


def test_summary_window_and_period_choices(viewer: httpx.Client) -> None:
    week = _ok(viewer.get("/api/v1/metrics/summary", params={"window": "7d", "period": "day"}))
    # Detected in [NOW - 7 d, NOW): i * 3.6 h >= 552 h, i.e. i = 154 ... 199.
    assert week["incidents"] == 46
    assert len(week["by_period"]) == 8  # 7 days that straddle 8 calendar days
    year = _ok(viewer.get("/api/v1/metrics/summary", params={"window": "365d"}))
    assert year["incidents"] == 201  # the fixture plus P, still not the drill


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window": "thirty days"}, "window"),
        ({"window": "0d"}, "window"),
        ({"window": "99999d"}, "window"),
        ({"window": ""}, "window"),
        ({"period": "year"}, "period"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    viewer: httpx.Client, params: dict[str, str], field: str
) -> None:
    response = viewer.get("/api/v1/metrics/summary", params=params)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_metrics_need_a_token(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/api/v1/metrics/summary", timeout=10)
    assert response.status_code == 401


# ---------------------------------------------------------------- SLOs


def test_slos_agree_with_the_hand_computed_budget(viewer: httpx.Client) -> None:
    items = {i["service"]: i for i in _ok(viewer.get("/api/v1/slos"))["items"]}
    assert set(items) == {"checkout-api", "auth-service"}
    for service, (consumed, burn_1h, burn_6h, burn_3d) in EXPECTED_BUDGET.items():
        item = items[service]
        assert item["objective"] == 99.9
        assert item["budget_seconds"] == pytest.approx(BUDGET_SECONDS)
        assert item["consumed_seconds"] == pytest.approx(consumed, abs=0.01)
        assert item["remaining_seconds"] == pytest.approx(BUDGET_SECONDS - consumed, abs=0.01)
        assert item["availability_percent"] == pytest.approx(
            100 * (1 - consumed / 2_592_000), abs=1e-6
        )
        burns = item["burn_rates"]
        assert [b["window_seconds"] for b in burns] == [3600, 21600, 259200]
        assert [b["rate"] for b in burns] == pytest.approx([burn_1h, burn_6h, burn_3d], abs=1e-4)
        assert all(b["alerting"] for b in burns)
        for burn, window in zip(burns, ("1h", "6h", "3d"), strict=True):
            expected = EXPECTED_CROSSINGS.get((service, window))
            if expected is not None:
                assert burn["since"] == expected.isoformat().replace("+00:00", "Z"), window
    one = _ok(viewer.get("/api/v1/slos/checkout-api"))
    assert one["consumed_seconds"] == pytest.approx(330_630, abs=0.01)
    assert 202 not in one["incidents"]  # the drill
    missing = viewer.get("/api/v1/slos/web-frontend")
    assert missing.status_code == 404
    assert "web-frontend" in missing.json()["detail"]


# ---------------------------------------------------------------- reports


def test_monthly_report_agrees_with_the_fixture(viewer: httpx.Client) -> None:
    response = viewer.get("/api/v1/reports/monthly?month=2026-03&format=markdown")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/markdown")
    text = response.text
    assert text.startswith("## Incident Review: March 2026")
    # March so far: i = 191 ... 199 (2 SEV1, 2 SEV2, 2 SEV3, 3 SEV4); resolved: 191
    # (86 400 s), 192 (3 240), 193 (10 800), 194 (32 400), 195 (97 200): mean 46 008 s,
    # nearest-rank median 32 400 (rank 3 of 5), p90 97 200 (rank 5).
    assert "- Total incidents: 9\n" in text
    assert "- SEV1: 2, SEV2: 2, SEV3: 2, SEV4: 3\n" in text
    assert "- MTTR average: 12h 47m (median 9h, p90 1d 3h;" in text
    # The error budgets as of now are the hand-computed ones.
    assert "| checkout-api | 99.9 % over 30d | 87.244 % | 43m 12s | 3d 20h | -12655.8 % |" in text
    assert "| auth-service | 99.9 % over 30d | 96.156 % | 43m 12s | 1d 4h | -3744.2 % |" in text
    assert text.count("data:image/svg+xml;base64,") == 3
    february = viewer.get("/api/v1/reports/monthly?month=2026-02&format=markdown").text
    # February: i = 5 ... 190 (i * 3.6 h from Jan 31 09:00 between 15 h and 687 h).
    assert "- Total incidents: 186\n" in february
    assert "- SEV1: 46, SEV2: 47, SEV3: 47, SEV4: 46\n" in february


def test_monthly_report_as_html_and_as_json(viewer: httpx.Client) -> None:
    html = viewer.get("/api/v1/reports/monthly", params={"month": "2026-03", "format": "html"})
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert html.text.count("<svg") == 3
    assert "<h1>Incident Review: March 2026</h1>" in html.text
    assert "Total incidents: <strong>9</strong>" in html.text
    wrapped = viewer.get(
        "/api/v1/reports/monthly",
        params={"month": "2026-03", "format": "markdown"},
        headers={"Accept": "application/json"},
    )
    body = _ok(wrapped)
    assert (body["month"], body["format"]) == ("2026-03", "markdown")
    assert body["content"].startswith("## Incident Review: March 2026")


def test_an_action_items_due_date_reads_the_same_in_the_report(
    server: LiveServer, viewer: httpx.Client, api_as: Any
) -> None:
    """Due 2026-03-31 is listed as 2026-03-31 in both formats (it read 2026-04-01: the
    deadline is the end of that day, and the report printed the deadline's date)."""
    admin = api_as("admin")
    incident = viewer.get("/api/v1/incidents/INC-191").json()["id"]
    created = admin.post(f"/api/v1/incidents/{incident}/postmortem", json={})
    assert created.status_code == 201, created.text
    pm = created.json()["id"]
    for title, due in (("Month end", "2026-03-31"), ("Mid month", "2026-03-20")):
        added = admin.post(
            f"/api/v1/postmortems/{pm}/action-items", json={"title": title, "due_date": due}
        )
        assert added.status_code == 201, added.text
    markdown = viewer.get("/api/v1/reports/monthly?month=2026-03&format=markdown").text
    assert "| Month end | - | 2026-03-31 |" in markdown
    assert "| Mid month | - | 2026-03-20 |" in markdown
    assert "2026-04-01" not in markdown
    html = viewer.get("/api/v1/reports/monthly?month=2026-03&format=html").text
    assert "<td>Month end</td><td>-</td><td>2026-03-31</td>" in html


@pytest.mark.parametrize("month", ["2026-13", "March", "2026-3", "2027-01"])
def test_bad_months_are_422_naming_month(viewer: httpx.Client, month: str) -> None:
    response = viewer.get("/api/v1/reports/monthly", params={"month": month})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "month"


def test_report_text_from_people_is_escaped(server: LiveServer, viewer: httpx.Client) -> None:
    with session_scope(server.context.sessions) as session:
        incident = session.scalar(select(Incident).where(Incident.number == 200))
        assert incident is not None
        incident.tags = [*incident.tags, "<script>alert(1)</script>"]
    html = viewer.get("/api/v1/reports/monthly?month=2026-03&format=html").text
    assert "<script>" not in html
    assert "&lt;script&gt;" in html, html[html.index("Top Incident") :][:600]
    markdown = viewer.get("/api/v1/reports/monthly?month=2026-03&format=markdown").text
    assert "<script>" not in markdown


# ---------------------------------------------------------------- Prometheus


def test_prometheus_gauges_read_the_history_and_counters_only_count_events(
    server: LiveServer, viewer: httpx.Client
) -> None:
    """The 200 incidents of the fixture were written straight to the tables: the gauges
    (what is open now) see them, the counters (events as they happened) do not."""
    with session_scope(server.context.sessions) as session:
        enqueue(
            session=session,
            key="metrics-test/1",
            person="alice",
            kind=NotificationKind.page,
            subject="s",
            body="b",
            reason="r",
            now=NOW,
        )
    response = viewer.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    for severity in ("SEV1", "SEV2", "SEV3", "SEV4"):
        open_now = [
            count
            for (name, labels), count in found.items()
            if name == "tocsin_incidents_open" and ("severity", severity) in labels
        ]
        assert sum(open_now) == 1, severity  # the open drill is left out
    assert value(found, "tocsin_incidents_open", severity="SEV1", service="checkout-api") == 1
    assert all(count == 0 for (name, _), count in found.items() if name == "tocsin_incidents_total")
    assert value(found, "tocsin_notifications_pending", channel="person") == 1
    assert value(found, "tocsin_notifications_total", kind="page") == 1
    assert any(name == "process_cpu_seconds_total" for name, _ in found)


# ---------------------------------------------------------------- burn-rate alerts


def _burn_notifications(context: AppContext) -> list[tuple[str, str]]:
    with session_scope(context.sessions, write=False) as session:
        rows = session.execute(
            select(Notification.person, Notification.key)
            .where(Notification.kind == NotificationKind.slo_burn.value)
            .order_by(Notification.id)
        ).all()
    return [(person, key) for person, key in rows]


def _burn_events(context: AppContext) -> int:
    with session_scope(context.sessions, write=False) as session:
        return int(
            session.scalar(select(func.count()).where(TimelineEvent.kind == TIMELINE_KIND)) or 0
        )


def test_a_burn_rate_crossing_notifies_the_team_lead_once(
    app_context: AppContext, clock: FakeClock
) -> None:
    policy = app_context.policy.current
    worker = Worker(sessions=app_context.sessions, policy=app_context.policy, clock=clock)
    start = clock.now()

    def declare() -> str:
        with session_scope(app_context.sessions) as session:
            incident = incidents.declare(
                session=session,
                policy=policy,
                actor="alice",
                data=IncidentCreate(
                    title="Checkout down", severity="SEV1", services=["checkout-api"]
                ),
                now=clock.now(),
            )
            return str(incident.number)

    def minutes(count: int) -> None:
        for _ in range(count):
            clock.advance(timedelta(minutes=1))
            worker.run_due()

    first = declare()
    with session_scope(app_context.sessions) as session:
        assert ensure_slo_evaluation(session=session, now=start)
        assert not ensure_slo_evaluation(session=session, now=start)  # idempotent by minute
    worker.run_due()
    assert _burn_notifications(app_context) == []

    # A full outage burns 1 000x the 99.9 % budget rate: the 1 h alert (14.4) fires after
    # 51.84 s, the 6 h one (6) after 129.6 s, the 3 d one (1) after 259.2 s.
    minutes(1)
    assert [key.split("/")[2] for _, key in _burn_notifications(app_context)] == ["1h"]
    minutes(5)
    sent = _burn_notifications(app_context)
    assert [key.split("/")[2] for _, key in sent] == ["1h", "6h", "3d"]
    assert {person for person, _ in sent} == {"erin"}  # lead of payments, owner of checkout
    crossing = (start + timedelta(seconds=51)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sent[0][1] == f"slo_burn/checkout-api/1h/{crossing}/erin"
    assert _burn_events(app_context) == 3

    minutes(25)  # still burning, evaluated every minute: nothing new
    assert len(_burn_notifications(app_context)) == 3
    assert _burn_events(app_context) == 3

    with session_scope(app_context.sessions) as session:
        incident = incidents.get(session=session, ref=first)
        incidents.transition(
            session=session,
            policy=policy,
            incident=incident,
            target=IncidentStatus.resolved,
            actor="alice",
            now=clock.now(),
        )
    clock.advance(timedelta(hours=2))
    worker.run_due()
    declare()  # a new outage: the 1 h burn rate crosses again; 6 h and 3 d never dropped
    minutes(3)
    windows = [key.split("/")[2] for _, key in _burn_notifications(app_context)]
    assert windows == ["1h", "6h", "3d", "1h"]


def test_starting_a_worker_schedules_the_burn_rate_watch(
    app_context: AppContext, clock: FakeClock
) -> None:
    for _ in range(2):  # a second worker (or a restart) adds nothing
        Worker(sessions=app_context.sessions, policy=app_context.policy, clock=clock).run_due()
    with session_scope(app_context.sessions, write=False) as session:
        jobs = session.execute(select(Job.key, Job.due_at).where(Job.kind == "slo_evaluate")).all()
    next_minute = clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    assert [(key, due) for key, due in jobs] == [
        (f"slo_evaluate/{next_minute:%Y-%m-%dT%H:%MZ}", next_minute)
    ]
