"""The worker loop.

It claims due jobs in one short transaction (a lease), then completes each job in its own
transaction together with the job's effects: a crash before that commit means the job
never happened and is claimed again once the lease runs out; a crash after it means it
happened exactly once. Between batches it sleeps until the next job is due, a local
transaction schedules a new one, or the poll interval passes (for jobs other processes
schedule).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.db.jobs import (
    Claim,
    Job,
    JobState,
    claim_due,
    forget_wakeup,
    lock_claimed,
    next_due_at,
    purge_finished,
    wakeup,
)
from tocsin.engine.handlers import HANDLERS, EngineContext, JobHandler
from tocsin.engine.handoffs import ensure_handoff_jobs
from tocsin.metrics.burn_alerts import ensure_slo_evaluation
from tocsin.policy import Policy, PolicyStore

__all__ = ["Worker"]

log = logging.getLogger("tocsin.worker")

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
        batch: int = 100,
        lease: timedelta = timedelta(seconds=15),
        max_attempts: int = 8,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.clock = clock
        self.handlers = handlers
        self.name = name or _worker_name()
        self.batch = batch
        self.lease = lease
        self.max_attempts = max_attempts
        self._prepared_for: Policy | None = None

    def run_due(self) -> int:
        """Handle every job due now (including ones that fall due meanwhile); return the count."""
        self._ensure_standing_jobs()
        handled = 0
        while True:
            with session_scope(self.sessions) as session:
                claims = claim_due(
                    session,
                    now=self.clock.now(),
                    worker=self.name,
                    limit=self.batch,
                    lease=self.lease,
                )
            if not claims:
                return handled
            for claim in claims:
                handled += self._handle(claim)

    def run_forever(self, stop: threading.Event, *, poll: float = 0.5) -> None:
        woken = threading.Event()
        wakeup(woken)
        log.info("worker %s started", self.name)
        try:
            while not stop.is_set():
                try:
                    self.run_due()
                    with session_scope(self.sessions, write=False) as session:
                        due = next_due_at(session)
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
        with session_scope(self.sessions) as session:
            ensure_handoff_jobs(session=session, policy=policy, now=now)
            ensure_slo_evaluation(session, now=now)
            purge_finished(session, before=now - FINISHED_JOB_RETENTION)
        self._prepared_for = policy

    def _handle(self, claim: Claim) -> int:
        now = self.clock.now()
        try:
            with session_scope(self.sessions) as session:
                job = lock_claimed(session, claim, self.name)
                if job is None:
                    return 0
                job.attempts += 1
                handler = self.handlers.get(job.kind)
                if handler is None:
                    job.state = JobState.failed
                    job.last_error = f"no handler for job kind {job.kind!r}"
                    job.finished_at = now
                    log.error("job %s: no handler for kind %s", job.key, job.kind)
                    return 1
                outcome = handler(session, EngineContext(self.policy.current, now), job.payload)
                job.state = JobState.done
                job.finished_at = now
                log.debug("job %s (%s): %s", job.key, job.kind, outcome)
                return 1
        except Exception as exc:
            log.exception("job %s (%s) failed", claim.key, claim.kind)
            self._record_failure(claim, exc)
            return 1

    def _record_failure(self, claim: Claim, exc: Exception) -> None:
        now = self.clock.now()
        try:
            with session_scope(self.sessions) as session:
                job = session.get(Job, claim.id)
                if job is None or job.state != JobState.pending:
                    return
                job.attempts += 1
                job.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                job.claimed_by = None
                job.claimed_until = None
                if job.attempts >= self.max_attempts:
                    job.state = JobState.failed
                    job.finished_at = now
                else:
                    job.due_at = now + timedelta(seconds=min(300, 2**job.attempts))
        except SQLAlchemyError:
            log.exception("could not record the failure of job %s", claim.key)
