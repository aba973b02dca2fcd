"""The worker loop.

It locks a batch of due jobs (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and completes them
in that same transaction together with their effects: a crash before the commit means
the batch never happened and its rows are free again at once; after it, each job
happened exactly once. Between batches it sleeps until the next job is due, a local
transaction schedules a new one, or the poll interval passes (for jobs other processes
schedule).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.db.faults import database_fault
from tocsin.db.jobs import (
    Job,
    JobState,
    forget_wakeup,
    lock_due,
    next_due_at,
    purge_finished,
    wakeup,
)
from tocsin.engine.handlers import HANDLERS, EngineContext, JobHandler
from tocsin.engine.handoffs import ensure_handoff_jobs
from tocsin.incidents.queries import hold_incidents
from tocsin.metrics.burn_alerts import ensure_slo_evaluation
from tocsin.policy import Policy, PolicyStore

__all__ = ["Worker"]

log = logging.getLogger("tocsin.worker")

#: A batch's transaction ends once its jobs took this long, the rest of them left for
#: the next batch: the writer is shared with everything else, and a page that falls due
#: meanwhile (in its lane's turn, see :mod:`tocsin.db.lanes`) goes in the next one.
BATCH_BUDGET_SECONDS = 0.1

#: Finished jobs (done, cancelled, failed) are kept this long for inspection.
FINISHED_JOB_RETENTION = timedelta(days=14)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        policy: PolicyStore,
        clock: Clock,
        handlers: Mapping[str, JobHandler] = HANDLERS,
        name: str | None = None,
        batch: int = 50,
        max_attempts: int = 8,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.clock = clock
        self.handlers = handlers
        self.name = name or _worker_name()
        self.batch = batch
        self.max_attempts = max_attempts
        self._prepared_for: Policy | None = None
        #: The earliest due time of a pending job at the last look.
        self._next_due: datetime | None = None

    def run_due(self, stop: threading.Event | None = None) -> int:
        """Handle every job due now (including ones that fall due meanwhile); return the
        count. Once ``stop`` is set no further batch is started: a job is held only by
        its batch's transaction, so a stopping worker holds none once that commits."""
        self._ensure_standing_jobs()
        handled = 0
        while (
            not (stop is not None and stop.is_set())
            and self._any_due()
            and (count := self._run_batch())
        ):
            handled += count
        return handled

    def _any_due(self) -> bool:
        """Whether a job is due, read without the writer: every write transaction waits
        its turn behind the others, so one that would find nothing is not started. The
        earliest due time read is kept for :meth:`run_forever`'s wait."""
        with session_scope(self.sessions, write=False) as session:
            self._next_due = next_due_at(session=session)
        return self._next_due is not None and self._next_due <= self.clock.now()

    def run_forever(self, stop: threading.Event, *, poll: float = 0.5) -> None:
        woken = threading.Event()
        wakeup(woken)
        log.info("worker %s started", self.name)
        try:
            while not stop.is_set():
                try:
                    self.run_due(stop)
                    due = self._next_due  # read by the round's last look
                except SQLAlchemyError as exc:
                    log.warning("worker: database unavailable (%s); retrying", type(exc).__name__)
                    stop.wait(1.0)
                    continue
                wait = poll
                if due is not None:
                    wait = min(poll, max(0.0, (due - self.clock.now()).total_seconds()))
                woken.wait(wait)
                woken.clear()
        finally:
            forget_wakeup(woken)
            log.info("worker %s stopped", self.name)

    def _ensure_standing_jobs(self) -> None:
        """Jobs that always exist (each schedule's next handoff, the SLO watch), set up when
        a policy is (re)loaded; old finished jobs are purged at the same time."""
        policy = self.policy.current
        if policy is self._prepared_for:
            return
        now = self.clock.now()
        with session_scope(self.sessions, background=True) as session:
            ensure_handoff_jobs(session=session, policy=policy, now=now)
            ensure_slo_evaluation(session=session, now=now)
            purge_finished(session=session, before=now - FINISHED_JOB_RETENTION)
        self._prepared_for = policy

    def _run_batch(self) -> int:
        """One transaction: lock a batch of due jobs, apply each (a savepoint apiece, so one
        failing handler undoes only its own effects), mark them, commit."""
        now = self.clock.now()
        context = EngineContext(self.policy.current, now)
        with session_scope(self.sessions, background=True) as session:
            jobs = lock_due(session=session, now=now, limit=self.batch)
            # Most jobs are about an incident: read the batch's incidents at once (held
            # until the batch is done).
            held = hold_incidents(
                session=session,
                ids=[_incident_of(job) for job in jobs],
                with_related=True,
            )
            started = time.monotonic()
            handled = 0
            for job in jobs:
                if handled and time.monotonic() - started > BATCH_BUDGET_SECONDS:
                    break  # left pending (and, on PostgreSQL, unlocked at the commit)
                self._handle(session, job, context)
                handled += 1
            del held
            return handled

    def _handle(self, session: Session, job: Job, context: EngineContext) -> None:
        job.attempts += 1
        job.claimed_by = self.name
        handler = self.handlers.get(job.kind)
        if handler is None:
            log.error("job %s: no handler for kind %s", job.key, job.kind)
            self._finish(job, JobState.failed, context.now, f"no handler for job kind {job.kind!r}")
            return
        try:
            with session.begin_nested():
                outcome = handler(session, context, job.payload)
        except Exception as exc:
            if database_fault(exc) is not None:
                # The database failed, not the job (disk full, connection lost): SQLite
                # may have rolled the whole transaction back already, so nothing more is
                # written in it; the batch is retried whole once the database works.
                raise
            log.exception("job %s (%s) failed", job.key, job.kind)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            if job.attempts >= self.max_attempts:
                self._finish(job, JobState.failed, context.now, error)
            else:
                job.last_error = error
                job.due_at = context.now + timedelta(seconds=min(300, 2**job.attempts))
            return
        self._finish(job, JobState.done, context.now)
        log.debug("job %s (%s): %s", job.key, job.kind, outcome)

    @staticmethod
    def _finish(job: Job, state: str, now: datetime, error: str | None = None) -> None:
        job.state = state
        job.finished_at = now
        if error is not None:
            job.last_error = error


def _incident_of(job: Job) -> int | None:
    value = job.payload.get("incident_id") if isinstance(job.payload, dict) else None
    return value if isinstance(value, int) else None
