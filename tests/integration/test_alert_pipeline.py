"""The alert pipeline through the service layer, on SQLite and on PostgreSQL.

Events are built with the real parsers from the Alertmanager sample bodies (and
PagerDuty / generic bodies); each ``send`` is one transaction, as one webhook call
is. Pages are read from the outbox, decisions from the alerts and the timelines.
The fake clock reads Monday 2026-03-02 09:00 UTC, when alice is on call.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.support.clock import ClockHarness

from tocsin.alerts import service as alerts
from tocsin.alerts.models import Alert
from tocsin.alerts.pipeline import IngestResult
from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.errors import InvalidInput, NotFound
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.ingest import AlertEvent, parse_alertmanager, parse_generic, parse_pd_event
from tocsin.notify.models import Notification
from tocsin.web.context import AppContext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"

POLICY = """
severities:
  - {name: SEV1, aliases: [critical, P0], respond_within: 5m, escalate_after: 15m,
     update_every: 15m, resolve_target: 30m}
  - {name: SEV2, aliases: [high, P1], respond_within: 15m, escalate_after: 30m,
     update_every: 30m, resolve_target: 2h}
  - {name: SEV3, aliases: [medium, P2], respond_within: 1h, escalate_after: 2h,
     update_every: 2h, resolve_target: 8h}
  - {name: SEV4, aliases: [low, P3], respond_within: 4h, escalate_after: 8h,
     update_every: 1d, resolve_target: 1d}
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
  - {name: erin, email: erin@example.com}
schedules:
  - name: primary
    timezone: UTC
    layers:
      - {name: weekly, rotation: weekly, start: "2026-03-02T09:00", participants: [alice, bob]}
escalation_policies:
  - name: default
    tiers:
      - {timeout: 15m, targets: [{schedule: primary}]}
      - {timeout: 30m, targets: [{person: erin}]}
  - name: db
    tiers:
      - {timeout: 10m, targets: [{person: bob}]}
services:
  - {name: checkout-api, depends_on: [payments-db, auth-service]}
  - {name: payments-db}
  - {name: auth-service}
  - {name: web-frontend, depends_on: [checkout-api]}
  - {name: docs}
  - {name: search}
routes:
  name: default
  group_by: [alertname, service]
  severity_map: {warning: SEV3, info: SEV4, error: SEV2}
  routes:
    - name: watchdog
      match: ['alertname="Watchdog"']
      open_incident: false
      heartbeat: 10m
    - name: info-only
      match: ['severity="info"']
      open_incident: false
    - name: db-watch
      match: ['component="postgres"']
      service: payments-db
      escalation_policy: db
      continue: true
    - name: checkout
      match: ['service=~"checkout|checkout-api"']
      service: checkout-api
      routes:
        - name: latency
          match: ['alertname=~".*Latency.*"']
          severity: SEV3
          min_alerts: 3
          within: 10m
    - name: db
      match: ['service="payments-db"']
      service: payments-db
      escalation_policy: db
    - {name: auth, match: ['service="auth-service"'], service: auth-service}
    - {name: web, match: ['service="web-frontend"'], service: web-frontend}
    - {name: search, match: ['service="search"'], service: search}
alerting:
  correlation_window: 5m
  reopen_window: 1h
  resolve_action: RESOLVE_ACTION
  cascade: {min_alerts: 4, min_services: 3}
  flapping: {transitions: 4, window: FLAPPING_WINDOW}
  maintenance_windows:
    - {service: docs, start: "2026-03-02T08:00:00Z", end: "2026-03-02T12:00:00Z",
       comment: docs migration}
"""


def policy_text(resolve_action: str = "monitoring", flapping_window: str = "1h") -> str:
    return POLICY.replace("RESOLVE_ACTION", resolve_action).replace(
        "FLAPPING_WINDOW", flapping_window
    )


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(policy_text(), encoding="utf-8")
    return path


def sample(name: str = "alertmanager-webhook-firing.json") -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return body


def am(
    alertname: str = "HighErrorRate",
    service: str = "checkout",
    *,
    severity: str = "critical",
    status: str = "firing",
    **labels: str,
) -> dict[str, Any]:
    """One alert of the sample webhook body with other labels (its fingerprint is then
    computed from the labels, so a resolve with the same labels finds it)."""
    alert = copy.deepcopy(sample()["alerts"][0])
    alert["labels"] = {"alertname": alertname, "service": service, "severity": severity, **labels}
    alert["status"] = status
    del alert["fingerprint"]
    return alert


def webhook(*alerts: dict[str, Any]) -> list[AlertEvent]:
    body = sample()
    body["alerts"] = list(alerts)
    return parse_alertmanager(body)


class Harness(ClockHarness):
    def __init__(self, context: AppContext, clock: FakeClock, policy_file: Path) -> None:
        super().__init__(clock)
        self.context = context
        self.policy_file = policy_file
        self.keys: dict[str, str] = {}
        for name, service, kind in [
            ("prometheus", "checkout-api", "alertmanager"),
            ("pd", "payments-db", "pagerduty"),
            ("scripts", "docs", "generic"),
        ]:
            with session_scope(context.sessions) as session:
                _, key = alerts.create_integration(
                    session=session,
                    policy=self.policy,
                    name=name,
                    service=service,
                    kind=kind,
                    now=clock.now(),
                )
            self.keys[name] = key

    @property
    def policy(self) -> Any:
        return self.context.policy.current

    def use_policy(self, text: str) -> None:
        self.policy_file.write_text(text, encoding="utf-8")
        self.context.policy.reload()

    def send(self, events: Sequence[AlertEvent], integration: str = "prometheus") -> list[Any]:
        with session_scope(self.context.sessions) as session:
            found = alerts.find_integration(session=session, key=self.keys[integration])
            assert found is not None
            results: list[IngestResult] = alerts.ingest(
                session=session,
                policy=self.policy,
                integration=found,
                events=events,
                now=self.clock.now(),
            )
        return [(r.outcome.value, r.incident) for r in results]

    def fire(self, *alerts_: dict[str, Any]) -> list[Any]:
        return self.send(webhook(*alerts_))

    def resolve(self, *alerts_: dict[str, Any]) -> list[Any]:
        return self.send(webhook(*({**a, "status": "resolved"} for a in alerts_)))

    def incidents(self) -> list[dict[str, Any]]:
        with session_scope(self.context.sessions, write=False) as session:
            rows = session.scalars(select(Incident).order_by(Incident.number)).all()
            return [incidents.to_read(i).model_dump() for i in rows]

    def incident(self, ref: str) -> dict[str, Any]:
        with session_scope(self.context.sessions, write=False) as session:
            return incidents.to_read(incidents.get(session=session, ref=ref)).model_dump()

    def kinds(self, ref: str) -> list[str]:
        with session_scope(self.context.sessions, write=False) as session:
            incident = incidents.get(session=session, ref=ref)
            return [e.kind for e in incidents.timeline(session=session, incident=incident)]

    def summaries(self, ref: str) -> list[str]:
        with session_scope(self.context.sessions, write=False) as session:
            incident = incidents.get(session=session, ref=ref)
            return [e.summary for e in incidents.timeline(session=session, incident=incident)]

    def pages(self) -> list[tuple[str, str]]:
        """(person, INC-n) of every page, in order."""
        with session_scope(self.context.sessions, write=False) as session:
            rows = session.scalars(
                select(Notification).where(Notification.kind == "page").order_by(Notification.id)
            ).all()
            numbers = incidents.numbers_by_id(session=session, ids={r.incident_id for r in rows})
            return [(r.person, f"INC-{numbers[r.incident_id]}") for r in rows if r.incident_id]

    def alerts(self) -> list[dict[str, Any]]:
        with session_scope(self.context.sessions, write=False) as session:
            rows = session.scalars(select(Alert).order_by(Alert.id)).all()
            return [a.model_dump() for a in alerts.alerts_to_read(session=session, alerts=rows)]


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock, policy_file: Path) -> Harness:
    return Harness(app_context, clock, policy_file)


# ---------------------------------------------------------------- dedup and new incidents


def test_a_repeat_counts_and_never_opens_a_second_incident(h: Harness) -> None:
    body = sample()
    first = h.send(parse_alertmanager(body))
    h.at(1)
    again = h.send(parse_alertmanager(body))
    h.at(2)
    twice_in_one_call = h.send(parse_alertmanager({**body, "alerts": body["alerts"] * 2}))
    assert first == [("new_incident", "INC-1")]
    assert again == [("deduplicated", "INC-1")]
    assert twice_in_one_call == [("deduplicated", "INC-1"), ("deduplicated", "INC-1")]
    [alert] = h.alerts()
    assert alert["occurrences"] == 4
    assert alert["dedup_key"] == "c0e3b5d0a6fc4512"
    assert alert["last_seen_at"] == h.when(2)
    assert alert["first_seen_at"] == h.start
    assert len(h.incidents()) == 1
    assert h.pages() == [("alice", "INC-1")]


def test_repeats_keep_the_latest_annotations_and_store_times_as_the_orm_does(
    h: Harness,
) -> None:
    first = am(instance="a")
    h.fire(first)
    h.at(1.5)
    h.fire({**first, "annotations": {"summary": "now 7%"}})
    [alert] = h.alerts()
    assert alert["annotations"] == {"summary": "now 7%"}
    assert alert["last_seen_at"] == h.when(1.5)
    with session_scope(h.context.sessions, write=False) as session:
        # The hot path writes with plain SQL: the stored form must be the ORM's own.
        seen, first_seen = session.execute(
            text("SELECT last_seen_at, first_seen_at FROM alerts")
        ).one()
    assert type(seen) is type(first_seen)
    if isinstance(seen, str):  # SQLite keeps text, compared as text
        assert len(seen) == len(first_seen) and seen > first_seen


def test_concurrent_requests_can_share_one_transaction(h: Harness) -> None:
    with session_scope(h.context.sessions) as session:
        prometheus = alerts.find_integration(session=session, key=h.keys["prometheus"])
        scripts = alerts.find_integration(session=session, key=h.keys["scripts"])
        assert prometheus is not None and scripts is not None
        generic = parse_generic({"title": "Search slow", "labels": {"service": "search"}})
        results = alerts.ingest_batches(
            session=session,
            policy=h.policy,
            batches=[
                (prometheus, webhook(am(instance="a"))),
                (scripts, generic),
                (prometheus, webhook(am(instance="a"), am(instance="b"))),
            ],
            now=h.clock.now(),
        )
    assert [[(r.outcome.value, r.incident) for r in batch] for batch in results] == [
        [("new_incident", "INC-1")],
        [("new_incident", "INC-2")],
        [("deduplicated", "INC-1"), ("attached", "INC-1")],
    ]


def test_separate_calls_in_one_transaction_see_each_others_work(h: Harness) -> None:
    with session_scope(h.context.sessions) as session:
        prometheus = alerts.find_integration(session=session, key=h.keys["prometheus"])
        assert prometheus is not None
        outcomes = []
        for alert in (am(), am(), {**am(), "status": "resolved"}, am(), am()):
            [result] = alerts.ingest(
                session=session,
                policy=h.policy,
                integration=prometheus,
                events=webhook(alert),
                now=h.clock.now(),
            )
            outcomes.append(result.outcome.value)
            assert result.alert_id is not None
            # the ORM's copy of the row follows the counters the hot path wrote
            assert (
                alerts.get_alert(session=session, alert_id=result.alert_id).occurrences
                == {0: 1, 1: 2, 2: 2, 3: 3, 4: 4}[len(outcomes) - 1]
            )
    assert outcomes == ["new_incident", "deduplicated", "resolved", "attached", "deduplicated"]


def test_a_new_alert_opens_an_incident_as_its_route_says_and_pages_tier_one(h: Harness) -> None:
    assert h.send(parse_alertmanager(sample())) == [("new_incident", "INC-1")]
    incident = h.incident("INC-1")
    assert incident["title"] == "HighErrorRate: 5xx rate above 5%"
    assert incident["severity"] == "SEV1"  # severity=critical is SEV1's alias
    assert incident["services"] == ["checkout-api"]  # route checkout: service=checkout
    assert incident["status"] == "triggered"
    # The sample's startsAt lies in the future of the fake clock: started_at is clamped.
    assert incident["started_at"] == h.start
    assert incident["detected_at"] == h.start
    kinds = h.kinds("INC-1")
    assert kinds[:1] == ["declared"]
    assert "paged" in kinds and "alert_opened" in kinds
    assert h.pages() == [("alice", "INC-1")]
    [alert] = h.alerts()
    assert alert["outcome"] == "new_incident"
    assert alert["incident"] == "INC-1"
    assert alert["route_path"] == "default/checkout"
    assert alert["group_key"] == 'checkout-api:{alertname="HighErrorRate",service="checkout"}'
    assert alert["raw"] is None  # lists leave the payload out


def test_the_routes_escalation_policy_pages(h: Harness) -> None:
    h.fire(am("DiskFull", "payments-db", severity="warning"))
    incident = h.incident("INC-1")
    assert (incident["severity"], incident["services"]) == ("SEV3", ["payments-db"])
    assert h.pages() == [("bob", "INC-1")]  # escalation_policy: db


def test_continue_routes_are_recorded_and_the_first_decides(h: Harness) -> None:
    h.fire(am("ReplicationLag", "checkout", component="postgres"))
    [alert] = h.alerts()
    assert alert["route_path"] == "default/db-watch"
    assert alert["other_routes"] == ["default/checkout"]
    assert h.incident("INC-1")["services"] == ["payments-db"]


def test_an_alert_for_a_route_without_incidents_is_stored_only(h: Harness) -> None:
    assert h.fire(am("Chatter", "checkout", severity="info")) == [("no_incident_route", None)]
    assert h.incidents() == [] and h.pages() == []


# ---------------------------------------------------------------- grouping


def test_alerts_of_a_group_join_within_the_window_and_not_after(h: Harness) -> None:
    a = am(instance="a")
    b = am(instance="b")
    c = am(instance="c")
    assert h.fire(a) == [("new_incident", "INC-1")]
    h.at(4)
    assert h.fire(b) == [("attached", "INC-1")]
    assert "alert_attached" in h.kinds("INC-1")
    h.at(5)
    h.resolve(a, b)
    assert h.incident("INC-1")["status"] == "monitoring"
    h.at(11)  # 7 minutes after the group's last alert, none still firing
    assert h.fire(c) == [("new_incident", "INC-2")]
    assert h.pages() == [("alice", "INC-1"), ("alice", "INC-2")]


def test_a_group_with_a_firing_alert_keeps_its_incident_after_the_window(h: Harness) -> None:
    h.fire(am(instance="a"))
    h.at(30)
    assert h.fire(am(instance="b")) == [("attached", "INC-1")]
    assert h.fire(am("OtherAlert")) == [("new_incident", "INC-2")]  # another group


def test_attaching_a_worse_alert_raises_the_incident_severity(h: Harness) -> None:
    assert h.fire(am(severity="warning", instance="a")) == [("new_incident", "INC-1")]
    assert h.incident("INC-1")["severity"] == "SEV3"
    h.at(1)
    assert h.fire(am(severity="critical", instance="b")) == [("attached", "INC-1")]
    assert h.incident("INC-1")["severity"] == "SEV1"
    assert "Severity raised from SEV3 to SEV1" in h.summaries("INC-1")
    h.fire(am(severity="warning", instance="c"))
    assert h.incident("INC-1")["severity"] == "SEV1"  # never lowered by an alert


# ---------------------------------------------------------------- silences and maintenance


def test_a_silenced_alert_is_stored_and_visible_but_pages_nobody(h: Harness) -> None:
    with session_scope(h.context.sessions) as session:
        silence = alerts.add_silence(
            session=session,
            matchers=['alertname="HighErrorRate"', "env=~test|staging"],
            starts_at=None,
            ends_at=h.start + timedelta(hours=1),
            created_by="alice",
            comment="known issue",
            now=h.clock.now(),
        )
        silence_id = silence.id
    assert h.fire(am(env="test")) == [("silenced", None)]
    assert h.fire(am(env="test")) == [("deduplicated", None)]
    [alert] = h.alerts()
    assert alert["silenced_by"] == f"silence:{silence_id}"
    assert alert["occurrences"] == 2
    assert h.fire(am(env="prod")) == [("new_incident", "INC-1")]  # not matched
    assert h.pages() == [("alice", "INC-1")]


def test_when_a_silence_ends_its_alerts_page(h: Harness) -> None:
    with session_scope(h.context.sessions) as session:
        silence_id = alerts.add_silence(
            session=session,
            matchers=["service=checkout"],
            starts_at=None,
            ends_at=h.start + timedelta(hours=1),
            created_by="alice",
            comment="",
            now=h.clock.now(),
        ).id
    assert h.fire(am(instance="a")) == [("silenced", None)]
    h.at(10)
    with session_scope(h.context.sessions) as session:
        alerts.expire_silence(session=session, silence_id=silence_id, now=h.clock.now())
    # the still-firing silenced alert is judged again at its next repeat
    assert h.fire(am(instance="a")) == [("new_incident", "INC-1")]
    assert h.fire(am(instance="b")) == [("attached", "INC-1")]
    assert h.alerts()[0]["silenced_by"] is None


def test_a_silence_runs_out_at_its_end(h: Harness) -> None:
    with session_scope(h.context.sessions) as session:
        alerts.add_silence(
            session=session,
            matchers=["service=checkout"],
            starts_at=h.when(10),
            ends_at=h.when(20),
            created_by="alice",
            comment="deploy",
            now=h.clock.now(),
        )
    assert h.fire(am("Before")) == [("new_incident", "INC-1")]  # still pending
    h.at(15)
    assert h.fire(am("During")) == [("silenced", None)]
    h.at(20)
    assert h.fire(am("After")) == [("new_incident", "INC-2")]


def test_a_service_in_maintenance_pages_nobody(h: Harness) -> None:
    generic = {"title": "Docs build broken", "labels": {"service": "docs"}, "severity": "critical"}
    assert h.send(parse_generic(generic), "scripts") == [("maintenance", None)]
    assert h.alerts()[0]["silenced_by"] == "maintenance:docs"
    h.at(3 * 60)  # 12:00: the window has ended
    other = {**generic, "title": "Docs search broken", "labels": {"service": "docs", "x": "1"}}
    assert h.send(parse_generic(other), "scripts") == [("new_incident", "INC-1")]


# ---------------------------------------------------------------- noise gate


def test_the_noise_gate_waits_for_enough_alerts_then_attaches_them_all(h: Harness) -> None:
    assert h.fire(am("CheckoutLatency", instance="a")) == [("below_threshold", None)]
    h.at(12)  # the first is now outside the 10 minute window
    assert h.fire(am("CheckoutLatency", instance="b")) == [("below_threshold", None)]
    h.at(14)
    assert h.fire(am("CheckoutLatency", instance="c")) == [("below_threshold", None)]
    assert h.incidents() == []
    h.at(15)
    assert h.fire(am("CheckoutLatency", instance="d")) == [("new_incident", "INC-1")]
    incident = h.incident("INC-1")
    assert (incident["severity"], incident["services"]) == ("SEV3", ["checkout-api"])
    by_instance = {a["labels"]["instance"]: (a["outcome"], a["incident"]) for a in h.alerts()}
    assert by_instance == {
        "a": ("below_threshold", None),  # arrived outside the window: not attached
        "b": ("attached", "INC-1"),
        "c": ("attached", "INC-1"),
        "d": ("new_incident", "INC-1"),
    }
    with session_scope(h.context.sessions, write=False) as session:
        linked = alerts.alerts_for_incident(session=session, incident_id=1)
        assert sorted(a.labels["instance"] for a in linked) == ["b", "c", "d"]


def test_the_noise_gate_counts_per_alert_group_by_default(h: Harness) -> None:
    for instance in "abc":
        h.fire(am("CheckoutLatencyHigh", instance=instance))
    assert [i["id"] for i in h.incidents()] == ["INC-1"]
    # One unrelated latency alert on the same route is its own group: it waits.
    assert h.fire(am("ApiLatencyP99")) == [("below_threshold", None)]
    assert [i["id"] for i in h.incidents()] == ["INC-1"]
    h.at(1)
    assert h.fire(am("ApiLatencyP99", instance="b")) == [("below_threshold", None)]
    assert h.fire(am("ApiLatencyP99", instance="c")) == [("new_incident", "INC-2")]
    inc2 = {a["labels"].get("instance") for a in h.alerts() if a["incident"] == "INC-2"}
    assert inc2 == {None, "b", "c"}  # its own group's waiting alerts, and only those


def test_a_noise_gate_per_route_counts_every_alert_of_the_route(h: Harness) -> None:
    h.use_policy(policy_text().replace("within: 10m", "within: 10m\n          per: route"))
    assert h.fire(am("CheckoutLatencyHigh", instance="a")) == [("below_threshold", None)]
    assert h.fire(am("CheckoutLatencyHigh", instance="b")) == [("below_threshold", None)]
    assert h.fire(am("ApiLatencyP99")) == [("new_incident", "INC-1")]
    assert {a["incident"] for a in h.alerts()} == {"INC-1"}


# ---------------------------------------------------------------- correlation


def test_a_cascade_opens_one_sev1_instead_of_many_pages(h: Harness) -> None:
    assert h.fire(am("ApiErrors", "checkout")) == [("new_incident", "INC-1")]
    h.at(1)
    # one webhook with three related alerts: with the first, 4 alerts on 4 services
    results = h.fire(
        am("DbDown", "payments-db"), am("LoginErrors", "auth-service"), am("5xx", "web-frontend")
    )
    assert results == [("cascade", "INC-2")] * 3
    cascade = h.incident("INC-2")
    assert cascade["title"] == (
        "Cascade failure: auth-service, checkout-api, payments-db, web-frontend"
    )
    assert cascade["severity"] == "SEV1"
    assert cascade["services"] == ["auth-service", "checkout-api", "payments-db", "web-frontend"]
    assert "cascade_linked" in h.kinds("INC-1")
    assert "likely origin: auth-service, payments-db" in " ".join(h.summaries("INC-2"))
    assert h.pages() == [("alice", "INC-1"), ("alice", "INC-2")]  # not one per alert
    h.at(2)
    assert h.fire(am("SlowQueries", "payments-db")) == [("cascade", "INC-2")]
    assert h.fire(am("SearchDown", "search")) == [("new_incident", "INC-3")]  # unrelated
    with session_scope(h.context.sessions, write=False) as session:
        linked = alerts.alerts_for_incident(session=session, incident_id=2)
        assert len(linked) == 5  # the first alert too, though it stays on INC-1
    assert len(h.pages()) == 3


def test_a_flapping_alert_is_kept_to_one_incident_that_pages_once(h: Harness) -> None:
    alert = am("Flappy", "checkout")
    assert h.fire(alert) == [("new_incident", "INC-1")]
    h.at(2)
    assert h.resolve(alert) == [("resolved", "INC-1")]
    assert h.incident("INC-1")["status"] == "monitoring"
    h.at(4)
    assert h.fire(alert) == [("attached", "INC-1")]
    assert h.incident("INC-1")["status"] == "investigating"  # it came back
    h.at(6)
    assert h.resolve(alert) == [("resolved", "INC-1")]  # the 4th change: flapping
    h.at(8)
    assert h.fire(alert) == [("flapping", "INC-1")]
    h.at(10)
    h.resolve(alert)
    h.at(12)
    assert h.fire(alert) == [("flapping", "INC-1")]
    [stored] = h.alerts()
    assert stored["flapping"] is True and stored["severity"] == "SEV1"  # as routed
    incident = h.incident("INC-1")
    assert incident["severity"] == "SEV1"  # flapping never lowers it
    assert "severity_changed" not in h.kinds("INC-1")
    assert len(h.incidents()) == 1
    assert h.pages() == [("alice", "INC-1")]
    assert "alert_flapping" in h.kinds("INC-1")


# ---------------------------------------------------------------- resolution


def test_when_every_alert_resolved_the_incident_moves_to_monitoring(h: Harness) -> None:
    a, b = am(instance="a"), am(instance="b")
    h.fire(a, b)
    h.at(3)
    h.resolve(a)
    assert h.incident("INC-1")["status"] == "triggered"  # b still fires
    h.resolve(b)
    assert h.incident("INC-1")["status"] == "monitoring"
    assert "alerts_resolved" in h.kinds("INC-1")


def test_resolve_action_resolved_and_the_reopen_window(h: Harness) -> None:
    h.use_policy(policy_text("resolved", flapping_window="10m"))
    alert = am()
    h.fire(alert)
    h.at(1)
    h.resolve(alert)
    assert h.incident("INC-1")["status"] == "resolved"
    h.at(31)  # 30 minutes after the resolution: within the 1 h reopen window
    assert h.fire(alert) == [("reopened", "INC-1")]
    assert h.incident("INC-1")["status"] == "triggered"
    assert "Reopened by alert HighErrorRate: 5xx rate above 5%" in h.summaries("INC-1")
    assert "reopened" in h.kinds("INC-1")
    h.at(32)
    h.resolve(alert)
    h.at(32 + 61.01)  # too late to reopen (at no whole second): a new incident
    assert h.fire(alert) == [("new_incident", "INC-2")]
    assert "follows" in h.kinds("INC-2")
    assert any(s.startswith("Follows INC-1") for s in h.summaries("INC-2"))
    assert "followed_by" in h.kinds("INC-1")
    assert [p for _, p in h.pages()] == ["INC-1", "INC-1", "INC-2"]


def test_a_resolve_for_an_unknown_alert_is_stored_as_history(h: Harness) -> None:
    assert h.send(parse_alertmanager(sample("alertmanager-webhook-resolved.json"))) == [
        ("resolved", None)
    ]
    [alert] = h.alerts()
    assert alert["status"] == "resolved" and alert["incident"] is None
    assert h.incidents() == []


# ---------------------------------------------------------------- PagerDuty


def pd(key: str, action: str, dedup: str = "disk-1", **payload: Any) -> AlertEvent:
    body: dict[str, Any] = {"routing_key": key, "event_action": action, "dedup_key": dedup}
    if action == "trigger":
        body["payload"] = {
            "summary": "Disk almost full on db-1",
            "source": "db-1",
            "severity": "error",
            **payload,
        }
    routing_key, event = parse_pd_event(body)
    assert routing_key == key
    return event


def test_pagerduty_trigger_acknowledge_resolve(h: Harness) -> None:
    key = h.keys["pd"]
    assert h.send([pd(key, "trigger")], "pd") == [("new_incident", "INC-1")]
    assert h.incident("INC-1")["severity"] == "SEV2"  # error maps to SEV2
    assert h.incident("INC-1")["services"] == ["payments-db"]  # the integration's service
    h.at(2)
    assert h.send([pd(key, "trigger")], "pd") == [("deduplicated", "INC-1")]
    assert h.send([pd(key, "acknowledge")], "pd") == [("acknowledged", "INC-1")]
    incident = h.incident("INC-1")
    assert incident["status"] == "acknowledged"
    assert "Acknowledged by pagerduty:db-1" in h.summaries("INC-1")
    assert h.send([pd(key, "acknowledge", "never-sent")], "pd") == [("unknown_alert", None)]
    h.at(5)
    assert h.send([pd(key, "resolve")], "pd") == [("resolved", "INC-1")]
    assert h.incident("INC-1")["status"] == "monitoring"


# ---------------------------------------------------------------- storage


def test_text_a_database_cannot_store_is_made_storable(h: Harness) -> None:
    body = {
        "title": "bad\x00title \ud800",
        "labels": {"service": "search", "k\x00": "v\ud800"},
        "annotations": {"deep": json.dumps([[[1]]])},
        "details": {"nan": float("nan")},
    }
    events = parse_generic(body)
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    events = [dataclasses.replace(events[0], raw={"deep": deep, "n": float("inf")})]
    assert h.send(events, "scripts")[0][0] == "new_incident"
    with session_scope(h.context.sessions, write=False) as session:
        [alert] = alerts.alerts_to_read(
            session=session, alerts=session.scalars(select(Alert)).all(), include_raw=True
        )
    assert alert.title == "bad\ufffdtitle ?"
    assert alert.labels == {"service": "search", "k\ufffd": "v?"}
    assert alert.raw["n"] == "inf"
    assert h.incident("INC-1")["title"] == "bad\ufffdtitle ?"


def test_reads_list_filter_and_page(h: Harness) -> None:
    h.fire(am("A", "checkout"))
    h.at(1)
    h.fire(am("B", "payments-db"), am("C", "search", severity="info"))
    h.at(2)
    h.resolve(am("A", "checkout"))
    with session_scope(h.context.sessions, write=False) as session:
        everything, total = alerts.list_alerts(session=session, limit=2)
        assert total == 3 and [a.labels["alertname"] for a in everything] == ["C", "B"]
        firing, total = alerts.list_alerts(session=session, status="firing")
        assert total == 2 and {a.labels["alertname"] for a in firing} == {"B", "C"}
        db, _ = alerts.list_alerts(session=session, service="payments-db")
        assert [a.labels["alertname"] for a in db] == ["B"]
        on_one, _ = alerts.list_alerts(session=session, incident_id=1)
        assert [a.labels["alertname"] for a in on_one] == ["A"]
        recent = alerts.recent_alerts(session=session, since=h.start + timedelta(seconds=30))
        assert [a.labels["alertname"] for a in recent] == ["B", "C"]
        one = alerts.get_alert(session=session, alert_id=everything[0].id)
        [read] = alerts.alerts_to_read(session=session, alerts=[one], include_raw=True)
        assert read.integration == "prometheus" and read.raw["labels"]["alertname"] == "C"
        with pytest.raises(InvalidInput):
            alerts.list_alerts(session=session, status="open")
        with pytest.raises(NotFound):
            alerts.get_alert(session=session, alert_id=999)
