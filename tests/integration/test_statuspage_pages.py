"""The public HTML pages: what they show, and that they work without script, with the
keyboard and on a narrow screen (structure checked here; the browser tests of the
dashboard issue drive them in Chromium)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.support.statuspage import client

if TYPE_CHECKING:
    from tests.conftest import LiveServer

ADMIN = "/api/v1/statuspage"


class Outline(HTMLParser):
    """Collects what the accessibility checks need from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.label_for: set[str] = set()
        self.headings: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "label" and attributes.get("for"):
            self.label_for.add(str(attributes["for"]))
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = [tag]

    def handle_endtag(self, tag: str) -> None:
        if self._heading is not None and tag == self._heading[0]:
            self.headings.append(" ".join("".join(self._heading[1:]).split()))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def outline(html: str) -> Outline:
    parser = Outline()
    parser.feed(html)
    return parser


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    with client(live_server.url) as http:
        yield http


def check_page(response: httpx.Response) -> Outline:
    """What every public page must be: safe headers, no script, labelled, navigable."""
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    html = response.text
    assert "<script" not in html.lower()
    assert re.search(r"<html lang=\"en\">", html)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    page = outline(html)
    assert page.all("main") and page.all("main")[0].get("id") == "main"
    skip = page.all("a")[0]
    assert skip.get("href") == "#main"  # the first stop of the keyboard is "skip"
    assert len([h for h in page.headings if h]) >= 1
    assert len(page.all("h1")) == 1
    for attrs in page.all("input"):
        assert attrs.get("id") in page.label_for, attrs  # every field has a <label>
    for attrs in page.tags:
        tabindex = attrs[1].get("tabindex")
        assert tabindex in (None, "-1", "0"), attrs  # no custom tab order
    for attrs in page.all("svg"):
        assert attrs.get("role") == "img" and attrs.get("aria-label"), attrs
    return page


def test_front_page_shows_components_incidents_and_maintenance(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    page = check_page(anon.get("/status"))
    assert "All Systems Operational" in page.headings
    assert {"Components", "Past incidents", "Get updates by email"} <= set(page.headings)

    created = api.post(
        f"{ADMIN}/incidents",
        json={
            "name": "Checkout errors",
            "components": {"Checkout": "partial_outage"},
            "body": "Some payments fail.\nWe are on it.",
        },
    ).json()
    now = live_server.clock.now()
    api.post(
        f"{ADMIN}/maintenances",
        json={
            "name": "Login upgrade",
            "body": "Sessions may reset.",
            "components": ["Login"],
            "scheduled_for": (now + timedelta(days=1)).isoformat(),
            "scheduled_until": (now + timedelta(days=1, hours=1)).isoformat(),
        },
    ).raise_for_status()
    response = anon.get("/status")
    page = check_page(response)
    html = response.text
    assert "Partial System Outage" in page.headings
    assert "Active incidents" in page.headings and "Scheduled maintenance" in page.headings
    assert f'href="/status/incidents/{created["id"]}"' in html
    assert "Some payments fail.\nWe are on it." in html  # shown with white-space: pre-line
    # every component, in its group, with its state written out (not colour alone)
    assert re.search(r"Checkout</span>\s*<span class=\"component-status\">Partial outage", html)
    assert re.search(r"Login</span>\s*<span class=\"component-status\">Operational", html)
    assert "Payments" in html and "Accounts" in html and "Website" in html
    # uptime bars: one labelled SVG per component, one bar per day of the window
    svgs = page.all("svg")
    assert len(svgs) == 3
    assert all("uptime over the last 90 days" in str(s.get("aria-label")) for s in svgs)
    assert html.count('class="bar bar-') == 3 * 90
    # subscription form: a labelled email field and a real button
    assert page.all("form")[0].get("action") == "/status/subscribe"
    email = page.all("input")[0]
    assert email.get("type") == "email" and email.get("autocomplete") == "email"
    assert page.all("button")


def test_incident_history_and_not_found_pages(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    codes = []
    for n in range(23):
        codes.append(
            api.post(f"{ADMIN}/incidents", json={"name": f"Incident number {n}"}).json()["id"]
        )
        live_server.clock.advance(timedelta(minutes=1))
    incident = check_page(anon.get(f"/status/incidents/{codes[0]}"))
    assert incident.headings[0] == "Incident number 0"
    first = anon.get("/status/history")
    check_page(first)
    assert "Incident number 22" in first.text and "Incident number 2<" not in first.text
    assert 'href="/status/history?page=2"' in first.text
    second = anon.get("/status/history", params={"page": 2})
    check_page(second)
    assert "Incident number 0" in second.text and "Incident number 22" not in second.text
    assert anon.get("/status/history", params={"page": 0}).status_code == 422

    missing = anon.get("/status/incidents/doesnotexist")
    assert missing.status_code == 404
    assert check_page(missing).headings == ["Not found"]
    assert "There is no such incident." in missing.text


def test_style_sheet_and_narrow_screens(anon: httpx.Client) -> None:
    css = anon.get("/static/status.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    text = css.text
    # nothing wider than a 375 px phone: no fixed widths in px above it
    widths = [int(w) for w in re.findall(r"(?:^|[;{\s])(?:min-)?width:\s*(\d+)px", text)]
    assert all(w <= 375 for w in widths), widths
    assert ":focus-visible" in text  # keyboard focus is always visible
    assert "overflow-wrap: anywhere" in text  # long words never widen the page
