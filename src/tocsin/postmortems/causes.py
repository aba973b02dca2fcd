"""What the incident learned about its cause, as the post-mortem cites it: its
root-cause hints (confirmed, open, ruled out) and the upstream incidents it was
downstream of."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.findings import HintStatus, IncidentHint, IncidentLink
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import format_incident_id
from tocsin.postmortems.rules import HintFact

__all__ = ["hint_facts", "upstream_refs"]

#: Open hints beyond this many are left out of the draft (the most likely are kept).
OPEN_SHOWN = 3
_ORDER = {HintStatus.confirmed: 0, HintStatus.open: 1, HintStatus.rejected: 2}


def hint_facts(*, session: Session, incident: Incident) -> tuple[HintFact, ...]:
    rows = sorted(
        session.scalars(select(IncidentHint).where(IncidentHint.incident_id == incident.id)),
        key=lambda h: (_ORDER.get(h.status, 3), h.rank or 10_000, h.key),
    )
    shown = [h for h in rows if h.status != HintStatus.open]
    shown += [h for h in rows if h.status == HintStatus.open][:OPEN_SHOWN]
    shown.sort(key=lambda h: (_ORDER.get(h.status, 3), h.rank or 10_000, h.key))
    return tuple(
        HintFact(
            status=h.status,
            kind=h.kind,
            explanation=h.explanation,
            confidence=h.confidence,
            links=tuple(str(e.get("href") or "") for e in h.evidence),
        )
        for h in shown
    )


def upstream_refs(*, session: Session, incident: Incident) -> tuple[str, ...]:
    numbers = session.scalars(
        select(Incident.number)
        .join(IncidentLink, IncidentLink.upstream_id == Incident.id)
        .where(IncidentLink.downstream_id == incident.id)
        .order_by(IncidentLink.id)
    )
    return tuple(format_incident_id(n) for n in numbers)
