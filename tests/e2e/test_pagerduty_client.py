"""PagerDuty's official Python client talks to a real `tocsin serve` over HTTPS.

The client accepts only ``https://`` base URLs, so the server runs with
``--tls-cert/--tls-key`` made by trustme, and the client trusts that CA alone (its
``verify``). Trigger, acknowledge and resolve each have their effect on the incident,
and the client gets its ``dedup_key`` back. The same run checks that integration keys,
which are secrets in URLs, never reach the server's log.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pagerduty
import pytest
from tests.support.servers import (
    clean_env,
    free_port,
    run_tocsin,
    start_server,
    stop_server,
    write_tls_files,
)

from tocsin.policy import example_policy_text


def test_pagerduty_client_trigger_acknowledge_resolve_over_tls(tmp_path: Path) -> None:
    policy = example_policy_text().replace("resolve_action: monitoring", "resolve_action: resolved")
    assert "resolve_action: resolved" in policy
    (tmp_path / "tocsin.yaml").write_text(policy, encoding="utf-8")
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    env = clean_env()
    assert run_tocsin("init", "--url", base, cwd=tmp_path, env=env).returncode == 0
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    tls = write_tls_files(tmp_path / "tls")

    server = start_server(tmp_path, port, env, "--no-worker", "--access-log", tls=tls)
    keys: list[str] = []
    try:
        with httpx.Client(
            base_url=base,
            verify=tls.client_context(),
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        ) as api:
            keys = _exchange(api, base, tls.client_context())
    finally:
        output = stop_server(server)
    assert keys and "POST /v2/enqueue" in output
    assert "/api/v1/integrations/***/alertmanager" in output
    assert "/api/v1/heartbeats/***" in output
    for key in keys:
        assert key not in output


def _create(api: httpx.Client, name: str, kind: str, **extra: str) -> str:
    created = api.post(
        "/api/v1/integrations",
        json={"name": name, "service": "checkout-api", "kind": kind, **extra},
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


def _exchange(api: httpx.Client, base: str, trust: object) -> list[str]:
    key = _create(api, "pd", "pagerduty")
    client = pagerduty.EventsApiV2Client(key, base_url=base, verify=trust)
    try:
        dedup_key = client.trigger("Checkout API 5xx above 5%", "web-1", severity="error")
        [incident] = api.get("/api/v1/incidents").json()["items"]
        assert (incident["status"], incident["severity"]) == ("triggered", "SEV2")
        [alert] = api.get("/api/v1/alerts").json()["items"]
        assert alert["dedup_key"] == dedup_key and alert["source"] == "pagerduty"

        assert client.acknowledge(dedup_key) == dedup_key
        ref = incident["id"]
        assert api.get(f"/api/v1/incidents/{ref}").json()["status"] == "acknowledged"
        assert client.resolve(dedup_key) == dedup_key
        assert api.get(f"/api/v1/incidents/{ref}").json()["status"] == "resolved"

        own = client.trigger("Disk full", "db-1", dedup_key="disk/db-1", severity="warning")
        assert own == "disk/db-1"
        with pytest.raises(pagerduty.HttpError) as refused:
            client.send_event("trigger", payload={"summary": "no source"})
        answer = refused.value.response
        assert answer is not None and answer.status_code == 400
        assert answer.json()["status"] == "invalid event"
    finally:
        client.close()
    stranger = pagerduty.EventsApiV2Client("not-a-key", base_url=base, verify=trust)
    with stranger, pytest.raises(pagerduty.HttpError) as unknown:
        stranger.trigger("x", "y")
    assert unknown.value.response is not None
    assert unknown.value.response.status_code == 404

    # Keys in URLs: these requests must show up in the access log with the key cut.
    am_key = _create(api, "prom", "alertmanager")
    beat_key = _create(api, "cron", "heartbeat", heartbeat_interval="10m")
    sent = api.post(
        f"/api/v1/integrations/{am_key}/alertmanager",
        json={"alerts": [{"status": "firing", "labels": {"alertname": "Up", "service": "x"}}]},
    )
    assert sent.status_code == 202
    assert api.post(f"/api/v1/heartbeats/{beat_key}").status_code == 202
    return [key, am_key, beat_key]
