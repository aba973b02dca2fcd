"""The dashboard's pages against a real server: what they show, and every action on
the incident page going through the same services as the API, as the signed-in user."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.support.api import ApiAs
from tests.support.dashboard_session import Browser, add_user, cheap_hashing
from tests.support.waiting import wait_for

from tocsin.web.dashboard import incidents as dashboard_incidents
from tocsin.web.dashboard.views import REFRESH_HEADER

if TYPE_CHECKING:
    from tests.conftest import LiveServer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

API = "/api/v1"


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def api(api_as: ApiAs) -> httpx.Client:
    """A responder who is the policy's bob."""
    return api_as("responder", "bob")


@pytest.fixture
def rita(live_server: LiveServer) -> Iterator[Browser]:
    """A responder who is the policy's alice."""
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


def shown_ids(page: str) -> list[str]:
    return re.findall(r'<li class="incident[^"]*" data-incident="(INC-\d+)"', page)


def incident(api: httpx.Client, ref: str) -> dict[str, Any]:
    answer: dict[str, Any] = api.get(f"{API}/incidents/{ref}").json()
    return answer


def has_flash(page: str) -> bool:
    return re.search(r'<p class="flash flash-', page) is not None


def flash(page: str) -> str:
    match = re.search(r'<p class="flash flash-(ok|error)"[^>]*>(.*?)</p>', page, re.S)
    assert match is not None, "no message on the page"
    return f"{match.group(1)}: {html.unescape(match.group(2))}"


def test_the_list_filters_by_status_severity_and_service(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    one = declare(api, "Checkout down", "sev1", "checkout-api")
    two = declare(api, "Login slow", "sev3", "auth-service")
    three = declare(api, "Checkout slow", "sev2", "checkout-api")
    assert api.post(f"{API}/incidents/{two}/resolve").status_code == 200

    everything = rita.get("/dashboard?sort=newest")
    assert shown_ids(everything.text) == [three, two, one]
    for name, label in (("status", "Status"), ("severity", "Severity"), ("service", "Service")):
        assert f'<label for="filter-{name}">{label}</label>' in everything.text
        assert f'<select id="filter-{name}" name="{name}">' in everything.text
    row = re.search(rf'data-incident="{one}".*?</li>', everything.text, re.S)
    assert row is not None
    for part in ("Checkout down", "SEV1", '<span class="status status-triggered">triggered</span>'):
        assert part in row.group(0)
    assert "checkout-api" in row.group(0) and 'class="age"' in row.group(0)

    assert shown_ids(rita.get("/dashboard?status=active&sort=newest").text) == [three, one]
    assert shown_ids(rita.get("/dashboard?status=resolved").text) == [two]
    assert shown_ids(rita.get("/dashboard?severity=SEV1").text) == [one]
    assert shown_ids(rita.get("/dashboard?severity=P1").text) == [three]
    assert shown_ids(rita.get("/dashboard?service=checkout-api&status=active").text) == [
        one,  # open SEV1/SEV2 first, worst first
        three,
    ]
    chosen = rita.get("/dashboard?service=auth-service").text
    assert '<option value="auth-service" selected>' in chosen

    bad = rita.get("/dashboard?status=sleeping")
    assert bad.status_code == 422
    assert "status: unknown status 'sleeping'" in html.unescape(bad.text)


def pages_of(page: str) -> dict[str, str]:
    """The list's page links, by their ``rel``."""
    return {
        rel: html.unescape(href)
        for href, rel in re.findall(r'<a href="([^"]+)" rel="(prev|next)">', page)
    }


def test_the_list_pages_through_its_order_with_the_filters_kept(
    live_server: LiveServer, api: httpx.Client, rita: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_incidents, "PAGE_SIZE", 2)
    monkeypatch.setattr(dashboard_incidents, "MOST_PAGES", 3)
    old_sev1 = declare(api, "Old outage", "sev1", "checkout-api")
    minor = [declare(api, f"Minor {n}", "sev4", "checkout-api") for n in range(4)]
    sev2 = declare(api, "Checkout slow", "sev2", "checkout-api")
    sev1 = declare(api, "Checkout down", "sev1", "checkout-api")
    other = declare(api, "Login slow", "sev4", "auth-service")
    assert api.post(f"{API}/incidents/{old_sev1}/resolve").status_code == 200

    # Open SEV1/SEV2 first, then everything newest first, two to a page.
    first = rita.get("/dashboard")
    assert shown_ids(first.text) == [sev1, sev2]
    assert "Showing 1-2 of 8 incidents." in first.text
    assert pages_of(first.text) == {"next": "/dashboard?page=2"}
    second = rita.get(pages_of(first.text)["next"])
    assert shown_ids(second.text) == [other, minor[3]]
    assert "Showing 3-4 of 8 incidents." in second.text
    assert pages_of(second.text) == {"prev": "/dashboard", "next": "/dashboard?page=3"}
    third = rita.get("/dashboard?page=3")
    assert shown_ids(third.text) == minor[2:0:-1]
    assert "Older" not in third.text  # the last page the list goes to...
    assert "narrow the filters to see older ones" in third.text  # ...says so

    # The filters and the order go along from page to page.
    newest = rita.get("/dashboard?service=checkout-api&sort=newest&page=2")
    assert shown_ids(newest.text) == [minor[3], minor[2]]
    assert pages_of(newest.text) == {
        "prev": "/dashboard?service=checkout-api&sort=newest",
        "next": "/dashboard?service=checkout-api&sort=newest&page=3",
    }
    last = rita.get(pages_of(newest.text)["next"])
    assert shown_ids(last.text) == [minor[1], minor[0]]
    assert "narrow the filters" in last.text  # a fourth page would hold the old SEV1
    few = rita.get("/dashboard?status=resolved")
    assert shown_ids(few.text) == [old_sev1]
    assert pages_of(few.text) == {} and "Showing" not in few.text

    for bad in ("0", "4", "two", "²"):
        refused = rita.get(f"/dashboard?page={bad}")
        assert refused.status_code == 422
        assert f"page: '{bad}' is not a page of the list; pages go from 1 to 3" in html.unescape(
            refused.text
        )


def test_the_incident_page_shows_what_the_api_has(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    with httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
        timeout=10,
    ) as admin:
        key = admin.post(
            f"{API}/integrations",
            json={"name": "scripts", "service": "checkout-api", "kind": "generic"},
        ).json()["key"]
        sent = admin.post(
            f"{API}/integrations/{key}/events",
            json={"title": "Checkout error rate 12%", "severity": "critical", "dedup_key": "err"},
        )
        assert sent.status_code == 202, sent.text
    listed = api.get(f"{API}/incidents").json()["items"]
    assert len(listed) == 1
    ref = listed[0]["id"]
    api.patch(f"{API}/incidents/{ref}", json={"roles": {"commander": "bob"}})
    api.post(
        f"{API}/incidents/{ref}/updates",
        json={"message": "Looking at the deploy", "public": True, "status": "investigating"},
    )
    read = incident(api, ref)
    timeline = api.get(f"{API}/incidents/{ref}/timeline").json()["items"]
    notifications = api.get(f"{API}/incidents/{ref}/notifications").json()["items"]
    assert notifications, "the policy pages someone for checkout-api"

    page = rita.get(f"/dashboard/incidents/{ref}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert f'data-incident="{ref}"' in page.text
    assert read["title"] in text
    assert f'data-testid="incident-status">{read["status"]}<' in page.text
    assert f'data-testid="incident-severity">{read["severity"]}<' in page.text
    assert "checkout-api" in text
    assert re.search(r"<dt>Incident commander</dt><dd>bob</dd>", page.text)
    for event in timeline:
        assert event["summary"] in text
    for note in notifications:
        assert f'data-notification="{note["id"]}"' in page.text
        assert f'state-{note["state"]}">{note["state"]}<' in page.text
    assert "Looking at the deploy" in text and "badge-public" in page.text
    assert "Checkout error rate 12%" in text  # the linked alert
    assert read["status"] == "investigating"
    for button in ("Escalate", "Resolve", "Post update"):
        assert f">{button}</button>" in page.text
    for button in ("Acknowledge", "Close", "Reopen"):  # not allowed from investigating
        assert f">{button}</button>" not in page.text
    for button in ("Change severity", "Assign"):
        assert f">{button}</button>" in page.text
    for field, label in (
        ("update-message", "Update"),
        ("update-public", "Public"),
        ("severity", "Severity"),
        ("role", "Role"),
        ("person", "Person"),
    ):
        assert f'<label for="{field}">{label}</label>' in page.text
    assert '<textarea id="update-message"' in page.text
    assert '<input type="checkbox" id="update-public"' in page.text


def test_every_action_lands_on_the_timeline_as_the_signed_in_person(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    ref = declare(api, "Checkout down", "sev2", "checkout-api")
    page = f"/dashboard/incidents/{ref}"

    def act(action: str, fields: dict[str, str] | None = None) -> str:
        response = rita.submit(page, f"{page}/{action}", fields)
        assert response.status_code == 303
        assert response.headers["location"] == page
        return flash(rita.follow(response).text)

    assert act("acknowledge") == f"ok: {ref} acknowledged."
    assert incident(api, ref)["status"] == "acknowledged"
    assert act("escalate").startswith("ok: ")
    assert act("updates", {"message": "Rolling back", "public": "on", "status": "identified"}) == (
        f"ok: Public update posted to {ref}."
    )
    assert incident(api, ref)["status"] == "identified"
    assert act("updates", {"message": "Internal note"}).startswith("ok: Internal update")
    assert act("severity", {"severity": "SEV1"}) == f"ok: {ref} is now SEV1."
    assert act("roles", {"role": "commander", "person": "dana"}).startswith("ok: ")
    assert incident(api, ref)["roles"]["commander"] == ["dana"]
    assert act("resolve") == f"ok: {ref} resolved."
    assert act("close") == f"ok: {ref} closed."

    updates = api.get(f"{API}/incidents/{ref}/updates").json()["items"]
    assert [(u["message"], u["public"]) for u in updates] == [
        ("Rolling back", True),
        ("Internal note", False),
    ]
    events = api.get(f"{API}/incidents/{ref}/timeline").json()["items"]
    mine = {e["kind"] for e in events if e["actor"] == "alice"}
    assert {
        "acknowledged",
        "update_posted",
        "severity_changed",
        "role_assigned",
        "resolved",
        "closed",
    } <= mine, [(e["actor"], e["kind"], e["summary"]) for e in events]
    assert not [e for e in events if e["actor"] == "rita"]


def test_refused_actions_show_a_message_and_change_nothing(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    ref = declare(api, "Checkout down", "sev3", "checkout-api")
    page = f"/dashboard/incidents/{ref}"
    for action in ("resolve", "close"):
        rita.submit(page, f"{page}/{action}")
    before = api.get(f"{API}/incidents/{ref}/timeline").json()["items"]

    cases = [
        ("resolve", {}, "cannot move from closed to resolved"),
        ("acknowledge", {}, "is already closed"),
        ("updates", {"message": ""}, "message"),
        ("updates", {"message": "x", "status": "sleeping"}, "status: unknown status"),
        ("severity", {"severity": "SEV9"}, "severity"),
        ("roles", {"role": "juggler", "person": "alice"}, "unknown role 'juggler'"),
        ("roles", {"role": "commander", "person": "nobody-here"}, "unknown person"),
    ]
    for action, fields, expected in cases:
        response = rita.submit(page, f"{page}/{action}", fields)
        assert response.status_code == 303, action
        shown = rita.follow(response)
        assert shown.status_code == 200
        assert flash(shown.text).startswith("error: ") and expected in flash(shown.text), action
    assert api.get(f"{API}/incidents/{ref}/timeline").json()["items"] == before

    missing = rita.get("/dashboard/incidents/INC-999")
    assert missing.status_code == 404 and "INC-999" in missing.text
    gone = rita.submit("/dashboard", "/dashboard/incidents/INC-999/acknowledge")
    assert gone.status_code == 303
    assert "not found" in flash(rita.follow(gone).text)


def test_user_text_is_escaped_everywhere(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    ref = declare(api, f"Title {evil}", "sev2", "checkout-api")
    page = f"/dashboard/incidents/{ref}"
    rita.submit(page, f"{page}/updates", {"message": f"Update {evil}"})
    for path in ("/dashboard", page):
        body = rita.get(path).text
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(" in body
    headers = rita.get(page).headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]


def test_the_postmortem_page_opens_with_a_session(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    ref = declare(api, "Checkout down", "sev2", "checkout-api")
    assert api.post(f"{API}/incidents/{ref}/resolve").status_code == 200
    pm = api.get(f"{API}/incidents/{ref}/postmortem").json()["id"]
    path = f"/postmortems/{pm}"
    assert rita.get(path).status_code == 200
    assert "Checkout down" in rita.get(path).text
    with Browser(live_server.url) as anonymous:
        refused = anonymous.http.get(path, headers={"Accept": "text/html"})
        assert refused.status_code == 303
        assert refused.headers["location"] == f"/login?next={path}"
        assert anonymous.get(path).status_code == 401  # a script without a token
    assert api.get(path).status_code == 200  # the bearer token still works
    bad = httpx.get(f"{live_server.url}{path}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_silences_can_be_added_and_expired(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    empty = rita.get("/dashboard/silences")
    assert "No silence is active or pending." in empty.text
    added = rita.submit(
        "/dashboard/silences",
        "/dashboard/silences",
        {
            "matchers": 'service="checkout-api"\nalertname="Latency"',
            "duration": "2h",
            "comment": "deploy",
        },
    )
    assert flash(rita.follow(added).text).startswith("ok: Silence")
    silences = api.get(f"{API}/silences").json()["items"]
    assert len(silences) == 1 and silences[0]["created_by"] == "alice"
    assert silences[0]["matchers"] == ['service="checkout-api"', 'alertname="Latency"']
    shown = rita.get("/dashboard/silences").text
    assert f'data-silence="{silences[0]["id"]}"' in shown and "deploy" in shown

    for fields, expected in (
        ({"matchers": 'service="x"', "duration": "soon"}, "duration: invalid duration"),
        ({"matchers": 'service="x"', "duration": "0m"}, "duration: must be longer than zero"),
        ({"matchers": "", "duration": "1h"}, "matchers"),
        ({"matchers": "service=~.*", "duration": "1h"}, "matchers"),
        ({"matchers": 'service="x"', "duration": "99999999999999d"}, "duration"),
    ):
        refused = rita.submit("/dashboard/silences", "/dashboard/silences", fields)
        message = flash(rita.follow(refused).text)
        assert message.startswith("error: ") and expected in message, fields
    assert len(api.get(f"{API}/silences?state=all").json()["items"]) == 1

    expired = rita.submit("/dashboard/silences", f"/dashboard/silences/{silences[0]['id']}/expire")
    assert flash(rita.follow(expired).text) == f"ok: Silence {silences[0]['id']} expired."
    assert api.get(f"{API}/silences").json()["items"] == []


def test_on_call_and_metrics_pages(
    live_server: LiveServer, api: httpx.Client, rita: Browser
) -> None:
    oncall = api.get(f"{API}/oncall").json()["items"]
    page = rita.get("/dashboard/oncall").text
    for item in oncall:
        section = re.search(rf'data-schedule="{item["schedule"]}".*?</section>', page, re.S)
        assert section is not None
        now = re.search(r'class="oncall-now">(.*?)</dd>', section.group(0), re.S)
        assert now is not None
        assert now.group(1) == (", ".join(item["people"]) or "<strong>nobody (gap)</strong>")
        if item["next_handoff"]:
            assert "Next handoff" in section.group(0)

    ref = declare(api, "Checkout down", "sev1", "checkout-api")
    live_server.clock.advance(timedelta(minutes=3))
    api.post(f"{API}/incidents/{ref}/acknowledge")
    live_server.clock.advance(timedelta(minutes=1))
    metrics = rita.get("/dashboard/metrics")
    assert metrics.status_code == 200
    chart = r'<img src="(/dashboard/metrics/charts/[a-z]+\.svg\?window=30d[^"]*)" alt="([^"]+)"'
    charts = re.findall(chart, metrics.text)
    assert [alt.split(":")[0] for _, alt in charts] == ["Bars", "Stacked bars", "Lines", "Lines"]
    titles = [rita.get(html.unescape(src)).text for src, _ in charts]
    assert "SLA compliance" in titles[0] and "Time to acknowledge" in titles[3]
    assert re.search(r'<tr data-severity="SEV1"><th scope="row">SEV1</th><td>1</td>', metrics.text)
    assert re.search(r'<tr><th scope="row">All</th><td>1</td><td>3m</td>', metrics.text)
    assert rita.get("/dashboard/metrics?window=5y").status_code == 422


def test_an_alert_storm_page_says_what_it_is_made_of(
    rita: Browser, live_server: LiveServer
) -> None:
    admin = httpx.Client(
        base_url=live_server.url,
        timeout=10,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    )
    with admin:
        key = admin.post(
            f"{API}/integrations",
            json={"name": "prom", "service": "checkout-api", "kind": "alertmanager"},
        ).json()["key"]
        alerts = [
            {
                "status": "firing",
                "labels": {
                    "alertname": f"Storm{i}",  # each a new alert group
                    "service": "checkout-api",
                    "severity": "critical",
                    "instance": f"node-{i}",
                    "zone": "eu-1" if i % 4 else "us-2",
                },
            }
            for i in range(150)
        ]
        answer = admin.post(
            f"{API}/integrations/{key}/alertmanager",
            json={"version": "4", "status": "firing", "receiver": "t", "alerts": alerts},
        )
        assert answer.status_code == 202, answer.text

        def decided() -> bool:  # the body may have been queued and decided after the answer
            found = admin.get(f"{API}/alerts", params={"service": "checkout-api", "limit": 1})
            return bool(found.json()["total"] == 150)

        wait_for(decided, 30, "the storm's alerts decided")
        [storm] = [i["id"] for i in admin.get(f"{API}/incidents").json()["items"]]
    page = rita.get(f"/dashboard/incidents/{storm}").text
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "Alert storm: 150 alerts on checkout-api" in " ".join(text.split())
    assert "Top alertnames: Storm0 (1)" in text and "zone=eu-1 (112)" in text
    assert "Showing the first 100 of 150 alerts" in text
    assert page.count("<tr><td>") == 100


def test_a_drill_wears_its_badge_in_the_list_and_on_its_page(
    api: httpx.Client, rita: Browser
) -> None:
    real = declare(api, "Checkout errors", "SEV2", "checkout-api")
    answer = api.post(
        f"{API}/incidents",
        json={
            "title": "Failover rehearsal",
            "severity": "SEV2",
            "services": ["checkout-api"],
            "drill": True,
            "drill_responders": ["bob"],
        },
    )
    assert answer.status_code == 201, answer.text
    drill = answer.json()["id"]
    listing = rita.get("/dashboard").text
    rows = dict(re.findall(r'data-incident="(INC-\d+)"(.*?)</li>', listing, re.S))
    assert 'data-testid="drill-badge"' in rows[drill]
    assert "drill-badge" not in rows[real]
    page = rita.get(f"/dashboard/incidents/{drill}").text
    assert '<span class="drill-badge" data-testid="drill-badge">DRILL</span>' in page
    assert "It pages bob." in page
    assert "drill-badge" not in rita.get(f"/dashboard/incidents/{real}").text


def test_a_live_refresh_leaves_the_actions_message_to_the_page_it_leads_to(
    api: httpx.Client, rita: Browser
) -> None:
    """The incident page's script refreshes the page when the incident changes: that
    fetch may cross the redirect of an action that changed it, and must neither show
    nor clear the action's message, which the page the redirect leads to shows."""
    ref = declare(api, "Checkout down", "sev2", "checkout-api")
    page = f"/dashboard/incidents/{ref}"
    acknowledged = rita.submit(page, f"{page}/acknowledge")
    assert acknowledged.status_code == 303
    refreshed = rita.http.get(page, headers={REFRESH_HEADER: "1"})
    assert refreshed.status_code == 200 and "acknowledged" in refreshed.text
    assert not has_flash(refreshed.text)
    assert flash(rita.follow(acknowledged).text) == f"ok: {ref} acknowledged."
    assert not has_flash(rita.get(page).text)  # shown once
