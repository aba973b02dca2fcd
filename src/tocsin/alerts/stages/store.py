"""Stage 5, store: the batch's new alerts are inserted in one statement before any is
decided (members of a live storm inserted as its members), and the helpers that fill
and re-fire stored alerts and record their state changes for flapping."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.sql import ClauseElement

from tocsin.alerts.batch import Batch
from tocsin.alerts.inbound import InboundAlert
from tocsin.alerts.linking import group_hash
from tocsin.alerts.models import Alert
from tocsin.alerts.rules import AlertOutcome, detect_flapping
from tocsin.alerts.sanitize import clean_json, clean_map, clean_text
from tocsin.alerts.triage import Triage, route_text
from tocsin.db.direct import DirectStatement
from tocsin.incidents.models import Incident

__all__ = [
    "apply_route",
    "build_alert",
    "fill",
    "insert_new",
    "new_alert",
    "new_row",
    "refire",
    "storm_member",
    "transition",
]


def insert_new(batch: Batch, keys: Sequence[str], events: Sequence[InboundAlert]) -> None:
    """Insert the rows of the batch's new alerts in one statement, before deciding
    about any of them: one flush per new alert cost more than the rest of its
    first sight. Each is decided in its turn, as if it had been inserted then; until
    then it has no link and a placeholder outcome, and the noise gate does not
    count it. The rows are built as plain values and come back as the session's
    objects (an ORM bulk insert: building each object attribute by attribute cost
    as much as the insert itself)."""
    rows: list[dict[str, Any]] = []
    members: dict[int, list[dict[str, Any]]] = {}
    storms: dict[int, Incident] = {}
    taken: set[str] = set()
    once = Counter(keys)
    for index, (key, event) in enumerate(zip(keys, events, strict=True)):
        if key in batch.known or key in taken or not _stored_when_new(event):
            continue
        taken.add(key)
        status = "firing" if event.action == "trigger" else "resolved"
        triage = batch.triage.get(index) or batch.triaged(event)
        row = new_row(batch, key, event, triage, status=status)
        storm = storm_member(batch, index, triage) if once[key] == 1 else None
        if storm is None:
            rows.append(row)
            continue
        row["incident_id"], row["outcome"] = storm.id, AlertOutcome.attached.value
        members.setdefault(storm.id, []).append(row)
        storms[storm.id] = storm
    if rows:
        inserted = batch.session.scalars(
            insert(Alert).returning(Alert, sort_by_parameter_order=True), rows
        ).all()
        for alert in inserted:
            batch.created[alert.dedup_key] = alert
        batch.ctx.fresh.update(alert.id for alert in inserted)
    for storm_id, joining in members.items():
        storm = storms[storm_id]
        inserted_ids = [row[0] for row in _MEMBER_INSERT.execute_many(batch.session, joining)]
        for alert_id, row in zip(inserted_ids, joining, strict=True):
            batch.decided[row["dedup_key"]] = (alert_id, storm.id, storm.number)
        batch.storms.joined(
            storm,
            [
                (alert_id, row["labels"], row["severity"])
                for alert_id, row in zip(inserted_ids, joining, strict=True)
            ],
        )


def _member_insert(_dialect: str) -> ClauseElement:
    table = cast(Table, Alert.__table__)
    values = {c.name: bindparam(c.name, type_=c.type) for c in table.columns if c.name != "id"}
    return insert(table).values(values).returning(table.c.id)


#: A storm's new members, in order, each returning its id (a storm inserts thousands).
_MEMBER_INSERT = DirectStatement(_member_insert, copy=True)


def _stored_when_new(event: InboundAlert) -> bool:
    """Whether an event for an alert never seen makes a row: a trigger does, a resolve
    too (history from before Tocsin), except PagerDuty's, which PagerDuty drops as it
    drops an acknowledge for an unknown ``dedup_key``."""
    if event.action == "acknowledge":
        return False
    return event.action == "trigger" or event.source != "pagerduty"


def new_row(
    batch: Batch, key: str, event: InboundAlert, triage: Triage, *, status: str
) -> dict[str, Any]:
    """A new alert's row, as :func:`build_alert` makes it."""
    chosen = triage.chosen
    now = batch.now
    resolved = status == "resolved"
    return {
        "integration_id": batch.integration.id,
        "source": event.source,
        "dedup_key": key,
        "status": status,
        "first_seen_at": now,
        "last_seen_at": now,
        "fired_at": now,
        "resolved_at": now if resolved else None,
        "acknowledged_at": None,
        "occurrences": 1,
        "flapping": False,
        "drill": batch.ctx.is_drill,
        "transitions": [] if resolved else [now.isoformat()],
        "silenced_by": None,
        "heartbeat_id": None,
        "outcome": AlertOutcome.deduplicated.value,  # replaced by the decision
        "title": clean_text(event.title)[:300] or f"Alert {key}"[:300],
        "summary": clean_text(event.summary),
        "labels": clean_map(event.labels),
        "annotations": clean_map(event.annotations),
        "links": [
            {"href": clean_text(link.href), "text": clean_text(link.text), "kind": link.kind}
            for link in event.links
        ],
        "source_url": clean_text(event.source_url) if event.source_url else None,
        "starts_at": event.starts_at,
        "ends_at": (event.ends_at or now) if resolved else event.ends_at,
        "raw": clean_json(event.raw),
        "service": chosen.service[:100] if chosen.service else None,
        "severity": chosen.severity,
        "route_path": route_text(chosen),
        "other_routes": [route_text(d) for d in triage.decisions if d is not chosen],
        "group_key": triage.group_key,
        "incident_id": None,
    }


def storm_member(batch: Batch, index: int, triage: Triage) -> Incident | None:
    """The live storm a new firing joins as it is inserted, or None when it must be
    decided in its turn (anything but a plain new alert whose group feeds nothing)."""
    chosen = triage.chosen
    if (
        index not in batch.triage  # not a new firing (see _look_ahead)
        or index in batch.absorbed
        or triage.muted is not None
        or triage.heartbeat is not None
        or not chosen.open_incident
        or chosen.min_alerts > 1
    ):
        return None
    known = batch.ctx.latest_links.get(group_hash(triage.group_key))
    if known is not None:
        return None  # its group has an incident: attach, reopen or follow in its turn
    return batch.storms.live_storm(triage)


def new_alert(batch: Batch, key: str, event: InboundAlert, triage: Triage, *, status: str) -> Alert:
    alert = batch.created.pop(key, None)
    if alert is None:
        alert = build_alert(batch, key, event, triage, status=status)
        batch.session.add(alert)
        batch.session.flush()
        batch.ctx.fresh.add(alert.id)
    batch.loaded[key] = alert
    return alert


def build_alert(
    batch: Batch, key: str, event: InboundAlert, triage: Triage, *, status: str
) -> Alert:
    alert = Alert(
        integration_id=batch.integration.id,
        source=event.source,
        dedup_key=key,
        status=status,
        first_seen_at=batch.now,
        last_seen_at=batch.now,
        fired_at=batch.now,
        resolved_at=batch.now if status == "resolved" else None,
        occurrences=1,
        flapping=False,
        drill=batch.ctx.is_drill,
        # As _ping and _decide will set them: the row is inserted complete, not
        # inserted and then updated.
        transitions=[],
        silenced_by=None,
        heartbeat_id=None,
        outcome=AlertOutcome.deduplicated.value,  # replaced by the decision
    )
    fill(batch, alert, event)
    apply_route(batch, alert, triage)
    if status == "resolved":
        alert.ends_at = event.ends_at or batch.now
    else:
        transition(batch, alert)  # its first: never flapping
    return alert


def fill(batch: Batch, alert: Alert, event: InboundAlert) -> None:
    alert.title = clean_text(event.title)[:300] or f"Alert {alert.dedup_key}"[:300]
    alert.summary = clean_text(event.summary)
    alert.labels = clean_map(event.labels)
    alert.annotations = clean_map(event.annotations)
    alert.links = [
        {"href": clean_text(link.href), "text": clean_text(link.text), "kind": link.kind}
        for link in event.links
    ]
    alert.source_url = clean_text(event.source_url) if event.source_url else None
    alert.starts_at = event.starts_at
    alert.ends_at = event.ends_at
    alert.raw = clean_json(event.raw)


def refire(batch: Batch, alert: Alert, event: InboundAlert, triage: Triage) -> None:
    alert.status = "firing"
    alert.fired_at = batch.now
    alert.last_seen_at = batch.now
    alert.resolved_at = None
    alert.occurrences += 1
    fill(batch, alert, event)
    apply_route(batch, alert, triage)


def transition(batch: Batch, alert: Alert) -> bool:
    """Record a state change at now; True when the alert is flapping."""
    settings = batch.policy.alerting
    window, k = settings.flapping_window, settings.flapping.transitions
    kept = [t for t in alert.transitions if datetime.fromisoformat(t) >= batch.now - window]
    alert.transitions = [*kept[-(2 * k) :], batch.now.isoformat()]
    return detect_flapping(
        [datetime.fromisoformat(t) for t in alert.transitions], batch.now, window, k
    )


def apply_route(batch: Batch, alert: Alert, triage: Triage) -> None:
    chosen = triage.chosen
    alert.service = chosen.service[:100] if chosen.service else None
    alert.severity = chosen.severity
    alert.route_path = route_text(chosen)
    alert.other_routes = [route_text(d) for d in triage.decisions if d is not chosen]
    alert.group_key = triage.group_key
