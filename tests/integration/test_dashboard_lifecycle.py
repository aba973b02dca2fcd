"""The incident page offers what the incident's state allows (Reopen included), shows
its commander and links its post-mortem; the list puts open SEV1/SEV2 incidents first
and can be ordered by severity or age. Against a real server, as a signed-in browser."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from tests.support.api import ApiAs
from tests.support.dashboard_session import Browser, add_user, cheap_hashing

if TYPE_CHECKING:
    from tests.conftest import LiveServer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

API = "/api/v1"
BUTTONS = ("Acknowledge", "Escalate", "Resolve", "Close", "Reopen")


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def api(api_as: ApiAs) -> httpx.Client:
    return api_as("responder", "bob")


@pytest.fixture
def rita(live_server: LiveServer) -> Iterator[Browser]:
    add_user(live_server.context, "rita", role="responder", person="alice")
    with Browser(live_server.url) as browser:
        assert browser.sign_in("rita").status_code == 303
        yield browser


def declare(api: httpx.Client, title: str, severity: str, *services: str) -> str:
    answer = api.post(
        f"{API}/incidents", json={"title": title, "severity": severity, "services": list(services)}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def buttons(page: str) -> list[str]:
    """The lifecycle buttons the page offers, in order."""
    found = re.findall(r'<button type="submit" class="action-[a-z]+">([A-Za-z]+)</button>', page)
    return [b for b in found if b in BUTTONS]


def shown_ids(page: str) -> list[str]:
    return re.findall(r'<li class="incident[^"]*" data-incident="(INC-\d+)"', page)


def test_the_buttons_are_the_moves_the_incident_allows(api: httpx.Client, rita: Browser) -> None:
    ref = declare(api, "Checkout down", "sev2", "checkout-api")
    page = f"/dashboard/incidents/{ref}"
    assert buttons(rita.get(page).text) == ["Acknowledge", "Escalate", "Resolve"]

    api.post(f"{API}/incidents/{ref}/acknowledge")
    assert buttons(rita.get(page).text) == ["Escalate", "Resolve"]

    api.post(f"{API}/incidents/{ref}/resolve")
    resolved = rita.get(page).text
    assert buttons(resolved) == ["Close", "Reopen"]
    assert '<option value="resolved">' not in resolved  # nor in the update's status choice

    reopened = rita.submit(page, f"{page}/reopen")
    assert reopened.status_code == 303
    assert f"{ref} reopened." in html.unescape(rita.follow(reopened).text)
    assert api.get(f"{API}/incidents/{ref}").json()["status"] == "triggered"
    assert buttons(rita.get(page).text) == ["Acknowledge", "Escalate", "Resolve"]

    api.post(f"{API}/incidents/{ref}/resolve")
    api.post(f"{API}/incidents/{ref}/close")
    closed = rita.get(page).text
    assert buttons(closed) == []
    assert "A closed incident is final" in closed


def test_the_buttons_match_the_api_for_every_status(api: httpx.Client, rita: Browser) -> None:
    """Whatever the status, a button is shown exactly when the API allows its move."""
    moves = {"Acknowledge": "acknowledged", "Resolve": "resolved", "Close": "closed"}
    moves["Reopen"] = "triggered"
    ref = declare(api, "Queue backlog", "sev3", "checkout-api")
    for status in ("investigating", "identified", "monitoring", "resolved"):
        api.post(f"{API}/incidents/{ref}/updates", json={"message": status, "status": status})
        read = api.get(f"{API}/incidents/{ref}").json()
        assert read["status"] == status
        shown = set(buttons(rita.get(f"/dashboard/incidents/{ref}").text)) - {"Escalate"}
        expected = {b for b, target in moves.items() if target in read["allowed_transitions"]}
        assert shown == expected, status


def test_the_page_shows_the_commander_and_links_the_postmortem(
    api: httpx.Client, rita: Browser
) -> None:
    ref = declare(api, "Payments failing", "sev2", "checkout-api")
    page = f"/dashboard/incidents/{ref}"
    api.patch(f"{API}/incidents/{ref}", json={"roles": {"commander": "dana"}})
    before = rita.get(page).text
    assert re.search(r'data-testid="incident-commander">dana<', before)
    assert re.search(r'data-testid="incident-postmortem">none yet<', before)

    api.post(f"{API}/incidents/{ref}/resolve")  # a SEV2 requires a post-mortem: drafted
    pm = api.get(f"{API}/incidents/{ref}/postmortem").json()["id"]
    after = rita.get(page).text
    link = re.search(r'data-testid="incident-postmortem"><a href="([^"]+)">([^<]+)</a>', after)
    assert link is not None and link.group(2) == pm
    opened = rita.get(link.group(1))
    assert opened.status_code == 200 and "Payments failing" in opened.text


def test_open_sev1_and_sev2_come_first_and_other_orders(api: httpx.Client, rita: Browser) -> None:
    old_sev1 = declare(api, "Old outage", "sev1", "checkout-api")
    api.post(f"{API}/incidents/{old_sev1}/resolve")
    sev2 = declare(api, "Slow checkout", "sev2", "checkout-api")
    sev4 = declare(api, "Nightly report late", "sev4", "checkout-api")
    sev1 = declare(api, "Orders down", "sev1", "checkout-api")
    sev3 = declare(api, "Replica lag", "sev3", "checkout-api")

    default = rita.get("/dashboard").text
    # open SEV1, open SEV2, then everything else newest first
    assert shown_ids(default) == [sev1, sev2, sev3, sev4, old_sev1]
    assert 'aria-label="Incidents, open sev1/sev2 first"' in default
    assert '<option value="urgent" selected>' in default

    by_severity = rita.get("/dashboard?sort=severity").text
    assert shown_ids(by_severity) == [sev1, old_sev1, sev2, sev3, sev4]
    assert shown_ids(rita.get("/dashboard?sort=newest").text) == [
        sev3,
        sev1,
        sev4,
        sev2,
        old_sev1,
    ]
    # The orders keep to the filters.
    assert shown_ids(rita.get("/dashboard?status=resolved").text) == [old_sev1]
    assert shown_ids(rita.get("/dashboard?severity=P0&sort=severity").text) == [sev1, old_sev1]
    assert shown_ids(rita.get("/dashboard?severity=SEV4").text) == [sev4]

    bad = rita.get("/dashboard?sort=loudest")
    assert bad.status_code == 422
    assert "sort: 'loudest' is not an order" in html.unescape(bad.text)
