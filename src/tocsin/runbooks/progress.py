"""The executor's bookkeeping, one short transaction per call: claim queued runs, record
a step as it starts and as it ends, end a run, and mark interrupted the runs whose
worker died.

A step's row is written (``running``) *before* it runs, so that after a crash the
interrupted step is known, and nothing is started again by itself: an interrupted run
stays interrupted until a person asks for it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.policy import Policy
from tocsin.runbooks.execute import StepOutcome
from tocsin.runbooks.models import CLAIMABLE, RunbookRun, RunbookStep, RunKind, RunState
from tocsin.runbooks.rules import RenderedStep
from tocsin.runbooks.service import RUN_QUEUED, announce_proposal

__all__ = [
    "Claimed",
    "begin_step",
    "claim",
    "end_step",
    "finish_run",
    "sweep_interrupted",
    "trigger_checked",
]

#: A claimed run's lease lasts its current step's timeout plus this margin.
LEASE_MARGIN = timedelta(seconds=30)
#: Lines of each step's output quoted on the timeline and in the post-mortem.
EXCERPT_LINES = 8
EXCERPT_CHARS = 600


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    name: str
    state: str
    steps: tuple[RenderedStep, ...]


def claim(*, session: Session, worker: str, now: datetime, limit: int) -> list[Claimed]:
    """Up to ``limit`` queued runs (or triggers to check), now this worker's."""
    if limit <= 0:
        return []
    query = (
        select(RunbookRun)
        .where(RunbookRun.state.in_(CLAIMABLE), RunbookRun.claimed_by.is_(None))
        .order_by(RunbookRun.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for run in session.scalars(query):
        run.claimed_by = worker
        run.lease_until = now + LEASE_MARGIN
        if run.state == RunState.queued.value:
            run.state = RunState.running.value
            run.started_at = now
        claimed.append(
            Claimed(
                run.id,
                run.kind,
                run.name,
                run.state,
                tuple(RenderedStep.from_dict(r) for r in run.rendered),
            )
        )
    return claimed


def _incident(session: Session, run: RunbookRun) -> Incident:
    incident = session.get(Incident, run.incident_id)
    assert incident is not None  # the foreign key cascades
    return incident


def _what(run: RunbookRun) -> str:
    return f"{'Diagnostics' if run.kind == RunKind.diagnostic.value else 'Playbook'} {run.name!r}"


def begin_step(
    *, session: Session, run_id: int, worker: str, step: RenderedStep, position: int, now: datetime
) -> int | None:
    """The step's row, written before it runs; None when the run is no longer this
    worker's (it was marked interrupted meanwhile)."""
    run = session.get(RunbookRun, run_id)
    if run is None or run.claimed_by != worker or run.state != RunState.running.value:
        return None
    run.lease_until = now + timedelta(seconds=step.timeout) + LEASE_MARGIN
    row = RunbookStep(
        run_id=run_id,
        position=position,
        name=step.name,
        kind=step.kind,
        display=step.display,
        state="running",
        output="",
        truncated=False,
        data={},
        started_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def excerpt(text: str) -> str:
    lines = text.strip().splitlines()
    cut = "\n".join(lines[:EXCERPT_LINES])[:EXCERPT_CHARS]
    return cut + (" …" if len(cut) < len(text.strip()) else "")


def end_step(
    *,
    session: Session,
    step_id: int,
    outcome: StepOutcome,
    redact: Callable[[str], str],
    now: datetime,
) -> None:
    """Store the step's outcome, secrets masked; a playbook step is noted on the timeline."""
    row = session.get(RunbookStep, step_id)
    assert row is not None
    row.state = outcome.state
    row.exit_status = outcome.exit_status
    row.duration_ms = outcome.duration_ms
    row.output = redact(outcome.output)
    row.truncated = outcome.truncated
    row.data = {k: v for k, v in outcome.data.items()}
    if "rows" in row.data:
        row.data["rows"] = [[redact(str(c)) for c in r] for r in row.data["rows"]]
    row.finished_at = now
    run = session.get(RunbookRun, row.run_id)
    assert run is not None
    if run.kind != RunKind.playbook.value:
        return
    status = f", exit {outcome.exit_status}" if outcome.exit_status is not None else ""
    record(
        session=session,
        incident=_incident(session, run),
        now=now,
        actor=SYSTEM_ACTOR,
        kind="playbook_step",
        summary=f"Playbook {run.name!r} step {row.position} {row.name!r}: {outcome.state}"
        f"{status} ({outcome.duration_ms} ms)",
        data={
            "run": run.id,
            "step": row.position,
            "state": outcome.state,
            "exit_status": outcome.exit_status,
            "duration_ms": outcome.duration_ms,
            "approved_by": run.decided_by,
            "excerpt": excerpt(row.output),
        },
    )


def finish_run(
    *, session: Session, run_id: int, worker: str, state: RunState, note: str, now: datetime
) -> None:
    """End a run this worker holds; the timeline gets its evidence."""
    run = session.get(RunbookRun, run_id)
    if run is None or run.claimed_by != worker or run.state != RunState.running.value:
        return
    run.state = state.value
    run.finished_at = now
    run.lease_until = None
    run.note = note
    steps = list(
        session.scalars(
            select(RunbookStep).where(RunbookStep.run_id == run_id).order_by(RunbookStep.position)
        )
    )
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.state] = counts.get(step.state, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    kind = "diagnostics_finished" if run.kind == RunKind.diagnostic.value else "playbook_finished"
    record(
        session=session,
        incident=_incident(session, run),
        now=now,
        actor=SYSTEM_ACTOR,
        kind=kind,
        summary=f"{_what(run)} {state.value}: {tally or 'no steps'}"
        + (f" — {note}" if note else ""),
        data={
            "run": run.id,
            "name": run.name,
            "state": state.value,
            "approved_by": run.decided_by,
            "evidence": [
                {
                    "name": s.name,
                    "state": s.state,
                    "display": s.display,
                    "excerpt": excerpt(s.output),
                }
                for s in steps
            ],
        },
    )


def trigger_checked(
    *, session: Session, policy: Policy, run_id: int, holds: bool, note: str, now: datetime
) -> None:
    """A PromQL trigger was evaluated: propose the playbook, or let it be."""
    run = session.get(RunbookRun, run_id)
    if run is None or run.state != RunState.checking.value:
        return
    run.claimed_by = None
    run.lease_until = None
    playbook = policy.playbooks.get(run.name)
    if not holds or playbook is None:
        run.state = RunState.not_triggered.value
        run.finished_at = now
        run.note = note or "the trigger's query returned nothing"
        return
    run.state = RunState.queued.value if playbook.approval == "none" else RunState.proposed.value
    if run.state == RunState.queued.value:
        RUN_QUEUED.raise_in(session)
    announce_proposal(
        session=session, incident=_incident(session, run), run=run, policy=policy, now=now
    )


def sweep_interrupted(*, session: Session, now: datetime, alive: Callable[[str], bool]) -> int:
    """Mark interrupted the runs whose worker died (its lease ran out, or its process on
    this host is gone), and the step each was in. Returns how many."""
    query = select(RunbookRun).where(
        RunbookRun.state.in_((RunState.running.value, RunState.checking.value)),
        RunbookRun.claimed_by.is_not(None),
    )
    count = 0
    for run in session.scalars(query):
        expired = run.lease_until is not None and run.lease_until < now
        if not expired and alive(run.claimed_by or ""):
            continue
        if run.state == RunState.checking.value:  # nothing ran: check the trigger again
            run.claimed_by = None
            run.lease_until = None
            continue
        count += 1
        step = session.scalar(
            select(RunbookStep).where(RunbookStep.run_id == run.id, RunbookStep.state == "running")
        )
        where = "before its first step"
        if step is not None:
            step.state = "interrupted"
            step.finished_at = now
            step.output = (step.output + "\n" if step.output else "") + (
                "[interrupted: the worker running it stopped; its effect is unknown]"
            )
            where = f"during step {step.position} {step.name!r}"
        run.state = RunState.interrupted.value
        run.finished_at = now
        run.lease_until = None
        again = (
            "propose it again to run it"
            if run.kind == RunKind.playbook.value
            else "run the diagnostics again to repeat it"
        )
        run.note = f"interrupted {where}; nothing runs again by itself: {again}"
        record(
            session=session,
            incident=_incident(session, run),
            now=now,
            actor=SYSTEM_ACTOR,
            kind="run_interrupted",
            summary=f"{_what(run)} interrupted {where} (the worker stopped); {again}",
            data={"run": run.id, "step": step.position if step else None},
        )
    return count
