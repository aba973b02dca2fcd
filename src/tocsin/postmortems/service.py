"""Post-mortem use cases: draft from an incident, edit, review, publish, list and render.

Every function takes the caller's session and never commits. The incident is read
through `tocsin.incidents.service`; post-mortems sit above incidents and react to a
resolution through `tocsin.incidents.hooks` (see `on_incident_resolved`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import Session

from tocsin.checklists import service as checklists
from tocsin.db.counters import next_number
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import IncidentStatus, format_incident_id
from tocsin.incidents.timeline import record
from tocsin.pagination import paginate
from tocsin.policy import Policy, UnknownSeverity
from tocsin.postmortems import actions, causes, deadlines
from tocsin.postmortems.blameless import check_blameless
from tocsin.postmortems.document import (
    EDITABLE_SECTIONS,
    Header,
    generate_sections,
    render_markdown,
)
from tocsin.postmortems.models import (
    BlamelessFindingRead,
    Postmortem,
    PostmortemRead,
    PostmortemSummary,
    PostmortemUpdate,
)
from tocsin.postmortems.patterns import split_category
from tocsin.postmortems.reporting import error_budget_text, metrics_inputs
from tocsin.postmortems.rules import (
    Event,
    IllegalMove,
    IncidentFacts,
    PostmortemStatus,
    ResponseMetrics,
    allowed_moves,
    check_move,
    customer_impact,
    format_postmortem_id,
    overdue_stages,
    parse_postmortem_id,
    response_metrics,
)

__all__ = [
    "create",
    "edit",
    "get",
    "get_by_incident",
    "incident_facts",
    "list_postmortems",
    "metrics_inputs",
    "move",
    "on_incident_resolved",
    "people_names",
    "to_read",
    "to_summary",
]

_DONE = (IncidentStatus.resolved.value, IncidentStatus.closed.value)


# ---------------------------------------------------------------- facts


def incident_facts(*, session: Session, policy: Policy, incident: Incident) -> IncidentFacts:
    """The incident and its timeline as plain data for the rules."""
    events = tuple(
        Event(e.at, e.kind, e.actor, e.summary, dict(e.data))
        for e in incidents.timeline(session=session, incident=incident)
    )
    try:
        severity = policy.severity(incident.severity)
    except UnknownSeverity:
        severity = None
    services = tuple(sorted(s.service for s in incident.services))
    facing = tuple(s for s in services if (svc := policy.service(s)) and svc.customer_facing)
    roles: dict[str, tuple[str, ...]] = {}
    for assignment in incident.roles:
        roles[assignment.role] = (*roles.get(assignment.role, ()), assignment.person)
    public = sum(1 for e in events if e.kind == "update_posted" and e.data.get("public"))
    return IncidentFacts(
        ref=format_incident_id(incident.number),
        title=incident.title,
        description=incident.description,
        severity=incident.severity,
        status=incident.status,
        services=services,
        customer_facing=facing,
        tags=tuple(incident.tags),
        roles=roles,
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        events=events,
        respond_within=severity.respond_within if severity else None,
        resolve_target=severity.resolve_target if severity else None,
        customer_impact=customer_impact(tags=incident.tags, public_updates=public),
        hints=causes.hint_facts(session=session, incident=incident),
        downstream_of=causes.upstream_refs(session=session, incident=incident),
    )


def _required(policy: Policy, incident: Incident, facts: IncidentFacts) -> bool:
    try:
        by_severity = policy.severity(incident.severity).postmortem_required
    except UnknownSeverity:
        by_severity = False
    return by_severity or facts.customer_impact


def people_names(policy: Policy) -> list[str]:
    """Every way a person may be named in a text: handle, full name, first name, chat."""
    names: list[str] = []
    for person in policy.people:
        names.append(person.name)
        if person.full_name:
            names += [person.full_name, person.full_name.split()[0]]
        if person.chat:
            names.append(person.chat.lstrip("@"))
    return names


def _owner_for(policy: Policy, incident: Incident, actor: str) -> str | None:
    """The commander, else whoever resolved (or created) it, if that is a person."""
    commanders = [r.person for r in incident.roles if r.role == "commander"]
    if commanders:
        return commanders[0]
    return actor if policy.person(actor) is not None else None


# ---------------------------------------------------------------- use cases


def create(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    actor: str,
    now: datetime,
) -> Postmortem:
    """Draft the post-mortem of a resolved or closed incident, with its due dates and the
    action items the rules suggest. Drafting adds nothing to the incident's timeline (it
    happens inside the resolution); submitting, publishing and missed due dates do."""
    ref = format_incident_id(incident.number)
    if incident.status not in _DONE:
        raise Conflict(
            f"{ref} is {incident.status}: a post-mortem is drafted once the incident is resolved"
        )
    existing = session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))
    if existing is not None:
        raise Conflict(
            f"{ref} already has post-mortem {format_postmortem_id(existing.number)} "
            f"({existing.status})"
        )
    facts = incident_facts(session=session, policy=policy, incident=incident)
    return _draft(
        session=session, policy=policy, incident=incident, facts=facts, actor=actor, now=now
    )


def on_incident_resolved(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """The `incidents.hooks` callback: draft the post-mortem a resolved incident requires
    (its severity says so, or it had customer impact), once."""
    if session.scalar(select(Postmortem.id).where(Postmortem.incident_id == incident.id)):
        return
    facts = incident_facts(session=session, policy=policy, incident=incident)
    if _required(policy, incident, facts):
        _draft(session=session, policy=policy, incident=incident, facts=facts, actor=actor, now=now)


def _draft(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    facts: IncidentFacts,
    actor: str,
    now: datetime,
) -> Postmortem:
    required = _required(policy, incident, facts)
    pm = Postmortem(
        number=next_number(session, "postmortem"),
        incident_id=incident.id,
        status=PostmortemStatus.draft.value,
        owner=_owner_for(policy, incident, actor),
        required=required,
        customer_impact=facts.customer_impact,
        sections={},
        tags=[],
        created_at=now,
        updated_at=now,
        created_by=actor,
    )
    session.add(pm)
    session.flush()
    # A required post-mortem is due from the resolution; a voluntary one from its creation.
    base = incident.resolved_at if required and incident.resolved_at else now
    deadlines.schedule_deadlines(session=session, pm=pm, base=base, now=now)
    actions.refresh_suggestions(
        session=session, pm=pm, facts=facts, metrics=response_metrics(facts), now=now
    )
    if pm.owner and pm.owner != actor:
        _tell_owner(session=session, pm=pm, incident=incident, now=now)
    return pm


def get(*, session: Session, ref: str) -> Postmortem:
    number = parse_postmortem_id(ref)
    pm = None
    if number is not None:
        pm = session.scalar(select(Postmortem).where(Postmortem.number == number))
    if pm is None:
        raise NotFound(f"post-mortem {ref!r} not found")
    return pm


def get_by_incident(*, session: Session, incident: Incident) -> Postmortem:
    pm = session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))
    if pm is None:
        ref = format_incident_id(incident.number)
        raise NotFound(f"{ref} has no post-mortem yet (POST /api/v1/incidents/{ref}/postmortem)")
    return pm


def edit(
    *,
    session: Session,
    policy: Policy,
    pm: Postmortem,
    actor: str,
    changes: PostmortemUpdate,
    now: datetime,
) -> Postmortem:
    """Apply a PATCH; every field is checked before anything changes."""
    sections = _checked_sections(changes.sections) if changes.sections is not None else None
    category = _checked_category(changes)
    if changes.owner is not None and policy.person(changes.owner) is None:
        raise InvalidInput("owner", f"unknown person {changes.owner!r}")
    if sections and pm.status == PostmortemStatus.published:
        raise Conflict(f"{format_postmortem_id(pm.number)} is published; its text is final")
    incident = _incident(session=session, pm=pm)
    if sections:
        merged = dict(pm.sections)
        for key, text in sections.items():
            if text is None or not text.strip():
                merged.pop(key, None)
            else:
                merged[key] = text
        pm.sections = merged
        if merged.get("root_cause") and pm.drafted_at is None:
            pm.drafted_at = now
        facts = _facts(session=session, policy=policy, pm=pm, incident=incident)
        actions.refresh_suggestions(
            session=session, pm=pm, facts=facts, metrics=response_metrics(facts), now=now
        )
    if category is not None:
        pm.root_cause_category, pm.root_cause_subcategory = category
    elif changes.root_cause_subcategory is not None:
        pm.root_cause_subcategory = changes.root_cause_subcategory.casefold() or None
    if changes.tags is not None:
        pm.tags = sorted({t.strip().casefold() for t in changes.tags})
    if changes.customer_impact is not None:
        pm.customer_impact = changes.customer_impact
    if changes.owner is not None and changes.owner != pm.owner:
        pm.owner = changes.owner
        if changes.owner != actor:
            _tell_owner(session=session, pm=pm, incident=incident, now=now)
    pm.updated_at = now
    return pm


def move(
    *,
    session: Session,
    policy: Policy,
    pm: Postmortem,
    target: PostmortemStatus,
    actor: str,
    now: datetime,
) -> Postmortem:
    """draft → in_review (submit) → published (publish; freezes the text)."""
    current = PostmortemStatus(pm.status)
    ref = format_postmortem_id(pm.number)
    try:
        check_move(current, target, root_cause_written=bool(pm.sections.get("root_cause")))
    except IllegalMove as exc:
        raise Conflict(f"{ref}: {exc}") from None
    incident = _incident(session=session, pm=pm)
    if target is PostmortemStatus.published:
        pm.sections = _effective_sections(session=session, policy=policy, pm=pm, incident=incident)
        pm.published_at = now
        deadlines.cancel_deadlines(session=session, pm=pm, now=now)
    else:
        pm.submitted_at = now
    pm.status = target.value
    pm.updated_at = now
    verb = "published" if target is PostmortemStatus.published else "submitted for review"
    record(
        session=session,
        incident=incident,
        now=now,
        actor=actor,
        kind=f"postmortem_{'published' if target is PostmortemStatus.published else 'submitted'}",
        summary=f"Post-mortem {ref} {verb}",
        data={"postmortem": ref, "from": current.value, "to": target.value},
    )
    return pm


def list_postmortems(
    *,
    session: Session,
    now: datetime,
    statuses: Sequence[str] = (),
    overdue: bool | None = None,
    owner: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Postmortem], int]:
    query = select(Postmortem)
    wanted = _status_filter(statuses)
    if wanted:
        query = query.where(Postmortem.status.in_(wanted))
    if owner:
        query = query.where(Postmortem.owner == owner)
    if overdue is not None:
        query = query.where(_overdue_clause(now) if overdue else not_(_overdue_clause(now)))
    ordered = query.order_by(Postmortem.number.desc())
    return paginate(session=session, query=ordered, limit=limit, offset=offset)


# ---------------------------------------------------------------- reading


def to_summary(*, session: Session, pm: Postmortem, now: datetime) -> PostmortemSummary:
    incident = _incident(session=session, pm=pm)
    return PostmortemSummary(**_summary_fields(pm, incident, now))


def to_read(*, session: Session, policy: Policy, pm: Postmortem, now: datetime) -> PostmortemRead:
    incident = _incident(session=session, pm=pm)
    facts = _facts(session=session, policy=policy, pm=pm, incident=incident)
    metrics = response_metrics(facts)
    sections = _effective_sections(
        session=session, policy=policy, pm=pm, incident=incident, facts=facts, metrics=metrics
    )
    items = actions.for_postmortem(session=session, pm=pm)
    item_reads = actions.to_reads(session=session, items=items, today=now.date())
    header = Header(
        ref=format_postmortem_id(pm.number),
        incident=facts.ref,
        title=incident.title,
        status=pm.status,
        severity=incident.severity,
        owner=pm.owner,
        date=incident.started_at or incident.detected_at,
        category=_category_text(pm),
        tags=tuple(pm.tags),
    )
    findings = check_blameless(sections, people=people_names(policy))
    return PostmortemRead(
        **_summary_fields(pm, incident, now),
        allowed_transitions=[s.value for s in allowed_moves(PostmortemStatus(pm.status))],
        created_by=pm.created_by,
        services=list(facts.services),
        sections=sections,
        edited_sections=[k for k in EDITABLE_SECTIONS if k in pm.sections],
        metrics={
            **metrics.seconds(),
            "escalations": metrics.escalations,
            "pages": metrics.pages,
            "status_updates": metrics.status_updates,
            "public_updates": metrics.public_updates,
            "sla_breaches": metrics.sla_breaches,
            "detected_by_monitoring": metrics.detected_by_monitoring,
        },
        action_items=item_reads,
        blameless_findings=[
            BlamelessFindingRead(
                section=f.section, sentence=f.sentence, reason=f.reason, suggestion=f.suggestion
            )
            for f in findings
        ],
        markdown=render_markdown(header, sections, actions.rows(items)),
    )


# ---------------------------------------------------------------- internals


def _incident(*, session: Session, pm: Postmortem) -> Incident:
    incident = incidents.get_by_id(session=session, incident_id=pm.incident_id)
    if incident is None:  # the foreign key cascades; only a concurrent delete gets here
        raise NotFound(f"the incident of {format_postmortem_id(pm.number)} no longer exists")
    return incident


def _facts(
    *, session: Session, policy: Policy, pm: Postmortem, incident: Incident
) -> IncidentFacts:
    facts = incident_facts(session=session, policy=policy, incident=incident)
    return replace(facts, customer_impact=pm.customer_impact)


def _effective_sections(
    *,
    session: Session,
    policy: Policy,
    pm: Postmortem,
    incident: Incident,
    facts: IncidentFacts | None = None,
    metrics: ResponseMetrics | None = None,
) -> dict[str, str]:
    """Generated sections overlaid with what people wrote (all of it once published)."""
    if pm.status == PostmortemStatus.published and all(k in pm.sections for k in EDITABLE_SECTIONS):
        return {k: pm.sections[k] for k in EDITABLE_SECTIONS}
    facts = facts or _facts(session=session, policy=policy, pm=pm, incident=incident)
    metrics = metrics or response_metrics(facts)
    budget = error_budget_text(policy, incident)
    generated = generate_sections(facts, metrics, error_budget=budget)
    if checklists.items_of(session, incident.id):
        done = checklists.postmortem_markdown(session=session, incident=incident)
        generated["response"] += f"\n\n### Checklists\n\n{done}"
    return {k: pm.sections.get(k) or generated[k] for k in EDITABLE_SECTIONS}


def _summary_fields(pm: Postmortem, incident: Incident, now: datetime) -> dict[str, object]:
    due = deadlines.due_dates(pm)
    late = overdue_stages(
        due,
        status=PostmortemStatus(pm.status),
        root_cause_written=pm.drafted_at is not None,
        now=now,
    )
    return {
        "id": format_postmortem_id(pm.number),
        "number": pm.number,
        "incident": format_incident_id(incident.number),
        "title": incident.title,
        "severity": incident.severity,
        "status": pm.status,
        "owner": pm.owner,
        "required": pm.required,
        "customer_impact": pm.customer_impact,
        "root_cause_category": pm.root_cause_category,
        "root_cause_subcategory": pm.root_cause_subcategory,
        "tags": list(pm.tags),
        "due": {stage.value: at for stage, at in due.items()},
        "overdue": bool(late),
        "overdue_stages": [s.value for s in late],
        "overdue_since": pm.overdue_since,
        "created_at": pm.created_at,
        "updated_at": pm.updated_at,
        "submitted_at": pm.submitted_at,
        "published_at": pm.published_at,
    }


def _category_text(pm: Postmortem) -> str | None:
    if pm.root_cause_category is None:
        return None
    sub = pm.root_cause_subcategory
    return f"{pm.root_cause_category}/{sub}" if sub else pm.root_cause_category


def _overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL twin of `rules.overdue_stages(...) != []`."""
    draft = Postmortem.status == PostmortemStatus.draft.value
    return and_(
        Postmortem.status != PostmortemStatus.published.value,
        or_(
            Postmortem.publish_due_at <= now,
            and_(draft, Postmortem.review_due_at <= now),
            and_(draft, Postmortem.drafted_at.is_(None), Postmortem.draft_due_at <= now),
        ),
    )


def _checked_sections(sections: dict[str, str | None]) -> dict[str, str | None]:
    for key in sections:
        if key == "action_items":
            raise InvalidInput(
                "sections.action_items",
                "action items are rows of their own: use /api/v1/postmortems/{id}/action-items",
            )
        if key not in EDITABLE_SECTIONS:
            raise InvalidInput(
                f"sections.{key}", f"unknown section; valid: {', '.join(EDITABLE_SECTIONS)}"
            )
    return sections


def _checked_category(changes: PostmortemUpdate) -> tuple[str | None, str | None] | None:
    if changes.root_cause_category is None:
        return None
    if not changes.root_cause_category:
        return None, None
    try:
        category, sub = split_category(changes.root_cause_category)
    except ValueError as exc:
        raise InvalidInput("root_cause_category", str(exc)) from None
    if changes.root_cause_subcategory is not None:
        sub = changes.root_cause_subcategory.casefold() or None
    return category, sub


def _status_filter(statuses: Sequence[str]) -> list[str]:
    wanted: list[str] = []
    for raw in statuses:
        for value in raw.split(","):
            name = value.strip().lower().replace("-", "_")
            if not name:
                continue
            try:
                wanted.append(PostmortemStatus(name).value)
            except ValueError:
                valid = ", ".join(s.value for s in PostmortemStatus)
                raise InvalidInput("status", f"unknown status {name!r}; valid: {valid}") from None
    return wanted


def _tell_owner(*, session: Session, pm: Postmortem, incident: Incident, now: datetime) -> None:
    assert pm.owner is not None
    ref = format_postmortem_id(pm.number)
    due = pm.publish_due_at
    deadlines.notify(
        session=session,
        pm=pm,
        incident=incident,
        person=pm.owner,
        key=f"owner/{pm.owner}/{now.isoformat()}",
        subject=f"You own post-mortem {ref} for {format_incident_id(incident.number)}",
        reason=f"assigned as owner; publish due {due:%Y-%m-%d %H:%M} UTC" if due else "owner",
        now=now,
    )
