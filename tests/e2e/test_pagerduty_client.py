"""PagerDuty's official Python client (``pagerduty``) and ``pdpyras`` talk to a real
`tocsin serve` over HTTPS.

The official client accepts only ``https://`` base URLs, so the server runs with
``--tls-cert/--tls-key`` made by trustme and the clients trust that CA alone. Each
client triggers two dedup_keys (two incidents), acknowledges and resolves one, sends
a change event (listed by the installed `tocsin change list`), and is refused in
PagerDuty's shape; the policy's per-key rate limit answers 429, which the official
client waits out and retries. The same run checks that integration keys, secrets in
URLs, never reach the server's log.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import httpx
import pagerduty
import pytest
from tests.support.servers import run_tocsin
from tests.support.tls_serve import TlsTocsin

from tocsin.policy import example_policy_text

with warnings.catch_warnings():  # pdpyras announces on import that it is deprecated
    warnings.simplefilter("ignore", UserWarning)
    import pdpyras

#: Four events per routing key in any 3 seconds: each client's fifth event below (its
#: change event) is refused with 429 until the window has room, and the client retries.
RATE_LIMIT = "\nalerting:\n  pagerduty:\n    rate_limit: 4\n    rate_window: 3s\n"


def policy() -> str:
    text = example_policy_text().replace("resolve_action: monitoring", "resolve_action: resolved")
    assert "resolve_action: resolved" in text and "\nalerting:\n" in text
    return text.replace("\nalerting:\n", RATE_LIMIT, 1)


def test_pagerduty_clients_over_tls(tmp_path: Path) -> None:
    keys: list[str] = []
    with TlsTocsin(tmp_path, policy(), "--no-worker", "--access-log") as tocsin:
        keys.append(official_client(tocsin))
        keys.append(pdpyras_client(tocsin))
        keys += keys_in_urls(tocsin)
        every = run_tocsin("change", "list", "--json", cwd=tmp_path, env=cli_env(tocsin))
        assert every.returncode == 0, every.stderr
        listed = json.loads(every.stdout)["items"]
        assert {c["summary"] for c in listed} == {"Deployed checkout 1.4.2", "Rotated secrets"}
        assert {c["service"] for c in listed} == {"checkout-api"}
        # pdpyras stamped its change with the time of sending; the other is older.
        recent = run_tocsin("change", "list", "--since", "10m", cwd=tmp_path, env=cli_env(tocsin))
        assert recent.returncode == 0, recent.stderr
        assert "Rotated secrets" in recent.stdout and "1.4.2" not in recent.stdout
    output = tocsin.output
    # Both clients waited out a 429 on their change event and sent it again.
    assert output.count('"POST /v2/change/enqueue HTTP/1.1" 429') >= 2
    assert output.count('"POST /v2/change/enqueue HTTP/1.1" 202') == 2
    assert "/api/v1/integrations/***/alertmanager" in output
    assert "/api/v1/heartbeats/***" in output
    for key in keys:
        assert key not in output


def cli_env(tocsin: TlsTocsin) -> dict[str, str]:
    """The installed CLI, as the test's user: credentials from `tocsin init`, the CA."""
    return {**tocsin.env, "SSL_CERT_FILE": str(tocsin.tls.ca)}


def official_client(tocsin: TlsTocsin) -> str:
    key = tocsin.integration("pd", "pagerduty")
    client = pagerduty.EventsApiV2Client(key, base_url=tocsin.base, verify=tocsin.trust())
    client.sleep_timer = 0.5  # its first back-off on 429, shortened for the test
    with client:
        dedup_key = client.trigger("Checkout API 5xx above 5%", "web-1", severity="error")
        disk = client.trigger("Disk full", "db-1", dedup_key="disk/db-1", severity="critical")
        assert disk == "disk/db-1"
        first, second = tocsin.incidents()
        assert (first["title"], first["severity"], first["status"]) == (
            "Checkout API 5xx above 5%",
            "SEV2",
            "triggered",
        )
        assert (second["title"], second["severity"]) == ("Disk full", "SEV1")
        alerts = tocsin.get("/api/v1/alerts")["items"]
        assert {a["dedup_key"] for a in alerts} == {dedup_key, "disk/db-1"}
        assert {a["source"] for a in alerts} == {"pagerduty"}

        assert client.acknowledge(dedup_key) == dedup_key
        assert status(tocsin, first) == "acknowledged"
        assert status(tocsin, second) == "triggered"  # the other alert's incident waits
        assert client.resolve(dedup_key) == dedup_key
        assert status(tocsin, first) == "resolved"
        assert status(tocsin, second) == "triggered"

        client.send_change_event(
            payload={
                "summary": "Deployed checkout 1.4.2",
                "source": "ci",
                "timestamp": "2026-01-05T08:55:00Z",
                "custom_details": {"build": 812},
            },
            links=[{"href": "https://ci.example.com/builds/812", "text": "Build 812"}],
        )
        with pytest.raises(pagerduty.HttpError) as refused:
            client.send_event("trigger", payload={"summary": "no source"})
        assert_invalid(refused.value.response, "payload.source: is missing or blank")
    stranger = pagerduty.EventsApiV2Client("not-a-key", base_url=tocsin.base, verify=tocsin.trust())
    with stranger, pytest.raises(pagerduty.HttpError) as unknown:
        stranger.trigger("x", "y")
    assert_invalid(unknown.value.response, "routing_key: no enabled integration has this key")
    return key


def pdpyras_client(tocsin: TlsTocsin) -> str:
    key = tocsin.integration("pdpyras", "pagerduty")
    session = pdpyras.EventsAPISession(key)
    session.url = tocsin.base
    session.verify = str(tocsin.tls.ca)
    session.trust_env = False  # else requests takes REQUESTS_CA_BUNDLE over `verify`
    session.sleep_timer = 0.5
    before = len(tocsin.incidents())
    with session:
        one = session.trigger("Queue backlog", "worker-3", severity="warning")
        two = session.trigger("Queue backlog", "worker-4", dedup_key="q/4", severity="warning")
        assert two == "q/4" and one != two
        made = tocsin.incidents()[before:]
        assert [i["severity"] for i in made] == ["SEV3", "SEV3"]
        assert session.acknowledge(one) == one
        assert status(tocsin, made[0]) == "acknowledged"
        assert status(tocsin, made[1]) == "triggered"
        assert session.resolve(one) == one
        assert status(tocsin, made[0]) == "resolved"
    changes = pdpyras.ChangeEventsAPISession(key)
    changes.url, changes.verify, changes.trust_env = tocsin.base, str(tocsin.tls.ca), False
    changes.sleep_timer = 0.5
    with changes:
        change_id = changes.submit("Rotated secrets", "vault", custom_details={"keys": 3})
        listed = tocsin.get("/api/v1/changes", service="checkout-api")["items"]
        assert [c["id"] for c in listed if c["summary"] == "Rotated secrets"] == [int(change_id)]
    stranger = pdpyras.EventsAPISession("not-a-key")
    stranger.url, stranger.verify = tocsin.base, str(tocsin.tls.ca)
    stranger.trust_env = False
    with stranger, pytest.raises(pdpyras.PDClientError) as unknown:
        stranger.trigger("x", "y")
    response = unknown.value.response
    assert response is not None and response.status_code == 400
    assert response.json()["status"] == "invalid event"
    return key


def status(tocsin: TlsTocsin, incident: dict[str, Any]) -> str:
    found: str = tocsin.get(f"/api/v1/incidents/{incident['id']}")["status"]
    return found


def assert_invalid(response: httpx.Response | None, error: str) -> None:
    assert response is not None and response.status_code == 400
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": [error],
    }


def keys_in_urls(tocsin: TlsTocsin) -> list[str]:
    """Keys in inbound URLs: these requests must reach the access log with the key cut."""
    assert tocsin.api is not None
    am_key = tocsin.integration("prom", "alertmanager")
    created = tocsin.api.post(
        "/api/v1/integrations",
        json={
            "name": "cron",
            "service": "checkout-api",
            "kind": "heartbeat",
            "heartbeat_interval": "10m",
        },
    )
    beat_key: str = created.json()["key"]
    sent = tocsin.api.post(
        f"/api/v1/integrations/{am_key}/alertmanager",
        json={"alerts": [{"status": "firing", "labels": {"alertname": "Up", "service": "x"}}]},
    )
    assert sent.status_code == 202
    assert tocsin.api.post(f"/api/v1/heartbeats/{beat_key}").status_code == 202
    return [am_key, beat_key]
