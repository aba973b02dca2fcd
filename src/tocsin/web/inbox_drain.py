"""Deciding the queued webhook bodies of the inbox (:mod:`tocsin.alerts.inbox`), a
chunk per transaction: one of its own, or the group commit's of new requests.

One transaction decides up to :attr:`InboxDrainer.size` units of work, across as many
queued bodies as that takes, in the order they came (each integration's oldest body
first): a body of 100 alerts that repeat what is firing costs a few milliseconds, and a
transaction per body made a queue of them drain several times slower than the same
alerts decided in their requests. The size follows what the last transactions took,
so that one holds the writer lock for about :data:`BUDGET_MS` whatever an alert costs
now: a storm's alerts are cheap, alerts that each open an incident are not. A unit is
a new alert; a repeat that the parse memo recognised weighs :data:`REPEAT_WEIGHT`, as
in a group of requests (counted in alerts, a queue of repeats drained 300 a
transaction, where a group of the same requests takes thousands).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from tocsin.alerts import inbox
from tocsin.alerts import service as alerts
from tocsin.alerts.bulk_models import InboxBatch
from tocsin.alerts.models import Integration
from tocsin.alerts.rules.storms import storm_look_ahead
from tocsin.db import session_scope
from tocsin.db.faults import DATABASE_DOWN
from tocsin.ingest import PARSERS, AlertEvent
from tocsin.web.context import AppContext

__all__ = [
    "BUDGET_MS",
    "MOST",
    "REPEAT_WEIGHT",
    "CostEstimate",
    "InboxDrainer",
    "hold_loaded_objects",
    "units_of",
]

log = logging.getLogger(__name__)

#: How long one ingest transaction should hold the writer lock, at most (estimated
#: from the last transactions: a new alert that joins a storm costs a fraction of a
#: millisecond, one that opens an incident of its own ten or more).
BUDGET_MS = 50.0
#: The most units of work (new alerts) one transaction of the inbox decides.
MOST = 300
#: What a repeat the parse memo recognised (labels and annotations known, storable as
#: they are) weighs against a new alert.
REPEAT_WEIGHT = 0.05


def units_of(event: AlertEvent) -> float:
    """An event's weight in a transaction's budget."""
    return REPEAT_WEIGHT if getattr(event, "maps_clean", False) else 1.0


class CostEstimate:
    """Milliseconds per unit of ingest work (a new alert), from the recent transactions,
    so that a group can be sized to hold the writer lock for about :data:`BUDGET_MS`,
    whatever an alert costs now.

    Until a transaction has shown what an alert costs, it is assumed dear
    (:data:`UNKNOWN_MS`, about what an alert that opens an incident of its own costs):
    a fresh server that assumed storm alerts (a fraction of a millisecond) decided its
    first request of 100 alerts that each opened an incident in one transaction, which
    held the writer for 2.6 s on PostgreSQL while a declared incident's page waited.
    Starting dear costs a cheap storm a few short transactions while it is learnt: the
    first transaction of :data:`MIN_UNITS` replaces the guess, later ones move the
    estimate a step (an exponentially weighted average; believing a dearer one at once
    let one slow commit shrink the groups of a flood of repeats, which then took 16,500
    alerts/s instead of 23,000 to 29,000 in 100-alert requests)."""

    #: Transactions of less work than this say more about their fixed cost than about
    #: what an alert costs: learning that alerts are dear from them would shrink the
    #: chunks, which would make alerts look dearer still.
    MIN_UNITS = 20
    #: What a unit is assumed to cost before a transaction has shown it, milliseconds.
    UNKNOWN_MS = 20.0

    def __init__(self, initial_ms: float = UNKNOWN_MS, weight_of_new: float = 0.2) -> None:
        self.per_unit = initial_ms
        self._alpha = weight_of_new
        self._known = False

    def observe(self, elapsed_ms: float, units: float) -> None:
        if units <= 0:
            return
        seen = elapsed_ms / units
        if units < self.MIN_UNITS:
            # Its fixed cost makes an alert look dearer than it is: it may only show
            # that alerts are cheaper than believed (a step), so that groups of many
            # small requests grow out of the guess until one is large enough to learn.
            if seen < self.per_unit:
                self.per_unit += self._alpha * (seen - self.per_unit)
            return
        if self._known:
            self.per_unit += self._alpha * (seen - self.per_unit)
        else:
            self.per_unit = seen
        self._known = True

    def ms(self, units: float) -> float:
        return units * self.per_unit

    def units_within(self, ms: float) -> float:
        return ms / max(self.per_unit, 0.001)


class InboxDrainer:
    """The inbox's decider for one application (called from its writer task)."""

    def __init__(self, context: AppContext, cost: CostEstimate) -> None:
        self.context = context
        self.cost = cost
        #: How many alerts the next transaction decides (at first what the budget holds
        #: at the estimate's pessimistic start: what they cost is not known yet).
        self.size = max(1, min(MOST, int(cost.units_within(BUDGET_MS))))
        #: Events of the bodies this process queued, by inbox id, until decided.
        self.parsed: dict[int, Sequence[AlertEvent]] = {}

    def drain(self) -> bool:
        """Decide the next :attr:`size` queued alerts in a transaction of their own;
        False when none is left. A database that cannot be reached leaves them for a
        later try."""
        context = self.context
        try:
            with session_scope(context.sessions, bulk=True) as session:
                hold_loaded_objects(session)
                return self.decide_in(session, context.clock.now()) is not None
        except DATABASE_DOWN as exc:
            log.warning("database unavailable while deciding queued alerts: %s", exc)
            raise

    def decide_in(self, session: Session, now: datetime) -> float | None:
        """Decide the next :attr:`size` queued alerts in ``session``'s transaction (a
        bulk one, with the writer lock held: a group of new requests shares it, so that
        storing their bodies behind a backlog does not cost a turn of the writer of its
        own); the milliseconds it took, or None when none was left.

        The size follows what the last chunks took: halved (or more) after one that
        overran :data:`BUDGET_MS`, down to a single alert when each opens an incident
        of its own; after a full one within it, grown to what the budget holds at that
        pace (at most doubled), back up to :data:`MOST` once the alerts are cheap again
        (they joined a storm, or repeat what fires). Sizing it from the estimate of a
        group's cost would not do: that estimate only learns from transactions of many
        alerts."""
        mark = alerts.work_mark(session)
        policy = self.context.policy.current
        batches, units, full, upcoming = self._take(session, now, storm_look_ahead(policy))
        if not batches:
            return None
        alerts.ingest_batches(
            session=session, policy=policy, batches=batches, now=now, upcoming=upcoming
        )
        elapsed = alerts.work_ms(session, mark)
        self.cost.observe(elapsed, units)
        self.resize(elapsed, self.size if full else int(units))
        return elapsed

    def _take(
        self, session: Session, now: datetime, look_ahead: int
    ) -> tuple[
        list[tuple[Integration, Sequence[AlertEvent]]], float, bool, dict[int, Sequence[AlertEvent]]
    ]:
        """Chunks of the oldest bodies, up to :attr:`size` units, each recorded as
        decided in this transaction (which decides them, or rolls back); their units,
        whether the size (not the inbox) ended them, and by integration up to
        ``look_ahead`` of the alerts that follow its last chunk in its body (for the
        storm rule: a storm queued in one body is recognised by its first chunk)."""
        taken: list[tuple[Integration, Sequence[AlertEvent]]] = []
        last: dict[int, inbox.Chunk] = {}  # each integration's last chunk
        left = float(self.size)
        units = 0.0
        full = True
        while left > 0:
            chunk = inbox.take_chunk(session=session, size=math.ceil(left / REPEAT_WEIGHT))
            if chunk is None:
                full = False
                break
            if chunk.batch.id not in self.parsed:  # parsed again: each counts as new
                chunk = replace(chunk, end=min(chunk.end, chunk.start + math.ceil(left)))
            events = self._part(chunk.batch, chunk.start, chunk.end)
            count, weight = _fitting(events, left)
            chunk = replace(chunk, end=chunk.start + count)
            taken.append((chunk.integration, events[:count]))
            last[chunk.integration.id] = chunk
            inbox.chunk_done(session=session, chunk=chunk, now=now)
            if chunk.batch.finished_at is not None:
                self.parsed.pop(chunk.batch.id, None)
            units += weight
            left -= weight
            if count < len(events):
                break  # the next alert does not fit
        upcoming = {
            integration: self._part(chunk.batch, chunk.end, chunk.end + look_ahead)
            for integration, chunk in last.items()
            if look_ahead > 0 and chunk.batch.finished_at is None  # (its body let go)
        }
        return taken, units, full, upcoming

    def _part(self, batch: InboxBatch, start: int, end: int) -> Sequence[AlertEvent]:
        """Events ``start`` to ``end`` of a queued body: kept from the request that
        queued it when this process took it, parsed again from the stored body
        otherwise (after a restart, or a body another process took)."""
        parsed = self.parsed.get(batch.id)
        if parsed is not None:
            return parsed[start:end]
        alerts = batch.body["alerts"][start:end]
        return PARSERS[batch.source]({**batch.body, "alerts": alerts}) if alerts else ()

    def resize(self, elapsed_ms: float, size: int) -> None:
        """Halve (or more) after an overrun; after a full chunk within the budget, grow
        to what the budget would hold at this chunk's pace, at most twice the size.
        Growing only after chunks that took less than half the budget held alerts that
        each open an incident (3 ms apiece on PostgreSQL) at ten per transaction:
        every transaction's fixed cost paid ten times over."""
        if elapsed_ms > BUDGET_MS:
            self.size = max(1, min(size // 2, int(size * BUDGET_MS / elapsed_ms)))
        elif size >= self.size:
            fits = int(size * BUDGET_MS / max(elapsed_ms, 0.001))
            self.size = min(MOST, max(self.size, min(size * 2, fits)))


def _fitting(events: Sequence[AlertEvent], left: float) -> tuple[int, float]:
    """How many of ``events``, from the first, fit in ``left`` units (at least one), and
    their units."""
    total = 0.0
    for count, alert in enumerate(events):
        weight = units_of(alert)
        if count and total + weight > left:
            return count, total
        total += weight
    return len(events), total


def hold_loaded_objects(session: Session) -> None:
    """Keep every object this transaction loads or creates alive until it ends.

    SQLAlchemy's identity map holds objects weakly, so an incident that a group's
    alerts look up one after another is loaded again (with its selectin relationships)
    each time nothing else happens to reference it; a group of new alerts spent most
    of its time doing that. A list on the session keeps them for the transaction only.
    """
    held: list[object] = []
    session.info["tocsin_held"] = held

    def hold(_session: Session, instance: object) -> None:
        held.append(instance)

    event.listen(session, "loaded_as_persistent", hold)
    event.listen(session, "pending_to_persistent", hold)
