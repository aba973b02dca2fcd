"""Checklists through the real server: the REST API as responders and viewers use it,
the installed ``tocsin task`` command in a subprocess, and the dashboard's forms,
against the example policy with its resolution checklist required before resolving."""

from __future__ import annotations

import html
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer
from tests.support.api import ApiAs
from tests.support.dashboard_session import Browser, add_user, cheap_hashing
from tests.support.servers import TOCSIN, clean_env

from tocsin.policy import example_policy_text

RESOLUTION = [
    "The fix is in place",
    "Service health metrics are back to normal",
    "No error alerts are firing",
    "Watched for 30 minutes and stable",
    "Customer impact is confirmed over",
]


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    text = example_policy_text()
    switch = "required_to_resolve: false"
    assert text.count(switch) == 1
    path = tmp_path / "tocsin.yaml"
    path.write_text(text.replace(switch, "required_to_resolve: true"), encoding="utf-8")
    return path


def declare(api: httpx.Client, severity: str = "SEV1") -> str:
    response = api.post(
        "/api/v1/incidents",
        json={"title": "Checkout errors", "severity": severity, "services": ["checkout-api"]},
    )
    assert response.status_code == 201, response.text
    ref: str = response.json()["id"]
    return ref


def items(api: httpx.Client, ref: str) -> dict[str, dict[str, Any]]:
    response = api.get(f"/api/v1/incidents/{ref}/tasks")
    assert response.status_code == 200, response.text
    return {i["text"]: i for c in response.json()["checklists"] for i in c["items"]}


def test_tick_skip_and_the_resolve_that_waits_for_the_resolution_checklist(
    api: httpx.Client, api_as: ApiAs
) -> None:
    ref = declare(api)
    body = api.get(f"/api/v1/incidents/{ref}/tasks").json()
    assert [c["name"] for c in body["checklists"]] == [
        "initial-response",
        "initial-investigation",
        "resolution",
    ]
    assert body["checklists"][2]["required_to_resolve"] is True
    before = items(api, ref)
    assert before["Acknowledge the page"]["state"] == "open"
    assert before["Acknowledge the page"]["due_at"] is not None

    assert api.post(f"/api/v1/incidents/{ref}/acknowledge").status_code == 200
    acknowledged = items(api, ref)["Acknowledge the page"]
    assert (acknowledged["state"], acknowledged["settled_by"]) == ("done", "tocsin")

    refused = api.post(f"/api/v1/incidents/{ref}/resolve")
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    numbers = {text: items(api, ref)[text]["number"] for text in RESOLUTION}
    for text in RESOLUTION:
        assert f"{numbers[text]}. {text}" in detail
    assert api.get(f"/api/v1/incidents/{ref}").json()["status"] == "acknowledged"

    # A viewer reads the lists but ticks nothing.
    viewer = api_as("viewer", "bob")
    assert viewer.get(f"/api/v1/incidents/{ref}/tasks").status_code == 200
    first = numbers["The fix is in place"]
    assert viewer.post(f"/api/v1/incidents/{ref}/tasks/{first}/done").status_code == 403
    assert items(api, ref)["The fix is in place"]["state"] == "open"

    # Skipping needs a reason; an unknown item is a 404; a second tick is a 409.
    no_reason = api.post(f"/api/v1/incidents/{ref}/tasks/{first}/skip", json={"reason": ""})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    missing = api.post(f"/api/v1/incidents/{ref}/tasks/999/done")
    assert missing.status_code == 404 and "no checklist item 999" in missing.json()["detail"]
    ticked = api.post(f"/api/v1/incidents/{ref}/tasks/{first}/done")
    assert ticked.status_code == 200 and ticked.json()["settled_by"] == "alice"
    again = api.post(f"/api/v1/incidents/{ref}/tasks/{first}/done")
    assert again.status_code == 409 and "already done by alice" in again.json()["detail"]

    for text in RESOLUTION[1:-1]:
        assert api.post(f"/api/v1/incidents/{ref}/tasks/{numbers[text]}/done").status_code == 200
    last = numbers[RESOLUTION[-1]]
    still = api.post(f"/api/v1/incidents/{ref}/resolve")
    assert still.status_code == 409
    assert f"1 open item: {last}. Customer impact is confirmed over" in still.json()["detail"]
    skipped = api.post(
        f"/api/v1/incidents/{ref}/tasks/{last}/skip", json={"reason": "internal only"}
    )
    assert skipped.json()["state"] == "skipped"
    assert api.post(f"/api/v1/incidents/{ref}/resolve").status_code == 200

    timeline = api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
    ticks = [(e["kind"], e["actor"]) for e in timeline if e["kind"].startswith("checklist_")]
    assert ticks.count(("checklist_ticked", "alice")) == 4
    assert ("checklist_skipped", "alice") in ticks
    assert ("checklist_ticked", "tocsin") in ticks


def _tocsin(server: LiveServer, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env({"TOCSIN_URL": server.url, "TOCSIN_TOKEN": token})
    result = subprocess.run(
        [TOCSIN, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in result.stderr
    assert token not in result.stdout + result.stderr
    return result


def test_the_installed_task_command(live_server: LiveServer, api: httpx.Client) -> None:
    ref = declare(api, "SEV2")
    alice = live_server.make_token("responder", "alice")
    listed = _tocsin(live_server, alice, "task", "list", ref)
    assert listed.returncode == 0, listed.stderr
    assert "Immediate actions: the first 5 minutes (commander)" in listed.stdout
    assert "Resolution (commander)  required to resolve" in listed.stdout
    numbers = {text: items(api, ref)[text]["number"] for text in RESOLUTION}

    blocked = _tocsin(live_server, alice, "incident", "resolve", ref)
    assert blocked.returncode == 1
    assert "cannot be resolved yet" in blocked.stderr
    assert f"{numbers['The fix is in place']}. The fix is in place" in blocked.stderr

    for text in RESOLUTION[:-1]:
        done = _tocsin(live_server, alice, "task", "done", ref, str(numbers[text]))
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"Ticked {numbers[text]}. {text}"
    last = str(numbers[RESOLUTION[-1]])
    no_reason = _tocsin(live_server, alice, "task", "skip", ref, last)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    skipped = _tocsin(live_server, alice, "task", "skip", ref, last, "--reason", "no customers")
    assert skipped.returncode == 0, skipped.stderr
    assert "[-]" in _tocsin(live_server, alice, "task", "list", ref).stdout

    viewer = live_server.make_token("viewer", "bob")
    denied = _tocsin(live_server, viewer, "task", "done", ref, "1")
    assert denied.returncode == 1 and "permission denied" in denied.stderr

    assert _tocsin(live_server, alice, "incident", "resolve", ref).returncode == 0
    assert api.get(f"/api/v1/incidents/{ref}").json()["status"] == "resolved"


def test_the_dashboard_refuses_the_resolve_and_names_the_open_items(
    live_server: LiveServer, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap_hashing(monkeypatch)
    add_user(live_server.context, "rita", role="responder", person="alice")
    ref = declare(api, "SEV3")
    page = f"/dashboard/incidents/{ref}"
    with Browser(live_server.url) as browser:
        assert browser.sign_in("rita").status_code == 303
        shown = browser.follow(browser.submit(page, f"{page}/resolve")).text
        assert "cannot be resolved yet" in html.unescape(shown)
        assert api.get(f"/api/v1/incidents/{ref}").json()["status"] == "triggered"
        numbers = items(api, ref)
        for text in RESOLUTION:
            number = numbers[text]["number"]
            done = browser.follow(browser.submit(page, f"{page}/tasks/{number}/done")).text
            assert f"Ticked {number}. {text}" in html.unescape(done)
        browser.follow(browser.submit(page, f"{page}/resolve"))
    assert api.get(f"/api/v1/incidents/{ref}").json()["status"] == "resolved"
    assert {i["settled_by"] for t, i in items(api, ref).items() if t in RESOLUTION} == {"alice"}
