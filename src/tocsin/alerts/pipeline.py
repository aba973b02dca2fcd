"""The ingestion pipeline: one webhook batch of alert events in, stored and
decided, inside the caller's transaction.

The stages run over one :class:`~tocsin.alerts.batch.Batch`, each in a module of
:mod:`tocsin.alerts.stages` (parse happens before, in :mod:`tocsin.ingest`):
dedup → route and silence → correlate → store → decide → apply. In Alertmanager's
order, each records *why* on the alert (its outcome):

1. **dedup** — a repeat of a firing alert (same integration and dedup key) counts an
   occurrence and is done. This is the hot path: one indexed read for the whole batch
   and one batched UPDATE at the end, no ORM objects.
2. **route** — the policy's routing tree; the first decision that opens incidents
   decides, the others are kept in ``other_routes``.
3. **silence / maintenance** — stored and visible, page nobody.
4. **open_incident: false** — stored, no incident.
5. **flapping** — an alert that changed state ``flapping.transitions`` times within
   the window is kept to one lowest-severity incident.
6. **cascade** — related alerts on several services within the window join one SEV1
   incident instead of paging one by one. Judged once per batch over the recent
   firing alerts plus the batch, so a batch that starts a cascade pages once.
7. **noise gate** — ``min_alerts`` of the route within ``within`` before an incident.
8. **group** — attach, reopen or declare (:mod:`tocsin.alerts.linking`).

On PostgreSQL every batch takes a transaction-scoped advisory lock per integration,
so two concurrent batches (of two server processes) cannot both open the first row of
a dedup key or both open an incident for one new group, nor deadlock counting repeats
of the same alerts in different orders. (SQLite has one writer at a time anyway.)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from tocsin.alerts.batch import Batch, IngestResult
from tocsin.alerts.inbound import InboundAlert
from tocsin.alerts.linking import IngestNote, Outcome
from tocsin.alerts.models import Integration
from tocsin.alerts.rules import AlertOutcome
from tocsin.alerts.sanitize import clean_text
from tocsin.alerts.stages import correlate, decide, dedup, store
from tocsin.incidents.drills import DrillPlan
from tocsin.metrics.event_metrics import alerts_taken_in
from tocsin.policy import Policy

__all__ = [
    "INGEST_LOCK",
    "IngestNote",
    "IngestResult",
    "Outcome",
    "ingest",
    "ingest_batches",
    "lock_wait_ms",
    "work_mark",
    "work_ms",
]

#: Any constant, distinct from the migration lock; the second key is the integration.
INGEST_LOCK = 7_460_002
#: ``Session.info`` key: the milliseconds the transaction waited for those locks.
_LOCK_WAIT = "tocsin.ingest_lock_wait_ms"
#: ``last_seen_at`` of an integration is refreshed at most this often by alerts.
_TOUCH_EVERY = timedelta(seconds=1)


def ingest(
    *,
    session: Session,
    policy: Policy,
    integration: Integration,
    events: Sequence[InboundAlert],
    now: datetime,
    drill: DrillPlan | None = None,
    upcoming: Sequence[InboundAlert] = (),
) -> list[IngestResult]:
    """Store and act on one batch of events from ``integration``, in order. Never
    commits: the caller commits the whole batch at once (or nothing of it). ``drill``:
    a game day's alerts, which open that drill's incidents and correlate with no real
    alert. ``upcoming``: events of the integration that arrived after these and are
    decided later (the rest of a queued body): a storm they would make is recognised
    now, so that these alerts do not open incidents only to be merged into it."""
    if not events:
        return []
    results = _run(Batch(session, policy, integration, now, drill), events, upcoming)
    repeats = sum(1 for r in results if r.outcome == AlertOutcome.deduplicated)
    alerts_taken_in(session, source=integration.kind, received=len(results), deduplicated=repeats)
    return results


def ingest_batches(
    *,
    session: Session,
    policy: Policy,
    batches: Sequence[tuple[Integration, Sequence[InboundAlert]]],
    now: datetime,
    upcoming: Mapping[int, Sequence[InboundAlert]] | None = None,
) -> list[list[IngestResult]]:
    """Group commit: the batches of several requests in one transaction.

    Batches for the same integration are run as one :func:`ingest` call (in the order
    given), which costs little more than one of them alone; the results are split back
    per batch. The integrations must belong to ``session``. ``upcoming``: by
    integration id, what arrived after its batches (see :func:`ingest`).
    """
    by_integration: dict[int, list[int]] = {}
    for position, (integration, _) in enumerate(batches):
        by_integration.setdefault(integration.id, []).append(position)
    results: list[list[IngestResult]] = [[] for _ in batches]
    for positions in by_integration.values():
        integration = batches[positions[0]][0]
        events = [event for p in positions for event in batches[p][1]]
        merged = ingest(
            session=session,
            policy=policy,
            integration=integration,
            events=events,
            now=now,
            upcoming=(upcoming or {}).get(integration.id, ()),
        )
        start = 0
        for p in positions:
            size = len(batches[p][1])
            results[p] = merged[start : start + size]
            start += size
    return results


def lock_wait_ms(session: Session) -> float:
    """How long ``session``'s transaction has waited, so far, for another process's
    batch of the same integration (PostgreSQL): time spent, but no measure of what its
    own alerts cost to decide, which is what the group commit sizes groups by."""
    waited: float = session.info.get(_LOCK_WAIT, 0.0)
    return waited


WorkMark = tuple[float, float]


def work_mark(session: Session) -> WorkMark:
    """Where :func:`work_ms` counts from in ``session``'s transaction."""
    return time.perf_counter(), lock_wait_ms(session)


def work_ms(session: Session, mark: WorkMark) -> float:
    """Milliseconds of ingest work since ``mark``: the time passed, less the waits for
    another process's batch (:func:`lock_wait_ms`)."""
    started, waited = mark
    return (time.perf_counter() - started) * 1000 - (lock_wait_ms(session) - waited)


def _run(
    batch: Batch, events: Sequence[InboundAlert], upcoming: Sequence[InboundAlert]
) -> list[IngestResult]:
    integration, session = batch.integration, batch.session
    if integration.last_seen_at is None or (batch.now - integration.last_seen_at >= _TOUCH_EVERY):
        integration.last_seen_at = batch.now
    session.flush()  # the hot path reads with plain SQL: it must see everything
    if session.get_bind().dialect.name == "postgresql":
        asked = time.perf_counter()
        session.execute(
            text("SELECT pg_advisory_xact_lock(:a, :b)"),
            {"a": INGEST_LOCK, "b": integration.id},
        )
        waited = (time.perf_counter() - asked) * 1000
        session.info[_LOCK_WAIT] = session.info.get(_LOCK_WAIT, 0.0) + waited
    keys = [clean_text(e.dedup_key) for e in events]
    later = [clean_text(e.dedup_key) for e in upcoming]
    dedup.load(batch, {*keys, *later})
    if all(dedup.plain_repeat(batch, k, e) for k, e in zip(keys, events, strict=True)):
        return dedup.count_all(batch, keys, events)
    correlate.look_ahead(batch, keys, events, list(zip(later, upcoming, strict=True)))
    store.insert_new(batch, keys, events)
    handled = [
        decide.handle(batch, i, k, e) for i, (k, e) in enumerate(zip(keys, events, strict=True))
    ]
    batch.storms.finish()
    dedup.write_repeats(batch)
    names: dict[int, str] = {}
    return [
        IngestResult(
            alert_id=alert_id,
            dedup_key=key,
            action=event.action,
            outcome=outcome,
            incident=batch.incident_name(incident_id, number, names),
        )
        for (alert_id, outcome, incident_id, number), key, event in zip(
            handled, keys, events, strict=True
        )
    ]
