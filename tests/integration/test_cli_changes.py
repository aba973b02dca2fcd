"""`tocsin change list` through the real CLI app against a live server (the fake clock
reads Monday 2026-03-02 09:00 UTC)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from tests.conftest import LiveServer
from typer.testing import CliRunner, Result

from tocsin.cli.main import app


def run(server: LiveServer, *args: str) -> Result:
    result = CliRunner().invoke(
        app,
        ["change", *args],
        env={"TOCSIN_URL": server.url, "TOCSIN_TOKEN": server.admin_token, "NO_COLOR": "1"},
        catch_exceptions=False,
    )
    assert server.admin_token not in result.output
    return result


def ok(server: LiveServer, *args: str) -> str:
    result = run(server, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def change(key: str, summary: str, timestamp: str, **extra: Any) -> dict[str, Any]:
    return {"routing_key": key, "payload": {"summary": summary, "timestamp": timestamp, **extra}}


def test_change_list(live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as api:
        keys = {
            service: api.post(
                "/api/v1/integrations",
                json={"name": f"{service}-pd", "service": service, "kind": "pagerduty"},
            ).json()["key"]
            for service in ("checkout-api", "web-frontend")
        }
        sent = [
            change(
                keys["checkout-api"], "Deployed checkout 1.4.2", "2026-03-02T08:55:00Z", source="ci"
            ),
            change(keys["web-frontend"], "Feature flag new-cart on", "2026-03-02T07:00:00Z"),
            change(keys["checkout-api"], "Deployed checkout 1.4.1", "2026-02-27T10:00:00Z"),
        ]
        sent[0]["links"] = [{"href": "https://ci.example.com/builds/812", "text": "Build 812"}]
        for body in sent:
            assert api.post("/v2/change/enqueue", json=body).status_code == 202

    table = ok(live_server, "list")
    lines = table.splitlines()
    assert lines[0].split() == ["WHEN", "SERVICE", "SUMMARY", "SOURCE", "LINK"]
    assert "2026-03-02 08:55Z" in lines[2] and "Deployed checkout 1.4.2" in lines[2]
    assert "ci" in lines[2] and "https://ci.example.com/builds/812" in lines[2]
    assert "Feature flag new-cart on" in lines[3] and "web-frontend" in lines[3]
    assert "1.4.1" in lines[4]

    checkout = json.loads(ok(live_server, "list", "--service", "checkout-api", "--json"))
    assert [c["summary"] for c in checkout["items"]] == [
        "Deployed checkout 1.4.2",
        "Deployed checkout 1.4.1",
    ]
    since = json.loads(ok(live_server, "list", "--since", "2026-03-01T00:00:00Z", "--json"))
    assert since["total"] == 2
    paged = ok(live_server, "list", "--limit", "1", "--offset", "1")
    assert "Feature flag new-cart on" in paged
    assert "Showing 2-2 of 3 changes; --offset 2 shows the next ones." in paged
    assert ok(live_server, "list", "--service", "payments-db").strip() == "No changes match."
    refused = run(live_server, "list", "--since", "2026-03-01T00:00:00")  # no offset
    assert refused.exit_code == 1 and "since" in refused.stderr
