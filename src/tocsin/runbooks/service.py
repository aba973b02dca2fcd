"""Diagnostics and playbooks, the use cases: request a diagnostic run, propose, approve
or decline a playbook, list an incident's runs. Every function writes its run rows and
timeline entries in the caller's transaction and never commits.

What a run *does* (subprocesses, requests) happens outside any transaction, in the
executor (:mod:`tocsin.engine.runbook_runner`), which records each step through
:mod:`tocsin.runbooks.progress`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.service import alerts_for_incident
from tocsin.db.jobs import schedule
from tocsin.db.signals import CommitSignal
from tocsin.errors import Conflict, InvalidInput, NotFound, TocsinError
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.policy import Policy, UnknownSeverity
from tocsin.policy.diagnostics import DiagnosticStep
from tocsin.policy.playbooks import Playbook
from tocsin.runbooks.models import RunbookRun, RunbookStep, RunKind, RunRead, RunState, StepRead
from tocsin.runbooks.rules import (
    Redactor,
    RenderedStep,
    RenderError,
    RunFacts,
    collectors_for,
    playbook_matches_alerts,
    playbooks_for,
    render_step,
    template_context,
    unrenderable,
)

__all__ = [
    "INCIDENT_OPENED",
    "PROPOSAL_HOOKS",
    "RUN_QUEUED",
    "NotAllowed",
    "ProposalHook",
    "approve",
    "decline",
    "dry_run",
    "evaluate_playbooks",
    "handle_incident_opened",
    "list_runs",
    "on_declared",
    "on_incident_opened",
    "propose",
    "request_diagnostics",
    "run_facts",
    "to_read",
]

#: Set once a transaction that queued a run commits (wakes the executor of this process).
RUN_QUEUED = CommitSignal("runbook_run_queued")

#: How many of an incident's alerts fill the templates and triggers.
ALERTS_CONSIDERED = 50

#: A playbook in one of these states for an incident is not proposed again by itself.
_ACTIVE = (
    RunState.checking.value,
    RunState.proposed.value,
    RunState.queued.value,
    RunState.running.value,
)


class ProposalHook(Protocol):
    def __call__(
        self,
        *,
        session: Session,
        policy: Policy,
        incident: Incident,
        run: RunbookRun,
        now: datetime,
    ) -> None: ...


#: Told of every proposal in its transaction (chat posts it with Approve / Decline
#: buttons); filled by :func:`tocsin.wiring.wire`.
PROPOSAL_HOOKS: list[ProposalHook] = []


class NotAllowed(TocsinError):
    """The caller may not do this (only the commander or an admin approves)."""


def run_facts(*, session: Session, incident: Incident) -> RunFacts:
    alerts = alerts_for_incident(session=session, incident_id=incident.id, limit=ALERTS_CONSIDERED)
    commander = next((r.person for r in incident.roles if r.role == "commander"), None)
    return RunFacts(
        ref=format_incident_id(incident.number),
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        services=tuple(s.service for s in incident.services),
        commander=commander,
        alerts=tuple((dict(a.labels), dict(a.annotations)) for a in alerts),
    )


def _render_all(
    steps: Sequence[DiagnosticStep], facts: RunFacts, policy: Policy
) -> list[dict[str, Any]]:
    """Every step rendered; what is shown of it (never what runs) has secrets masked."""
    context = template_context(facts)
    redact = Redactor(policy.diagnostics.redact)
    rendered: list[dict[str, Any]] = []
    for step in steps:
        try:
            done = render_step(step, context).as_dict()
        except RenderError as exc:
            done = unrenderable(step, str(exc)).as_dict()
        done["display"] = redact(done["display"])
        done["error"] = redact(done["error"]) if done["error"] else None
        rendered.append(done)
    return rendered


def _severity_names(policy: Policy) -> Any:
    def names(severity: str) -> set[str]:
        try:
            found = policy.severity(severity)
        except UnknownSeverity:
            return {severity.casefold()}
        return {label.casefold() for label in found.labels}

    return names


def _new_run(
    session: Session,
    *,
    incident: Incident,
    kind: RunKind,
    name: str,
    state: RunState,
    actor: str,
    rendered: list[dict[str, Any]],
    now: datetime,
) -> RunbookRun:
    run = RunbookRun(
        incident_id=incident.id,
        kind=kind.value,
        name=name,
        state=state.value,
        requested_by=actor,
        created_at=now,
        rendered=rendered,
        note="",
    )
    session.add(run)
    session.flush()
    if state.value in (RunState.queued.value, RunState.checking.value):
        RUN_QUEUED.raise_in(session)
    return run


def request_diagnostics(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    actor: str,
    collector: str | None,
    now: datetime,
    automatic: bool = False,
    facts: RunFacts | None = None,
) -> list[RunbookRun]:
    """Queue ``collector`` (or every collector that fits the incident) for the incident.
    ``facts``: the incident's, when the caller has read them already."""
    collectors = policy.diagnostics.collectors
    if collector is not None:
        if collector not in collectors:
            known = ", ".join(sorted(collectors)) or "none in the policy"
            raise InvalidInput("collector", f"unknown collector {collector!r}; known: {known}")
        names = [collector]
    else:
        services = [s.service for s in incident.services]
        if automatic:
            names = collectors_for(
                collectors,
                services=services,
                severity=incident.severity,
                severity_names=_severity_names(policy),
            )
        else:
            names = [
                n
                for n, c in collectors.items()
                if not c.services or any(s in c.services for s in services)
            ]
            if not names:
                raise Conflict(
                    "no diagnostic collector of the policy fits this incident's services; "
                    "name one (`collector`)"
                )
    if facts is None:
        facts = run_facts(session=session, incident=incident)
    runs = []
    for name in names:
        rendered = _render_all(collectors[name].steps, facts, policy)
        runs.append(
            _new_run(
                session,
                incident=incident,
                kind=RunKind.diagnostic,
                name=name,
                state=RunState.queued,
                actor=actor,
                rendered=rendered,
                now=now,
            )
        )
        record(
            session=session,
            incident=incident,
            now=now,
            actor=actor,
            kind="diagnostics_requested",
            summary=f"Diagnostics {name!r} queued ({len(rendered)} steps)",
            data={"run": runs[-1].id, "collector": name},
        )
    return runs


# ---------------------------------------------------------------- playbooks


def _playbook(policy: Policy, name: str) -> Playbook:
    playbook = policy.playbooks.get(name)
    if playbook is None:
        known = ", ".join(sorted(policy.playbooks)) or "none in the policy"
        raise NotFound(f"unknown playbook {name!r}; known: {known}")
    return playbook


def _latest(session: Session, incident: Incident, name: str) -> RunbookRun | None:
    return session.scalar(
        select(RunbookRun)
        .where(
            RunbookRun.incident_id == incident.id,
            RunbookRun.kind == RunKind.playbook.value,
            RunbookRun.name == name,
        )
        .order_by(RunbookRun.id.desc())
        .limit(1)
    )


def _proposed_summary(name: str, rendered: list[dict[str, Any]], automatic: bool) -> str:
    steps = "; ".join(
        f"{i}. {r['name']}: {r['error'] or r['display']}" for i, r in enumerate(rendered, 1)
    )
    what = "runs by itself (approval: none)" if automatic else "awaits the commander's approval"
    return f"Playbook {name!r} proposed, {what}: {steps}"


def _propose(
    session: Session,
    *,
    policy: Policy,
    incident: Incident,
    name: str,
    actor: str,
    now: datetime,
    facts: RunFacts,
    checked: bool,
) -> RunbookRun:
    playbook = policy.playbooks[name]
    rendered = _render_all(playbook.actions, facts, policy)
    if playbook.trigger.promql is not None and not checked:
        state = RunState.checking
    elif playbook.approval == "none":
        state = RunState.queued
    else:
        state = RunState.proposed
    run = _new_run(
        session,
        incident=incident,
        kind=RunKind.playbook,
        name=name,
        state=state,
        actor=actor,
        rendered=rendered,
        now=now,
    )
    if state is not RunState.checking:
        announce_proposal(session=session, incident=incident, run=run, policy=policy, now=now)
    return run


def announce_proposal(
    *, session: Session, incident: Incident, run: RunbookRun, policy: Policy, now: datetime
) -> None:
    """The proposal's timeline entry (it shows the rendered actions)."""
    automatic = run.state == RunState.queued.value
    record(
        session=session,
        incident=incident,
        now=now,
        actor=run.requested_by,
        kind="playbook_proposed",
        summary=_proposed_summary(run.name, run.rendered, automatic),
        data={"run": run.id, "playbook": run.name, "approval": not automatic},
    )
    for hook in PROPOSAL_HOOKS:
        hook(session=session, policy=policy, incident=incident, run=run, now=now)


def evaluate_playbooks(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    now: datetime,
    facts: RunFacts | None = None,
) -> list[RunbookRun]:
    """Propose every playbook whose trigger fits and that this incident has not had yet
    (a declined or failed one waits for a person to propose it again). ``facts``: the
    incident's, when the caller has read them already."""
    if facts is None:
        facts = run_facts(session=session, incident=incident)
    labels = [lb for lb, _ in facts.alerts]
    proposed = []
    for name in playbooks_for(policy.playbooks, services=facts.services):
        if _latest(session, incident, name) is not None:
            continue
        playbook = policy.playbooks[name]
        if playbook.trigger.match and not playbook_matches_alerts(playbook, labels):
            continue
        proposed.append(
            _propose(
                session,
                policy=policy,
                incident=incident,
                name=name,
                actor=SYSTEM_ACTOR,
                now=now,
                facts=facts,
                checked=False,
            )
        )
    return proposed


def propose(
    *, session: Session, policy: Policy, incident: Incident, name: str, actor: str, now: datetime
) -> RunbookRun:
    """A person proposes the playbook (again): it waits for approval whatever happened
    to it before, unless it is still pending or running."""
    _playbook(policy, name)
    latest = _latest(session, incident, name)
    if latest is not None and latest.state in _ACTIVE:
        raise Conflict(f"playbook {name!r} is already {latest.state} for this incident")
    facts = run_facts(session=session, incident=incident)
    return _propose(
        session,
        policy=policy,
        incident=incident,
        name=name,
        actor=actor,
        now=now,
        facts=facts,
        checked=True,
    )


def _decidable(
    session: Session, *, incident: Incident, name: str, person: str | None, admin: bool
) -> RunbookRun:
    latest = _latest(session, incident, name)
    if latest is None or latest.state != RunState.proposed.value:
        state = latest.state if latest else "never proposed"
        raise Conflict(f"playbook {name!r} has no proposal waiting for a decision ({state})")
    commander = next((r.person for r in incident.roles if r.role == "commander"), None)
    if not admin and (person is None or person != commander):
        who = f"the commander ({commander})" if commander else "the commander (none assigned)"
        raise NotAllowed(f"only {who} or an admin may decide on playbook {name!r}")
    return latest


def approve(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    name: str,
    actor: str,
    person: str | None,
    admin: bool,
    now: datetime,
) -> RunbookRun:
    """The commander (or an admin) approves the waiting proposal: it is queued to run."""
    _playbook(policy, name)
    run = _decidable(session, incident=incident, name=name, person=person, admin=admin)
    run.state = RunState.queued.value
    run.decided_by = actor
    run.decided_at = now
    RUN_QUEUED.raise_in(session)
    record(
        session=session,
        incident=incident,
        now=now,
        actor=actor,
        kind="playbook_approved",
        summary=f"Playbook {name!r} approved by {actor}",
        data={"run": run.id, "playbook": name},
    )
    return run


def decline(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    name: str,
    actor: str,
    person: str | None,
    admin: bool,
    now: datetime,
) -> RunbookRun:
    _playbook(policy, name)
    run = _decidable(session, incident=incident, name=name, person=person, admin=admin)
    run.state = RunState.declined.value
    run.decided_by = actor
    run.decided_at = now
    run.finished_at = now
    record(
        session=session,
        incident=incident,
        now=now,
        actor=actor,
        kind="playbook_declined",
        summary=f"Playbook {name!r} declined by {actor}; it is not proposed again by itself",
        data={"run": run.id, "playbook": name},
    )
    return run


def dry_run(
    *, session: Session, policy: Policy, incident: Incident, name: str
) -> list[RenderedStep]:
    """The playbook's actions as they would run for this incident; nothing runs."""
    playbook = _playbook(policy, name)
    facts = run_facts(session=session, incident=incident)
    return [RenderedStep.from_dict(r) for r in _render_all(playbook.actions, facts, policy)]


def on_incident_opened(
    *, session: Session, policy: Policy, incident: Incident, now: datetime
) -> str:
    """Queue the collectors that run on open and propose the playbooks that fit."""
    facts = run_facts(session=session, incident=incident)
    runs = request_diagnostics(
        session=session,
        policy=policy,
        incident=incident,
        actor=SYSTEM_ACTOR,
        collector=None,
        now=now,
        automatic=True,
        facts=facts,
    )
    proposed = evaluate_playbooks(
        session=session, policy=policy, incident=incident, now=now, facts=facts
    )
    return f"{len(runs)} diagnostics, {len(proposed)} playbooks"


# ---------------------------------------------------------------- reading


def list_runs(
    *, session: Session, incident: Incident, kind: RunKind | None = None
) -> list[RunRead]:
    query = select(RunbookRun).where(RunbookRun.incident_id == incident.id)
    if kind is not None:
        query = query.where(RunbookRun.kind == kind.value)
    runs = list(session.scalars(query.order_by(RunbookRun.id)))
    steps: dict[int, list[RunbookStep]] = {}
    if runs:
        for step in session.scalars(
            select(RunbookStep)
            .where(RunbookStep.run_id.in_([r.id for r in runs]))
            .order_by(RunbookStep.run_id, RunbookStep.position)
        ):
            steps.setdefault(step.run_id, []).append(step)
    ref = format_incident_id(incident.number)
    return [to_read(run, steps.get(run.id, []), ref) for run in runs]


def to_read(run: RunbookRun, steps: Sequence[RunbookStep], ref: str) -> RunRead:
    return RunRead(
        id=run.id,
        incident=ref,
        kind=run.kind,
        name=run.name,
        state=run.state,
        requested_by=run.requested_by,
        created_at=run.created_at,
        decided_by=run.decided_by,
        decided_at=run.decided_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        note=run.note,
        planned=[
            {
                "name": r.get("name"),
                "kind": r.get("kind"),
                "display": r.get("display"),
                "condition": r.get("condition"),
                "error": r.get("error"),
            }
            for r in run.rendered
        ],
        steps=[
            StepRead(
                position=s.position,
                name=s.name,
                kind=s.kind,
                display=s.display,
                state=s.state,
                exit_status=s.exit_status,
                duration_ms=s.duration_ms,
                output=s.output,
                truncated=s.truncated,
                data=s.data,
                started_at=s.started_at,
                finished_at=s.finished_at,
            )
            for s in steps
        ],
    )


# ---------------------------------------------------------------- the open hook

#: The job that looks for collectors and playbooks once a new incident has its alerts.
INCIDENT_OPENED = "runbooks.incident_opened"


def on_declared(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """Incident hook: a job, due at once, does the work after the declaring transaction
    (which links the incident's first alerts) has committed."""
    if not policy.diagnostics.collectors and not policy.playbooks:
        return
    schedule(
        session=session,
        kind=INCIDENT_OPENED,
        due_at=now,
        payload={"incident_id": incident.id},
        key=f"runbooks-open:{incident.id}",
        now=now,
        lane=incident.lane,
    )


def handle_incident_opened(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    payload: Any,
    now: datetime,
) -> str:
    return on_incident_opened(session=session, policy=policy, incident=incident, now=now)
