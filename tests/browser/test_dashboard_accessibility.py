"""Every page in real Chromium against a real `tocsin serve`, at 1280 px and at 375 px:
no violation of axe-core's default rules, nothing that scrolls the page sideways, wide
tables reachable by keyboard with a visible cue, a header in two rows on a phone, a
focus outline with 3:1 contrast, a live region that announces new incidents, readable
charts, lifecycle buttons that follow the incident, and no 404 (the favicon)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Response, expect
from tests.browser.test_dashboard import PASSWORD, USERNAME, open_dashboard, row, show_within
from tests.support.axe import axe_violations
from tests.support.browser import (
    MOBILE,
    PageFactory,
    TocsinServer,
    declare,
    horizontal_overflow,
    screenshot,
    tab_through,
    unreadable_text,
)

pytestmark = pytest.mark.browser

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
WIDTHS = {"1280": DESKTOP, "375": MOBILE}


@pytest.fixture(scope="module")
def site(tocsin: TocsinServer) -> Iterator[dict[str, str]]:
    """A user, and something on every page: open incidents with alerts and
    notifications, a resolved one with its post-mortem, a silence. Returns the paths."""
    created = tocsin.cli(
        "user", "create", USERNAME, "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert created.returncode == 0, created.stdout + created.stderr
    with tocsin.api() as api:
        key = api.post(
            "/api/v1/integrations",
            json={"name": "scripts", "service": "checkout-api", "kind": "generic"},
        ).json()["key"]
        for number in range(3):
            sent = api.post(
                f"/api/v1/integrations/{key}/events",
                json={
                    "title": f"Checkout error rate above 5% on node-{number}",
                    "severity": "critical",
                    "dedup_key": f"errors-{number}",
                    "description": "5xx responses from the checkout API, EU region",
                },
            )
            assert sent.status_code == 202, sent.text
        open_ref = api.get("/api/v1/incidents").json()["items"][0]["id"]
        api.patch(f"/api/v1/incidents/{open_ref}", json={"roles": {"commander": "alice"}})
        done = declare(api, "Login returns 502 for SSO users", "SEV2", "auth-service")
        assert api.post(f"/api/v1/incidents/{done}/resolve", json={}).status_code == 200
        pm = api.get(f"/api/v1/incidents/{done}/postmortem").json()["id"]
        silence = api.post(
            "/api/v1/silences",
            json={
                "matchers": ['service="checkout-api"', 'alertname=~"HighLatency.*"'],
                "duration": "2h",
                "comment": "Rolling out the new cart service; latency alerts are expected.",
            },
        )
        assert silence.status_code == 201, silence.text
    yield {
        "incidents": "/dashboard",
        "incident": f"/dashboard/incidents/{open_ref}",
        "resolved": f"/dashboard/incidents/{done}",
        "postmortem": f"/postmortems/{pm}",
        "metrics": "/dashboard/metrics",
        "silences": "/dashboard/silences",
        "oncall": "/dashboard/oncall",
        "status": "/status",
    }


def signed_in(new_page: PageFactory, url: str, **options: Any) -> Page:
    page = new_page(**options)
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/dashboard")
    return page


def charts_loaded(page: Page) -> None:
    page.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    )


@pytest.mark.parametrize("width", list(WIDTHS))
def test_no_axe_violations_and_no_sideways_scrolling(
    tocsin: TocsinServer, site: dict[str, str], new_page: PageFactory, width: str
) -> None:
    missing: list[str] = []

    def note_missing(response: Response) -> None:
        if response.status == 404:
            missing.append(response.url)

    visitor = new_page(**WIDTHS[width])
    visitor.on("response", note_missing)
    page = signed_in(new_page, tocsin.url, **WIDTHS[width])
    page.on("response", note_missing)
    found: dict[str, list[str]] = {}
    for name, path in {"login": "/login", **site}.items():
        shown = visitor if name == "login" else page
        shown.goto(f"{tocsin.url}{path}")
        charts_loaded(shown)
        problems = [str(v) for v in axe_violations(shown)]
        if horizontal_overflow(shown):
            problems.append(f"scrolls sideways by {horizontal_overflow(shown)} px")
        problems += [f"unreadable: {t}" for t in unreadable_text(shown)]
        if problems:
            found[name] = problems
        screenshot(shown, f"a11y-{name}-{width}")
    assert found == {}
    assert missing == []


@pytest.mark.parametrize("which", ["incident", "metrics"])
def test_at_375_px_wide_tables_scroll_by_keyboard_with_a_cue(
    tocsin: TocsinServer, site: dict[str, str], new_page: PageFactory, which: str
) -> None:
    phone = signed_in(new_page, tocsin.url, **MOBILE)
    phone.goto(f"{tocsin.url}{site[which]}")
    regions = phone.locator(".table-wrap")
    assert regions.count() >= 1
    wide = [
        regions.nth(i)
        for i in range(regions.count())
        if regions.nth(i).evaluate("e => e.scrollWidth > e.clientWidth")
    ]
    assert wide, "a table wider than the phone (the test needs one)"
    _, stops = tab_through(phone)
    reached = {stop.description for stop in stops if stop.indicated and stop.on_screen}
    for region in wide:
        label = region.get_attribute("aria-label") or ""
        assert region.get_attribute("role") == "region" and "scrolls sideways" in label
        assert region.get_attribute("tabindex") == "0"
        assert any(label in stop for stop in reached), (label, reached)
        hint = region.locator("xpath=preceding-sibling::*[1]")
        expect(hint).to_have_class("scroll-hint")
        expect(hint).to_be_visible()
        region.focus()
        # Tabbing to a link at the table's right edge scrolled the region there: start
        # from its left edge, so the arrow keys have somewhere to go.
        region.evaluate("e => { e.scrollLeft = 0 }")
        assert region.evaluate("e => e.scrollLeft") == 0
        for _ in range(5):
            phone.keyboard.press("ArrowRight")
        phone.wait_for_function("e => e.scrollLeft > 0", arg=region.element_handle())
    screenshot(phone, f"a11y-{which}-scrolled-375")


def test_at_1280_px_tables_that_fit_show_no_scroll_cue(
    tocsin: TocsinServer, site: dict[str, str], new_page: PageFactory
) -> None:
    page = signed_in(new_page, tocsin.url, **DESKTOP)
    page.goto(f"{tocsin.url}{site['metrics']}")
    expect(page.locator(".scroll-hint")).to_be_hidden()


def test_at_375_px_the_header_is_two_rows(
    tocsin: TocsinServer, site: dict[str, str], new_page: PageFactory
) -> None:
    phone = signed_in(new_page, tocsin.url, **MOBILE)
    phone.goto(f"{tocsin.url}{site['incidents']}")
    tops: dict[str, float] = phone.evaluate(
        """() => {
          const top = el => Math.round(el.getBoundingClientRect().top);
          const bar = document.querySelector('header.bar');
          return {
            brand: top(bar.querySelector('.brand')),
            signout: top([...bar.querySelectorAll('button')].pop()),
            nav: [...bar.querySelectorAll('nav a')].map(top),
            height: bar.getBoundingClientRect().height,
          };
        }"""
    )
    nav = tops["nav"]
    assert len(set(nav)) == 1, "the navigation wraps"  # type: ignore[arg-type]
    assert abs(tops["signout"] - tops["brand"]) < 16, "sign-out beside the name"
    assert tops["height"] < 2 * 56, tops
    for name in ("Incidents", "On call", "Silences", "Metrics"):
        expect(phone.get_by_role("link", name=name, exact=True)).to_be_in_viewport()


_FOCUS_CONTRAST = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => {
    const [r, g, b] = c.slice(0, 3).map(v => v / 255)
      .map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = el => {
    for (let e = el.parentElement; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c;
    }
    return [255, 255, 255];
  };
  const el = document.activeElement;
  const s = getComputedStyle(el);
  if (s.outlineStyle === 'none' || parseFloat(s.outlineWidth) < 2) return null;
  const a = lum(rgb(s.outlineColor)), b = lum(background(el));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def test_the_focus_outline_has_3_to_1_contrast_everywhere(
    tocsin: TocsinServer, site: dict[str, str], new_page: PageFactory
) -> None:
    page = signed_in(new_page, tocsin.url, **DESKTOP)
    weakest: dict[str, float] = {}
    for path in (site["incidents"], site["incident"], site["silences"]):
        page.goto(f"{tocsin.url}{path}")
        expected, _ = tab_through(page)
        page.goto(f"{tocsin.url}{path}")  # Tab again from the top
        for _ in expected:
            page.keyboard.press("Tab")
            ratio = page.evaluate(_FOCUS_CONTRAST)
            assert ratio is not None, page.evaluate("document.activeElement.outerHTML")
            what = page.evaluate("document.activeElement.textContent.trim().slice(0, 30)")
            weakest[f"{path} {what}"] = ratio
    assert min(weakest.values()) >= 3, sorted(weakest.items(), key=lambda kv: kv[1])[:3]


def test_a_new_incident_is_announced_in_a_live_region(
    tocsin: TocsinServer, site: dict[str, str], new_page: PageFactory
) -> None:
    page = signed_in(new_page, tocsin.url, **DESKTOP)
    open_dashboard(page, tocsin.url)
    announcer = page.locator("#incident-announcer")
    expect(announcer).to_have_attribute("role", "status")
    expect(announcer).to_have_attribute("aria-live", "polite")
    with tocsin.api() as api:
        started = time.monotonic()
        ref = declare(api, "Orders database is down", "SEV1", "payments-db")
        show_within(announcer, started, f"New incident: SEV1 {ref}, Orders database is down")
        # An open SEV1 goes to the top of the default order, live.
        expect(page.locator("#incident-list > li").first).to_have_attribute("data-incident", ref)
        minor = declare(api, "Nightly export is slow", "SEV4", "payments-db")
        expect(row(page, minor)).to_be_visible()
        expect(page.locator("#incident-list > li").first).to_have_attribute("data-incident", ref)
        show_within(announcer, time.monotonic(), minor)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_charts_load_in_their_size_and_read_at_it(
    tocsin: TocsinServer, site: dict[str, str], new_page: PageFactory, width: str
) -> None:
    page = signed_in(new_page, tocsin.url, **WIDTHS[width])
    page.goto(f"{tocsin.url}{site['metrics']}")
    charts_loaded(page)
    images = page.locator("img[data-chart]")
    assert images.count() == 4
    for index in range(images.count()):
        image = images.nth(index)
        source = image.evaluate("i => i.currentSrc")
        narrow = width == "375" or image.get_attribute("data-chart") == "sla"
        assert ("size=narrow" in source) == narrow, source
        shown = image.evaluate("i => i.getBoundingClientRect().width")
        svg = page.request.get(source).text()
        view = re.search(r'viewBox="0 0 ([\d.]+) ', svg)
        assert view is not None
        smallest = min(float(s) for s in re.findall(r"font-size: ([\d.]+)px", svg))
        assert smallest * shown / float(view.group(1)) >= 11, (source, shown)


def test_the_buttons_follow_the_incident_and_reopen_works(
    tocsin: TocsinServer, site: dict[str, str], new_page: PageFactory
) -> None:
    with tocsin.api() as api:
        ref = declare(api, "Queue consumers stalled", "SEV3", "checkout-api")
        page = signed_in(new_page, tocsin.url, **DESKTOP)
        page.goto(f"{tocsin.url}/dashboard/incidents/{ref}")
        buttons = page.locator("#lifecycle button")
        expect(buttons).to_have_text(["Acknowledge", "Escalate", "Resolve"])
        started = time.monotonic()
        assert api.post(f"/api/v1/incidents/{ref}/resolve", json={}).status_code == 200
        show_within(page.get_by_test_id("incident-status"), started, "resolved")
        expect(buttons).to_have_text(["Close", "Reopen"])  # live, without a reload
    page.get_by_role("button", name="Reopen", exact=True).click()
    expect(page.get_by_test_id("incident-status")).to_have_text("triggered")
    expect(page.locator(".flash-ok")).to_have_text(f"{ref} reopened.")
    expect(buttons).to_have_text(["Acknowledge", "Escalate", "Resolve"])
    page.goto(f"{tocsin.url}{site['resolved']}")
    link = page.get_by_test_id("incident-postmortem").get_by_role("link")
    link.click()
    expect(page).to_have_url(re.compile(r"/postmortems/PM-\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Login returns 502")
