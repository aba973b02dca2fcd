"""The SDK's retries: a server whose database refuses writes answers 503 with
Retry-After; the client waits what the server asked, then asks again and succeeds
once the fault is gone; when it stays, the 503 is raised after the last attempt.
A 429 is waited out the same way. Waiting is recorded, not slept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event
from tests.conftest import LiveServer

from tocsin.client import RateLimited, Retry, ServiceUnavailable, Tocsin


class ReadOnly:
    """The server's database refuses writes (SQLite's ``query_only``) while ``on``."""

    def __init__(self, live_server: LiveServer) -> None:
        self.engine = live_server.context.sessions.engine
        self.on = True
        event.listen(self.engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute(f"PRAGMA query_only = {'ON' if self.on else 'OFF'}")

    def close(self) -> None:
        event.remove(self.engine, "checkout", self._apply)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_503_is_waited_out_as_the_server_asks(live_server: LiveServer) -> None:
    fault = ReadOnly(live_server)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        fault.on = False  # the database is back while the client waits

    try:
        retry = Retry(attempts=3, sleep=sleep)
        with Tocsin(live_server.url, token=live_server.admin_token, retry=retry) as tocsin:
            declared = tocsin.incidents.declare("Checkout 5xx", "sev2")
        assert waits == [5.0]  # the server's Retry-After
        assert declared["id"] == "INC-1"

        fault.on = True
        waits.clear()
        retry = Retry(attempts=3, sleep=waits.append)
        with (
            Tocsin(live_server.url, token=live_server.admin_token, retry=retry) as tocsin,
            pytest.raises(ServiceUnavailable) as refused,
        ):
            tocsin.incidents.declare("Queue lag", "sev3")
        assert waits == [5.0, 5.0] and refused.value.retry_after == 5.0
    finally:
        fault.close()


def test_a_429_is_retried_after_its_retry_after_then_raised() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "slow down"}),
            httpx.Response(200, json={"id": "INC-1"}),
            httpx.Response(429, headers={"Retry-After": "90"}, json={"detail": "slow down"}),
            httpx.Response(429, json={"detail": "slow down"}),
        ]
    )
    waits: list[float] = []
    transport = httpx.MockTransport(lambda request: next(answers))
    retry = Retry(attempts=2, max_wait=30, backoff=0.5, sleep=waits.append)
    with Tocsin("http://tocsin.test", token="t", retry=retry, transport=transport) as tocsin:
        assert tocsin.incidents.get("INC-1") == {"id": "INC-1"}
        with pytest.raises(RateLimited, match="slow down"):
            tocsin.incidents.get("INC-1")
    assert waits == [2.0, 30.0]  # as asked, and never longer than max_wait
