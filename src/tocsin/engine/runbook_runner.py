"""The executor of diagnostic runs and approved playbooks.

It claims queued runs from the run table (the queue; ``SKIP LOCKED`` on PostgreSQL) up
to its concurrency, runs each on a thread of its pool — steps in order, each step's
row written before it starts and its outcome after, in short transactions, never with
a transaction open while a command runs — and wakes when a transaction that queued a
run commits. Before claiming it marks interrupted the runs whose worker died; an
interrupted run is never resumed by itself.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy.exc import SQLAlchemyError

from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.policy import Policy, PolicyStore
from tocsin.runbooks import progress
from tocsin.runbooks.execute import (
    StepOutcome,
    promql_holds,
    run_command,
    run_http,
    run_promql,
    run_sql,
)
from tocsin.runbooks.models import RunKind, RunState
from tocsin.runbooks.rules import Redactor, RenderedStep
from tocsin.runbooks.service import RUN_QUEUED

__all__ = ["RunbookRunner"]

log = logging.getLogger("tocsin.runbooks")


def _this_host() -> str:
    return socket.gethostname()


def _alive(name: str) -> bool:
    """Is the worker called ``name`` (host:pid:tag) still there? Known only for this
    host; elsewhere its lease decides."""
    host, _, rest = name.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _this_host() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunbookRunner:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        policy: PolicyStore,
        clock: Clock,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.sessions = sessions
        self.policy = policy
        self.clock = clock
        self.environ = os.environ if environ is None else environ
        self.name = f"{_this_host()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.concurrency = policy.current.diagnostics.concurrency
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="tocsin-run")
        self._busy = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------ the loop

    def run_forever(self, stop: threading.Event, *, poll: float = 0.5) -> None:
        woken = threading.Event()
        RUN_QUEUED.subscribe(woken)
        try:
            while not stop.is_set():
                try:
                    self.start_due()
                except SQLAlchemyError as exc:
                    log.warning("runs: database unavailable (%s); retrying", type(exc).__name__)
                woken.wait(poll)
                woken.clear()
        finally:
            RUN_QUEUED.unsubscribe(woken)
            self._pool.shutdown(wait=False, cancel_futures=True)

    def start_due(self) -> list[Future[None]]:
        """Mark dead workers' runs interrupted, claim what fits the free slots, start it."""
        now = self.clock.now()
        with session_scope(self.sessions, background=True) as session:
            progress.sweep_interrupted(session=session, now=now, alive=self._alive)
        with self._lock:
            free = self.concurrency - self._busy
        if free <= 0:
            return []
        with session_scope(self.sessions, background=True) as session:
            claimed = progress.claim(session=session, worker=self.name, now=now, limit=free)
        futures = []
        for run in claimed:
            with self._lock:
                self._busy += 1
            futures.append(self._pool.submit(self._execute_counted, run))
        return futures

    def _alive(self, name: str) -> bool:
        return name == self.name or _alive(name)

    def _execute_counted(self, run: progress.Claimed) -> None:
        try:
            self.execute(run)
        except Exception:
            log.exception("run %s (%s %s) failed", run.id, run.kind, run.name)
        finally:
            with self._lock:
                self._busy -= 1

    # ------------------------------------------------------------ one run

    def execute(self, run: progress.Claimed) -> None:
        policy = self.policy.current
        if run.state == RunState.checking.value:
            self._check_trigger(run, policy)
            return
        redact = Redactor(policy.diagnostics.redact)
        playbook = run.kind == RunKind.playbook.value
        final, note = RunState.done, ""
        for position, step in enumerate(run.steps, 1):
            with session_scope(self.sessions, background=True) as session:
                step_id = progress.begin_step(
                    session=session,
                    run_id=run.id,
                    worker=self.name,
                    step=step,
                    position=position,
                    now=self.clock.now(),
                )
            if step_id is None:
                return  # no longer ours: interrupted meanwhile
            outcome = self._condition_skip(step, policy) if playbook else None
            if outcome is None:
                outcome = self.run_step(step, policy)
            with session_scope(self.sessions, background=True) as session:
                progress.end_step(
                    session=session,
                    step_id=step_id,
                    outcome=outcome,
                    redact=redact,
                    now=self.clock.now(),
                )
            if playbook and outcome.state not in ("ok", "skipped"):
                final = RunState.failed
                note = f"step {position} {step.name!r} {outcome.state}; later steps not run"
                break
        with session_scope(self.sessions, background=True) as session:
            progress.finish_run(
                session=session,
                run_id=run.id,
                worker=self.name,
                state=final,
                note=note,
                now=self.clock.now(),
            )

    def _condition_skip(self, step: RenderedStep, policy: Policy) -> StepOutcome | None:
        """A skipped (or failed) outcome when the step's condition no longer holds."""
        if step.condition is None:
            return None
        source = policy.diagnostics.prometheus.get(step.condition_source or "")
        if source is None:
            return StepOutcome("error", f"unknown prometheus {step.condition_source!r}")
        try:
            holds = promql_holds(base_url=source.url, query=step.condition, timeout=step.timeout)
        except Exception as exc:
            return StepOutcome("error", f"the condition could not be evaluated: {exc}")
        if holds:
            return None
        return StepOutcome("skipped", f"skipped: the condition no longer holds ({step.condition})")

    def run_step(self, step: RenderedStep, policy: Policy) -> StepOutcome:
        settings = policy.diagnostics
        cap = settings.output_cap
        if step.error is not None:
            return StepOutcome("error", step.error)
        if step.kind == "command":
            return run_command(
                step,
                timeout=step.timeout,
                cap=cap,
                env_names=step.env,
                cwd=step.cwd,
                environ=self.environ,
            )
        if step.kind == "http":
            return run_http(step, timeout=step.timeout, cap=cap, verify=step.verify_tls)
        if step.kind == "promql":
            source = settings.prometheus.get(step.source)
            if source is None:
                return StepOutcome("error", f"unknown prometheus {step.source!r}")
            return run_promql(
                step,
                base_url=source.url,
                timeout=step.timeout,
                # The server's data lives in real time, whatever clock Tocsin runs on.
                now=time.time(),
                range_seconds=step.range_seconds,
                step_seconds=step.step_seconds,
            )
        database = settings.databases.get(step.source)
        if database is None:
            return StepOutcome("error", f"unknown database {step.source!r}")
        dsn = self.environ.get(database.dsn_env)
        if not dsn:
            return StepOutcome("error", f"the environment variable {database.dsn_env} is not set")
        return run_sql(step, dsn=dsn, timeout=step.timeout, max_rows=step.max_rows, cap=cap)

    def _check_trigger(self, run: progress.Claimed, policy: Policy) -> None:
        playbook = policy.playbooks.get(run.name)
        holds, note = False, ""
        trigger = playbook.trigger.promql if playbook else None
        source = policy.diagnostics.prometheus.get(trigger.prometheus) if trigger else None
        if trigger is not None and source is not None:
            try:
                holds = promql_holds(base_url=source.url, query=trigger.query, timeout=10)
            except Exception as exc:
                note = f"the trigger could not be evaluated: {exc}"
        with session_scope(self.sessions, background=True) as session:
            progress.trigger_checked(
                session=session,
                policy=policy,
                run_id=run.id,
                holds=holds,
                note=note,
                now=self.clock.now(),
            )
