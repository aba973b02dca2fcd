"""The public status page in real Chromium, fed by incidents declared through the REST
API of a real `tocsin serve` with the example policy (SEV1 -> critical impact -> major
outage, SEV2 -> major impact -> partial outage; checkout-api is component Checkout in
group Payments, web-frontend is component Website)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from tests.support.browser import (
    MOBILE,
    PageFactory,
    TocsinServer,
    assert_keyboard_reaches_everything,
    declare,
    horizontal_overflow,
    screenshot,
    unreadable_text,
)

pytestmark = pytest.mark.browser

OPERATIONAL_GREEN = "rgb(26, 127, 55)"
LONG_URL = "https://status-mirror.example.com/" + "incident-notes/" * 8 + "checkout-api-5xx"


def component(page: Page, name: str) -> Locator:
    """The status text of one component row."""
    row = page.locator("li.component").filter(
        has=page.locator(".component-name", has_text=re.compile(f"^{name}$"))
    )
    return row.locator(".component-status")


def post_update(api: httpx.Client, incident: str, message: str, **fields: object) -> None:
    response = api.post(
        f"/api/v1/incidents/{incident}/updates", json={"message": message, **fields}
    )
    assert response.status_code == 201, response.text


def resolve(api: httpx.Client, incident: str) -> None:
    response = api.post(f"/api/v1/incidents/{incident}/resolve", json={})
    assert response.status_code == 200, response.text


def test_a_sev2_shows_a_partial_outage_with_its_public_update_until_resolved(
    tocsin: TocsinServer, page: Page
) -> None:
    with tocsin.api() as api:
        page.goto(f"{tocsin.url}/status")
        expect(page.get_by_role("heading", level=1)).to_have_text("All Systems Operational")
        expect(component(page, "Checkout")).to_have_text("Operational")

        inc = declare(api, "Cart 5xx after deploy 4711", "SEV2", "checkout-api")
        post_update(api, inc, "Deploy 4711 broke the cart; rolling back by hand", public=False)
        post_update(
            api, inc, "We found the cause and are rolling back.", public=True, status="identified"
        )
        page.reload()
        banner = page.get_by_role("heading", level=1)
        expect(banner).to_have_text("Partial System Outage")
        overall = page.locator("section.overall")
        assert overall.evaluate("e => getComputedStyle(e).backgroundColor") != OPERATIONAL_GREEN
        expect(component(page, "Checkout")).to_have_text("Partial outage")
        expect(component(page, "Login")).to_have_text("Operational")
        active = page.get_by_role("region", name="Active incidents")
        incident = active.get_by_role("article", name="Checkout - service disruption")
        expect(incident).to_contain_text("Identified")
        expect(incident).to_contain_text("We found the cause and are rolling back.")
        expect(incident).to_contain_text("We are currently investigating")
        expect(page.locator("body")).not_to_contain_text("Deploy 4711")
        expect(page.locator("body")).not_to_contain_text("Cart 5xx")
        screenshot(page, "status-incident-desktop")

        incident.get_by_role("link", name="Checkout - service disruption").click()
        expect(page).to_have_url(re.compile(r"/status/incidents/[^/]+$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Checkout - service disruption")
        expect(page.locator(".updates")).to_contain_text("We found the cause and are rolling back.")
        screenshot(page, "status-incident-page-desktop")
        incident_url = page.url

        resolve(api, inc)
        page.goto(f"{tocsin.url}/status")
        expect(page.get_by_role("heading", level=1)).to_have_text("All Systems Operational")
        expect(component(page, "Checkout")).to_have_text("Operational")
        expect(page.get_by_role("region", name="Active incidents")).to_have_count(0)
        past = page.get_by_role("region", name="Past incidents")
        expect(past.get_by_role("link", name="Checkout - service disruption")).to_be_visible()
        screenshot(page, "status-resolved-desktop")

        page.goto(incident_url)
        expect(page.locator(".updates .update").first).to_contain_text("has been resolved")


def test_at_375_px_nothing_scrolls_sideways_and_text_stays_readable(
    tocsin: TocsinServer, new_page: PageFactory
) -> None:
    with tocsin.api() as api:
        inc = declare(api, "Website down", "SEV1", "web-frontend")
        post_update(api, inc, f"Details for engineers: {LONG_URL}", public=True)
        try:
            phone = new_page(**MOBILE)
            pages = {
                "status-375": "/status",
                "status-history-375": "/status/history",
                "status-not-found-375": "/status/incidents/no-such-incident",
            }
            for name, path in pages.items():
                phone.goto(f"{tocsin.url}{path}")
                assert phone.evaluate("window.innerWidth") == 375
                assert horizontal_overflow(phone) == 0, name
                assert unreadable_text(phone) == [], name
                screenshot(phone, name)
            phone.goto(f"{tocsin.url}/status")
            expect(component(phone, "Website")).to_have_text("Major outage")
            phone.get_by_role("link", name="Website - service disruption").first.click()
            expect(phone.locator(".updates")).to_contain_text(LONG_URL)
            assert horizontal_overflow(phone) == 0
            assert unreadable_text(phone) == []
            screenshot(phone, "status-incident-page-375")
        finally:
            resolve(api, inc)


def test_the_keyboard_reaches_every_link_and_control_in_order_with_visible_focus(
    tocsin: TocsinServer, page: Page
) -> None:
    with tocsin.api() as api:
        resolve(api, declare(api, "Login errors", "SEV2", "auth-service"))
    page.goto(f"{tocsin.url}/status")
    reached = assert_keyboard_reaches_everything(page)
    assert reached[0] == "a Skip to main content"
    assert any(e.startswith("summary Days with incidents") for e in reached)
    assert any(e.startswith("input") for e in reached)
    assert reached[-1] == "a summary.json"

    page.goto(f"{tocsin.url}/status")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    screenshot(page, "status-skip-link-focused")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_subscribing_by_keyboard_through_the_labelled_form(
    tocsin: TocsinServer, page: Page
) -> None:
    page.goto(f"{tocsin.url}/status")
    email = page.get_by_label("Email address")
    expect(email).to_have_attribute("type", "email")
    email.focus()
    page.keyboard.press("Enter")
    assert email.evaluate("e => e.validity.valueMissing")  # the browser asks for an address
    expect(email).to_be_focused()
    page.keyboard.type("customer@localhost")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Subscribe to updates")
    email = page.get_by_label("Email address")
    expect(email).to_have_value("customer@localhost")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile("such as name@example.com"))
    screenshot(page, "status-subscribe-error-desktop")

    email.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("customer@example.com")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Subscribe")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    expect(page.get_by_role("status")).to_contain_text("customer@example.com")
    screenshot(page, "status-subscribed-desktop")
