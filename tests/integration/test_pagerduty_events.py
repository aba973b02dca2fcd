"""PagerDuty's Events API v2 over HTTP, with PagerDuty's semantics: each dedup_key is
one alert and (unless a route groups them) one incident; acknowledge per alert;
change events; PagerDuty's statuses and bodies for every refusal. On SQLite and
PostgreSQL, the example policy plus a route that groups by source; the fake clock
reads Monday 2026-03-02 09:00 UTC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer

from tocsin.policy import example_policy_text

#: Grouping PagerDuty events by their ``source`` (a payload field, so a label).
BY_SOURCE = """
    - name: datapipe-by-host
      match: ['group="prod-datapipe"']
      group_by: [source]

    - name: checkout
"""
INVALID = {"status": "invalid event", "message": "Event object is invalid"}


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    text = example_policy_text()
    assert "\n    - name: checkout\n" in text
    path = tmp_path / "tocsin.yaml"
    path.write_text(text.replace("\n    - name: checkout\n", BY_SOURCE, 1), encoding="utf-8")
    return path


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    ) as client:
        yield client


def integration(api: httpx.Client, name: str, kind: str = "pagerduty", **extra: Any) -> str:
    answer = api.post(
        "/api/v1/integrations",
        json={"name": name, "service": "checkout-api", "kind": kind, **extra},
    )
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


def trigger(key: str, dedup_key: str | None, summary: str, **payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "web-1", "severity": "error", **payload},
    }
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return body


def follow_up(key: str, action: str, dedup_key: str) -> dict[str, Any]:
    return {"routing_key": key, "event_action": action, "dedup_key": dedup_key}


def send(api: httpx.Client, body: Any, path: str = "/v2/enqueue") -> httpx.Response:
    return api.post(path, json=body)


def incidents(api: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/api/v1/incidents", params={"limit": 200}).json()[
        "items"
    ]
    return sorted(items, key=lambda i: int(i["id"].split("-")[1]))


def incident(api: httpx.Client, ref: str) -> dict[str, Any]:
    found: dict[str, Any] = api.get(f"/api/v1/incidents/{ref}").json()
    return found


def alert_of(api: httpx.Client, dedup_key: str) -> dict[str, Any]:
    [found] = [a for a in api.get("/api/v1/alerts").json()["items"] if a["dedup_key"] == dedup_key]
    return found


def test_each_dedup_key_is_its_own_alert_and_incident(api: httpx.Client) -> None:
    key = integration(api, "pd")
    disk = send(api, trigger(key, "disk/db-1", "Disk full on db-1", severity="warning"))
    assert disk.status_code == 202 and disk.json()["dedup_key"] == "disk/db-1"
    api_down = send(api, trigger(key, "api/5xx", "Checkout API 5xx", severity="critical"))
    assert api_down.status_code == 202
    first, second = incidents(api)
    # The critical event opened its own SEV1; the warning's incident stayed SEV3.
    assert (first["title"], first["severity"]) == ("Disk full on db-1", "SEV3")
    assert (second["title"], second["severity"]) == ("Checkout API 5xx", "SEV1")

    # A repeat of a dedup_key is the same alert: counted, no new incident.
    again = send(api, trigger(key, "disk/db-1", "Disk full on db-1", severity="warning"))
    assert again.json()["dedup_key"] == "disk/db-1"
    assert alert_of(api, "disk/db-1")["occurrences"] == 2
    assert len(incidents(api)) == 2

    # Acknowledging one alert acknowledges its incident and leaves the other alone.
    ack = send(api, follow_up(key, "acknowledge", "api/5xx"))
    assert ack.status_code == 202 and ack.json()["dedup_key"] == "api/5xx"
    assert incident(api, second["id"])["status"] == "acknowledged"
    assert incident(api, first["id"])["status"] == "triggered"
    assert alert_of(api, "api/5xx")["acknowledged_at"] is not None
    assert alert_of(api, "disk/db-1")["acknowledged_at"] is None

    # Resolve as before: the alert, then its incident (the example resolves to monitoring).
    assert send(api, follow_up(key, "resolve", "disk/db-1")).status_code == 202
    assert incident(api, first["id"])["status"] == "monitoring"
    assert incident(api, second["id"])["status"] == "acknowledged"
    # An acknowledge after the resolve is dropped, as at PagerDuty.
    assert send(api, follow_up(key, "acknowledge", "disk/db-1")).status_code == 202
    assert incident(api, first["id"])["status"] == "monitoring"
    assert alert_of(api, "disk/db-1")["status"] == "resolved"


def test_a_route_groups_by_source_and_acknowledge_waits_for_every_alert(
    api: httpx.Client,
) -> None:
    key = integration(api, "pd")
    datapipe = {"group": "prod-datapipe", "component": "kafka", "class": "disk"}
    for dedup_key, summary in (("d1", "Disk full"), ("d2", "Replication lag")):
        sent = send(api, trigger(key, dedup_key, summary, source="db-7", **datapipe))
        assert sent.status_code == 202
    send(api, trigger(key, "d3", "Disk full", source="db-8", **datapipe))
    by_host = incidents(api)
    assert len(by_host) == 2  # db-7's two alerts share one incident; db-8 has its own
    ref = by_host[0]["id"]
    linked = api.get(f"/api/v1/incidents/{ref}/alerts").json()["items"]
    assert {a["dedup_key"] for a in linked} == {"d1", "d2"}
    assert {a["labels"]["component"] for a in linked} == {"kafka"}
    assert linked[0]["group_key"] == 'checkout-api:{source="db-7"}'

    send(api, follow_up(key, "acknowledge", "d1"))
    assert incident(api, ref)["status"] == "triggered"  # d2 still waits for someone
    timeline = api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
    [noted] = [e for e in timeline if e["kind"] == "alert_acknowledged"]
    assert "1 firing alert(s) still unacknowledged" in noted["summary"]
    send(api, follow_up(key, "acknowledge", "d2"))
    assert incident(api, ref)["status"] == "acknowledged"
    assert incident(api, by_host[1]["id"])["status"] == "triggered"


def test_unknown_dedup_keys_are_accepted_and_change_nothing(api: httpx.Client) -> None:
    key = integration(api, "pd")
    send(api, trigger(key, "known", "Known alert"))
    for action in ("acknowledge", "resolve"):
        answer = send(api, follow_up(key, action, "never-sent"))
        assert answer.status_code == 202
        assert answer.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": "never-sent",
        }
    assert [a["dedup_key"] for a in api.get("/api/v1/alerts").json()["items"]] == ["known"]
    [only] = incidents(api)
    assert only["status"] == "triggered"


def test_a_trigger_without_dedup_key_gets_one_and_each_is_a_new_alert(
    api: httpx.Client,
) -> None:
    key = integration(api, "pd")
    keys = [send(api, trigger(key, None, "Ping failed")).json()["dedup_key"] for _ in range(2)]
    assert len(set(keys)) == 2 and all(len(k) == 32 for k in keys)
    assert len(incidents(api)) == 2
    assert send(api, follow_up(key, "resolve", keys[0])).json()["dedup_key"] == keys[0]
    assert alert_of(api, keys[0])["status"] == "resolved"
    assert alert_of(api, keys[1])["status"] == "firing"


@pytest.mark.parametrize(
    ("word", "severity"),
    [("critical", "SEV1"), ("error", "SEV2"), ("warning", "SEV3"), ("info", "SEV4")],
)
def test_payload_severity_values(api: httpx.Client, word: str, severity: str) -> None:
    key = integration(api, "pd")
    assert send(api, trigger(key, word, f"A {word} event", severity=word)).status_code == 202
    assert alert_of(api, word)["severity"] == severity
    refused = send(api, trigger(key, "x", "x", severity=word.upper()))
    assert refused.status_code == 400
    assert refused.json() == {
        **INVALID,
        "errors": [
            f"payload.severity: must be one of critical, error, warning, info, not {word.upper()!r}"
        ],
    }


def test_refusals_are_pagerduty_shaped_400s(api: httpx.Client) -> None:
    key = integration(api, "pd")
    beat = integration(api, "cron", kind="heartbeat", heartbeat_interval="10m")
    unknown = send(api, trigger("R0UT1NGKEY", "d", "x"))
    assert unknown.status_code == 400
    assert unknown.json() == {
        **INVALID,
        "errors": ["routing_key: no enabled integration has this key"],
    }
    heartbeat = send(api, trigger(beat, "d", "x"))
    assert heartbeat.status_code == 400 and "heartbeat" in heartbeat.json()["errors"][0]
    for content, content_type in (
        (b"routing_key=x", "application/x-www-form-urlencoded"),
        (b"{not json", "application/json"),
        (json.dumps(trigger(key, "d", "x")).encode(), "text/plain"),
    ):
        for path in ("/v2/enqueue", "/v2/change/enqueue"):
            answer = api.post(path, content=content, headers={"content-type": content_type})
            assert answer.status_code == 400, (path, content_type, answer.text)
            assert answer.json()["status"] == "invalid event"
            assert answer.json()["errors"][0].startswith("body: ")
    assert api.get("/api/v1/alerts").json()["items"] == []


def test_bodies_up_to_512_kib_are_taken(api: httpx.Client) -> None:
    key = integration(api, "pd")
    body = trigger(key, "big", "Large details", custom_details={"log": ""})
    empty = len(json.dumps(body).encode())
    body["payload"]["custom_details"]["log"] = "x" * (512 * 1024 - empty)
    exact = json.dumps(body).encode()
    assert len(exact) == 512 * 1024
    headers = {"content-type": "application/json"}
    assert api.post("/v2/enqueue", content=exact, headers=headers).status_code == 202
    body["dedup_key"] = "bog"  # as long as "big": the body grows by its one extra x
    body["payload"]["custom_details"]["log"] += "x"
    over = api.post("/v2/enqueue", content=json.dumps(body).encode(), headers=headers)
    assert over.status_code == 400
    assert over.json() == {
        **INVALID,
        "errors": ["body: 524289 bytes is larger than the limit of 512 KiB"],
    }
    # Beyond the server's own body limit (1 MiB by default), the same answer's shape.
    huge = api.post("/v2/change/enqueue", content=b"[" + b"0," * 600_000 + b"0]", headers=headers)
    assert huge.status_code == 400 and huge.json()["status"] == "invalid event"
    assert [a["dedup_key"] for a in api.get("/api/v1/alerts").json()["items"]] == ["big"]


def test_change_events_are_stored_on_the_service_and_listed(
    api: httpx.Client, live_server: LiveServer
) -> None:
    key = integration(api, "pd")
    other = api.post(
        "/api/v1/integrations",
        json={"name": "web-ci", "service": "web-frontend", "kind": "generic"},
    ).json()["key"]
    change = {
        "routing_key": key,
        "payload": {
            "summary": "Deployed checkout 1.4.2",
            "source": "ci",
            "timestamp": "2026-03-02T08:55:00Z",
            "custom_details": {"build": 812, "commit": "9f1c2e"},
        },
        "links": [{"href": "https://ci.example.com/builds/812", "text": "Build 812"}],
    }
    answer = send(api, change, "/v2/change/enqueue")
    assert answer.status_code == 202
    assert answer.json()["status"] == "success"
    assert answer.json()["message"] == "Change event processed"
    minimal = {"routing_key": other, "payload": {"summary": "Feature flag new-cart on"}}
    assert send(api, minimal, "/v2/change/enqueue").status_code == 202
    for hour in range(3):  # older deploys of checkout
        old = {
            **change,
            "payload": {"summary": f"Deploy {hour}", "timestamp": f"2026-03-01T0{hour}:00:00Z"},
        }
        assert send(api, old, "/v2/change/enqueue").status_code == 202

    page = api.get("/api/v1/changes").json()
    assert page["total"] == 5
    newest = page["items"][0]
    assert newest["service"] == "web-frontend"
    assert newest["timestamp"] == live_server.clock.now().isoformat().replace("+00:00", "Z")
    stored = page["items"][1]
    assert stored["id"] == int(answer.json()["id"])
    assert (stored["service"], stored["integration"]) == ("checkout-api", "pd")
    assert stored["summary"] == "Deployed checkout 1.4.2" and stored["source"] == "ci"
    assert stored["timestamp"] == "2026-03-02T08:55:00Z"
    assert stored["custom_details"] == {"build": 812, "commit": "9f1c2e"}
    assert stored["links"] == [{"href": "https://ci.example.com/builds/812", "text": "Build 812"}]

    checkout = api.get("/api/v1/changes", params={"service": "checkout-api"}).json()
    assert [c["summary"] for c in checkout["items"]] == [
        "Deployed checkout 1.4.2",
        "Deploy 2",
        "Deploy 1",
        "Deploy 0",
    ]
    since = api.get("/api/v1/changes", params={"since": "2026-03-01T01:00:00Z"}).json()
    assert since["total"] == 4
    second_page = api.get("/api/v1/changes", params={"limit": 2, "offset": 2}).json()
    assert [c["summary"] for c in second_page["items"]] == ["Deploy 2", "Deploy 1"]
    assert (second_page["total"], second_page["limit"], second_page["offset"]) == (5, 2, 2)
    naive = api.get("/api/v1/changes", params={"since": "2026-03-01T01:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "since"
    # Change events open no incident.
    assert incidents(api) == []


def test_change_event_refusals(api: httpx.Client) -> None:
    beat = integration(api, "cron", kind="heartbeat", heartbeat_interval="10m")
    path = "/v2/change/enqueue"
    for body, error in (
        ({"routing_key": "nope", "payload": {"summary": "x"}}, "routing_key: no enabled"),
        ({"routing_key": beat, "payload": {"summary": "x"}}, "routing_key: this is a heartbeat"),
        ({"routing_key": "nope", "payload": {}}, "payload.summary: is missing or blank"),
        ({"routing_key": "nope"}, "payload: expected an object"),
    ):
        answer = send(api, body, path)
        assert answer.status_code == 400
        assert answer.json()["status"] == "invalid event"
        assert answer.json()["errors"][0].startswith(error)
    assert api.get("/api/v1/changes").json()["total"] == 0
    assert api.get("/api/v1/changes", headers={"Authorization": ""}).status_code == 401
