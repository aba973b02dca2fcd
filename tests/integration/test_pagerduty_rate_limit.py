"""A per-routing-key rate limit set in the policy (``alerting.pagerduty``) refuses the
events beyond it with PagerDuty's 429, which its clients retry; the refused events
store nothing, and other keys are not held back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer

from tocsin.policy import example_policy_text


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    text = example_policy_text()
    assert "\nalerting:\n" in text
    limited = "\nalerting:\n  pagerduty:\n    rate_limit: 3\n    rate_window: 1m\n"
    path = tmp_path / "tocsin.yaml"
    path.write_text(text.replace("\nalerting:\n", limited, 1), encoding="utf-8")
    return path


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    ) as client:
        yield client


def key_for(api: httpx.Client, name: str) -> str:
    answer = api.post(
        "/api/v1/integrations", json={"name": name, "service": "checkout-api", "kind": "pagerduty"}
    )
    assert answer.status_code == 201
    key: str = answer.json()["key"]
    return key


def trigger(key: str, dedup_key: str) -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": f"Alert {dedup_key}", "source": "web-1", "severity": "error"},
    }


def test_events_beyond_the_limit_get_pagerdutys_429(
    api: httpx.Client, live_server: LiveServer
) -> None:
    key, other = key_for(api, "pd"), key_for(api, "pd-other")
    change = {"routing_key": key, "payload": {"summary": "Deploy 7"}}
    assert api.post("/v2/enqueue", json=trigger(key, "a")).status_code == 202
    ack = {"routing_key": key, "event_action": "acknowledge", "dedup_key": "a"}
    assert api.post("/v2/enqueue", json=ack).status_code == 202
    assert api.post("/v2/change/enqueue", json=change).status_code == 202
    for path, body in (("/v2/enqueue", trigger(key, "b")), ("/v2/change/enqueue", change)):
        refused = api.post(path, json=body)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"
        assert refused.json() == {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly.  Please retry later.",
        }
    assert api.post("/v2/enqueue", json=trigger(other, "c")).status_code == 202
    assert {a["dedup_key"] for a in api.get("/api/v1/alerts").json()["items"]} == {"a", "c"}
    assert api.get("/api/v1/changes").json()["total"] == 1

    live_server.clock.advance(timedelta(seconds=59))
    assert api.post("/v2/enqueue", json=trigger(key, "b")).status_code == 429
    live_server.clock.advance(timedelta(seconds=2))  # the first events left the window
    assert api.post("/v2/enqueue", json=trigger(key, "b")).status_code == 202
