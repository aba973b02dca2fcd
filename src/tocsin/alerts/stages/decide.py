"""Stages 6-7, decide and apply, one event at a time in arrival order: acknowledge,
resolve or trigger; a trigger is muted (silence, maintenance), stored without an
incident (``open_incident: false``), kept to its incident (flapping), put on its
cascade, held by the noise gate, or placed — attached, reopened, declared, or taken
by a storm (:func:`tocsin.alerts.linking.place`)."""

from __future__ import annotations

from sqlalchemy import func, select

from tocsin.alerts import heartbeats
from tocsin.alerts.batch import Batch, Handled
from tocsin.alerts.correlating import join_cascade, mark_flapping, place_flapping
from tocsin.alerts.inbound import InboundAlert
from tocsin.alerts.linking import (
    IngestNote,
    Outcome,
    acknowledge_for,
    attach_waiting,
    group_hash,
    place,
    resolve_incidents,
)
from tocsin.alerts.models import Alert
from tocsin.alerts.rules import AlertOutcome, gate_open
from tocsin.alerts.sanitize import clean_map
from tocsin.alerts.stages import dedup, store
from tocsin.alerts.triage import MUTED, Triage, route_text

__all__ = ["acknowledge", "decide", "handle", "mute", "ping", "resolve", "trigger"]


def handle(batch: Batch, index: int, key: str, event: InboundAlert) -> Handled:
    member = batch.decided.get(key)
    if member is not None:
        alert_id, incident_id, number = member
        return alert_id, AlertOutcome.attached, incident_id, number
    if dedup.plain_repeat(batch, key, event):
        row = batch.known[key]
        dedup.count_repeat(batch, row.id, event)
        return row.id, AlertOutcome.deduplicated, row.incident_id, row.number
    alert = batch.alert(key)
    if event.action == "acknowledge":
        return (*acknowledge(batch, alert), None)
    if event.action == "resolve":
        return (*resolve(batch, key, alert, event), None)
    return (*trigger(batch, index, key, alert, event), None)


def acknowledge(batch: Batch, alert: Alert | None) -> tuple[int | None, Outcome, int | None]:
    if alert is None:
        return None, IngestNote.unknown_alert, None
    if alert.status != "firing":  # as at PagerDuty: an acknowledge after the resolve is dropped
        return alert.id, AlertOutcome.resolved, alert.incident_id
    alert.last_seen_at = batch.now
    source = alert.labels.get("source") or batch.integration.name
    acknowledge_for(batch.ctx, alert, f"pagerduty:{source}"[:100])
    return alert.id, IngestNote.acknowledged, alert.incident_id


def resolve(
    batch: Batch, key: str, alert: Alert | None, event: InboundAlert
) -> tuple[int | None, Outcome, int | None]:
    if alert is None and event.source == "pagerduty":  # PagerDuty drops it: nothing stored
        return None, IngestNote.unknown_alert, None
    if alert is None:  # never seen firing (e.g. from before Tocsin): stored as history
        alert = store.new_alert(batch, key, event, batch.triaged(event), status="resolved")
        alert.outcome = AlertOutcome.resolved.value
        return alert.id, AlertOutcome.resolved, None
    alert.last_seen_at = batch.now
    if alert.status == "resolved":
        return alert.id, AlertOutcome.resolved, alert.incident_id
    alert.status = "resolved"
    alert.resolved_at = batch.now
    alert.ends_at = event.ends_at or batch.now
    flapping = store.transition(batch, alert)
    if flapping and not alert.flapping:
        mark_flapping(batch.ctx, alert)
    alert.flapping = flapping
    resolve_incidents(batch.ctx, alert)
    return alert.id, AlertOutcome.resolved, alert.incident_id


def trigger(
    batch: Batch, index: int, key: str, alert: Alert | None, event: InboundAlert
) -> tuple[int | None, Outcome, int | None]:
    triage = batch.triage.get(index) or batch.triaged(event)
    newly_flapping = False
    if alert is None:
        alert = store.new_alert(batch, key, event, triage, status="firing")
    elif alert.status == "firing":  # a repeat that needs more than a count
        alert.occurrences += 1
        alert.last_seen_at = batch.now
        alert.labels, alert.annotations = clean_map(event.labels), clean_map(event.annotations)
        if alert.outcome not in MUTED or triage.muted is not None:
            ping(batch, alert, triage)
            if alert.outcome in MUTED:
                mute(batch, alert, triage)  # still muted (perhaps by another silence)
            return alert.id, AlertOutcome.deduplicated, alert.incident_id
        store.apply_route(batch, alert, triage)  # its silence ended: judge it now
    else:  # resolved, and firing again
        store.refire(batch, alert, event, triage)
        flapping = store.transition(batch, alert)
        newly_flapping = flapping and not alert.flapping
        alert.flapping = flapping
    ping(batch, alert, triage)
    if newly_flapping and triage.muted is None and triage.chosen.open_incident:
        mark_flapping(batch.ctx, alert)
    decide(batch, index, alert, triage)
    return alert.id, _outcome(alert.outcome), alert.incident_id


def decide(batch: Batch, index: int, alert: Alert, triage: Triage) -> None:
    ghash = group_hash(alert.group_key)
    if triage.muted is not None:
        mute(batch, alert, triage)
        return
    alert.silenced_by = None
    chosen = triage.chosen
    if not chosen.open_incident:
        alert.outcome = AlertOutcome.no_incident_route.value
        return
    if alert.flapping:
        place_flapping(batch.ctx, alert, ghash)
        return
    cascade = batch.absorbed.get(index)
    if cascade is not None:
        join_cascade(
            batch.ctx,
            alert,
            ghash=cascade.ghash,
            services=cascade.services,
            origins=cascade.origins,
            members=cascade.members,
        )
        return
    if chosen.min_alerts > 1:
        alert.outcome = AlertOutcome.below_threshold.value
        since = batch.now - chosen.within
        same_group = chosen.gate_per == "group"
        query = (
            select(func.count())
            .select_from(Alert)
            .where(
                Alert.route_path == alert.route_path,
                Alert.fired_at >= since,
                Alert.outcome.not_in((*MUTED, AlertOutcome.resolved.value)),
                Alert.id.not_in([a.id for a in batch.created.values()]),
                Alert.drill.is_(batch.ctx.is_drill),
            )
        )
        if same_group:
            query = query.where(Alert.group_key == alert.group_key)
        count = batch.session.scalar(query)
        if not gate_open(count or 0, chosen.min_alerts):
            return
        place(batch.ctx, alert, chosen, ghash, storms=batch.storms)
        incident = batch.ctx.incident(alert.incident_id)
        if incident is not None:
            attach_waiting(batch.ctx, incident, alert, since, same_group=same_group)
        return
    place(batch.ctx, alert, chosen, ghash, storms=batch.storms)


def mute(batch: Batch, alert: Alert, triage: Triage) -> None:
    assert triage.muted is not None
    outcome, by = triage.muted
    alert.outcome = outcome.value
    alert.silenced_by = by


def ping(batch: Batch, alert: Alert, triage: Triage) -> None:
    decision = triage.heartbeat
    if decision is None or decision.heartbeat is None:
        alert.heartbeat_id = None
        return
    beat = heartbeats.route_ping(
        session=batch.session,
        policy=batch.policy,
        integration=batch.integration,
        route_path=route_text(decision),
        interval=decision.heartbeat,
        service=decision.service,
        severity=decision.severity,
        escalation_policy=decision.escalation_policy,
        now=batch.now,
    )
    alert.heartbeat_id = beat.id


def _outcome(value: str) -> Outcome:
    try:
        return AlertOutcome(value)
    except ValueError:
        return IngestNote(value)
