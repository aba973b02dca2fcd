"""Email subscribers: double opt-in, emails per public update (queued in the outbox by
the worker), one-click unsubscribe (RFC 8058) and the form's cross-site refusal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.support.statuspage import client, edit_policy, notifications, run_worker
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from tests.conftest import LiveServer
    from tests.support.api import ApiAs

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    with client(live_server.url) as http:
        yield http


def subscribe(anon: httpx.Client, email: str, **headers: str) -> httpx.Response:
    return anon.post("/status/subscribe", content=f"email={email}", headers={**FORM, **headers})


def link(body: str, path: str) -> str:
    """The path and query of the link to ``path`` in an email body."""
    found = re.search(rf"https://status\.example\.com({re.escape(path)}\?token=[\w%-]+)", body)
    assert found is not None, body
    return "/status" + found.group(1)


def declare(api: httpx.Client, severity: str = "sev1") -> str:
    response = api.post(
        "/api/v1/incidents",
        json={"title": "Internal title", "severity": severity, "services": ["checkout-api"]},
    )
    assert response.status_code == 201
    return str(response.json()["id"])


def subscribed(live_server: LiveServer, anon: httpx.Client, email: str) -> dict[str, Any]:
    """Subscribe and confirm ``email``; its confirmation message."""
    assert subscribe(anon, email).status_code == 200
    message = [n for n in notifications(live_server.context) if n["data"]["to"] == email][-1]
    assert anon.get(link(message["body"], "/subscribe/confirm")).status_code == 200
    return message


def update_emails(live_server: LiveServer) -> list[dict[str, Any]]:
    return [
        n for n in notifications(live_server.context) if n["key"].startswith("statuspage:update:")
    ]


def test_double_opt_in_then_an_email_per_public_update(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    response = subscribe(anon, "Ann@Example.com")
    assert response.status_code == 200
    assert "Check your inbox" in response.text and "Ann@Example.com" in response.text
    [confirmation] = notifications(live_server.context)
    assert confirmation["person"] == "email:ann@example.com"
    assert confirmation["channel"] == "email" and confirmation["incident_id"] is None
    assert confirmation["subject"] == "Confirm your subscription to Example Inc. Status"
    confirm_url = link(confirmation["body"], "/subscribe/confirm")

    # not confirmed yet: an incident emails nobody (no job is even scheduled), nor does
    # its resolution
    not_yet = declare(api)
    run_worker(live_server.context)
    assert api.post(f"/api/v1/incidents/{not_yet}/resolve").status_code == 200
    run_worker(live_server.context)
    assert update_emails(live_server) == []

    confirmed = anon.get(confirm_url)
    assert confirmed.status_code == 200 and "Subscription confirmed" in confirmed.text
    assert anon.get(confirm_url).status_code == 404  # the link works once

    inc = declare(api)
    assert update_emails(live_server) == []  # queued by the worker, not by the request
    run_worker(live_server.context)
    [first] = update_emails(live_server)
    assert first["person"] == "email:ann@example.com" and first["channel"] == "email"
    assert first["subject"] == "[Example Inc. Status] Checkout - service disruption: Investigating"
    assert "We are currently investigating" in first["body"]
    assert "Internal title" not in first["body"] + first["subject"]
    unsubscribe_url = link(first["body"], "/unsubscribe")
    headers = first["data"]["headers"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"] == (
        f"<https://status.example.com{unsubscribe_url.removeprefix('/status')}>"
    )

    api.post(f"/api/v1/incidents/{inc}/updates", json={"message": "internal only"})
    run_worker(live_server.context)
    assert len(update_emails(live_server)) == 1
    api.post(f"/api/v1/incidents/{inc}/updates", json={"message": "Fix deployed.", "public": True})
    run_worker(live_server.context)
    run_worker(live_server.context)  # a second run sends nobody anything twice
    emails = update_emails(live_server)
    assert len(emails) == 2 and "Fix deployed." in emails[1]["body"]

    # one-click unsubscribe: a GET only shows the button (mail scanners follow links)
    page = anon.get(unsubscribe_url)
    assert page.status_code == 200 and "<button" in page.text
    api.post(f"/api/v1/incidents/{inc}/updates", json={"message": "Still.", "public": True})
    run_worker(live_server.context)
    assert len(update_emails(live_server)) == 3
    # ... and the mail provider's POST (RFC 8058) unsubscribes, from any origin
    done = anon.post(
        unsubscribe_url,
        content="List-Unsubscribe=One-Click",
        headers={**FORM, "Origin": "https://mail.example.net", "Sec-Fetch-Site": "cross-site"},
    )
    assert done.status_code == 200 and "Unsubscribed" in done.text
    assert (
        anon.post(unsubscribe_url, content="List-Unsubscribe=One-Click", headers=FORM).status_code
        == 200
    )
    api.post(f"/api/v1/incidents/{inc}/resolve", json={})
    run_worker(live_server.context)
    assert len(update_emails(live_server)) == 3


def test_maintenance_is_announced_to_subscribers(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client
) -> None:
    subscribed(live_server, anon, "bo@example.com")
    now = live_server.clock.now()
    api.post(
        "/api/v1/statuspage/maintenances",
        json={
            "name": "Login upgrade",
            "body": "Sessions may reset.",
            "components": ["Login"],
            "scheduled_for": (now + timedelta(days=1)).isoformat(),
            "scheduled_until": (now + timedelta(days=1, hours=1)).isoformat(),
        },
    ).raise_for_status()
    run_worker(live_server.context)
    [announced] = [n for n in notifications(live_server.context) if ":maintenance:" in n["key"]]
    assert announced["subject"] == "[Example Inc. Status] Scheduled maintenance: Login upgrade"
    assert "Sessions may reset." in announced["body"]


def test_resends_are_throttled_links_expire_and_nothing_is_revealed(
    live_server: LiveServer, anon: httpx.Client
) -> None:
    first = subscribe(anon, "cy@example.com")
    again = subscribe(anon, "cy@example.com")
    assert first.text == again.text  # the same answer whatever the address's state
    assert len(notifications(live_server.context)) == 1
    live_server.clock.advance(timedelta(minutes=6))
    subscribe(anon, "cy@example.com")
    old, new = notifications(live_server.context)
    assert link(old["body"], "/subscribe/confirm") != link(new["body"], "/subscribe/confirm")
    assert anon.get(link(old["body"], "/subscribe/confirm")).status_code == 404

    live_server.clock.advance(timedelta(hours=49))
    expired = anon.get(link(new["body"], "/subscribe/confirm"))
    assert expired.status_code == 410 and "expired" in expired.text
    assert 'name="email"' in expired.text  # with the form to subscribe again

    live_server.clock.advance(timedelta(minutes=6))
    subscribed(live_server, anon, "cy@example.com")
    count = len(notifications(live_server.context))
    answer = subscribe(anon, "cy@example.com")  # already confirmed: no new email
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert len(notifications(live_server.context)) == count
    assert anon.get("/status/subscribe/confirm", params={"token": "guess"}).status_code == 404


@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-address",
        "a@b",
        "a@b.com%0D%0ABcc:%20x@y.com",
        "a,b@example.com",
        "x" * 95 + "@e.io",
    ],
)
def test_bad_addresses_are_refused_with_a_labelled_error(anon: httpx.Client, email: str) -> None:
    response = subscribe(anon, email)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.text
    assert 'aria-describedby="subscribe-error"' in response.text
    assert 'id="subscribe-error"' in response.text


def test_cross_site_form_posts_are_refused(live_server: LiveServer, anon: httpx.Client) -> None:
    host = urlsplit(live_server.url).netloc
    assert subscribe(anon, "d@example.com", **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert subscribe(anon, "d@example.com", Origin="https://evil.example").status_code == 403
    assert subscribe(anon, "d@example.com", Origin="null").status_code == 403
    assert subscribe(anon, "d@example.com", **{"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert subscribe(anon, "e@example.com", Origin=f"http://{host}").status_code == 200
    assert subscribe(anon, "f@example.com").status_code == 200  # scripts send neither
    assert len(notifications(live_server.context)) == 3


def test_a_burst_of_incidents_on_one_component_emails_subscribers_once(
    live_server: LiveServer, api: httpx.Client, anon: httpx.Client, api_as: ApiAs
) -> None:
    """300 distinct critical alerts on one service, the storm rule off: 300 incidents,
    one public incident, one email per subscriber."""
    edit_policy(live_server.context, lambda doc: doc["alerting"]["storm"].update(enabled=False))
    subscribed(live_server, anon, "ann@example.com")
    created = api_as("admin").post(
        "/api/v1/integrations",
        json={"name": "am", "service": "checkout-api", "kind": "alertmanager"},
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    for start in range(0, 300, 100):
        alerts = [
            {
                "status": "firing",
                "labels": {"alertname": f"Burst{i}", "instance": f"host-{i}"},
                "annotations": {"summary": f"check {i} failing"},
                "startsAt": live_server.clock.now().isoformat(),
            }
            for i in range(start, start + 100)
        ]
        answer = anon.post(
            f"/api/v1/integrations/{key}/alertmanager",
            json={"version": "4", "status": "firing", "alerts": alerts, "labels": {}},
        )
        assert answer.status_code == 202, answer.text
    # a 2xx means stored: big bodies are decided just after the answer
    wait_for(
        lambda: api.get("/api/v1/incidents", params={"limit": 1}).json()["total"] == 300,
        60,
        "300 incidents opened",
    )
    [public_one] = api.get("/api/v1/statuspage/incidents").json()["items"]
    assert len(public_one["also_about"]) == 299
    run_worker(live_server.context)
    assert len(update_emails(live_server)) == 1
