"""The incident page's likely causes in real Chromium against a real `tocsin serve`:
a checkout incident downstream of a database incident shows the database deploy as
its top hint, with the build link; a responder confirms it with the button, rules the
other hint out, and the page and the API say so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from tests.support.browser import TocsinServer, assert_keyboard_reaches_everything, screenshot

pytestmark = pytest.mark.browser

USERNAME = "rosa"
PASSWORD = "correct horse battery staple 42"
BUILD = "https://ci.example.com/builds/4471"


@pytest.fixture(scope="module")
def responder(tocsin: TocsinServer) -> str:
    created = tocsin.cli(
        "user", "create", USERNAME, "--role", "responder", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert created.returncode == 0, created.stdout + created.stderr
    return USERNAME


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/dashboard")


def test_a_responder_confirms_the_deploy_with_the_button(
    tocsin: TocsinServer, responder: str, page: Page
) -> None:
    with tocsin.api() as api:
        key = api.post(
            "/api/v1/integrations",
            json={"name": "monitoring", "service": "checkout-api", "kind": "generic"},
        ).json()["key"]
        deployed = datetime.now(UTC) - timedelta(minutes=3)
        change = api.post(
            "/api/v1/changes",
            json={
                "service": "payments-db",
                "summary": "Deploy payments-db schema 2026.03.1",
                "timestamp": deployed.isoformat(),
                "links": [{"href": BUILD, "text": "Build 4471"}],
            },
        )
        assert change.status_code == 201, change.text
        refs = []
        for title, service in (
            ("payments-db down", "payments-db"),
            ("Checkout 5xx", "checkout-api"),
        ):
            body = {"title": title, "severity": "critical", "labels": {"service": service}}
            answer = api.post(f"/api/v1/integrations/{key}/events", json=body)
            assert answer.status_code == 202, answer.text
            refs.append(answer.json()["alerts"][0]["incident"])
    db, checkout = refs

    sign_in(page, tocsin.url)
    page.goto(f"{tocsin.url}/dashboard/incidents/{checkout}")
    expect(page.get_by_test_id("downstream-of")).to_contain_text(f"Downstream of {db}")
    hints = page.get_by_test_id("hint")
    top = hints.first
    expect(top).to_contain_text("Deploy payments-db schema 2026.03.1")
    expect(top.get_by_role("link", name="Deploy payments-db schema 2026.03.1")).to_have_attribute(
        "href", BUILD
    )
    expect(page.get_by_test_id("recent-changes")).to_contain_text("payments-db")
    screenshot(page, "dashboard-incident-hints-desktop")
    assert_keyboard_reaches_everything(page)

    top.get_by_role("button", name="Confirm cause").click()
    expect(page.locator("main")).to_contain_text("hint confirmed as the cause")
    confirmed = page.locator('[data-testid="hint"][data-status="confirmed"]')
    expect(confirmed).to_contain_text("confirmed as the cause by rosa")
    expect(confirmed.get_by_role("button")).to_have_count(0)

    other = page.locator('[data-testid="hint"][data-status="open"]').first
    other.get_by_role("button", name="Rule out").click()
    expect(page.locator('[data-testid="hint"][data-status="rejected"]')).to_contain_text(
        "ruled out by rosa"
    )
    screenshot(page, "dashboard-incident-hints-decided-desktop")

    page.goto(f"{tocsin.url}/dashboard/incidents/{db}")
    expect(page.get_by_test_id("upstream-of")).to_contain_text(checkout)

    with tocsin.api() as api:
        overview = api.get(f"/api/v1/incidents/{checkout}/hints").json()
    statuses = [(h["kind"], h["status"], h["decided_by"]) for h in overview["hints"]]
    assert statuses[0] == ("change", "confirmed", "rosa")
    assert statuses[-1][1:] == ("rejected", "rosa")
