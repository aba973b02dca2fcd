"""``tocsin_writer_wait_seconds``: how long write transactions waited for their turn,
by the kind of writer, read through the real server's ``/metrics`` on SQLite and
PostgreSQL. An operator watches its foreground and background series: a wait past
250 ms means a person's action or a page waited for the database."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from tests.conftest import LiveServer
from tests.support.alertmanager import firing_body
from tests.support.prometheus import SampleKey, samples, value
from tests.support.waiting import wait_for

NAME = "tocsin_writer_wait_seconds"
HOLD_SECONDS = 0.3


def _scrape(api: httpx.Client) -> dict[SampleKey, float]:
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    return samples(answer.text)


def _count(found: dict[SampleKey, float], writer: str, le: str = "+Inf") -> float:
    if le == "+Inf":
        return value(found, f"{NAME}_count", writer=writer)
    return value(found, f"{NAME}_bucket", writer=writer, le=le)


def test_writes_are_counted_by_kind_and_a_wait_behind_a_held_writer_shows_past_250_ms(
    live_server: LiveServer,
) -> None:
    headers = {"Authorization": f"Bearer {live_server.admin_token}"}
    writers = live_server.context.sessions.writers
    assert writers is not None
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=20) as api:
        before = _scrape(api)
        for writer in ("foreground", "background", "bulk"):  # named before any wait
            assert _count(before, writer) >= 0
        created = api.post(
            "/api/v1/integrations",
            json={"name": "am", "service": "checkout-api", "kind": "alertmanager"},
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        sent = api.post(f"/api/v1/integrations/{key}/alertmanager", json=firing_body("disk", 40))
        assert sent.status_code in (200, 202), sent.text
        counted = _scrape(api)
        assert _count(counted, "foreground") > _count(before, "foreground")
        assert _count(counted, "bulk") > _count(before, "bulk")  # 40 alerts in one request

        # A person's write queued behind a writer that holds the lock for 0.3 s waits
        # at least that long: one more foreground wait past 250 ms.
        release, holding = threading.Event(), threading.Event()

        def hold() -> None:
            with writers.held(background=True):
                holding.set()
                release.wait(10)

        with ThreadPoolExecutor(2) as pool:
            holder = pool.submit(hold)
            # (The 40 alerts may still be decided in the background, queued: this waits
            # for the test's own writer, not for theirs.)
            wait_for(holding.is_set, 10, "the test's writer to hold the lock")
            declared = pool.submit(
                api.post,
                "/api/v1/incidents",
                json={"title": "Checkout down", "severity": "SEV1", "services": ["checkout-api"]},
            )
            wait_for(lambda: writers._foreground_waiting > 0, 10, "the declaration to queue")
            queued_at = time.monotonic()
            while time.monotonic() - queued_at < HOLD_SECONDS:
                time.sleep(0.05)
            release.set()
            holder.result(timeout=10)
            assert declared.result(timeout=20).status_code == 201
        after = _scrape(api)

    def slow(found: dict[SampleKey, float]) -> float:
        return _count(found, "foreground") - _count(found, "foreground", "0.25")

    assert slow(after) == slow(counted) + 1
    waited = value(after, f"{NAME}_sum", writer="foreground") - value(
        counted, f"{NAME}_sum", writer="foreground"
    )
    assert waited >= HOLD_SECONDS
    # Cumulative buckets, +Inf equal to the count, as Prometheus reads them.
    bounds = ["0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5"]
    for writer in ("foreground", "background", "bulk"):
        cumulative = [_count(after, writer, le) for le in [*bounds, "5.0", "30.0"]]
        assert cumulative == sorted(cumulative)
        assert _count(after, writer, "+Inf") == _count(after, writer)
