"""The delivery worker's own loop (`run_forever`) wakes when there is something to do.

A send that ends wakes the loop only when that can change what the loop would do: a
slot freed on a channel whose every slot was taken. Here the poll is a minute long, so
a queue on a one-at-a-time channel goes out at once only if each freed slot wakes it.
The broadcast feed takes a turn only for an event it announces.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.delivery_harness import BASE_POLICY, ChannelHarness
from tests.support.receivers import WebhookReceiver

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.engine.comms import OVERLAP, BroadcastFeed
from tocsin.incidents import service, timeline
from tocsin.notify import outbox
from tocsin.web.context import AppContext

SECRET = "wake-signing-key"
ENV = {"TOCSIN_TEST_WEBHOOK_SECRET": SECRET}


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret=SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def policy_file(tmp_path: Path, hook: WebhookReceiver) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(
        BASE_POLICY
        + "channels:\n"
        + f"  ops: {{type: webhook, url: {hook.url!r}, "
        + "secret_env: TOCSIN_TEST_WEBHOOK_SECRET, concurrency: 1}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def h(app_context: AppContext, clock: FakeClock) -> Iterator[ChannelHarness]:
    harness = ChannelHarness(app_context, clock, ENV)
    yield harness
    harness.delivery.shutdown()


def _queue(h: ChannelHarness, count: int) -> None:
    for n in range(count):
        h.message(str(n), channel="ops")


def test_a_queue_on_a_one_at_a_time_channel_goes_out_without_waiting_for_the_poll(
    h: ChannelHarness, hook: WebhookReceiver
) -> None:
    stop = threading.Event()
    loop = threading.Thread(
        target=h.delivery.run_forever, args=(stop,), kwargs={"poll": 60.0}, daemon=True
    )
    loop.start()
    try:
        _queue(h, 5)  # the commit wakes the loop; it can start one send of the five
        deadline = time.monotonic() + 15
        while len(hook.processed) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(hook.processed) == 5
        assert sorted(p["subject"] for p in hook.processed) == [f"message {n}" for n in range(5)]
    finally:
        stop.set()
        outbox.NOTIFICATION_ENQUEUED.notify()
        loop.join(10)
    assert not loop.is_alive()
    assert {d.state for d in h.deliveries("ops")} == {"sent"}


def test_deliveries_waiting_for_a_slot_set_no_wake_up_time(
    h: ChannelHarness, hook: WebhookReceiver
) -> None:
    """While every slot of a channel is taken, what is due there waits for a send to
    end (which wakes the loop), not for a moment: else the loop would go round without
    pause, each round several transactions, for as long as the channel stays full."""
    release = threading.Event()

    def hold(_request: object) -> None:
        release.wait(15)

    hook.on_request = hold
    _queue(h, 3)
    h.delivery.run_due(wait=False)  # expands the three and starts one send
    try:
        sending = [d for d in h.deliveries("ops") if d.state == "sending"]
        assert len(sending) == 1
        with session_scope(h.context.sessions, write=False) as session:
            assert outbox.next_wakeup_at(session=session) == h.clock.now()  # due now
            # the send's deadline is all that is left to wake up for
            assert outbox.next_wakeup_at(session=session, waiting={"ops"}) == sending[0].deadline_at
    finally:
        release.set()
    h.delivery.run_due()
    assert len(hook.processed) == 3


def test_the_broadcast_feed_takes_a_turn_only_for_what_it_announces(
    h: ChannelHarness, hook: WebhookReceiver
) -> None:
    """During a storm the timeline grows all the time; a feed pass is a write
    transaction. Events no broadcast announces need none, until the feed's cursor would
    fall more than its look-back behind."""
    path = h.context.policy.path
    assert path is not None
    path.write_text(
        path.read_text(encoding="utf-8")
        + "broadcasts:\n  - {name: ops, severities: [SEV1], to: [{channel: ops}]}\n",
        encoding="utf-8",
    )
    h.context.policy.reload()
    feed = BroadcastFeed()

    def needed() -> bool:
        with session_scope(h.context.sessions, write=False) as session:
            return feed.needed(session=session, policy=h.context.policy.current, now=h.clock.now())

    def run() -> int:
        with session_scope(h.context.sessions) as session:
            return feed.run(session=session, policy=h.context.policy.current, now=h.clock.now())

    def notes(ref: str, count: int) -> None:
        with session_scope(h.context.sessions) as session:
            incident = service.get(session=session, ref=ref)
            for n in range(count):
                timeline.record(
                    session=session,
                    incident=incident,
                    now=h.clock.now(),
                    actor="alice",
                    kind="note",
                    summary=f"note {n}",
                )

    ref = h.declare("SEV1")
    assert needed()
    assert run() == 1  # the declaration, announced
    assert not needed()

    notes(ref, 5)
    assert not needed()  # nothing to announce: no pass
    notes(ref, OVERLAP)
    assert needed()  # the cursor catches up
    assert run() == 0
    assert not needed()

    h.act(ref, "update", "Rolled back the deploy")
    assert needed()
    assert run() == 1
