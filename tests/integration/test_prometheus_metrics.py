"""Prometheus semantics of ``/metrics``, event by event, on SQLite and PostgreSQL.

Counters count an event when it happens, with the labels it had then, and never go
down; histograms observe at the event; gauges describe the present; an event whose
transaction (or savepoint) rolls back is not counted. Time is the fake clock: the
harness runs the engine and the delivery worker at each due moment, so an hour of
escalation takes milliseconds; the webhook sends are real HTTP round trips.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from tests.conftest import LiveServer
from tests.support.delivery_harness import BASE_POLICY, ChannelHarness
from tests.support.prometheus import SampleKey, family_types, samples, value
from tests.support.receivers import WebhookReceiver

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.incidents import paging, service
from tocsin.incidents.models import IncidentCreate, IncidentUpdate
from tocsin.metrics.catalog import ALERTS_DEDUPLICATED, ALERTS_RECEIVED, CATALOG
from tocsin.metrics.prometheus import exposition
from tocsin.metrics.stored_counters import totals
from tocsin.notify.models import Notification
from tocsin.web.context import AppContext

POLICY = (
    BASE_POLICY.replace(
        "      - {timeout: 1h, targets: [{person: alice}]}",
        "      - {timeout: 10m, targets: [{person: alice}]}\n"
        "      - {timeout: 1h, targets: [{person: bob}]}",
    )
    + """
tagging:
  - {tag: drill, keywords: [drill]}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:{port}/hook", retry: {backoff: 20s}}
notification_rules:
  "*":
    - notify: [{channel: hook}, {channel: hook, after: 30m, unless: never}]
"""
)


class Harness(ChannelHarness):
    def __init__(self, context: AppContext, clock: FakeClock, receiver: WebhookReceiver):
        super().__init__(context, clock, {})
        self.receiver = receiver
        self.configure("")

    def configure(self, extra: str) -> None:
        path = self.context.policy.path
        assert path is not None
        text = POLICY.replace("{port}", str(self.receiver.port)) + extra
        path.write_text(text, encoding="utf-8")
        self.context.policy.reload()

    def scrape(self) -> dict[SampleKey, float]:
        with session_scope(self.context.sessions, write=False) as session:
            text = exposition(
                session=session, policy=self.context.policy.current, per_process=False
            )
        return samples(text.decode())

    def change(self, ref: str, **changes: str) -> None:
        with session_scope(self.context.sessions) as session:
            service.edit(
                session=session,
                policy=self.context.policy.current,
                incident=service.get(session=session, ref=ref),
                actor="alice",
                changes=IncidentUpdate.model_validate(changes),
                now=self.clock.now(),
            )

    def escalate(self, ref: str) -> None:
        with session_scope(self.context.sessions) as session:
            paging.escalate_now(
                session=session,
                policy=self.context.policy.current,
                incident=service.get(session=session, ref=ref),
                now=self.clock.now(),
                actor="alice",
            )


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(POLICY.replace("{port}", "9"), encoding="utf-8")
    return path


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver().start()
    yield hook
    hook.stop()


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock, receiver: WebhookReceiver) -> Iterator[Harness]:
    harness = Harness(app_context, clock, receiver)
    yield harness
    harness.delivery.shutdown()


ACK = "tocsin_time_to_acknowledge_seconds"
RESOLVE = "tocsin_time_to_resolve_seconds"


def test_an_incident_stays_counted_under_the_severity_it_was_declared_with(h: Harness) -> None:
    ref = h.declare("SEV2")
    h.change(ref, severity="SEV1")
    found = h.scrape()
    assert value(found, "tocsin_incidents_total", severity="SEV2", service="api") == 1
    assert value(found, "tocsin_incidents_total", severity="SEV1", service="api") == 0
    assert value(found, "tocsin_incident_severity_changes_total", severity="SEV1") == 1
    assert value(found, "tocsin_incident_severity_changes_total", severity="SEV2") == 0
    # The gauge says where it is now.
    assert value(found, "tocsin_incidents_open", severity="SEV1", service="api") == 1
    assert value(found, "tocsin_incidents_open", severity="SEV2", service="api") == 0
    h.act(ref, "resolve")
    found = h.scrape()
    assert value(found, "tocsin_incidents_open", severity="SEV1", service="api") == 0
    assert value(found, "tocsin_incidents_total", severity="SEV2", service="api") == 1


def test_time_to_acknowledge_and_resolve_are_observed_at_the_event(h: Harness) -> None:
    ref = h.declare("SEV2")
    h.at(4)
    h.act(ref, "ack")
    h.change(ref, severity="SEV1")  # after the acknowledgement: it stays under SEV2
    found = h.scrape()
    assert value(found, f"{ACK}_count", severity="SEV2") == 1
    assert value(found, f"{ACK}_sum", severity="SEV2") == 240
    assert value(found, f"{ACK}_bucket", severity="SEV2", le="60.0") == 0
    assert value(found, f"{ACK}_bucket", severity="SEV2", le="300.0") == 1
    assert value(found, f"{ACK}_bucket", severity="SEV2", le="+Inf") == 1
    assert value(found, f"{ACK}_count", severity="SEV1") == 0

    h.at(120)
    h.act(ref, "resolve")  # as SEV1, two hours after detection
    h.at(180)
    h.act(ref, "reopen")
    h.at(190)
    h.act(ref, "ack")  # not a first acknowledgement: not observed again
    h.at(240)
    h.act(ref, "resolve")
    found = h.scrape()
    assert value(found, f"{ACK}_count", severity="SEV2") == 1
    assert value(found, f"{ACK}_count", severity="SEV1") == 0
    assert value(found, f"{RESOLVE}_count", severity="SEV1") == 2
    assert value(found, f"{RESOLVE}_sum", severity="SEV1") == 7200 + 14400
    assert value(found, f"{RESOLVE}_bucket", severity="SEV1", le="7200.0") == 1
    assert value(found, f"{RESOLVE}_bucket", severity="SEV1", le="14400.0") == 2


def test_resolving_straight_from_triggered_is_the_first_acknowledgement(h: Harness) -> None:
    ref = h.declare("SEV3")
    h.at(10)
    h.act(ref, "resolve")
    found = h.scrape()
    assert value(found, f"{ACK}_count", severity="SEV3") == 1
    assert value(found, f"{ACK}_sum", severity="SEV3") == 600
    assert value(found, f"{RESOLVE}_count", severity="SEV3") == 1


def test_drills_are_left_out_of_the_incident_series(h: Harness) -> None:
    ref = h.declare("SEV1", title="Failover rehearsal", drill=True)
    h.at(3)
    h.act(ref, "ack")
    found = h.scrape()
    assert value(found, "tocsin_incidents_total", severity="SEV1", service="api") == 0
    assert value(found, "tocsin_incidents_open", severity="SEV1", service="api") == 0
    assert value(found, f"{ACK}_count", severity="SEV1") == 0
    # A drill is in no metric but the drills section: its pages are not counted either.
    assert value(found, "tocsin_notifications_total", kind="page") == 0


def test_a_rolled_back_event_is_not_counted(h: Harness) -> None:
    create = IncidentCreate(title="API down", severity="SEV2", services=["api"])
    policy = h.context.policy.current
    with pytest.raises(RuntimeError), session_scope(h.context.sessions) as session:
        service.declare(session=session, policy=policy, actor="bob", data=create, now=h.clock.now())
        raise RuntimeError("the request failed after the declaration")
    with session_scope(h.context.sessions) as session:
        with pytest.raises(RuntimeError), session.begin_nested():  # a job handler failing
            service.declare(
                session=session, policy=policy, actor="bob", data=create, now=h.clock.now()
            )
            raise RuntimeError("the handler failed")
        with session.begin_nested(), session.begin_nested():  # released: it stands
            service.declare(
                session=session, policy=policy, actor="bob", data=create, now=h.clock.now()
            )
    found = h.scrape()
    assert value(found, "tocsin_incidents_total", severity="SEV2", service="api") == 1
    assert value(found, "tocsin_notifications_total", kind="page") == 1


def test_escalations_by_hand_by_timeout_and_by_a_breached_response_sla(h: Harness) -> None:
    by_hand = h.declare("SEV2")
    h.escalate(by_hand)  # tier 2 (bob) now
    assert value(h.scrape(), "tocsin_escalations_total", severity="SEV2") == 1
    timed_out = h.declare("SEV3")  # SEV3 must be answered within 1h; tier 1 waits 10m
    breached = h.declare("SEV1")  # SEV1 within 5m: the breach pages tier 2 at once
    h.at(5)
    found = h.scrape()
    assert value(found, "tocsin_escalations_total", severity="SEV1") == 1
    assert value(found, "tocsin_escalations_total", severity="SEV3") == 0
    h.at(10)
    assert value(h.scrape(), "tocsin_escalations_total", severity="SEV3") == 1
    h.at(80)  # past the last tier of every incident: nobody else paged, nothing counted
    found = h.scrape()
    for severity in ("SEV1", "SEV2", "SEV3"):
        assert value(found, "tocsin_escalations_total", severity=severity) == 1, severity
    for ref in (by_hand, timed_out, breached):
        assert "escalation_exhausted" in [kind for kind, _ in h.timeline(ref)], ref


def test_each_delivery_outcome_and_the_latency_of_a_page(
    h: Harness, receiver: WebhookReceiver
) -> None:
    receiver.script = [500, 200, 400]
    first = h.declare("SEV3")  # updates due every 2 hours: no reminder in this test
    found = h.scrape()  # nothing sent yet
    assert value(found, "tocsin_notifications_pending", channel="person") == 1
    assert value(found, "tocsin_notifications_total", kind="page") == 1
    h.delivery.run_due()  # 500: tried again later
    found = h.scrape()
    assert value(found, "tocsin_deliveries_total", channel="hook", outcome="retry") == 1
    assert value(found, "tocsin_deliveries_queued", channel="hook", state="pending") == 2
    h.at(1)  # the retry goes through
    h.act(first, "ack")  # the delayed step is moot now
    found = h.scrape()
    assert value(found, "tocsin_deliveries_total", channel="hook", outcome="sent") == 1
    assert value(found, "tocsin_deliveries_queued", channel="hook", state="pending") == 0
    assert value(found, "tocsin_notifications_pending", channel="person") == 0
    [page] = [d for d in h.deliveries("hook") if d.step == 0]
    with session_scope(h.context.sessions, write=False) as session:
        queued = session.scalar(
            select(Notification.created_at).where(Notification.id == page.notification_id)
        )
    assert page.sent_at is not None and queued is not None
    latency = (page.sent_at - queued).total_seconds()
    assert 10 <= latency <= 60  # the retry's backoff (20 s, with jitter)
    assert value(found, "tocsin_delivery_latency_seconds_count", channel="hook") == 1
    assert value(found, "tocsin_delivery_latency_seconds_sum", channel="hook") == latency
    assert value(found, "tocsin_delivery_latency_seconds_bucket", channel="hook", le="5.0") == 0
    assert value(found, "tocsin_delivery_latency_seconds_bucket", channel="hook", le="60.0") == 1

    second = h.declare("SEV3", title="Slow search")
    h.delivery.run_due()  # 400: given up at once
    h.act(second, "ack")
    h.message("handoff/alice/1")  # no incident: both steps go, the second after 30 minutes
    h.at(40)
    found = h.scrape()
    assert value(found, "tocsin_deliveries_total", channel="hook", outcome="failed") == 1
    assert value(found, "tocsin_deliveries_total", channel="hook", outcome="retry") == 1
    assert value(found, "tocsin_deliveries_total", channel="hook", outcome="sent") == 3
    # The delayed step waited on purpose: not a latency.
    assert value(found, "tocsin_delivery_latency_seconds_count", channel="hook") == 2
    assert value(found, "tocsin_deliveries_queued", channel="hook", state="pending") == 0
    assert value(found, "tocsin_notifications_total", kind="handoff") == 1


def test_a_message_queued_twice_under_one_key_counts_once(h: Harness) -> None:
    h.message("handoff/alice/1")
    h.message("handoff/alice/1")
    assert value(h.scrape(), "tocsin_notifications_total", kind="handoff") == 1


def test_no_counter_ever_goes_down_through_a_random_lifecycle(h: Harness) -> None:
    """Seeded random moves over several incidents (declare, re-severity, acknowledge,
    resolve, reopen, escalate, time passing): after every move, every counter and
    histogram sample is at least what it was, and every histogram is cumulative."""
    rng = random.Random(14)
    refs: list[str] = []
    before = h.scrape()
    for _ in range(60):
        move = rng.choice(["declare", "severity", "ack", "resolve", "reopen", "escalate", "wait"])
        ref = rng.choice(refs) if refs else None
        if move == "declare" or ref is None:
            refs.append(h.declare(rng.choice(["SEV1", "SEV2", "SEV3"])))
        elif move == "severity":
            h.change(ref, severity=rng.choice(["SEV1", "SEV2", "SEV3"]))
        elif move == "wait":
            h.advance(rng.choice([1, 7, 15]))
        else:
            try:
                if move == "escalate":
                    h.escalate(ref)
                else:
                    h.act(ref, move)
            except Exception as exc:  # a move the incident's status does not allow
                assert type(exc).__name__ == "Conflict", exc
        after = h.scrape()
        types = family_types_of(after)
        for key, was in before.items():
            assert key[0] in types, key
            if types[key[0]] in ("counter", "histogram"):
                assert after.get(key, 0.0) >= was, (move, key, was, after.get(key))
        for key, count in after.items():
            name, labels = key
            if name.endswith("_bucket"):
                bounds = dict(labels)
                assert count <= after[(name.removesuffix("_bucket") + "_count", _no_le(labels))]
                assert bounds["le"] == "+Inf" or count <= after[(name, _with_le(labels, "+Inf"))]
        before = after
    assert sum(v for k, v in before.items() if k[0] == "tocsin_incidents_total") == len(refs)


def family_types_of(found: dict[SampleKey, float]) -> dict[str, str]:
    """Sample name -> the type of its family in the catalog."""
    types: dict[str, str] = {}
    for name, _ in found:
        for metric in CATALOG:
            base = metric.name.removesuffix("_total")
            if name == metric.name or name.removeprefix(base) in ("_bucket", "_count", "_sum"):
                types[name] = metric.kind.value
    return types


def _no_le(labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(pair for pair in labels if pair[0] != "le")


def _with_le(labels: tuple[tuple[str, str], ...], le: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((*_no_le(labels), ("le", le))))


# ---------------------------------------------------------------- over HTTP


def test_metrics_need_a_token_of_any_role_unless_the_policy_makes_them_public(
    live_server: LiveServer,
) -> None:
    url = f"{live_server.url}/metrics"
    bare = httpx.get(url, timeout=10)
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"] == "Bearer"
    assert "tocsin_incidents" not in bare.text
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    viewer = live_server.make_token("viewer")
    scraped = httpx.get(url, headers={"Authorization": f"Bearer {viewer}"}, timeout=10)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    types = family_types(scraped.text)
    assert types["tocsin_incidents"] == "counter"
    assert types["tocsin_incidents_open"] == "gauge"
    assert types["tocsin_time_to_acknowledge_seconds"] == "histogram"
    assert "process_cpu_seconds" in types  # one process serves: its own figures too

    path = live_server.context.policy.path
    assert path is not None
    path.write_text(path.read_text() + "\nprometheus: {public: true}\n", encoding="utf-8")
    live_server.context.policy.reload()
    public = httpx.get(url, timeout=10)
    assert public.status_code == 200
    assert "# TYPE tocsin_incidents_total counter" in public.text


def test_alerts_received_and_deduplicated_by_source(live_server: LiveServer) -> None:
    api = httpx.Client(
        base_url=live_server.url,
        timeout=10,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    )
    with api:
        answer = api.post(
            "/api/v1/integrations",
            json={"name": "scripts", "service": "api", "kind": "generic"},
        )
        assert answer.status_code == 201, answer.text
        url = f"/api/v1/integrations/{answer.json()['key']}/events"
        event = {"title": "Queue backing up", "dedup_key": "queue-1", "severity": "warning"}
        for _ in range(3):
            assert api.post(url, json=event).status_code == 202
        other = {**event, "dedup_key": "queue-2"}
        assert api.post(url, json=other).status_code == 202
        found = samples(api.get("/metrics").text)
    assert value(found, "tocsin_alerts_received_total", source="generic") == 4
    assert value(found, "tocsin_alerts_deduplicated_total", source="generic") == 2


#: SQLite's statistics of a year of history (``ANALYZE`` over 100,000 incidents, 0.5 %
#: open, and their pages): what the query planner sees on a real installation.
HISTORY_STATISTICS = {
    ("incidents", None): "100000",
    ("incidents", "ix_incidents_status"): "100000 14286",
    ("incidents", "ix_incidents_severity"): "100000 25000",
    ("incidents", "ix_incidents_created_at"): "100000 1",
    ("incidents", "ix_incidents_open_severity"): "500 125",
    ("notifications", None): "100000",
    ("notifications", "ix_notifications_state_due"): "100000 20000 1",
    ("notifications", "ix_notifications_incident"): "100000 1 1",
    ("notifications", "ix_notifications_unsent_channel"): "100 100",
    ("deliveries", None): "100000",
    ("deliveries", "ix_deliveries_state_due"): "100000 20000 1",
    ("deliveries", "ix_deliveries_channel_state_due"): "100000 33333 6667 1",
    ("deliveries", "ix_deliveries_channel_started"): "100000 33333 1",
    ("deliveries", "ix_deliveries_notification"): "100000 1",
    ("deliveries", "ix_deliveries_incident"): "100000 1",
    ("deliveries", "ix_deliveries_unsent_channel_state"): "100 34 50",
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_gauges_read_only_what_is_live(h: Harness) -> None:
    """A long history must not slow a scrape down: with the statistics of a year of
    history, SQLite (PostgreSQL plans by its own statistics) answers each gauge query
    from its partial index (which holds only
    what is live) instead of walking every row of the table in the order of its
    GROUP BY."""
    engine = h.context.sessions.engine
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT") and "metric_counters" not in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        h.scrape()
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert len(statements) == 3, statements
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")  # creates sqlite_stat1
        connection.exec_driver_sql("DELETE FROM sqlite_stat1")
        for (table, index), stat in HISTORY_STATISTICS.items():
            connection.exec_driver_sql(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", (table, index, stat)
            )
    engine.dispose()  # a new connection reads the statistics
    expected = iter(
        (
            "ix_incidents_open_severity",
            "ix_notifications_unsent_channel",
            "ix_deliveries_unsent_channel_state",
        )
    )
    with engine.connect() as connection:
        for statement, parameters in statements:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            table_step = str(next(iter(rows))[-1])
            assert f"INDEX {next(expected)}" in table_step, (statement, table_step)


def test_concurrent_transactions_count_each_committed_event_exactly_once(
    app_context: AppContext,
) -> None:
    """Eight threads, each committing (or rolling back) transactions that count the
    same series in opposite orders: no update is lost, none is counted twice, no
    rolled-back one is counted, and nobody deadlocks (PostgreSQL: row locks)."""
    sessions = app_context.sessions

    def work(thread: int) -> int:
        committed = 0
        for n in range(25):
            metrics = [ALERTS_RECEIVED, ALERTS_DEDUPLICATED]
            if (thread + n) % 2:
                metrics.reverse()
            try:
                with session_scope(sessions) as session:
                    for metric in metrics:
                        metric.inc(session, {"source": f"source-{n % 3}"}, 2)
                    if n % 5 == 4:
                        raise RuntimeError("rolled back")
                committed += 1
            except RuntimeError:
                pass
        return committed

    with ThreadPoolExecutor(8) as pool:
        committed = sum(pool.map(work, range(8)))
    assert committed == 8 * 20
    with session_scope(sessions, write=False) as session:
        stored = totals(session)
    for name in (ALERTS_RECEIVED.name, ALERTS_DEDUPLICATED.name):
        assert sum(v for (n, _), v in stored.items() if n == name) == 2 * committed
