"""Status page automation, driven by the policy's ``status_page.automation``.

- Declaring an incident of an automated severity (SEV1/SEV2 by default) on a
  customer-facing service that has a status page component opens a status-page incident
  from the ``investigating`` template (a draft, if the policy wants the communications
  lead to publish it). Raising an open incident to such a severity does the same;
  changing the severity of one that has a status-page incident changes its impact.
- A status update marked public on the internal incident is posted on its status-page
  incident (opening one if there is none yet, since "public" means "tell customers").
  Internal updates never are.
- Resolving the internal incident resolves the status-page incident with the
  ``resolved`` template.
- Customers see one public incident per outage, not one per internal incident: an
  incident whose components an unresolved status-page incident already covers is linked
  to that one (its impact raised if this one is worse) instead of opening another, so a
  burst of incidents on one component makes one public incident and one subscriber
  email. Such a public incident is resolved when the last incident it is about is, and
  its impact follows the worst of them.

These run as :mod:`tocsin.incidents.hooks` callbacks, inside the transaction of the
lifecycle change. What reaches the page is only what the templates and public updates
say: the internal title (unless ``reuse_title``), description, people, roles, tags,
alerts and services without a component are never copied.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.incidents.rules import ACTIVE_STATUSES, format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.policy import Policy, Severity, UnknownSeverity
from tocsin.policy.statuspage import Impact
from tocsin.statuspage import service
from tocsin.statuspage.models import (
    PublicUpdateCreate,
    StatusIncident,
    StatusIncidentCreate,
    StatusIncidentUpdate,
)
from tocsin.statuspage.rules import IncidentState, public_state, render_template

__all__ = ["on_declared", "on_resolved", "on_severity_changed", "on_update_posted"]

_ACTIVE = {s.value for s in ACTIVE_STATUSES}
_FALLBACK_NAME = "Service disruption"
_IMPACT_ORDER = list(Impact)


def _severity(policy: Policy, incident: Incident) -> Severity | None:
    try:
        return policy.severity(incident.severity)
    except UnknownSeverity:
        return None


def _components(policy: Policy, incident: Incident, *, customer_facing_only: bool) -> list[str]:
    """The status page components of the incident's services, in service order."""
    names: list[str] = []
    for link in incident.services:
        definition = policy.service(link.service)
        if definition is None or definition.status_page is None:
            continue
        if customer_facing_only and not definition.customer_facing:
            continue
        names.append(definition.status_page.component)
    return list(dict.fromkeys(names))


def _impact(policy: Policy, incident: Incident) -> Impact:
    severity = _severity(policy, incident)
    if severity is None:
        return Impact.minor
    return policy.status_page.impact_for(severity.name, severity.rank, severity.aliases)


def _qualifies(policy: Policy, incident: Incident) -> bool:
    """Whether automation opens a status-page incident for ``incident`` by itself."""
    automation = policy.status_page.automation
    severity = _severity(policy, incident)
    return (
        automation.enabled
        and severity is not None
        and policy.status_page.automates(severity.name, severity.rank, severity.aliases)
        and bool(
            _components(policy, incident, customer_facing_only=automation.customer_facing_only)
        )
    )


def _note(*, session: Session, incident: Incident, now: datetime, summary: str, code: str) -> None:
    record(
        session=session,
        incident=incident,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="status_page",
        summary=summary,
        data={"status_page_incident": code},
    )


def _open(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    now: datetime,
    components: list[str],
    body: str | None = None,
    status: IncidentState = IncidentState.investigating,
) -> StatusIncident:
    settings = policy.status_page
    started_at = incident.started_at or incident.created_at
    if settings.automation.reuse_title:
        name = incident.title
    else:
        values = service.template_values(
            settings, components=components, started_at=started_at, resolved_at=None
        )
        name = render_template(settings.templates.incident_name, values)
    draft = settings.automation.draft
    data = StatusIncidentCreate(
        name=name.strip()[:300] or _FALLBACK_NAME,
        status=status,
        impact=_impact(policy, incident),
        components=dict.fromkeys(components),
        body=body,
        started_at=started_at,
        draft=draft,
    )
    opened = service.create_incident(
        session=session,
        policy=policy,
        actor=SYSTEM_ACTOR,
        data=data,
        now=now,
        internal=incident,
    )
    state = "drafted for the communications lead to publish" if draft else "published"
    _note(
        session=session,
        incident=incident,
        now=now,
        summary=f"Status page incident {state}: {opened.name}",
        code=opened.code,
    )
    return opened


def on_declared(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    # A new incident (or one whose severity just made it qualify, which the caller
    # found unlinked): nothing to look up before opening but a covering one.
    if not _qualifies(policy, incident):
        return
    automation = policy.status_page.automation
    components = _components(policy, incident, customer_facing_only=automation.customer_facing_only)
    covering = service.covering_incident(session=session, components=components)
    if covering is None:
        _open(session=session, policy=policy, incident=incident, now=now, components=components)
        return
    service.link_incident(
        session=session, status_incident_id=covering.id, incident=incident, now=now
    )
    impact = _impact(policy, incident)
    raised = _IMPACT_ORDER.index(impact) > _IMPACT_ORDER.index(Impact(covering.impact))
    if raised:
        shown = session.get(StatusIncident, covering.id)
        if shown is not None:
            service.change_impact(session=session, incident=shown, impact=impact, now=now)
    _note(
        session=session,
        incident=incident,
        now=now,
        summary=f"Status page incident already open for {', '.join(components)}: "
        f"linked to it ({covering.name})" + (f", impact now {impact}" if raised else ""),
        code=covering.code,
    )


def _others_active(
    *, session: Session, linked: StatusIncident, incident: Incident
) -> list[Incident]:
    """The other incidents ``linked`` is about that are still active (one query: a
    burst links hundreds, and each of their resolutions asks)."""
    ids = [
        i
        for i in service.incidents_about(session=session, status_incident=linked)
        if i != incident.id
    ]
    if not ids:
        return []
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.id.in_(ids), Incident.status.in_(_ACTIVE))
            .order_by(Incident.id)
        )
    )


def on_severity_changed(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    if not policy.status_page.automation.enabled:
        return
    linked = service.linked_incident(session=session, incident=incident)
    if linked is None:
        if incident.status in _ACTIVE:
            on_declared(session=session, policy=policy, incident=incident, actor=actor, now=now)
        return
    impacts = [
        _impact(policy, i)
        for i in [incident, *_others_active(session=session, linked=linked, incident=incident)]
    ]
    impact = max(impacts, key=_IMPACT_ORDER.index)
    if service.change_impact(session=session, incident=linked, impact=impact, now=now):
        _note(
            session=session,
            incident=incident,
            now=now,
            summary=f"Status page impact is now {impact}",
            code=linked.code,
        )


def on_update_posted(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    update: StatusUpdate,
    actor: str,
    now: datetime,
) -> None:
    automation = policy.status_page.automation
    if not update.public or not automation.enabled or not automation.mirror_public_updates:
        return
    mirrored = session.scalar(
        select(StatusIncidentUpdate.id).where(StatusIncidentUpdate.source_update_id == update.id)
    )
    if mirrored is not None:
        return
    status = public_state(update.status)
    linked = service.linked_incident(session=session, incident=incident)
    if linked is None:
        # Public means "tell customers": every component of the incident's services,
        # customer-facing or not, since each one is on the page already.
        components = _components(policy, incident, customer_facing_only=False)
        linked = _open(
            session=session,
            policy=policy,
            incident=incident,
            now=now,
            components=components,
            body=update.message,
            status=status,
        )
        linked.updates[0].source_update_id = update.id
        return
    service.add_update(
        session=session,
        policy=policy,
        actor=actor,
        incident=linked,
        data=PublicUpdateCreate(status=status, body=update.message),
        now=now,
        source_update_id=update.id,
    )


def on_resolved(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    automation = policy.status_page.automation
    if not automation.enabled or not automation.post_resolved:
        return
    linked = service.linked_incident(session=session, incident=incident)
    if linked is None or linked.resolved_at is not None:
        return
    still = _others_active(session=session, linked=linked, incident=incident)
    if still:
        # The public impact follows the worst of the incidents still open.
        impact = max((_impact(policy, i) for i in still), key=_IMPACT_ORDER.index)
        service.change_impact(session=session, incident=linked, impact=impact, now=now)
        _note(
            session=session,
            incident=incident,
            now=now,
            summary="Status page incident stays open: "
            f"{', '.join(format_incident_id(i.number) for i in still)} still affects it",
            code=linked.code,
        )
        return
    service.add_update(
        session=session,
        policy=policy,
        actor=SYSTEM_ACTOR,
        incident=linked,
        data=PublicUpdateCreate(status=IncidentState.resolved),
        now=now,
    )
    _note(
        session=session,
        incident=incident,
        now=now,
        summary="Status page incident resolved",
        code=linked.code,
    )
