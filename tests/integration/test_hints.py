"""Root-cause hints and downstream incidents over HTTP, on SQLite and PostgreSQL (the
example policy: checkout-api depends on payments-db; the fake clock reads Monday
2026-03-02 09:00 UTC).

The worst morning: a database deploy goes out, the database fails, checkout fails
with it. Checkout's incident is linked downstream of the database's, its top hint is
the deploy (with the build link), a responder confirms it, and the post-mortem drafted
at resolution names it and takes its root-cause category."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import LiveServer

from tocsin.db import session_scope
from tocsin.db.jobs import Job
from tocsin.engine.worker import Worker
from tocsin.hints.service import REFRESH

BUILD = "https://ci.example.com/builds/4471"


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    ) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def integration(api: httpx.Client, name: str, service: str, kind: str = "generic") -> str:
    body = {"name": name, "service": service, "kind": kind}
    key: str = ok(api.post("/api/v1/integrations", json=body), 201)["key"]
    return key


def fire(api: httpx.Client, key: str, title: str, service: str) -> str:
    body = {"title": title, "severity": "critical", "labels": {"service": service}}
    answer = ok(api.post(f"/api/v1/integrations/{key}/events", json=body), 202)
    incident: str = answer["alerts"][0]["incident"]
    return incident


def hints_of(api: httpx.Client, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = ok(api.get(f"/api/v1/incidents/{ref}/hints"))
    return data


def kinds(api: httpx.Client, ref: str) -> list[str]:
    items = ok(api.get(f"/api/v1/incidents/{ref}/timeline"))["items"]
    return [e["kind"] for e in items]


def pages(api: httpx.Client, ref: str) -> list[dict[str, Any]]:
    items = ok(api.get(f"/api/v1/incidents/{ref}/notifications"))["items"]
    return [n for n in items if n["kind"] == "page" and n["state"] != "cancelled"]


def record_deploy(api: httpx.Client, live_server: LiveServer, minutes_ago: int) -> dict[str, Any]:
    at = live_server.clock.now() - timedelta(minutes=minutes_ago)
    body = {
        "service": "payments-db",
        "summary": "Deploy payments-db schema 2026.03.1",
        "timestamp": at.isoformat(),
        "links": [{"href": BUILD, "text": "Build 4471"}],
        "source": "ci",
    }
    change: dict[str, Any] = ok(api.post("/api/v1/changes", json=body), 201)
    return change


def test_the_database_deploy_is_the_checkout_incident_top_hint_and_the_postmortem_names_it(
    live_server: LiveServer, api: httpx.Client
) -> None:
    deploy = record_deploy(api, live_server, minutes_ago=4)
    assert deploy["kind"] == "deploy" and deploy["links"][0]["href"] == BUILD
    key = integration(api, "monitoring", "checkout-api")
    db = fire(api, key, "payments-db replication lag", "payments-db")
    live_server.clock.advance(timedelta(minutes=1))
    checkout = fire(api, key, "Checkout 5xx above 5%", "checkout-api")
    assert checkout != db

    mine = hints_of(api, checkout)
    assert [u["incident"] for u in mine["downstream_of"]] == [db]
    assert mine["downstream_of"][0]["reason"] == "checkout-api depends on payments-db"
    assert [d["incident"] for d in hints_of(api, db)["upstream_of"]] == [checkout]
    assert "downstream_of" in kinds(api, checkout) and "upstream_of" in kinds(api, db)

    top = mine["hints"][0]
    assert top["rank"] == 1 and top["kind"] == "change"
    assert "Deploy payments-db schema 2026.03.1" in top["explanation"]
    assert top["evidence"][0]["href"] == BUILD
    assert {e["ref"] for e in top["evidence"]} >= {f"change {deploy['id']}", db}
    upstream = next(h for h in mine["hints"] if h["kind"] == "upstream")
    assert upstream["confidence"] < top["confidence"]
    assert [c["id"] for c in mine["recent_changes"]] == [deploy["id"]]

    responder = live_server.make_token("responder", person="alice")
    headers = {"Authorization": f"Bearer {responder}"}
    confirmed = ok(
        api.post(f"/api/v1/incidents/{checkout}/hints/{top['id']}/confirm", headers=headers)
    )
    assert confirmed["status"] == "confirmed" and confirmed["decided_by"] == "alice"
    ruled_out = ok(
        api.post(f"/api/v1/incidents/{checkout}/hints/{upstream['id']}/reject", headers=headers)
    )
    assert ruled_out["status"] == "rejected"
    again = ok(api.post(f"/api/v1/incidents/{checkout}/hints/{upstream['id']}/confirm"), 409)
    assert "already confirmed" in again["detail"]
    after = hints_of(api, checkout)["hints"]
    assert [(h["id"], h["status"]) for h in after][:1] == [(top["id"], "confirmed")]
    assert after[-1]["id"] == upstream["id"] and after[-1]["status"] == "rejected"

    ok(api.post(f"/api/v1/incidents/{checkout}/resolve"))
    pm = ok(api.get(f"/api/v1/incidents/{checkout}/postmortem"))
    assert pm["root_cause_category"] == "technical"
    factors = pm["sections"]["contributing_factors"]
    assert "**Confirmed cause**: Deploy payments-db schema 2026.03.1" in factors
    assert BUILD in factors
    assert f"downstream of {db}" in factors
    assert "Ruled out:" in factors

    summary = ok(api.get("/api/v1/metrics/summary", params={"window": "7d"}))
    assert summary["top_hint_confirmed"] == {
        "count": 1,
        "total": 1,
        "rate": 1.0,
        "available": True,
    }
    scrape = api.get("/metrics").text
    assert 'tocsin_hint_decisions_total{decision="confirmed",top="true"} 1.0' in scrape
    assert 'tocsin_hint_decisions_total{decision="rejected",top="false"} 1.0' in scrape


def test_a_change_arriving_late_is_weighed_for_the_open_incident(
    live_server: LiveServer, api: httpx.Client
) -> None:
    key = integration(api, "monitoring", "checkout-api")
    checkout = fire(api, key, "Checkout 5xx above 5%", "checkout-api")
    assert hints_of(api, checkout)["hints"] == []
    record_deploy(api, live_server, minutes_ago=3)  # CI reported it after the fact
    (hint,) = hints_of(api, checkout)["hints"]
    assert hint["kind"] == "change" and hint["evidence"][0]["href"] == BUILD
    live_server.clock.advance(timedelta(minutes=5))
    record_deploy(api, live_server, minutes_ago=0)  # after impact began: not a cause
    assert [h["id"] for h in hints_of(api, checkout)["hints"]] == [hint["id"]]
    assert len(hints_of(api, checkout)["recent_changes"]) == 2


def test_a_resource_alert_on_the_service_is_a_hint(
    live_server: LiveServer, api: httpx.Client
) -> None:
    key = integration(api, "monitoring", "checkout-api")
    ref = fire(api, key, "Checkout pods OOM killed (memory limit)", "checkout-api")
    (hint,) = hints_of(api, ref)["hints"]
    assert hint["kind"] == "resource" and hint["explanation"].startswith("memory is running out")


def refresh_jobs(live_server: LiveServer) -> list[Job]:
    with session_scope(live_server.context.sessions, write=False) as session:
        return list(session.scalars(select(Job).where(Job.kind == REFRESH).order_by(Job.id)))


def engine_worker(live_server: LiveServer) -> Worker:
    return Worker(
        sessions=live_server.context.sessions,
        policy=live_server.context.policy,
        clock=live_server.clock,
    )


def test_alerts_joining_an_incident_weigh_in_once_they_settle(
    live_server: LiveServer, api: httpx.Client
) -> None:
    key = integration(api, "monitoring", "checkout-api")
    labels = {"service": "checkout-api", "cluster": "eu-1"}
    first = {"title": "Checkout 5xx above 5%", "severity": "critical", "labels": labels}
    ref = ok(api.post(f"/api/v1/integrations/{key}/events", json=first), 202)["alerts"][0][
        "incident"
    ]
    worker = engine_worker(live_server)
    assert hints_of(api, ref)["hints"] == []
    assert refresh_jobs(live_server) == []  # no past incident of checkout-api to compare
    for n in range(20):  # a burst joins the incident: one timer, not twenty
        body = {**first, "title": f"Checkout pod {n} OOM killed", "dedup_key": f"oom-{n}"}
        joined = ok(api.post(f"/api/v1/integrations/{key}/events", json=body), 202)
        assert joined["alerts"][0]["incident"] == ref
    (burst,) = refresh_jobs(live_server)
    assert burst.due_at == live_server.clock.now() + timedelta(seconds=30)

    worker.run_due()
    assert hints_of(api, ref)["hints"] == []  # not before the burst settled
    live_server.clock.advance(timedelta(seconds=31))
    worker.run_due()
    (hint,) = hints_of(api, ref)["hints"]
    assert hint["kind"] == "resource"
    assert len(hint["evidence"]) == 20 and hint["explanation"].startswith("memory is running out")


def test_a_similar_past_incident_brings_its_root_cause_and_action_items(
    live_server: LiveServer, api: httpx.Client
) -> None:
    past = ok(
        api.post(
            "/api/v1/incidents",
            json={
                "title": "Checkout 5xx: payment gateway timeouts",
                "severity": "SEV2",
                "services": ["checkout-api"],
            },
        ),
        201,
    )["id"]
    ok(api.post(f"/api/v1/incidents/{past}/resolve"))
    pm = ok(api.get(f"/api/v1/incidents/{past}/postmortem"))
    ok(
        api.patch(
            f"/api/v1/postmortems/{pm['id']}",
            json={"sections": {"root_cause": "The gateway client had no timeout budget."}},
        )
    )
    ok(
        api.post(
            f"/api/v1/postmortems/{pm['id']}/action-items",
            json={"title": "Add a timeout budget to the gateway client", "priority": "P1"},
        ),
        201,
    )
    live_server.clock.advance(timedelta(days=3))
    key = integration(api, "monitoring", "checkout-api")
    ref = fire(api, key, "Checkout 5xx: payment gateway timeouts", "checkout-api")
    assert hints_of(api, ref)["hints"] == []  # the page did not wait for the comparison
    engine_worker(live_server).run_due()
    (hint,) = hints_of(api, ref)["hints"]
    assert hint["kind"] == "similar" and hint["evidence"][0]["ref"] == past
    assert "The gateway client had no timeout budget." in hint["explanation"]
    assert "Add a timeout budget to the gateway client" in hint["explanation"]
    record_deploy(api, live_server, minutes_ago=0)  # a change later: the similar hint stays
    assert [h["kind"] for h in hints_of(api, ref)["hints"]] == ["similar"]
