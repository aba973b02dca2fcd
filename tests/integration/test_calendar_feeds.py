"""Calendar feeds over real HTTP: subscription tokens, and events a calendar app can keep.

The example policy is loaded and the fake clock reads Monday 2026-03-02 09:00 UTC. By
hand, from the example's schedules: platform-primary is weekly from Monday 2026-01-05
09:00 UTC (alice, bob, charlie), so bob has 02-23..03-02, charlie 03-02..03-09, and so
on. ic-rotation is in Los Angeles (PST = UTC-8 until 03-08, PDT = UTC-7 after): charlie
holds the evenings and weekends, alice Mon-Wed and bob Thu-Fri 09:00-17:00.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from icalendar import Calendar

API = "/api/v1"
FEED = f"{API}/schedules/platform-primary.ics"


def utc(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def client(server: Any, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=10)


@pytest.fixture
def admin(live_server: Any) -> Iterator[httpx.Client]:
    with client(live_server, live_server.admin_token) as http:
        yield http


@pytest.fixture
def alice(live_server: Any) -> Iterator[httpx.Client]:
    with client(live_server, live_server.make_token("viewer", "alice")) as http:
        yield http


@pytest.fixture
def anonymous(live_server: Any) -> Iterator[httpx.Client]:
    with client(live_server) as http:
        yield http


def subscribe(http: httpx.Client, schedule: str = "platform-primary") -> dict[str, Any]:
    answer = http.post(f"{API}/schedules/{schedule}/subscriptions")
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def events(body: bytes) -> list[tuple[str, datetime, datetime]]:
    return [
        (str(e["SUMMARY"]).split()[2], e.decoded("DTSTART"), e.decoded("DTEND"))
        for e in Calendar.from_ical(body).walk("VEVENT")
    ]


def test_the_feed_from_a_subscription_url(
    live_server: Any, alice: httpx.Client, anonymous: httpx.Client
) -> None:
    created = subscribe(alice)
    token = created["token"]
    assert token.startswith("tcsc_") and created["owner"] == "alice"
    assert created["url"] == f"{live_server.url}{FEED}?token={token}"

    answer = anonymous.get(created["url"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/calendar")
    # From last week to 8 weeks ahead, whole weeks: the last one ends at its handoff.
    assert events(answer.content) == [
        (person, utc(2, 23, 9) + timedelta(weeks=n), utc(3, 2, 9) + timedelta(weeks=n))
        for n, person in enumerate(["bob", "charlie", "alice"] * 3)
    ]
    # An hour later the window reaches one more week; every event already there is
    # byte for byte the same, and a refresh that finds nothing new gets 304.
    live_server.clock.advance(timedelta(hours=1))
    again = anonymous.get(created["url"])
    assert events(again.content) == [
        *events(answer.content),
        ("bob", utc(4, 27, 9), utc(5, 4, 9)),
    ]
    first = {str(e["UID"]): e.to_ical() for e in Calendar.from_ical(answer.content).walk("VEVENT")}
    for event in Calendar.from_ical(again.content).walk("VEVENT"):
        assert first.get(str(event["UID"]), event.to_ical()) == event.to_ical()
    assert anonymous.get(created["url"]).content == again.content
    not_modified = anonymous.get(created["url"], headers={"If-None-Match": again.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""
    head = anonymous.head(created["url"])
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/calendar")
    # A bearer header works too, for apps that send one.
    with client(live_server, token) as bearer:
        assert bearer.get(FEED).content == again.content


def test_the_last_event_ends_at_its_real_handoff(live_server: Any, alice: httpx.Client) -> None:
    url = subscribe(alice, "ic-rotation")["url"]
    found = events(httpx.get(url, timeout=10).content)
    # Charlie's weekend before the window (Friday 02-20 17:00 PST) to Monday 09:00 PST.
    assert found[0] == ("charlie", utc(2, 21, 1), utc(2, 23, 17))
    # The window ends 04-27 09:00Z (02:00 PDT, a Monday): charlie's weekend runs on to
    # 09:00 PDT, 16:00Z, not to the moment of the fetch plus 8 weeks.
    assert found[-1] == ("charlie", utc(4, 25, 0), utc(4, 27, 16))


def test_an_override_makes_new_events_and_the_old_ones_leave(
    live_server: Any, alice: httpx.Client, admin: httpx.Client
) -> None:
    url = subscribe(alice)["url"]
    before = Calendar.from_ical(httpx.get(url, timeout=10).content)
    body = {"person": "dana", "start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"}
    assert admin.post(f"{API}/schedules/platform-primary/overrides", json=body).is_success
    after_body = httpx.get(url, timeout=10).content
    after = Calendar.from_ical(after_body)
    uids_before = {str(e["UID"]) for e in before.walk("VEVENT")}
    uids_after = {str(e["UID"]) for e in after.walk("VEVENT")}
    assert uids_before - uids_after == {
        "platform-primary-20260302T090000Z-20260309T090000Z-charlie@tocsin"
    }
    assert [e[1:] for e in events(after_body) if e[0] in {"charlie", "dana"}][:3] == [
        (utc(3, 2, 9), utc(3, 3)),
        (utc(3, 3), utc(3, 4)),
        (utc(3, 4), utc(3, 9, 9)),
    ]


def test_api_tokens_do_not_open_feeds(
    live_server: Any, admin: httpx.Client, anonymous: httpx.Client
) -> None:
    admin_token = live_server.admin_token
    for answer in (
        anonymous.get(FEED, params={"token": admin_token}),
        admin.get(FEED),  # in the header too: feeds take subscription tokens only
    ):
        assert answer.status_code == 401
        assert "tocsin schedule subscribe platform-primary" in answer.json()["detail"]
        assert admin_token not in answer.text
    missing = anonymous.get(FEED)
    assert missing.status_code == 401 and "subscription token" in missing.json()["detail"]
    bad = anonymous.get(FEED, params={"token": "tcsc_not-a-token"})
    assert bad.status_code == 401 and "tcsc_not-a-token" not in bad.text


def test_a_subscription_token_opens_its_feed_and_nothing_else(
    live_server: Any, alice: httpx.Client, anonymous: httpx.Client
) -> None:
    token = subscribe(alice)["token"]
    other = anonymous.get(f"{API}/schedules/platform-secondary.ics", params={"token": token})
    assert other.status_code == 403 and "another schedule" in other.json()["detail"]
    with client(live_server, token) as holder:
        for path in (f"{API}/schedules/platform-primary", f"{API}/oncall", f"{API}/incidents"):
            refused = holder.get(path)
            assert refused.status_code == 401, path
            assert ".ics feed only" in refused.json()["detail"]
        assert holder.post(f"{API}/schedules/platform-primary/subscriptions").status_code == 401
        assert holder.get("/dashboard", follow_redirects=False).status_code in (302, 303, 401)
    assert (
        anonymous.get(f"{API}/schedules/platform-primary", params={"token": token}).status_code
        == 401
    )


def test_subscribing_again_replaces_and_revoking_ends_the_url(
    live_server: Any, alice: httpx.Client, admin: httpx.Client, anonymous: httpx.Client
) -> None:
    first = subscribe(alice)
    second = subscribe(alice)
    assert second["replaced"] == 1 and first["replaced"] == 0
    assert anonymous.get(first["url"]).status_code == 401
    assert anonymous.get(second["url"]).status_code == 200
    mine = subscribe(admin)
    ic = subscribe(alice, "ic-rotation")

    # Alice sees her own; the admin sees everyone's. Never a token.
    listed = alice.get(f"{API}/calendar-subscriptions").json()["items"]
    assert [(i["schedule"], i["owner"]) for i in listed] == [
        ("platform-primary", "alice"),
        ("ic-rotation", "alice"),
    ]
    everyone = admin.get(f"{API}/calendar-subscriptions").json()["items"]
    assert {i["id"] for i in everyone} == {second["id"], mine["id"], ic["id"]}
    assert all("token" not in i and i["token_prefix"].startswith("tcsc_") for i in everyone)

    # Alice cannot revoke the admin's; she revokes her own.
    assert alice.delete(f"{API}/calendar-subscriptions/{mine['id']}").status_code == 404
    assert anonymous.get(mine["url"]).status_code == 200
    assert alice.delete(f"{API}/schedules/platform-primary/subscriptions").status_code == 204
    assert anonymous.get(second["url"]).status_code == 401
    assert alice.delete(f"{API}/schedules/platform-primary/subscriptions").status_code == 404
    # An admin revokes anyone's.
    assert admin.delete(f"{API}/calendar-subscriptions/{ic['id']}").status_code == 204
    assert anonymous.get(ic["url"]).status_code == 401
    assert alice.get(f"{API}/calendar-subscriptions").json()["items"] == []


def test_unknown_schedule(alice: httpx.Client) -> None:
    answer = alice.post(f"{API}/schedules/nope/subscriptions")
    assert answer.status_code == 404 and "platform-primary" in answer.json()["detail"]
