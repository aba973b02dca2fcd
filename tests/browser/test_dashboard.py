"""The signed-in dashboard in real Chromium against a real `tocsin serve`: signing in
(also by keyboard only), the incident list updating live over Server-Sent Events,
acting on an incident with its buttons, what the public status page shows meanwhile,
browser notifications for SEV1/SEV2, and the layout at 375 px."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Locator, Page, Response, expect
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

USERNAME = "dana"
PASSWORD = "correct horse battery staple 42"
LIVE_WITHIN_S = 1.0
"""How soon a change made elsewhere must show on an open dashboard page."""

RECORD_NOTIFICATIONS = """
window.__notifications = [];
window.__beeps = 0;
const RealNotification = window.Notification;
class RecordedNotification {
  constructor(title, options) {
    window.__notifications.push({title: String(title), body: String((options || {}).body || '')});
  }
  static get permission() { return RealNotification ? RealNotification.permission : 'denied'; }
  static requestPermission(callback) {
    const answer = RealNotification
      ? RealNotification.requestPermission() : Promise.resolve('denied');
    if (callback) answer.then(callback);
    return answer;
  }
  close() {}
  addEventListener() {}
  removeEventListener() {}
}
window.Notification = RecordedNotification;
const startOscillator = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__beeps += 1;
  return startOscillator.apply(this, args);
};
"""


@pytest.fixture(scope="module")
def user(tocsin: TocsinServer) -> str:
    """An admin user made with the CLI, as an operator would."""
    created = tocsin.cli(
        "user", "create", USERNAME, "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert PASSWORD not in created.stdout + created.stderr
    return USERNAME


def is_event_stream(response: Response) -> bool:
    return "/dashboard/events" in response.url


def open_dashboard(page: Page, url: str) -> None:
    """Open the list and wait until its event stream is connected."""
    with page.expect_response(is_event_stream):
        page.goto(f"{url}/dashboard")


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/dashboard")


def row(page: Page, incident: str) -> Locator:
    return page.locator(f'[data-incident="{incident}"]')


def show_within(locator: Locator, started: float, text: str | None = None) -> None:
    """Assert ``locator`` is visible (containing ``text``) within ``LIVE_WITHIN_S`` of
    ``started``, a ``time.monotonic()`` taken just before the change was made."""
    remaining_ms = max(1.0, (started + LIVE_WITHIN_S - time.monotonic()) * 1000)
    if text is None:
        expect(locator).to_be_visible(timeout=remaining_ms)
    else:
        expect(locator).to_contain_text(text, ignore_case=True, timeout=remaining_ms)


def watch_navigations(page: Page) -> list[str]:
    """URLs the page navigates to from now on (a live update must cause none)."""
    navigations: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    page.evaluate("window.__sameDocument = true")
    return navigations


def still_same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


def test_signing_in_and_out_with_the_keyboard_only(
    tocsin: TocsinServer, user: str, page: Page
) -> None:
    page.goto(f"{tocsin.url}/dashboard/oncall")
    expect(page).to_have_url(f"{tocsin.url}/login?next=/dashboard/oncall")
    username = page.get_by_label("Username")
    password = page.get_by_label("Password")
    expect(username).to_be_visible()
    expect(password).to_have_attribute("type", "password")
    screenshot(page, "login-desktop")

    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "username":
            break
    expect(username).to_be_focused()
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Wrong username or password")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login"))

    page.get_by_label("Username").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{tocsin.url}/dashboard/oncall")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(f"{tocsin.url}/dashboard")
    expect(page).to_have_url(re.compile(r"/login(\?next=.*)?$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_the_list_has_labelled_filters_nav_and_a_visible_keyboard_focus(
    tocsin: TocsinServer, user: str, page: Page
) -> None:
    with tocsin.api() as api:
        inc = declare(api, "Replica lag on the orders database", "SEV3", "payments-db")
        minor = declare(api, "Nightly report is late", "SEV4", "payments-db")
    sign_in(page, tocsin.url)
    expect(row(page, minor)).to_be_visible()
    expect(row(page, inc)).to_contain_text("Replica lag on the orders database")
    expect(row(page, inc).locator(".status")).to_contain_text("triggered", ignore_case=True)
    for name in ("Incidents", "On call", "Silences", "Metrics"):
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    for name in ("status", "severity", "service"):
        select = page.get_by_label(name.capitalize(), exact=True)
        expect(select).to_have_attribute("name", name)
        assert select.evaluate("e => e.tagName") == "SELECT"
    screenshot(page, "dashboard-desktop")

    assert_keyboard_reaches_everything(page)

    with page.expect_response(is_event_stream):
        page.get_by_label("Severity", exact=True).select_option(label="SEV4")
        page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"severity=SEV4"))
    expect(row(page, minor)).to_be_visible()
    expect(row(page, inc)).to_have_count(0)
    with tocsin.api() as api:
        other = declare(api, "Disk filling on replica 2", "SEV3", "payments-db")
        later = declare(api, "Another late report", "SEV4", "payments-db")
    expect(row(page, later)).to_be_visible()
    expect(row(page, other)).to_have_count(0)  # live updates keep to the filter


def test_a_new_incident_and_its_changes_show_live_without_a_reload(
    tocsin: TocsinServer, user: str, page: Page
) -> None:
    sign_in(page, tocsin.url)
    open_dashboard(page, tocsin.url)
    navigations = watch_navigations(page)
    with tocsin.api() as api:
        started = time.monotonic()
        inc = declare(api, "Search results are stale", "SEV3", "web-frontend")
        show_within(row(page, inc), started)
        expect(row(page, inc)).to_contain_text("Search results are stale")

        started = time.monotonic()
        acked = api.post(f"/api/v1/incidents/{inc}/acknowledge", json={})
        assert acked.status_code == 200, acked.text
        show_within(row(page, inc).locator(".status"), started, "acknowledged")
    assert navigations == [] and still_same_document(page)
    screenshot(page, "dashboard-live-desktop")


def test_acknowledge_post_a_public_update_and_resolve_from_the_incident_page(
    tocsin: TocsinServer, user: str, page: Page, new_page: PageFactory
) -> None:
    with tocsin.api() as api:
        inc = declare(api, "Login returns 502 for SSO users", "SEV2", "auth-service")
    visitor = new_page()
    visitor.goto(f"{tocsin.url}/status")
    login_component = visitor.locator("li.component", has_text="Login").locator(".component-status")
    expect(login_component).to_have_text("Partial outage")

    sign_in(page, tocsin.url)
    row(page, inc).get_by_role("link").first.click()
    expect(page).to_have_url(f"{tocsin.url}/dashboard/incidents/{inc}")
    status = page.get_by_test_id("incident-status")
    expect(status).to_contain_text("triggered", ignore_case=True)
    for name in ("Acknowledge", "Escalate", "Resolve", "Change severity"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    for name in ("Close", "Reopen"):  # not from triggered
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(page.get_by_label("Severity", exact=True)).to_be_visible()
    screenshot(page, "dashboard-incident-desktop")
    assert_keyboard_reaches_everything(page)

    page.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(status).to_contain_text("acknowledged", ignore_case=True)

    page.get_by_label("Update", exact=True).fill("We are rolling back the SSO change.")
    page.get_by_label("Public", exact=True).check()
    page.get_by_role("button", name="Post update", exact=True).click()
    expect(page.locator("main")).to_contain_text("We are rolling back the SSO change.")
    visitor.reload()
    expect(visitor.locator(".incident")).to_contain_text("We are rolling back the SSO change.")

    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(status).to_contain_text("resolved", ignore_case=True)
    screenshot(page, "dashboard-incident-resolved-desktop")
    navigations = watch_navigations(page)
    with tocsin.api() as api:
        assert api.get(f"/api/v1/incidents/{inc}").json()["status"] == "resolved"
        started = time.monotonic()
        closed = api.post(f"/api/v1/incidents/{inc}/close", json={})
        assert closed.status_code == 200, closed.text
        show_within(status, started, "closed")
    assert navigations == [] and still_same_document(page)
    visitor.reload()
    expect(login_component).to_have_text("Operational")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("All Systems Operational")


def test_at_375_px_the_dashboard_does_not_scroll_sideways(
    tocsin: TocsinServer, user: str, new_page: PageFactory
) -> None:
    with tocsin.api() as api:
        inc = declare(
            api,
            "Checkout latency p99 above 2 s for EU customers since deploy 4712 of cart-svc",
            "SEV3",
            "checkout-api",
            "payments-db",
        )
    phone = new_page(**MOBILE)
    sign_in(phone, tocsin.url)
    for name, path in {
        "dashboard-375": "/dashboard",
        "dashboard-incident-375": f"/dashboard/incidents/{inc}",
    }.items():
        phone.goto(f"{tocsin.url}{path}")
        assert horizontal_overflow(phone) == 0, name
        assert unreadable_text(phone) == [], name
        screenshot(phone, name)


def test_a_sev1_raises_a_browser_notification_and_a_beep_once_enabled(
    tocsin: TocsinServer, user: str, new_page: PageFactory
) -> None:
    page = new_page(permissions=["notifications"])
    page.add_init_script(RECORD_NOTIFICATIONS)
    sign_in(page, tocsin.url)
    open_dashboard(page, tocsin.url)
    page.get_by_role("button", name="Enable notifications").click()
    with tocsin.api() as api:
        minor = declare(api, "Nightly export is slow", "SEV4", "payments-db")
        expect(row(page, minor)).to_be_visible()
        started = time.monotonic()
        major = declare(api, "Orders database is down", "SEV1", "payments-db")
        show_within(row(page, major), started)
    page.wait_for_function("window.__notifications.length > 0", timeout=2000)
    notifications = page.evaluate("window.__notifications")
    assert len(notifications) == 1, notifications
    shown = notifications[0]["title"] + " " + notifications[0]["body"]
    assert major in shown or "Orders database is down" in shown, shown
    assert "Nightly export" not in shown
    assert page.evaluate("window.__beeps") >= 1


def test_a_later_page_updates_its_rows_live_but_leaves_new_incidents_to_the_first(
    tocsin: TocsinServer, user: str, page: Page
) -> None:
    sign_in(page, tocsin.url)
    with tocsin.api() as api:
        older = [
            declare(api, f"Old batch job {n} failed", "SEV4", "web-frontend") for n in range(52)
        ]
        with page.expect_response(is_event_stream):
            page.goto(f"{tocsin.url}/dashboard?service=web-frontend&sort=newest&page=2")
        expect(page.locator("#incident-count")).to_contain_text("Showing 51-")
        on_page_two = older[1]  # the 51st newest of web-frontend's incidents
        expect(row(page, on_page_two)).to_be_visible()
        newer = declare(api, "Brand new outage", "SEV4", "web-frontend")
        started = time.monotonic()
        acked = api.post(f"/api/v1/incidents/{on_page_two}/acknowledge", json={})
        assert acked.status_code == 200, acked.text
        # The acknowledgement came after the new incident: once it shows, the new one
        # has been heard too, and belongs on the first page, not this one.
        show_within(row(page, on_page_two).locator(".status"), started, "acknowledged")
        expect(row(page, newer)).to_have_count(0)
        page.get_by_role("link", name="← Newer").click()
        expect(row(page, newer)).to_be_visible()
