"""The two lanes of alert intake: a few alerts (a probe, one alert of a quiet service)
are stored in a transaction of their own while a storm's group is still being stored,
without stepping aside for the engine; one integration's requests are never stored out
of order; and a flood of small requests stays bulk work (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

import httpx
from sqlalchemy import select
from tests.conftest import LiveServer

from tocsin.alerts import service as alerts
from tocsin.db import session_scope
from tocsin.incidents import queries as incidents
from tocsin.incidents.models import IncidentService
from tocsin.ingest import AlertEvent, parse_alertmanager
from tocsin.ingest.memo import KeptEvent
from tocsin.web.context import AppContext
from tocsin.web.groupcommit import Delivery, GroupCommitter
from tocsin.web.inbox_drain import MOST

BOUND = 20.0


class Gated(GroupCommitter):
    """Holds every transaction of more than ten alerts at a gate (before it takes the
    writer lock) and records what each transaction was given."""

    def __init__(self, context: AppContext) -> None:
        super().__init__(context)
        # Alerts are known to be cheap (as once a storm's first transactions have shown
        # it): a group of many is decided at once unless a test says otherwise.
        self.cost.per_unit = 0.5
        self.gate = threading.Event()
        self.held = threading.Event()
        self.calls: list[tuple[list[str], int, bool]] = []
        #: Whether each transaction also decided the inbox's next chunk.
        self.chunks: list[bool] = []

    def commit(
        self, deliveries: Sequence[Delivery], bulk: bool = True, chunk: Any = None
    ) -> list[Any]:
        alerts_in = sum(d.count for d in deliveries)
        self.calls.append(([d.key for d in deliveries], alerts_in, bulk))
        self.chunks.append(chunk is not None)
        if alerts_in > 10:
            self.held.set()
            assert self.gate.wait(BOUND), "the gate was never opened"
        return super().commit(deliveries, bulk, chunk)


def _create(server: LiveServer, name: str, service: str) -> str:
    with httpx.Client(
        base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {server.admin_token}"}
    ) as api:
        answer = api.post(
            "/api/v1/integrations",
            json={"name": name, "service": service, "kind": "alertmanager"},
        )
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


def _alerts(prefix: str, count: int, service: str) -> Delivery:
    body = {
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": f"{prefix}{n}",
                    "instance": f"{prefix}-host-{n}",
                    "severity": "warning",
                    "service": service,
                },
                "annotations": {"summary": f"{prefix} {n}"},
                "startsAt": "2026-03-02T08:00:00Z",
                "fingerprint": f"{prefix}-{n}",
            }
            for n in range(count)
        ],
    }
    return Delivery("", parse_alertmanager(body), source="alertmanager", body=body)


def _for(key: str, delivery: Delivery) -> Delivery:
    return Delivery(key, delivery.events, source=delivery.source, body=delivery.body)


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(BOUND):
        while not condition():
            await asyncio.sleep(0.01)


def _alert_ids(server: LiveServer, prefix: str) -> list[int]:
    with session_scope(server.context.sessions, write=False) as session:
        items, _ = alerts.list_alerts(session=session, limit=500)
        return sorted(a.id for a in items if a.dedup_key.startswith(prefix))


def _two_integrations(server: LiveServer) -> tuple[str, str, Gated]:
    """A storm's integration, a probe's, and a committer that holds large groups."""
    storm = _create(server, "storm", "checkout-api")
    probe = _create(server, "probe", "auth-service")
    return storm, probe, Gated(server.context)


async def _held_storm(committer: Gated, key: str, prefix: str) -> asyncio.Future[Any]:
    """Submit 50 alerts of ``key`` and wait until their group is held at the gate."""
    storm = asyncio.ensure_future(committer.submit(_for(key, _alerts(prefix, 50, "checkout-api"))))
    await _until(committer.held.is_set)
    return storm


def test_a_probe_is_stored_while_a_storm_group_is_still_being_stored(
    live_server: LiveServer,
) -> None:
    storm_key, probe_key, committer = _two_integrations(live_server)

    async def scenario() -> None:
        storm = await _held_storm(committer, storm_key, "storm")
        stored = await asyncio.wait_for(
            committer.submit(_for(probe_key, _alerts("probe", 1, "auth-service"))), BOUND
        )
        assert isinstance(stored, list) and len(stored) == 1
        assert not storm.done()  # the probe did not wait for the storm's transaction
        committer.gate.set()
        assert len(await asyncio.wait_for(storm, BOUND)) == 50

    asyncio.run(scenario())
    probe_calls = [call for call in committer.calls if call[0] == [probe_key]]
    assert probe_calls == [([probe_key], 1, False)]  # alone, and not as bulk work
    assert ([storm_key], 50, True) in committer.calls
    assert len(_alert_ids(live_server, "storm-")) == 50
    assert len(_alert_ids(live_server, "probe-")) == 1


def test_one_integrations_requests_are_stored_in_the_order_they_came(
    live_server: LiveServer,
) -> None:
    storm_key, probe_key, committer = _two_integrations(live_server)

    async def scenario() -> None:
        first = await _held_storm(committer, storm_key, "first")
        second = asyncio.ensure_future(
            committer.submit(_for(storm_key, _alerts("second", 1, "checkout-api")))
        )
        # A probe of another integration goes through the small lane meanwhile; the
        # second request of the storm's integration, small as it is, waits.
        await asyncio.wait_for(
            committer.submit(_for(probe_key, _alerts("probe", 1, "auth-service"))), BOUND
        )
        assert not second.done()
        committer.gate.set()
        await asyncio.wait_for(asyncio.gather(first, second), BOUND)

    asyncio.run(scenario())
    firsts, seconds = _alert_ids(live_server, "first-"), _alert_ids(live_server, "second-")
    assert len(firsts) == 50 and len(seconds) == 1
    assert max(firsts) < min(seconds)
    keys_in_order = [keys for keys, _, _ in committer.calls if storm_key in keys]
    assert keys_in_order == [[storm_key], [storm_key]]


def test_a_flood_of_single_alerts_is_bulk_work_and_each_is_stored_once(
    live_server: LiveServer,
) -> None:
    key = _create(live_server, "flood", "checkout-api")
    committer = Gated(live_server.context)
    committer.gate.set()

    async def scenario() -> list[Any]:
        return await asyncio.wait_for(
            asyncio.gather(
                *(
                    committer.submit(_for(key, _alerts(f"flood{n}-", 1, "checkout-api")))
                    for n in range(40)
                )
            ),
            BOUND,
        )

    results = asyncio.run(scenario())
    assert all(isinstance(r, list) and len(r) == 1 for r in results)
    assert sum(alerts_in for _, alerts_in, _ in committer.calls) == 40
    assert all(alerts_in > 10 for _, alerts_in, bulk in committer.calls if bulk)
    assert all(alerts_in <= 10 for _, alerts_in, bulk in committer.calls if not bulk)
    assert any(bulk for _, _, bulk in committer.calls)
    assert len(_alert_ids(live_server, "flood")) == 40


def test_a_few_alerts_are_decided_at_once_even_when_alerts_look_dear(
    live_server: LiveServer,
) -> None:
    """When alerts have recently cost a lot (each opening an incident), a large request
    is queued in the inbox and decided in chunks, but a few alerts are never queued
    behind it: they are decided in their own request."""
    storm_key, probe_key, committer = _two_integrations(live_server)
    committer.gate.set()
    committer.cost.per_unit = 40.0  # milliseconds per new alert, as in a flood

    async def scenario() -> tuple[Any, Any]:
        large = await committer.submit(_for(storm_key, _alerts("large", 50, "checkout-api")))
        few = await committer.submit(_for(probe_key, _alerts("few", 3, "auth-service")))
        return large, few

    large, few = asyncio.run(scenario())
    assert type(large).__name__ == "Queued" and large.accepted == 50
    assert isinstance(few, list) and [r.dedup_key for r in few] == ["few-0", "few-1", "few-2"]
    assert all(r.incident for r in few)


def test_a_storm_request_behind_queued_bodies_shares_the_transaction_of_the_next_chunk(
    live_server: LiveServer,
) -> None:
    """While bodies wait in the inbox, a later request of many alerts is queued behind
    them in the transaction that decides the next chunk: storing it does not cost a
    turn of the writer of its own. Its alerts are still decided after the earlier ones."""
    storm_key, _, committer = _two_integrations(live_server)
    committer.gate.set()
    committer.cost.per_unit = 40.0  # alerts look dear: a large request is queued

    def decided() -> int:
        return len(_alert_ids(live_server, "first-") + _alert_ids(live_server, "second-"))

    async def scenario() -> tuple[Any, Any]:
        first = await committer.submit(_for(storm_key, _alerts("first", 50, "checkout-api")))
        second = await committer.submit(_for(storm_key, _alerts("second", 50, "checkout-api")))
        await _until(lambda: decided() == 100)
        return first, second

    first, second = asyncio.run(scenario())
    assert type(first).__name__ == "Queued" and type(second).__name__ == "Queued"
    assert committer.calls[0] == ([storm_key], 50, True) and not committer.chunks[0]
    # Every later transaction decided a chunk, the second request's included.
    assert [alerts_in for _, alerts_in, _ in committer.calls].count(50) == 2
    assert all(committer.chunks[1:])
    firsts, seconds = _alert_ids(live_server, "first-"), _alert_ids(live_server, "second-")
    assert max(firsts) < min(seconds)


def test_queued_chunks_shrink_after_an_overrun_and_grow_back_when_alerts_are_cheap(
    live_server: LiveServer,
) -> None:
    drainer = GroupCommitter(live_server.context).drainer
    first = drainer.size
    drainer.resize(elapsed_ms=1000.0, size=first)  # each alert opened an incident
    assert drainer.size == max(1, first // 20)
    drainer.resize(elapsed_ms=5000.0, size=drainer.size)
    assert drainer.size == 1
    sizes = []
    for _ in range(12):  # the alerts join a storm now: a few milliseconds a chunk
        drainer.resize(elapsed_ms=3.0, size=drainer.size)
        sizes.append(drainer.size)
    assert sizes[:4] == [2, 4, 8, 16]
    assert sizes[-1] == MOST  # the most a transaction of the inbox decides
    drainer.resize(elapsed_ms=40.0, size=MOST)  # within the budget: kept
    assert drainer.size == MOST
    drainer.size = 10
    drainer.resize(elapsed_ms=30.0, size=10)  # 10 alerts took 30 of the 50 ms: 16 fit
    assert drainer.size == 16
    drainer.resize(elapsed_ms=45.0, size=16)  # nearly the whole budget: one more fits
    assert drainer.size == 17


def test_a_fresh_server_does_not_bet_a_long_transaction_on_alerts_being_cheap(
    live_server: LiveServer,
) -> None:
    """Before any transaction has shown what an alert costs, alerts are assumed to
    open incidents of their own: a request of 100 new alerts is queued and decided a
    few at a time (at first), not in one transaction (which held the writer for 2.6 s
    on PostgreSQL while a declared incident's page waited). Once they have shown
    themselves cheap, the chunks grow and a group of many is decided at once again."""
    key = _create(live_server, "fresh", "checkout-api")
    committer = GroupCommitter(live_server.context)
    [queued] = committer.commit([_for(key, _alerts("fresh-", 100, "checkout-api"))])
    assert type(queued).__name__ == "Queued" and queued.accepted == 100
    sizes = []
    while True:
        sizes.append(committer.drainer.size)
        if not committer.drainer.drain():
            break
    assert sizes[0] <= 3  # 50 ms at what an alert opening an incident costs
    assert max(sizes) > sizes[0]  # they were cheaper than feared: the chunks grew
    assert len(_alert_ids(live_server, "fresh-")) == 100
    # The first chunk saw the alerts queued behind it: one storm, nothing merged into it.
    with session_scope(live_server.context.sessions, write=False) as session:
        items, _ = alerts.list_alerts(session=session, limit=500)
        homes = {a.incident_id for a in items if a.dedup_key.startswith("fresh-")}
        [home] = homes
        storm = incidents.get_by_id(session=session, incident_id=home)
        assert storm is not None and storm.title.startswith("Alert storm on checkout-api")
        on_service = select(IncidentService.incident_id).where(
            IncidentService.service == "checkout-api"
        )
        assert set(session.scalars(on_service)) == {home}
    for _ in range(30):  # a storm's groups: cheap, again and again
        committer.cost.observe(elapsed_ms=10.0, units=100)
    [stored] = committer.commit([_for(key, _alerts("later-", 50, "checkout-api"))])
    assert isinstance(stored, list) and len(stored) == 50


def _drain(committer: GroupCommitter, size: float) -> int:
    """Decide everything queued, starting at ``size`` units a transaction; how many
    transactions that took."""
    committer.drainer.size = size
    transactions = 0
    while committer.drainer.drain():
        transactions += 1
    return transactions


def test_queued_repeats_the_memo_knows_weigh_a_twentieth_of_new_alerts(
    live_server: LiveServer,
) -> None:
    """A chunk of the inbox is sized in units of work, as a group of requests is: a
    body of 1,000 repeats that the parse memo recognised is one transaction (sized in
    alerts, it was four: a queue of repeats drained 300 alerts a turn of the writer).
    A body read back from storage (after a restart) counts each alert as new."""
    key = _create(live_server, "repeats", "checkout-api")
    committer = GroupCommitter(live_server.context)
    sent = _for(key, _alerts("rep-", 1000, "checkout-api"))
    [queued] = committer.commit([sent])
    assert type(queued).__name__ == "Queued"
    _drain(committer, MOST)  # the first sight of the 1,000
    kept = [
        KeptEvent(**{f.name: getattr(event, f.name) for f in fields(AlertEvent)})
        for event in sent.events or ()
    ]
    repeats = Delivery(key, kept, source=sent.source, body=sent.body)
    [queued] = committer.commit([repeats])
    assert type(queued).__name__ == "Queued"
    assert _drain(committer, MOST) == 1
    [queued] = committer.commit([repeats])
    committer.drainer.parsed.clear()  # as after a restart: parsed again from the body
    assert _drain(committer, MOST) >= 4
    with session_scope(live_server.context.sessions, write=False) as session:
        items, _ = alerts.list_alerts(session=session, limit=1000)
    counted = [a.occurrences for a in items if a.dedup_key.startswith("rep-")]
    assert counted == [3] * 1000
