"""Post-mortems and the reliability metrics (`tocsin.metrics`), both ways.

- `metrics_inputs`: `tocsin.metrics.service.postmortem_inputs` looks it up on
  `tocsin.postmortems.service` at run time (metrics never imports post-mortems) for the
  completion rate, root-cause categories and action items.
- `error_budget_text`: the impact section's "error budget consumed", computed with
  `tocsin.metrics.slo_status` from the incident's impact window and the policy's SLOs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.metrics import Impact, slo_status
from tocsin.metrics.rules import ActionItemFacts, PostmortemInputs
from tocsin.policy import Policy, UnknownSeverity, format_duration
from tocsin.postmortems.models import ActionItem, Postmortem
from tocsin.postmortems.rules import ActionStatus, PostmortemStatus, format_span

__all__ = ["error_budget_text", "metrics_inputs"]

_BATCH = 500


def _due_at(item: ActionItem) -> datetime | None:
    """An item is due until the end of its due date (UTC), as `action_item_overdue` has it."""
    if item.due_date is None:
        return None
    return datetime.combine(item.due_date, time(0), tzinfo=UTC) + timedelta(days=1)


def metrics_inputs(*, session: Session, incident_ids: Sequence[int]) -> PostmortemInputs:
    """Required and published post-mortems, root-cause categories ('technical/deployment')
    and the accepted action items (suggestions and dropped items left out)."""
    wanted = set(incident_ids)
    # Post-mortems are few beside a year of incidents: read which incidents have one in
    # one query, rather than asking about every incident of the window.
    have = [
        pm_id
        for pm_id, incident_id in session.execute(select(Postmortem.id, Postmortem.incident_id))
        if incident_id in wanted
    ]
    pms: list[Postmortem] = []
    for start in range(0, len(have), _BATCH):
        chunk = have[start : start + _BATCH]
        pms += session.scalars(select(Postmortem).where(Postmortem.id.in_(chunk)))
    incident_of = {pm.id: pm.incident_id for pm in pms}
    items: list[ActionItem] = []
    ids = list(incident_of)
    skipped = (ActionStatus.suggested.value, ActionStatus.dropped.value)
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        items += session.scalars(
            select(ActionItem)
            .where(ActionItem.postmortem_id.in_(chunk), ActionItem.status.not_in(skipped))
            .order_by(ActionItem.id)
        )
    categories = {
        pm.incident_id: (
            f"{pm.root_cause_category}/{pm.root_cause_subcategory}"
            if pm.root_cause_subcategory
            else pm.root_cause_category
        )
        for pm in pms
        if pm.root_cause_category
    }
    return PostmortemInputs(
        required=frozenset(pm.incident_id for pm in pms if pm.required),
        completed=frozenset(
            pm.incident_id for pm in pms if pm.status == PostmortemStatus.published.value
        ),
        categories=categories,
        action_items=tuple(
            ActionItemFacts(
                incident_id=incident_of[item.postmortem_id],
                title=item.title,
                owner=item.owner,
                status=item.status,
                due_at=_due_at(item),
                completed_at=item.completed_at,
            )
            for item in items
        ),
    )


def error_budget_text(policy: Policy, incident: Incident) -> str:
    """'checkout-api: 54.4% of its 99.9% / 30d budget (23m30s)' for each affected service
    with an SLO: the incident's impact window (start to resolution), weighted by the
    SLO's weight for its severity, against the objective's budget."""
    if incident.resolved_at is None:
        return "n/a (not resolved)"
    services = {s.service for s in incident.services}
    start = incident.started_at or incident.detected_at
    parts: list[str] = []
    for slo in policy.slos:
        if slo.service not in services:
            continue
        try:
            level = policy.severity(incident.severity)
            weight = slo.weight(level.name, level.rank, level.aliases)
        except UnknownSeverity:
            weight = slo.weight(incident.severity, incident.severity_rank)
        impact = Impact(incident.id, incident.number, start, incident.resolved_at, weight)
        status = slo_status(
            service=slo.service,
            objective=slo.objective,
            window=slo.window,
            alerts=(),
            impacts=[impact],
            now=incident.resolved_at,
        )
        share = 100 * status.consumed_seconds / status.budget_seconds
        spent = format_span(timedelta(seconds=status.consumed_seconds))
        parts.append(
            f"{slo.service}: {share:.1f}% of its {slo.objective:g}% / "
            f"{format_duration(slo.window)} budget ({spent})"
        )
    return "; ".join(parts) or "n/a (no SLO for the affected services)"
