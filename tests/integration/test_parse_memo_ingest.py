"""Repeats that the parse memo answers are stored like any other: a changed annotation
is stored, and one integration's alerts never stand in for another's."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import LiveServer
from tests.support.alertmanager import firing_body

from tocsin.alerts.inbox import INBOX_THRESHOLD
from tocsin.ingest.memo import KeptEvent
from tocsin.web.groupcommit import GroupCommitter
from tocsin.web.inbound import Inbound

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"


def firing() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURE / "alertmanager-webhook-firing.json").read_text())
    return body


def create(api: httpx.Client, name: str) -> str:
    answer = api.post(
        "/api/v1/integrations",
        json={"name": name, "service": "checkout-api", "kind": "alertmanager"},
    )
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


def stored(api: httpx.Client, integration: str) -> dict[str, Any]:
    listed = api.get("/api/v1/alerts", params={"status": "firing"}).json()["items"]
    [alert] = [a for a in listed if a["integration"] == integration]
    one: dict[str, Any] = api.get(f"/api/v1/alerts/{alert['id']}").json()
    return one


def test_repeats_answered_by_the_memo_store_what_changed(live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, timeout=10, headers=headers) as api:
        first, second = create(api, "prom-a"), create(api, "prom-b")
        url = f"/api/v1/integrations/{first}/alertmanager"
        for _ in range(3):  # the second and third are answered by the memo
            answer = api.post(url, json=firing())
            assert answer.status_code == 202, answer.text
        assert answer.json()["alerts"][0]["outcome"] == "deduplicated"
        assert stored(api, "prom-a")["occurrences"] == 3

        changed = firing()
        changed["alerts"][0]["annotations"]["summary"] = "5xx rate above 50%"
        assert api.post(url, json=changed).status_code == 202
        alert = stored(api, "prom-a")
        assert alert["occurrences"] == 4
        assert alert["annotations"]["summary"] == "5xx rate above 50%"
        assert api.post(url, json=firing()).status_code == 202
        assert stored(api, "prom-a")["annotations"]["summary"] == "5xx rate above 5%"

        other = api.post(f"/api/v1/integrations/{second}/alertmanager", json=firing())
        assert other.status_code == 202
        [accepted] = other.json()["alerts"]
        assert accepted["outcome"] != "deduplicated"
        assert stored(api, "prom-b")["occurrences"] == 1
        assert stored(api, "prom-a")["occurrences"] == 5

        unknown = api.post(
            "/api/v1/integrations/tcsi_nobody/alertmanager", json=copy.deepcopy(changed)
        )
        assert unknown.status_code == 404


def test_a_body_queued_to_the_inbox_teaches_the_memo_its_alerts(live_server: LiveServer) -> None:
    """A queued body is stored as surely as one decided at once, so its alerts are kept
    too: without them, a flood of repeats that overflowed into the inbox stayed there,
    each repeat weighing as much as a new alert and each later body queued behind it."""
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, timeout=10, headers=headers) as api:
        key = create(api, "prom-flood")
    body = firing_body("flood-", INBOX_THRESHOLD + 100)
    inbound = Inbound(GroupCommitter(live_server.context))
    answer = asyncio.run(inbound.alerts("alertmanager", key, json.dumps(body).encode()))
    assert answer.status == 202 and answer.body["queued"] == INBOX_THRESHOLD + 100
    again = inbound.memo.lookup("alertmanager", key)
    assert all(isinstance(again(element), KeptEvent) for element in body["alerts"])
