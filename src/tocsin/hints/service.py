"""Computing, storing and deciding an incident's root-cause hints. Never commits.

Hints are computed when an incident is declared (:func:`on_declared`), again a little
after alerts join it (:func:`on_alert_attached` only sets a debounced timer, handled
by :func:`handle_refresh`), and when a change to one of its services or dependencies
arrives (:func:`on_change_recorded`). Computing again updates each hint in place (its
key names what it is about); hints the rules no longer give are dropped unless a
person decided them. A confirmed hint names the post-mortem's root-cause category; a
rejected one stays, ruled out.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from tocsin.changes.models import Change
from tocsin.changes.service import change_to_read
from tocsin.db.jobs import schedule
from tocsin.errors import Conflict, NotFound
from tocsin.hints import facts
from tocsin.hints.models import EvidenceRead, HintRead, IncidentHints, LinkedIncident
from tocsin.hints.rules import Evidence, Hint, compute, rank
from tocsin.incidents import downstream
from tocsin.incidents.findings import HintStatus, IncidentHint
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import ACTIVE_STATUSES, format_incident_id
from tocsin.incidents.service import get_by_id
from tocsin.incidents.timeline import record
from tocsin.metrics.catalog import HINT_DECISIONS
from tocsin.policy import Policy
from tocsin.postmortems.models import Postmortem

__all__ = [
    "DEBOUNCE",
    "DECISION_HOOKS",
    "REFRESH",
    "DecisionHook",
    "DecisionHooks",
    "decide",
    "handle_refresh",
    "hints_for",
    "on_alert_attached",
    "on_change_recorded",
    "on_declared",
    "on_resolved",
    "overview",
    "recent_changes",
    "refresh",
    "to_read",
]


class DecisionHook(Protocol):
    def __call__(
        self,
        *,
        session: Session,
        policy: Policy,
        incident: Incident,
        hint: IncidentHint,
        actor: str,
        now: datetime,
    ) -> None: ...


class DecisionHooks:
    """What else happens, in the same transaction, when a responder decides a hint
    (the incident's chat channel hears of it); :func:`tocsin.wiring.wire` fills it."""

    def __init__(self) -> None:
        self._hooks: tuple[DecisionHook, ...] = ()

    def register(self, hook: DecisionHook) -> None:
        if hook not in self._hooks:
            self._hooks = (*self._hooks, hook)

    def run(self, **kwargs: Any) -> None:
        for hook in self._hooks:
            hook(**kwargs)


#: The process's decision hooks.
DECISION_HOOKS = DecisionHooks()

#: The job kind that computes an incident's hints again after alerts joined it.
REFRESH = "hints.refresh"
#: Alerts joining an incident within this long of each other cause one computation.
DEBOUNCE = timedelta(seconds=30)
_ACTIVE = {s.value for s in ACTIVE_STATUSES}


def refresh(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    now: datetime,
    similar: bool = True,
    new: bool = False,
) -> list[IncidentHint]:
    """Compute ``incident``'s hints now and store them; returns them ranked. Without
    ``similar`` the past incidents are not compared again (the similar-incident hints
    stored keep their place): what a page's transaction can afford. ``new``: it was
    declared in this transaction (it has no alerts or hints yet: nothing to read)."""
    situation = facts.situation(session=session, policy=policy, incident=incident, new=new)
    weights = facts.weights(policy)
    scope = set(situation.services) | set(situation.dependencies)
    deps = set(situation.dependencies)
    found = compute(
        situation,
        changes=facts.change_facts(
            session=session,
            services=scope,
            since=situation.impact_start - weights.change_window,
            until=situation.impact_start,
        ),
        incidents=facts.open_incident_facts(session=session, services=deps, exclude=incident.id),
        alerts=facts.alert_facts(
            session=session,
            incident=incident,
            services=scope,
            since=situation.impact_start - weights.change_window,
            new=new,
        ),
        past=facts.past_facts(session=session, incident=incident)
        if similar and weights.similar > 0
        else (),
        weights=weights,
    )
    if not similar and not new:
        found += _stored_similar(session=session, incident=incident)
    return _store(session=session, incident=incident, ranked=rank(found), now=now, new=new)


def _stored_similar(*, session: Session, incident: Incident) -> list[Hint]:
    rows = session.scalars(
        select(IncidentHint).where(
            IncidentHint.incident_id == incident.id, IncidentHint.kind == "similar"
        )
    )
    return [
        Hint(
            key=row.key,
            kind=row.kind,
            confidence=row.confidence,
            explanation=row.explanation,
            evidence=tuple(Evidence(**e) for e in row.evidence),
            category=row.category,
        )
        for row in rows
    ]


def _evidence(hint: Hint) -> list[dict[str, Any]]:
    return [asdict(e) for e in hint.evidence]


def _store(
    *, session: Session, incident: Incident, ranked: list[Hint], now: datetime, new: bool = False
) -> list[IncidentHint]:
    if new and not ranked:
        return []
    existing = (
        {}
        if new
        else {
            h.key: h
            for h in session.scalars(
                select(IncidentHint).where(IncidentHint.incident_id == incident.id)
            )
        }
    )
    kept: list[IncidentHint] = []
    for position, hint in enumerate(ranked, start=1):
        row = existing.pop(hint.key, None)
        if row is None:
            row = IncidentHint(
                incident_id=incident.id,
                key=hint.key,
                status=HintStatus.open,
                created_at=now,
            )
            session.add(row)
        row.kind = hint.kind
        row.rank = position
        row.confidence = hint.confidence
        row.explanation = hint.explanation
        row.evidence = _evidence(hint)
        row.category = hint.category
        row.computed_at = now
        kept.append(row)
    for row in existing.values():
        if row.status == HintStatus.open:
            session.delete(row)
        else:
            row.rank = 0  # decided by a person: kept, no longer ranked
    session.flush()
    return kept


def hints_for(*, session: Session, incident: Incident) -> list[IncidentHint]:
    """Confirmed hints first, then the open ones by rank, then those ruled out."""
    order = {HintStatus.confirmed: 0, HintStatus.open: 1, HintStatus.rejected: 2}
    rows = session.scalars(_HINTS_OF(), {"incident": incident.id})
    return sorted(rows, key=lambda h: (order.get(h.status, 3), h.rank or 10_000, h.key))


def decide(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    hint_id: int,
    confirm: bool,
    actor: str,
    now: datetime,
) -> IncidentHint:
    """Confirm or reject one hint. Confirming names the post-mortem's root-cause
    category (the post-mortem's own, or the one drafted later); a second confirmed
    hint is refused (reject the first one to change the cause)."""
    hint = session.get(IncidentHint, hint_id)
    if hint is None or hint.incident_id != incident.id:
        raise NotFound(f"hint {hint_id} of {format_incident_id(incident.number)}")
    status = HintStatus.confirmed if confirm else HintStatus.rejected
    if hint.status == status:
        return hint
    if confirm:
        other = session.scalar(
            select(IncidentHint.id).where(
                IncidentHint.incident_id == incident.id,
                IncidentHint.status == HintStatus.confirmed,
                IncidentHint.id != hint.id,
            )
        )
        if other is not None:
            raise Conflict(f"hint {other} is already confirmed as the cause: reject it first")
    hint.status = status
    hint.decided_by = actor
    hint.decided_at = now
    hint.top_when_decided = hint.rank == 1
    HINT_DECISIONS.inc(
        session, {"decision": status, "top": "true" if hint.top_when_decided else "false"}
    )
    verb = "Confirmed" if confirm else "Ruled out"
    record(
        session=session,
        incident=incident,
        now=now,
        actor=actor,
        kind=f"hint_{status}",
        summary=f"{verb} hint: {hint.explanation}"[:1000],
        data={"hint": hint.id, "kind": hint.kind, "key": hint.key},
    )
    if confirm:
        _fill_postmortem(session=session, incident=incident, hint=hint, now=now)
    session.flush()
    DECISION_HOOKS.run(
        session=session, policy=policy, incident=incident, hint=hint, actor=actor, now=now
    )
    return hint


def _fill_postmortem(
    *, session: Session, incident: Incident, hint: IncidentHint, now: datetime
) -> None:
    pm = session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))
    if pm is None or pm.status == "published":
        return
    pm.root_cause_category = hint.category
    pm.updated_at = now


def recent_changes(
    *, session: Session, policy: Policy, incident: Incident, limit: int = 10
) -> list[Change]:
    """Changes to the incident's services and their dependencies, from
    ``hints.recent_changes`` before impact start until now, the most recent first."""
    services = {s.service for s in incident.services}
    scope = services | downstream.reachable(services, downstream.depends_map(policy))
    if not scope:
        return []
    start = (incident.started_at or incident.detected_at) - policy.hints.recent_changes
    values = {"services": sorted(scope), "start": start, "limit": limit}
    return list(session.scalars(_CHANGES_SINCE(), values))


# Built once: every declaration asks them (for the incident channel's summary), and
# building and keying them anew cost more than the database's answers.
_HINTS_OF = functools.cache(
    lambda: select(IncidentHint).where(IncidentHint.incident_id == bindparam("incident"))
)
_CHANGES_SINCE = functools.cache(
    lambda: (
        select(Change)
        .where(
            Change.service.in_(bindparam("services", expanding=True)),
            Change.timestamp >= bindparam("start"),
        )
        .order_by(Change.timestamp.desc(), Change.id.desc())
        .limit(bindparam("limit"))
    )
)


# ---------------------------------------------------------------- the hooks


def on_declared(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """Hints for the new incident, and again for the open incidents just linked
    downstream of it (they now have an upstream incident to suspect). Comparing with
    past incidents is left to a timer due at once, out of the page's transaction."""
    refresh(session=session, policy=policy, incident=incident, now=now, similar=False, new=True)
    for below, _link in downstream.downstream_of(session=session, incident=incident):
        if below.status in _ACTIVE:
            refresh(session=session, policy=policy, incident=below, now=now, similar=False)
    if policy.hints.weights.similar > 0 and facts.has_past(session=session, incident=incident):
        schedule(
            session=session,
            kind=REFRESH,
            due_at=now,
            payload={"incident_id": incident.id},
            key=f"hints/{incident.id}/declared",
            now=now,
            lane=incident.lane,
        )


def on_resolved(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """A post-mortem drafted at resolution takes the confirmed hint's category."""
    confirmed = session.scalar(
        select(IncidentHint).where(
            IncidentHint.incident_id == incident.id, IncidentHint.status == HintStatus.confirmed
        )
    )
    if confirmed is not None:
        _fill_postmortem(session=session, incident=incident, hint=confirmed, now=now)


class _Debounce:
    """When this process last set a refresh timer for each incident (of each database
    engine): alerts that join within :data:`DEBOUNCE` of it cost a dictionary lookup,
    nothing more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: weakref.WeakKeyDictionary[Engine, dict[int, datetime]] = (
            weakref.WeakKeyDictionary()
        )

    def due(self, engine: Engine, incident_id: int, now: datetime) -> bool:
        with self._lock:
            seen = self._last.get(engine)
            if seen is None:
                seen = self._last[engine] = {}
            last = seen.get(incident_id)
            if last is not None and abs(now - last) < DEBOUNCE:
                return False
            if len(seen) > 10_000:
                for key in [k for k, v in seen.items() if abs(now - v) >= DEBOUNCE]:
                    del seen[key]
            seen[incident_id] = now
            return True


_DEBOUNCE = _Debounce()


def on_alert_attached(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """Set a timer to compute the hints again once the alerts have settled: one per
    incident and :data:`DEBOUNCE` (the key says which), across processes."""
    if not _DEBOUNCE.due(session.get_bind().engine, incident.id, now):
        return
    bucket = int(now.timestamp() // DEBOUNCE.total_seconds())
    schedule(
        session=session,
        kind=REFRESH,
        due_at=now + DEBOUNCE,
        payload={"incident_id": incident.id},
        key=f"hints/{incident.id}/{bucket}",
        now=now,
        lane=incident.lane,
    )


def handle_refresh(
    *, session: Session, policy: Policy, payload: Mapping[str, Any], now: datetime
) -> str:
    """The :data:`REFRESH` timer: compute the hints of a still open incident again."""
    incident = get_by_id(session=session, incident_id=int(payload["incident_id"]))
    if incident is None:
        return "gone"
    if incident.status not in _ACTIVE:
        return "closed"
    ranked = refresh(session=session, policy=policy, incident=incident, now=now)
    return f"{len(ranked)} hint(s)"


def on_change_recorded(
    *, session: Session, policy: Policy, change: Change, now: datetime
) -> list[Incident]:
    """A change arrived: compute again the hints of every open incident whose services,
    or their dependencies, include the changed service. Returns those incidents."""
    edges = downstream.depends_map(policy)
    affected = {change.service} | {
        name for name in edges if change.service in downstream.reachable([name], edges)
    }
    rows = facts.open_incident_facts(session=session, services=affected, exclude=0)
    refreshed: list[Incident] = []
    for fact in rows:
        number = int(fact.ref.split("-")[-1])
        incident = session.scalar(select(Incident).where(Incident.number == number))
        if incident is None or change.timestamp >= fact.started_at:
            continue  # a change after impact began cannot be its cause
        refresh(session=session, policy=policy, incident=incident, now=now, similar=False)
        refreshed.append(incident)
    return refreshed


def to_read(hint: IncidentHint) -> HintRead:
    return HintRead(
        id=hint.id,
        rank=hint.rank,
        kind=hint.kind,
        confidence=hint.confidence,
        explanation=hint.explanation,
        evidence=[EvidenceRead.model_validate(e) for e in hint.evidence],
        category=hint.category,
        status=hint.status,
        decided_by=hint.decided_by,
        decided_at=hint.decided_at,
        computed_at=hint.computed_at,
    )


def overview(*, session: Session, policy: Policy, incident: Incident) -> IncidentHints:
    """Everything the incident's pages show about its cause."""
    up = downstream.upstream_of(session=session, incident=incident)
    down = downstream.downstream_of(session=session, incident=incident)
    return IncidentHints(
        incident=format_incident_id(incident.number),
        hints=[to_read(h) for h in hints_for(session=session, incident=incident)],
        downstream_of=[_linked(other, link.reason, link.held) for other, link in up],
        upstream_of=[_linked(other, link.reason, link.held) for other, link in down],
        recent_changes=[
            change_to_read(c)
            for c in recent_changes(session=session, policy=policy, incident=incident)
        ],
    )


def _linked(incident: Incident, reason: str, held: bool) -> LinkedIncident:
    return LinkedIncident(
        incident=format_incident_id(incident.number),
        title=incident.title,
        status=incident.status,
        reason=reason,
        held=held,
    )
