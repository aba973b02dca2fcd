"""The incident page shows the messages the console channel delivered, in full, and
the channel each message went by, with the example policy and no outside channel set up
(a real server, the real delivery worker)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.support.dashboard_session import Browser, add_user, cheap_hashing

from tocsin.engine.delivery import DeliveryWorker

if TYPE_CHECKING:
    from tests.conftest import LiveServer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def rita(live_server: LiveServer) -> Iterator[Browser]:
    add_user(live_server.context, "rita", role="responder", person="alice")
    with Browser(live_server.url) as browser:
        assert browser.sign_in("rita").status_code == 303
        yield browser


def test_the_incident_page_shows_console_messages_in_full(
    live_server: LiveServer, rita: Browser
) -> None:
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=10) as api:
        answer = api.post(
            "/api/v1/incidents",
            json={"title": "Checkout down", "severity": "SEV2", "services": ["checkout-api"]},
        )
        assert answer.status_code == 201, answer.text
        ref = answer.json()["id"]
        context = live_server.context
        worker = DeliveryWorker(
            sessions=context.sessions, policy=context.policy, clock=context.clock, environ={}
        )
        try:
            worker.run_due()
        finally:
            worker.shutdown()
        notes = api.get(f"/api/v1/incidents/{ref}/notifications").json()["items"]

    pages = [n for n in notes if n["kind"] == "page"]
    assert sorted(n["person"] for n in pages) == ["bob", "erin"]  # the payments team
    for note in pages:
        assert note["state"] == "sent"
        assert [d["channel"] for d in note["deliveries"]] == ["console"]
    page_note = pages[0]
    skipped = [n for n in notes if n["state"] == "cancelled"]  # the Slack incident channel
    assert all(n["delay_reason"] == "skipped: slack is not configured" for n in skipped)
    assert not [n for n in notes if n["state"] == "failed"]

    page = rita.get(f"/dashboard/incidents/{ref}")
    assert page.status_code == 200
    row = re.search(rf'<tr data-notification="{page_note["id"]}">.*?</tr>', page.text, re.S)
    assert row is not None
    shown = html.unescape(row.group(0))
    assert "<td>console<details" in shown
    assert "<summary>Message</summary>" in shown
    assert f"[SEV2] {ref}: Checkout down" in shown
    assert "Why you: tier 1 of payments" in shown  # the page's text, in full
    assert "skipped: slack is not configured" in html.unescape(page.text)
