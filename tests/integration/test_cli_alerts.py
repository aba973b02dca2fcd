"""`tocsin integration|alert|silence ...` through the real CLI app against a live server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import LiveServer
from typer.testing import CliRunner, Result

from tocsin.cli.main import app

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"


def run(server: LiveServer, *args: str) -> Result:
    result = CliRunner().invoke(
        app,
        list(args),
        env={"TOCSIN_URL": server.url, "TOCSIN_TOKEN": server.admin_token, "NO_COLOR": "1"},
        catch_exceptions=False,
    )
    assert server.admin_token not in result.output
    return result


def ok(server: LiveServer, *args: str) -> str:
    result = run(server, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(server: LiveServer, *args: str) -> Any:
    return json.loads(ok(server, *args, "--json"))


def test_integration_alert_and_silence_commands(live_server: LiveServer) -> None:
    out = ok(live_server, "integration", "create", "checkout-api", "--kind", "alertmanager")
    lines = out.strip().splitlines()
    key = lines[-1]
    assert key.startswith("tcsi_") and sum(key in line for line in lines) == 1
    assert "checkout-api-alertmanager" in out
    assert "/api/v1/integrations/<key>/alertmanager" in out

    listing = ok(live_server, "integration", "list")
    assert "checkout-api-alertmanager" in listing and key not in listing
    refused = run(live_server, "integration", "create", "nowhere", "--kind", "generic")
    assert refused.exit_code == 1 and "service" in refused.stderr

    body = json.loads((FIXTURE / "alertmanager-webhook-firing.json").read_text())
    sent = httpx.post(f"{live_server.url}/api/v1/integrations/{key}/alertmanager", json=body)
    assert sent.status_code == 202

    table = ok(live_server, "alert", "list", "--status", "firing")
    assert "HighErrorRate: 5xx rate above 5%" in table and "INC-1" in table
    assert ok(live_server, "alert", "list", "--service", "auth-service").strip() == (
        "No alerts match."
    )
    assert as_json(live_server, "alert", "list")["total"] == 1

    added = as_json(
        live_server,
        "silence",
        "add",
        "service=checkout-api",
        'alertname=~"High.*"',
        "--duration",
        "2h",
        "--comment",
        "deploy window",
    )
    assert added["ends_at"].startswith("2026-03-02T11:00:00")
    assert added["matchers"] == ['service="checkout-api"', 'alertname=~"High.*"']
    until = ok(
        live_server,
        "silence",
        "add",
        "env=test",
        "--until",
        "2026-03-03T00:00:00Z",
        "--comment",
        "x",
    )
    assert until.startswith("Silence ") and "(active)" in until
    both = run(live_server, "silence", "add", "a=b", "--comment", "x")
    assert both.exit_code == 1 and "--duration or --until" in both.stderr

    listed = ok(live_server, "silence", "list")
    assert "deploy window" in listed and "admin" in listed
    assert "expired" in ok(live_server, "silence", "expire", str(added["id"]))
    assert added["id"] not in [s["id"] for s in as_json(live_server, "silence", "list")["items"]]
    again = run(live_server, "silence", "expire", str(added["id"]))
    assert again.exit_code == 1 and "already expired" in again.stderr

    disabled = ok(live_server, "integration", "disable", "checkout-api-alertmanager")
    assert "refused from now on" in disabled
    gone = httpx.post(f"{live_server.url}/api/v1/integrations/{key}/alertmanager", json=body)
    assert gone.status_code == 404
