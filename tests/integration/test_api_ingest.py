"""The inbound alert endpoints and the integration, alert and silence API over HTTP,
on SQLite and on PostgreSQL (the example policy; the fake clock reads Monday
2026-03-02 09:00 UTC)."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import LiveServer
from tests.support.servers import free_port

from tocsin.alerts import service as alerts
from tocsin.clock import FakeClock
from tocsin.config import Settings
from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.ingest import IngestError, parse_alertmanager
from tocsin.policy import PolicyStore
from tocsin.web.app import create_app
from tocsin.web.context import AppContext
from tocsin.web.errors import install_error_handlers
from tocsin.web.groupcommit import Delivery, GroupCommitter, InternalFailure
from tocsin.web.routes import integrations as integration_routes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return body


def admin(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {server.admin_token}"}
    )


def create(api: httpx.Client, name: str, kind: str = "alertmanager", **extra: Any) -> str:
    answer = api.post(
        "/api/v1/integrations",
        json={"name": name, "service": "checkout-api", "kind": kind, **extra},
    )
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


def test_alertmanager_webhook_stores_dedups_and_resolves(live_server: LiveServer) -> None:
    with admin(live_server) as api:
        key = create(api, "prom")
        url = f"/api/v1/integrations/{key}/alertmanager"
        first = api.post(url, json=fixture("alertmanager-webhook-firing"))
        assert first.status_code == 202, first.text
        [accepted] = first.json()["alerts"]
        assert accepted["dedup_key"] == "c0e3b5d0a6fc4512"
        assert accepted["incident"] == "INC-1"

        repeat = api.post(url, json=fixture("alertmanager-webhook-firing")).json()["alerts"][0]
        assert (repeat["outcome"], repeat["incident"]) == ("deduplicated", "INC-1")
        assert api.get("/api/v1/incidents").json()["total"] == 1

        listed = api.get("/api/v1/alerts", params={"status": "firing"}).json()
        assert listed["total"] == 1
        alert = listed["items"][0]
        assert (alert["occurrences"], alert["service"], alert["integration"]) == (
            2,
            "checkout-api",
            "prom",
        )
        assert alert["raw"] is None  # lists leave the payload out
        one = api.get(f"/api/v1/alerts/{alert['id']}").json()
        assert one["raw"]["fingerprint"] == "c0e3b5d0a6fc4512"
        linked = api.get("/api/v1/incidents/INC-1/alerts").json()["items"]
        assert [a["id"] for a in linked] == [alert["id"]]
        by_incident = api.get("/api/v1/alerts", params={"incident": "INC-1"}).json()
        assert by_incident["total"] == 1

        resolved = api.post(url, json=fixture("alertmanager-webhook-resolved"))
        assert resolved.status_code == 202
        assert api.get("/api/v1/incidents/INC-1").json()["status"] == "monitoring"
        assert api.get("/api/v1/alerts", params={"status": "resolved"}).json()["total"] == 1
        assert api.get("/api/v1/alerts", params={"service": "nope"}).json()["total"] == 0
        bad = api.get("/api/v1/alerts", params={"status": "sleeping"})
        assert bad.status_code == 422


def test_integration_keys_are_shown_once_and_disabled_keys_are_unknown(
    live_server: LiveServer,
) -> None:
    with admin(live_server) as api:
        created = api.post(
            "/api/v1/integrations",
            json={"name": "graf", "service": "checkout-api", "kind": "grafana"},
        )
        assert created.status_code == 201
        key = created.json()["key"]
        assert key.startswith(created.json()["key_prefix"])
        listing = api.get("/api/v1/integrations")
        assert key not in listing.text
        assert [i["name"] for i in listing.json()["items"]] == ["graf"]

        duplicate = api.post(
            "/api/v1/integrations",
            json={"name": "graf", "service": "checkout-api", "kind": "grafana"},
        )
        assert duplicate.status_code == 409
        unknown_service = api.post(
            "/api/v1/integrations", json={"name": "x", "service": "nope", "kind": "grafana"}
        )
        assert unknown_service.status_code == 422
        assert unknown_service.json()["errors"][0]["field"] == "service"

        responder = live_server.make_token("responder")
        forbidden = httpx.post(
            f"{live_server.url}/api/v1/integrations",
            json={"name": "y", "service": "checkout-api", "kind": "generic"},
            headers={"Authorization": f"Bearer {responder}"},
        )
        assert forbidden.status_code == 403

        body = {"alerts": [{"status": "firing", "labels": {"alertname": "Up"}}]}
        never = api.post("/api/v1/integrations/tcsi_never-existed/grafana", json=body)
        assert never.status_code == 404
        assert api.post(f"/api/v1/integrations/{key}/grafana", json=body).status_code == 202

        gone = api.delete(f"/api/v1/integrations/{created.json()['id']}")
        assert gone.status_code == 200 and gone.json()["disabled_at"]
        disabled = api.post(f"/api/v1/integrations/{key}/grafana", json=body)
        assert (disabled.status_code, disabled.json()) == (never.status_code, never.json())
        assert api.delete("/api/v1/integrations/nope").status_code == 404


def test_bad_bodies_get_400_naming_the_field(live_server: LiveServer) -> None:
    with admin(live_server) as api:
        key = create(api, "prom")
        url = f"/api/v1/integrations/{key}/alertmanager"
        missing = api.post(url, json={"status": "firing"})
        assert missing.status_code == 400
        assert missing.json()["errors"] == [
            {"field": "alerts", "message": "is missing; expected an array of alerts"}
        ]
        body = fixture("alertmanager-webhook-firing")
        body["alerts"][0]["startsAt"] = "yesterday"
        assert api.post(url, json=body).json()["errors"][0]["field"] == "alerts[0].startsAt"
        for raw in (b"", b"{", b"\xff\xfe{", b"[" * 100_000, b"null", b"12"):
            answer = api.post(url, content=raw, headers={"content-type": "application/json"})
            assert answer.status_code == 400, (raw[:10], answer.text)
            assert answer.json()["errors"][0]["field"] == "body"
        plain = api.post(url, content=b"x", headers={"content-type": "text/plain"})
        assert plain.status_code == 415
        huge = api.post(url, content=b"[" + b"0," * 600_000 + b"0]")
        assert huge.status_code == 413
        generic = api.post(f"/api/v1/integrations/{key}/events", json={"severity": "SEV1"})
        assert generic.json()["errors"][0]["field"] == "title"


def test_pagerduty_events_v2_wire_format(live_server: LiveServer) -> None:
    with admin(live_server) as api:
        key = create(api, "pd", kind="pagerduty")
        trigger = {
            "routing_key": key,
            "event_action": "trigger",
            "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"},
        }
        answer = api.post("/v2/enqueue", json=trigger)
        assert answer.status_code == 202
        body = answer.json()
        assert (body["status"], body["message"]) == ("success", "Event processed")
        dedup_key = body["dedup_key"]
        assert len(dedup_key) == 32
        assert api.get("/api/v1/incidents/INC-1").json()["status"] == "triggered"

        ack = {"routing_key": key, "event_action": "acknowledge", "dedup_key": dedup_key}
        assert api.post("/v2/enqueue", json=ack).json()["dedup_key"] == dedup_key
        assert api.get("/api/v1/incidents/INC-1").json()["status"] == "acknowledged"
        resolve = {**ack, "event_action": "resolve"}
        assert api.post("/v2/enqueue", json=resolve).status_code == 202
        assert api.get("/api/v1/incidents/INC-1").json()["status"] == "monitoring"

        invalid = api.post("/v2/enqueue", json={**trigger, "event_action": "explode"})
        assert invalid.status_code == 400
        assert invalid.json()["status"] == "invalid event"
        assert invalid.json()["message"] == "Event object is invalid"
        assert "event_action" in invalid.json()["errors"][0]
        malformed = api.post(
            "/v2/enqueue", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400 and malformed.json()["status"] == "invalid event"
        unknown = api.post("/v2/enqueue", json={**trigger, "routing_key": "R0UT1NGKEY"})
        assert unknown.status_code == 400
        assert unknown.json()["status"] == "invalid event"
        assert unknown.json()["errors"] == ["routing_key: no enabled integration has this key"]


def test_generic_and_grafana_endpoints(live_server: LiveServer) -> None:
    with admin(live_server) as api:
        key = create(api, "scripts", kind="generic")
        answer = api.post(
            f"/api/v1/integrations/{key}/events",
            json={"title": "Backup failed", "severity": "warning", "dedup_key": "backup"},
        )
        assert answer.status_code == 202
        assert answer.json()["alerts"][0]["dedup_key"] == "backup"
        grafana = {
            "status": "firing",
            "orgId": 1,
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "Latency", "service": "search"},
                    "dashboardURL": "http://grafana.example/d/1",
                }
            ],
        }
        assert api.post(f"/api/v1/integrations/{key}/grafana", json=grafana).status_code == 202
        items = api.get("/api/v1/alerts").json()["items"]
        assert {a["source"] for a in items} == {"generic", "grafana"}


def test_heartbeat_pings(live_server: LiveServer) -> None:
    with admin(live_server) as api:
        key = create(api, "cron", kind="heartbeat", heartbeat_interval="5m")
        alert_key = create(api, "prom")
        ping = api.post(f"/api/v1/heartbeats/{key}")
        assert ping.status_code == 202, ping.text
        assert ping.json()["integration"] == "cron"
        assert ping.json()["next_due_at"].startswith("2026-03-02T09:05:00")
        assert api.post("/api/v1/heartbeats/tcsi_unknown").status_code == 404
        wrong = api.post(f"/api/v1/heartbeats/{alert_key}")
        assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "key"
        alerts_to_beat = api.post(
            f"/api/v1/integrations/{key}/alertmanager", json=fixture("alertmanager-webhook-firing")
        )
        assert alerts_to_beat.status_code == 422
        no_interval = api.post(
            "/api/v1/integrations",
            json={"name": "b", "service": "checkout-api", "kind": "heartbeat"},
        )
        assert no_interval.status_code == 422
        absurd = api.post(
            "/api/v1/integrations",
            json={
                "name": "b",
                "service": "checkout-api",
                "kind": "heartbeat",
                "heartbeat_interval": "99999999999d",
            },
        )
        assert absurd.status_code == 422
        assert absurd.json()["errors"][0]["field"] == "heartbeat_interval"


def test_silences_mute_alerts(live_server: LiveServer) -> None:
    with admin(live_server) as api:
        key = create(api, "prom")
        ends = (live_server.clock.now() + timedelta(hours=2)).isoformat()
        added = api.post(
            "/api/v1/silences",
            json={"matchers": ['alertname="HighErrorRate"'], "ends_at": ends, "comment": "deploy"},
        )
        assert added.status_code == 201, added.text
        silence = added.json()
        assert (silence["state"], silence["created_by"]) == ("active", "admin")
        answer = api.post(
            f"/api/v1/integrations/{key}/alertmanager", json=fixture("alertmanager-webhook-firing")
        )
        [accepted] = answer.json()["alerts"]
        assert (accepted["outcome"], accepted["incident"]) == ("silenced", None)
        assert api.get("/api/v1/incidents").json()["total"] == 0

        assert [s["id"] for s in api.get("/api/v1/silences").json()["items"]] == [silence["id"]]
        expired = api.delete(f"/api/v1/silences/{silence['id']}")
        assert expired.json()["state"] == "expired"
        assert api.get("/api/v1/silences").json()["items"] == []
        assert len(api.get("/api/v1/silences", params={"state": "all"}).json()["items"]) == 1
        assert api.delete(f"/api/v1/silences/{silence['id']}").status_code == 409
        for duration in ("999999999d", "99999999999d"):
            long = api.post("/api/v1/silences", json={"matchers": ['a="b"'], "duration": duration})
            assert long.status_code == 422 and long.json()["errors"][0]["field"] == "duration"
        two = api.post(
            "/api/v1/silences", json={"matchers": ['a="b"'], "duration": "1h", "ends_at": ends}
        )
        assert two.status_code == 422
        bad = api.post("/api/v1/silences", json={"matchers": ["=~=("], "ends_at": ends})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "matchers[0]"
        viewer = live_server.make_token("viewer")
        denied = httpx.post(
            f"{live_server.url}/api/v1/silences",
            json={"matchers": ['a="b"'], "ends_at": ends},
            headers={"Authorization": f"Bearer {viewer}"},
        )
        assert denied.status_code == 403


def test_concurrent_requests_share_transactions_and_lose_nothing(live_server: LiveServer) -> None:
    with admin(live_server) as api:
        key = create(api, "prom")
    url = f"{live_server.url}/api/v1/integrations/{key}/alertmanager"

    def body(n: int) -> dict[str, Any]:
        alert = copy.deepcopy(fixture("alertmanager-webhook-firing")["alerts"][0])
        alert["fingerprint"] = f"fp-{n % 10}"
        alert["labels"]["instance"] = f"host-{n % 10}"
        return {"status": "firing", "alerts": [alert]}

    async def send_all() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            answers = await asyncio.gather(*(client.post(url, json=body(n)) for n in range(60)))
        return [a.status_code for a in answers]

    assert asyncio.run(send_all()) == [202] * 60
    with admin(live_server) as api:
        listed = api.get("/api/v1/alerts").json()
        assert listed["total"] == 10
        assert sum(a["occurrences"] for a in listed["items"]) == 60
        assert api.get("/api/v1/incidents").json()["total"] == 1


def test_one_failing_request_does_not_fail_its_group(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with admin(live_server) as api:
        key = create(api, "prom")
    real = alerts.ingest_batches

    def poisoned(**kwargs: Any) -> Any:
        for _, events in kwargs["batches"]:
            if any(e.dedup_key == "poison" for e in events):
                raise RuntimeError("boom")
        return real(**kwargs)

    monkeypatch.setattr(alerts, "ingest_batches", poisoned)
    good = fixture("alertmanager-webhook-firing")
    bad = copy.deepcopy(good)
    bad["alerts"][0]["fingerprint"] = "poison"
    committer = GroupCommitter(live_server.context)
    results = committer.commit(
        [
            Delivery(key, parse_alertmanager(good)),
            Delivery(key, parse_alertmanager(bad)),
            Delivery("tcsi_unknown", parse_alertmanager(good)),
        ]
    )
    assert isinstance(results[0], list) and results[0][0].dedup_key == "c0e3b5d0a6fc4512"
    assert isinstance(results[1], InternalFailure)
    assert type(results[2]).__name__ == "UnknownKey"
    with session_scope(live_server.context.sessions) as session:
        assert alerts.list_alerts(session=session)[1] == 1


def test_database_unreachable_gives_503_with_retry_after(
    policy_file: Path, clock: FakeClock
) -> None:
    dead = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/gone?connect_timeout=2"
    engine = create_db_engine(dead)
    context = AppContext(
        settings=Settings(policy=policy_file, database_url=dead),
        policy=PolicyStore(policy_file),
        sessions=SessionFactory(engine),
        clock=clock,
    )
    body = fixture("alertmanager-webhook-firing")
    with TestClient(create_app(context), raise_server_exceptions=False) as client:
        answer = client.post("/api/v1/integrations/tcsi_whatever/alertmanager", json=body)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "5"
        pd = client.post(
            "/v2/enqueue",
            json={"routing_key": "k", "event_action": "resolve", "dedup_key": "d"},
        )
        assert pd.status_code == 503 and pd.headers["retry-after"] == "5"
        change = client.post(
            "/v2/change/enqueue", json={"routing_key": "k", "payload": {"summary": "Deploy"}}
        )
        assert change.status_code == 503 and change.headers["retry-after"] == "5"
        assert change.json()["status"] == "unavailable"
        assert client.post("/api/v1/heartbeats/tcsi_x").status_code == 503
    engine.dispose()


def test_the_routes_answer_like_the_lane(live_server: LiveServer) -> None:
    """Without :class:`InboundLane` the router serves the same endpoints, the same way
    (they are what the OpenAPI document describes)."""
    with admin(live_server) as api:
        key = create(api, "prom")
        beat = create(api, "beat", kind="heartbeat", heartbeat_interval="1m")
    bare = FastAPI()
    bare.state.context = live_server.context
    install_error_handlers(bare)
    bare.include_router(integration_routes.router)
    firing = fixture("alertmanager-webhook-firing")
    requests: list[tuple[str, Any]] = [
        (f"/api/v1/integrations/{key}/alertmanager", firing),
        (f"/api/v1/integrations/{key}/alertmanager", {"alerts": 3}),
        (f"/api/v1/integrations/{key}/grafana", firing),
        (f"/api/v1/integrations/{key}/events", {"title": "x", "dedup_key": "k"}),
        ("/api/v1/integrations/tcsi_nope/events", {"title": "x"}),
        ("/v2/enqueue", {"routing_key": key, "event_action": "resolve", "dedup_key": "k"}),
        ("/v2/enqueue", {"routing_key": key, "event_action": "bounce"}),
        ("/v2/enqueue", {"routing_key": "tcsi_nope", "event_action": "resolve", "dedup_key": "k"}),
        ("/v2/change/enqueue", {"routing_key": key, "payload": {"summary": "Deploy 3"}}),
        ("/v2/change/enqueue", {"routing_key": "tcsi_nope", "payload": {"summary": "x"}}),
        ("/v2/change/enqueue", {"routing_key": key}),
        (f"/api/v1/heartbeats/{beat}", None),
        (f"/api/v1/heartbeats/{key}", None),
    ]
    with TestClient(bare) as client, httpx.Client(base_url=live_server.url) as lane:
        for path, body in requests:
            routed, laned = client.post(path, json=body), lane.post(path, json=body)
            assert routed.status_code == laned.status_code, (path, routed.text, laned.text)
            assert routed.json().keys() == laned.json().keys()
    paths = create_app(live_server.context).openapi()["paths"]
    assert "/v2/enqueue" in paths and "/api/v1/integrations/{key}/alertmanager" in paths
    assert "/v2/change/enqueue" in paths and "/api/v1/changes" in paths


def test_an_ingest_error_raised_in_any_route_is_a_400_naming_the_field() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/parse")
    def parse() -> None:
        raise IngestError("alerts[0].labels", "must not be empty; an alert is its labels")

    with TestClient(app) as client:
        answer = client.post("/parse")
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "alerts[0].labels: must not be empty; an alert is its labels",
        "errors": [
            {"field": "alerts[0].labels", "message": "must not be empty; an alert is its labels"}
        ],
    }
