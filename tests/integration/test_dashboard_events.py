"""``GET /dashboard/events``: incident changes reach an open dashboard within a second,
whoever made them, and an open stream never keeps the server from stopping."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.conftest import _serve
from tests.support.dashboard_session import Browser, add_user, cheap_hashing

from tocsin.auth.users import disable_user
from tocsin.db import session_scope
from tocsin.incidents import service
from tocsin.incidents.models import IncidentCreate
from tocsin.web.app import create_app
from tocsin.web.context import AppContext
from tocsin.web.dashboard import changes, events

if TYPE_CHECKING:
    from tests.conftest import LiveServer

API = "/api/v1"
WITHIN = 1.0  # seconds, the dashboard's promise


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@dataclass
class Message:
    event: str
    data: str
    id: str | None


@dataclass
class EventStream:
    """Reads an SSE response in a thread; messages and comments go into queues."""

    response: httpx.Response
    messages: queue.Queue[Message] = field(default_factory=queue.Queue)
    comments: queue.Queue[str] = field(default_factory=queue.Queue)
    ended: threading.Event = field(default_factory=threading.Event)
    last_id: str | None = None

    def start(self) -> EventStream:
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self.response.iter_lines():
                if line.startswith(":"):
                    self.comments.put(line[1:].strip())
                elif line:
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value
                else:
                    if "id" in fields:
                        self.last_id = fields["id"]
                    if "data" in fields or "event" in fields:
                        self.messages.put(
                            Message(
                                fields.get("event", "message"),
                                fields.get("data", ""),
                                fields.get("id"),
                            )
                        )
                    fields = {}
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def next_incident(self, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.messages.get(timeout=max(deadline - time.monotonic(), 0.001))
            if message.event == "incident":
                data: dict[str, Any] = json.loads(message.data)
                return data


@pytest.fixture
def signed_in(live_server: LiveServer) -> Iterator[Browser]:
    add_user(live_server.context, "rita", person="alice")
    with Browser(live_server.url) as browser:
        browser.sign_in("rita")
        yield browser


def open_stream(browser: Browser, headers: dict[str, str] | None = None) -> Iterator[EventStream]:
    with browser.http.stream(
        "GET", "/dashboard/events", headers=headers, timeout=httpx.Timeout(10, read=30)
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response).start()


@pytest.fixture
def stream(signed_in: Browser) -> Iterator[EventStream]:
    yield from open_stream(signed_in)


def declare(live_server: LiveServer, title: str, severity: str = "sev1") -> dict[str, Any]:
    answer = httpx.post(
        f"{live_server.url}{API}/incidents",
        json={"title": title, "severity": severity, "services": ["checkout-api"]},
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    )
    assert answer.status_code == 201
    result: dict[str, Any] = answer.json()
    return result


def test_an_incident_declared_through_the_api_arrives_within_a_second(
    live_server: LiveServer, stream: EventStream
) -> None:
    declared = declare(live_server, "Checkout <down>")
    event = stream.next_incident(timeout=WITHIN)
    assert event["id"] == declared["id"] and event["new"] is True
    assert event["title"] == "Checkout <down>"
    assert (event["severity"], event["severity_rank"], event["status"]) == ("SEV1", 1, "triggered")
    assert event["services"] == ["checkout-api"]
    assert event["updated_at"].startswith("2026-03-02T09:00:00")
    assert f'data-incident="{declared["id"]}"' in event["html"]
    assert "Checkout &lt;down&gt;" in event["html"]

    httpx.post(
        f"{live_server.url}{API}/incidents/{declared['id']}/acknowledge",
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    )
    changed = stream.next_incident(timeout=WITHIN)
    assert (changed["id"], changed["status"], changed["new"]) == (
        declared["id"],
        "acknowledged",
        False,
    )


def test_a_change_from_another_process_arrives_by_polling(
    live_server: LiveServer, stream: EventStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-process wake-up is switched off: only the poll can find this change.

    Without the poll it never arrives, so a bound of several polls proves the poll
    finds it, without timing a loaded machine."""
    monkeypatch.setattr(changes.BELL, "ring", lambda: None)
    context = live_server.context
    with session_scope(context.sessions) as session:
        service.declare(
            session=session,
            policy=context.policy.current,
            actor="cli",
            data=IncidentCreate(title="From the CLI", severity="sev2"),
            now=context.clock.now(),
        )
    event = stream.next_incident(timeout=10 * events.POLL_SECONDS)
    assert (event["title"], event["new"]) == ("From the CLI", True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reconnecting_browser_resumes_where_it_left_off(
    live_server: LiveServer, signed_in: Browser
) -> None:
    streams = open_stream(signed_in)
    first = next(streams)
    assert declare(live_server, "One")["id"] == first.next_incident()["id"]
    seen = first.last_id
    streams.close()
    assert seen is not None

    two = declare(live_server, "Two")  # while nobody listens
    resumed = open_stream(signed_in, {"Last-Event-ID": seen})
    assert next(resumed).next_incident()["id"] == two["id"]
    resumed.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_only_signed_in_users_get_the_stream_and_it_ends_with_their_session(
    live_server: LiveServer, signed_in: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    anonymous = httpx.get(f"{live_server.url}/dashboard/events", timeout=5)
    assert anonymous.status_code == 401
    monkeypatch.setattr(events, "HEARTBEAT_SECONDS", 0.05)
    streams = open_stream(signed_in)
    stream = next(streams)
    assert stream.comments.get(timeout=WITHIN) == "heartbeat"
    with session_scope(live_server.context.sessions) as session:
        disable_user(session=session, username="rita", now=live_server.clock.now())
    message = stream.messages.get(timeout=WITHIN)
    while message.event != "signedout":
        message = stream.messages.get(timeout=WITHIN)
    assert stream.ended.wait(WITHIN)
    streams.close()


def test_an_open_stream_ends_when_the_session_expires(
    live_server: LiveServer, signed_in: Browser
) -> None:
    streams = open_stream(signed_in)
    stream = next(streams)
    live_server.clock.advance(timedelta(hours=12, seconds=1))
    message = stream.messages.get(timeout=WITHIN)
    while message.event != "signedout":
        message = stream.messages.get(timeout=WITHIN)
    assert stream.ended.wait(WITHIN)
    streams.close()


def test_one_user_cannot_open_live_views_without_end(
    live_server: LiveServer, signed_in: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "MAX_STREAMS_PER_USER", 1)
    streams = open_stream(signed_in)
    next(streams)
    refused = httpx.get(
        f"{live_server.url}/dashboard/events", cookies=dict(signed_in.http.cookies), timeout=5
    )
    assert refused.status_code == 429 and "at most 1 live views" in refused.text
    streams.close()


def test_an_odd_last_event_id_starts_from_now(live_server: LiveServer, signed_in: Browser) -> None:
    """Header values arrive as latin-1: "²" is a digit to Python, not a number."""
    cookies = dict(signed_in.http.cookies)
    with httpx.stream(
        "GET",
        f"{live_server.url}/dashboard/events",
        cookies=cookies,
        headers={"Last-Event-ID": b"\xb2"},  # type: ignore[dict-item]
        timeout=5,
    ) as response:
        assert response.status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_server_stops_promptly_with_a_stream_open(app_context: AppContext) -> None:
    add_user(app_context, "rita")
    server, thread, port = _serve(create_app(app_context))
    try:
        with Browser(f"http://127.0.0.1:{port}") as browser:
            browser.sign_in("rita")
            streams = open_stream(browser)
            stream = next(streams)
            server.should_exit = True
            thread.join(timeout=3)
            assert not thread.is_alive(), "uvicorn is still waiting for the event stream"
            assert stream.ended.wait(2)
            streams.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
