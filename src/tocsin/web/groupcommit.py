"""Group commit for the inbound alert endpoints: the writes of concurrent requests
share one transaction.

Committing costs far more than counting a repeat of a firing alert, so one
transaction per webhook call would cap ingestion at the database's commit rate.
Instead each request parses its body on the event loop, hands the events to
:meth:`GroupCommitter.submit` and waits; one writer task per event loop takes
everything queued (up to :data:`MAX_REQUESTS` requests / :data:`MAX_ALERTS` alerts),
runs :func:`tocsin.alerts.service.ingest_batches` for all of it in one transaction on
a worker thread, commits, and only then answers each waiting request. While that
transaction runs, the next requests queue up and become the next group, so the
groups grow with the load and a lone request is never made to wait for company.

Transactions stay short, because on SQLite every other writer — a page, an
escalation, a person's acknowledge — waits while one runs: a group holds at most
about :data:`MAX_ALERTS` alerts' worth of work (a repeat that the parse memo knows
weighs a twentieth of a new alert), it takes the writer lock as *bulk* work, which steps
aside for every other writer (:mod:`tocsin.db.writers`), and a body with more than
:data:`~tocsin.alerts.inbox.INBOX_THRESHOLD` alerts is stored in the inbox as it came
(:mod:`tocsin.alerts.inbox`) and decided afterwards by this same writer task
(:mod:`tocsin.web.inbox_drain`): a chunk at a time, in the transaction of the next
group of many alerts (whose requests would only queue their bodies behind it), or alone.

Durability is unchanged: a request is answered 2xx only after the transaction that
holds its alerts (or its queued body) committed. When that transaction fails, its
requests are retried one by one, each in a transaction of its own, so that one bad
request cannot fail the others; when the database cannot be reached they all get
:class:`DatabaseUnavailable` (the endpoints answer 503 with ``Retry-After``).

The integration key is resolved in the same transaction, so a disabled key is
refused from the next group on, and heartbeat pings travel the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from tocsin.alerts import inbox
from tocsin.alerts import service as alerts
from tocsin.alerts.models import Integration
from tocsin.db import session_scope
from tocsin.db.faults import DATABASE_DOWN
from tocsin.errors import InvalidInput, NotFound, TocsinError
from tocsin.ingest import PARSERS, AlertEvent
from tocsin.web.context import AppContext
from tocsin.web.inbox_drain import (
    BUDGET_MS,
    CostEstimate,
    InboxDrainer,
    hold_loaded_objects,
    units_of,
)

__all__ = [
    "MAX_ALERTS",
    "MAX_REQUESTS",
    "DatabaseUnavailable",
    "Delivery",
    "GroupCommitter",
    "Pinged",
    "Queued",
    "UnknownKey",
    "WrongKind",
]

log = logging.getLogger(__name__)

#: At most this many requests, and about this many new alerts, per transaction.
MAX_REQUESTS = 256
MAX_ALERTS = 300
#: Requests of at most this many alerts go before larger ones of other integrations.
_SMALL = 10
#: What a client is told when the key is unknown, malformed or disabled (all alike).
UNKNOWN_KEY = "unknown integration key"
#: After a failed chunk, the inbox is tried again this much later.
_RETRY_INBOX_SECONDS = 2.0
#: While idle, the inbox is looked at this often for bodies that another process left.
ORPHANS_SECONDS = 5.0


class UnknownKey(NotFound):
    """No enabled integration has this key (never says whether one ever had)."""

    def __init__(self) -> None:
        super().__init__(UNKNOWN_KEY)


class WrongKind(InvalidInput):
    """A heartbeat key sent alerts, or an alert key sent a ping."""

    def __init__(self, message: str) -> None:
        super().__init__("key", message)


class DatabaseUnavailable(TocsinError):
    """The transaction could not reach the database; nothing was stored."""


class InternalFailure(TocsinError):
    """The request failed alone for a reason that is not the client's (logged)."""


@dataclass(frozen=True)
class Delivery:
    """One request's work: alert events for the integration with ``key``, or a ping
    to a heartbeat integration when ``events`` is None. ``source`` and ``body`` (the
    decoded body, for a parser of :data:`tocsin.ingest.PARSERS`) let it be queued in
    the inbox instead of decided at once."""

    key: str
    events: Sequence[AlertEvent] | None
    source: str | None = None
    body: Any = None

    @cached_property
    def size(self) -> float:
        """The request's weight in a group's budget (a memo-known repeat weighs little);
        computed once, though the writer task looks at a queued request many times."""
        if self.events is None:
            return 1
        weight = sum(units_of(event) for event in self.events)
        return max(1.0, weight)

    @property
    def count(self) -> int:
        return 1 if self.events is None else len(self.events)

    @property
    def queueable(self) -> bool:
        return self.source in PARSERS and isinstance(self.body, dict) and "alerts" in self.body


@dataclass
class _Chunk:
    """What came of deciding the inbox's next chunk in a group's transaction: ``more``
    True when one was decided (more may wait), False when none was left, None when it
    could not be decided (tried again shortly)."""

    more: bool | None = None


@dataclass(frozen=True)
class Queued:
    """Stored in the inbox, to be decided after the answer (in order)."""

    accepted: int
    batch: int


@dataclass(frozen=True)
class Pinged:
    integration: str
    next_due_at: datetime


_Result = list[alerts.IngestResult] | Pinged | Queued | Exception


class GroupCommitter:
    """The queue and the writer task of one application (one per event loop)."""

    def __init__(
        self, context: AppContext, *, max_requests: int = MAX_REQUESTS, max_alerts: int = MAX_ALERTS
    ) -> None:
        self.context = context
        self.max_requests = max_requests
        self.max_alerts = max_alerts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[tuple[Delivery, asyncio.Future[_Result]]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        #: Queued bodies may wait in the inbox (see :attr:`drainer`).
        self._inbox_pending = False
        #: The integrations whose requests a transaction is storing (their next
        #: requests wait for it: one integration's alerts are stored in order).
        self._busy: Counter[str] = Counter()
        #: What a unit of :attr:`Delivery.size` has recently cost, in milliseconds.
        self.cost = CostEstimate()
        #: Decides the queued bodies.
        self.drainer = InboxDrainer(context, self.cost)

    async def submit(self, delivery: Delivery) -> list[alerts.IngestResult] | Pinged | Queued:
        """Store ``delivery`` in the next group; returns once it is committed.

        Raises :class:`UnknownKey`, :class:`WrongKind`, :class:`DatabaseUnavailable`
        or the :class:`TocsinError` that refused the request.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or the app now runs on another loop
            self._loop, self._queue, self._wakeup = loop, deque(), asyncio.Event()
            self._task = None
        assert self._wakeup is not None
        future: asyncio.Future[_Result] = loop.create_future()
        self._queue.append((delivery, future))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._write(), name="tocsin-group-commit")
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    def kick(self) -> None:
        """Start the writer task on the running loop and have it look for queued bodies
        (at start-up: a body a crash left half-decided is finished without waiting for
        the next request)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._queue, self._wakeup = loop, deque(), asyncio.Event()
            self._task = None
        assert self._wakeup is not None
        self._inbox_pending = True
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._write(), name="tocsin-group-commit")

    # -- the writer task (event loop) ------------------------------------------------

    async def _write(self) -> None:
        """Run up to two transactions at a time: one of bulk work (a group of
        requests, or a chunk of the inbox) and, while that one runs, one of a few small
        requests of other integrations, which takes the writer lock before the engine's
        and the delivery worker's: a probe alert does not wait for a storm's group to
        finish before its own transaction starts.
        Requests of one integration are never in two transactions at once, so they are
        stored in the order they came."""
        loop = asyncio.get_running_loop()
        wakeup = self._wakeup
        assert wakeup is not None
        bulk: asyncio.Task[None] | None = None
        small: asyncio.Task[None] | None = None
        drained = False
        while True:
            if bulk is None:
                # While bodies wait in the inbox, a group of many alerts is stored in
                # the transaction that decides the next chunk (its requests would only
                # queue their bodies behind it: a transaction of their own would cost a
                # turn of the writer, as long again as the chunk's, for a few
                # milliseconds of work). A group of a few alerts and a chunk alone
                # take turns.
                group = self._take()
                if group and (not self._inbox_pending or (drained and not _is_bulk(group))):
                    bulk = loop.create_task(self._commit_group(loop, group, bulk=_is_bulk(group)))
                    drained = False
                elif group or self._inbox_pending:
                    bulk = loop.create_task(self._commit_group(loop, group, bulk=True, drain=True))
                    drained = True
            if small is None and bulk is not None:
                # Only beside another transaction: alone, one lane groups them all (a
                # flood of single alerts split into small transactions stores fewer).
                group = self._take_small()
                if group:
                    small = loop.create_task(self._commit_group(loop, group, bulk=False))
            if bulk is None and small is None:
                try:
                    await asyncio.wait_for(wakeup.wait(), ORPHANS_SECONDS)
                except TimeoutError:
                    self._inbox_pending = await loop.run_in_executor(None, self._orphans)
                wakeup.clear()
                continue
            waiting: set[asyncio.Future[Any]] = {t for t in (bulk, small) if t is not None}
            woken = loop.create_task(wakeup.wait())
            done, _ = await asyncio.wait(waiting | {woken}, return_when=asyncio.FIRST_COMPLETED)
            if woken in done:
                wakeup.clear()
            else:
                woken.cancel()
            if bulk is not None and bulk.done():
                bulk = None
            if small is not None and small.done():
                small = None

    def _orphans(self) -> bool:
        """Whether bodies wait that this process did not queue: another process queued
        them, then died (or is deciding them: those it skips). Never fails the writer."""
        try:
            with session_scope(self.context.sessions, write=False) as session:
                return inbox.backlog(session=session).alerts > 0
        except Exception as exc:  # the database is down (readyz says so), or a bug
            if not isinstance(exc, DATABASE_DOWN):
                log.exception("looking for queued alerts failed")
            return False

    def _chunk_decided(self, loop: asyncio.AbstractEventLoop, chunk: _Chunk) -> None:
        """After a transaction that was to decide a chunk: whether more waits, or (it
        failed) a try again shortly."""
        if chunk.more is None:
            self._inbox_pending = False
            loop.call_later(_RETRY_INBOX_SECONDS, self._retry_inbox)
        else:
            self._inbox_pending = chunk.more

    def _retry_inbox(self) -> None:
        self._inbox_pending = True
        if self._wakeup is not None:
            self._wakeup.set()

    async def _commit_group(
        self,
        loop: asyncio.AbstractEventLoop,
        group: list[tuple[Delivery, asyncio.Future[_Result]]],
        *,
        bulk: bool,
        drain: bool = False,
    ) -> None:
        """Store ``group`` (and, with ``drain``, decide the inbox's next chunk in the same
        transaction), then answer its requests."""
        deliveries = [delivery for delivery, _ in group]
        keys = [d.key for d in deliveries]
        self._busy.update(keys)
        chunk = _Chunk() if drain else None
        try:
            results = await loop.run_in_executor(None, self.commit, deliveries, bulk, chunk)
        except Exception as exc:  # a bug in commit itself: fail the group, go on
            log.exception("group commit failed")
            results = [InternalFailure(f"not stored: {type(exc).__name__}")] * len(group)
        finally:
            if chunk is not None:
                self._chunk_decided(loop, chunk)
            self._busy.subtract(keys)
            self._busy += Counter()  # drop the keys no transaction holds any more
            if self._wakeup is not None:
                self._wakeup.set()  # what waited behind these keys may go now
        for (_, future), result in zip(group, results, strict=True):
            if isinstance(result, Queued):
                self._inbox_pending = True
            if not future.done():  # the client may have gone away
                future.set_result(result)

    def _take_small(self) -> list[tuple[Delivery, asyncio.Future[_Result]]]:
        """The requests of the integrations that have only a few alerts waiting (at
        most :data:`_SMALL` each, and in all: a probe, a single alert of a quiet
        service) and none being stored; a flood of small requests is bulk work, left to
        the other lane."""
        waiting: dict[str, float] = defaultdict(float)
        for delivery, _ in self._queue:
            waiting[delivery.key] += delivery.size if delivery.count <= _SMALL else _SMALL + 1
        group: list[tuple[Delivery, asyncio.Future[_Result]]] = []
        taken = 0.0
        passed: set[str] = set()
        for entry in self._queue:
            key = entry[0].key
            if key in passed or key in self._busy or waiting[key] > _SMALL:
                continue
            if taken + entry[0].size > _SMALL:
                passed.add(key)  # its later requests must not go before this one
                continue
            group.append(entry)
            taken += entry[0].size
        if group:
            chosen = {id(entry) for entry in group}
            self._queue = deque(e for e in self._queue if id(e) not in chosen)
        return group

    def _take(self) -> list[tuple[Delivery, asyncio.Future[_Result]]]:
        """The next group: small requests first (a probe, a single alert) unless an
        earlier request of the same integration still waits, then the others in
        order, within :data:`MAX_REQUESTS`, about :attr:`max_alerts` alerts and the
        time :data:`BUDGET_MS` the recent cost per alert allows. Requests of an
        integration that another transaction is storing wait for it to end."""
        limit = min(float(self.max_alerts), self.cost.units_within(BUDGET_MS))
        group: list[tuple[Delivery, asyncio.Future[_Result]]] = []
        taken = 0.0
        waiting_keys: set[str] = set(self._busy)
        rest: list[tuple[Delivery, asyncio.Future[_Result]]] = []
        for entry in self._queue:
            delivery = entry[0]
            if (
                len(group) < self.max_requests
                and delivery.count <= _SMALL
                and delivery.key not in waiting_keys
                and (not group or taken + delivery.size <= limit)
            ):
                group.append(entry)
                taken += delivery.size
            else:
                waiting_keys.add(delivery.key)
                rest.append(entry)
        left: deque[tuple[Delivery, asyncio.Future[_Result]]] = deque()
        full = False
        for entry in rest:
            delivery = entry[0]
            if full or delivery.key in self._busy:
                left.append(entry)
                continue
            if len(group) >= self.max_requests or (group and taken + delivery.size > limit):
                full = True
                left.append(entry)
                continue
            group.append(entry)
            taken += delivery.size
        self._queue = left
        return group

    # -- the transaction (worker thread) ---------------------------------------------

    def commit(
        self, deliveries: Sequence[Delivery], bulk: bool = True, chunk: _Chunk | None = None
    ) -> list[_Result]:
        """Store ``deliveries`` in one transaction; on failure, one transaction each.
        ``bulk``: the transaction steps aside for every other writer. ``chunk``: it
        first decides the inbox's next chunk (what came of that is noted in it); if the
        transaction fails, the chunk is tried in one of its own."""
        try:
            return self._transaction(deliveries, bulk=bulk, chunk=chunk)
        except DATABASE_DOWN as exc:
            if chunk is not None:
                chunk.more = None  # not decided, or not committed: tried again shortly
            if deliveries:
                log.warning("database unavailable, %d request(s) refused: %s", len(deliveries), exc)
            else:
                log.warning("database unavailable while deciding queued alerts: %s", exc)
            return [DatabaseUnavailable("database unavailable")] * len(deliveries)
        except Exception as exc:
            if chunk is not None:
                chunk.more = self._chunk_alone()
            if not deliveries:
                return []
            if len(deliveries) == 1:
                return [self._failed_alone(exc)]
        return [self._alone(delivery) for delivery in deliveries]

    def _chunk_alone(self) -> bool | None:
        """The inbox's next chunk in a transaction of its own; None if that failed."""
        try:
            return self.drainer.drain()
        except Exception:
            log.exception("deciding queued alerts failed; retrying shortly")
            return None

    def _alone(self, delivery: Delivery) -> _Result:
        try:
            return self._transaction([delivery])[0]
        except DATABASE_DOWN:
            return DatabaseUnavailable("database unavailable")
        except Exception as exc:
            return self._failed_alone(exc)

    def _failed_alone(self, exc: Exception) -> Exception:
        if isinstance(exc, TocsinError):  # refused by a use case: the client's answer
            return exc
        if isinstance(exc, DataError):  # a value the database refuses: the client's input
            return InvalidInput("body", "a value in this body cannot be stored")
        log.error("ingest failed", exc_info=exc)
        return InternalFailure(f"not stored: {type(exc).__name__}")

    def _transaction(
        self, deliveries: Sequence[Delivery], *, bulk: bool = True, chunk: _Chunk | None = None
    ) -> list[_Result]:
        context = self.context
        results: list[_Result | None] = [None] * len(deliveries)
        weight = 0.0
        queued: list[tuple[int, Sequence[AlertEvent]]] = []
        budget = BUDGET_MS
        # A group of a few alerts is decided at once, also when it shares a chunk's
        # transaction: only a group of many alerts queues what looks too dear.
        many = bulk and _many(deliveries)
        with session_scope(context.sessions, bulk=bulk) as session:
            hold_loaded_objects(session)
            policy = context.policy.current
            now = context.clock.now()
            if chunk is not None:
                took = self.drainer.decide_in(session, now)
                chunk.more = took is not None
                budget -= took or 0.0  # what is left for deciding requests at once
                if not deliveries:
                    return []
            mark = alerts.work_mark(session)  # the requests' part of the transaction
            found = self._integrations(session, {d.key for d in deliveries})
            # Only while this process has bodies in the inbox (it queued them, or found
            # some at start-up) can a request have to queue behind one: the requests of
            # one connection reach one process, so that is where order matters.
            behind = (
                inbox.queued_integrations(
                    session=session,
                    integration_ids=(i.id for i in found.values() if i is not None),
                )
                if self._inbox_pending or chunk is not None
                else set()
            )
            batches: list[tuple[Integration, Sequence[AlertEvent]]] = []
            positions: list[int] = []
            for index, delivery in enumerate(deliveries):
                integration = found.get(delivery.key)
                if integration is None:
                    results[index] = UnknownKey()
                elif delivery.events is None:
                    results[index] = self._ping(session, integration, now)
                elif integration.kind == "heartbeat":
                    results[index] = WrongKind(
                        "this is a heartbeat integration: it takes pings at "
                        "/api/v1/heartbeats/{key}, not alerts"
                    )
                elif integration.kind == "changes":
                    results[index] = WrongKind(
                        "this is a changes integration: it takes changes at "
                        "/api/v1/changes and /api/v1/integrations/{key}/github, not alerts"
                    )
                elif delivery.queueable and (
                    integration.id in behind
                    or len(delivery.events) > inbox.INBOX_THRESHOLD
                    or (many and delivery.count > 1 and self.cost.ms(delivery.size) > budget)
                ):
                    batch = inbox.queue_batch(
                        session=session,
                        integration=integration,
                        source=str(delivery.source),
                        body=delivery.body,
                        total=len(delivery.events),
                        now=now,
                    )
                    behind.add(integration.id)  # later requests of the group queue behind
                    queued.append((batch.id, delivery.events))
                    results[index] = Queued(accepted=len(delivery.events), batch=batch.id)
                else:
                    batches.append((integration, delivery.events))
                    positions.append(index)
                    weight += delivery.size
            stored = alerts.ingest_batches(session=session, policy=policy, batches=batches, now=now)
            for index, outcome in zip(positions, stored, strict=True):
                results[index] = outcome
            work = alerts.work_ms(session, mark)
        if weight:  # (a few alerts can only show that alerts are cheaper than believed)
            self.cost.observe(work, weight)
        self.drainer.parsed.update(queued)  # committed: no need to parse them again
        return [r if r is not None else InternalFailure("not handled") for r in results]

    @staticmethod
    def _integrations(session: Session, keys: set[str]) -> dict[str, Integration | None]:
        return {key: alerts.find_integration(session=session, key=key) for key in keys}

    def _ping(self, session: Session, integration: Integration, now: datetime) -> _Result:
        if integration.kind != "heartbeat":
            return WrongKind("this integration takes alerts; pings need a heartbeat integration")
        beat = alerts.ping(
            session=session, policy=self.context.policy.current, integration=integration, now=now
        )
        return Pinged(integration=integration.name, next_due_at=beat.due_at)


def _is_bulk(group: Sequence[tuple[Delivery, Any]]) -> bool:
    """More than a few alerts: work that steps aside for every other writer."""
    return _many(delivery for delivery, _ in group)


def _many(deliveries: Iterable[Delivery]) -> bool:
    """Whether ``deliveries`` weigh more than a few alerts."""
    return sum(delivery.size for delivery in deliveries) > _SMALL
