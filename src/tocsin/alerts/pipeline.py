"""The ingestion pipeline: one webhook batch of alert events in, stored and
decided, inside the caller's transaction.

Stages, in Alertmanager's order, each recording *why* on the alert (its outcome):

1. **dedup** — a repeat of a firing alert (same integration and dedup key) counts an
   occurrence and is done. This is the hot path: one indexed read for the whole batch
   and one batched UPDATE at the end, no ORM objects.
2. **route** — the policy's routing tree; the first decision that opens incidents
   decides, the others are kept in ``other_routes``.
3. **silence / maintenance** — stored and visible, page nobody.
4. **open_incident: false** — stored, no incident.
5. **flapping** — an alert that changed state ``flapping.transitions`` times within
   the window is kept to one lowest-severity incident.
6. **cascade** — related alerts on several services within the window join one SEV1
   incident instead of paging one by one. Judged once per batch over the recent
   firing alerts plus the batch, so a batch that starts a cascade pages once.
7. **noise gate** — ``min_alerts`` of the route within ``within`` before an incident.
8. **group** — attach, reopen or declare (:mod:`tocsin.alerts.linking`).

On PostgreSQL every batch takes a transaction-scoped advisory lock per integration,
so two concurrent batches (of two server processes) cannot both open the first row of
a dedup key or both open an incident for one new group, nor deadlock counting repeats
of the same alerts in different orders. (SQLite has one writer at a time anyway.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from tocsin.alerts import heartbeats
from tocsin.alerts.correlating import join_cascade, mark_flapping, place_flapping
from tocsin.alerts.hotpath import Known, Repeat, load_known, write_repeats
from tocsin.alerts.inbound import Action, InboundAlert
from tocsin.alerts.linking import (
    Context,
    IngestNote,
    Outcome,
    acknowledge_for,
    attach_waiting,
    group_hash,
    place,
    preload_latest_links,
    resolve_incidents,
)
from tocsin.alerts.models import Alert, Integration
from tocsin.alerts.rules import AlertOutcome, detect_flapping, gate_open
from tocsin.alerts.sanitize import clean_json, clean_map, clean_text
from tocsin.alerts.storms import Storms
from tocsin.alerts.triage import MUTED, CascadeJoin, Triage, Triager, route_text
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import format_incident_id
from tocsin.policy import Policy

__all__ = ["IngestNote", "IngestResult", "Outcome", "ingest", "ingest_batches"]

#: Any constant, distinct from the migration lock; the second key is the integration.
_INGEST_LOCK = 7_460_002
#: ``last_seen_at`` of an integration is refreshed at most this often by alerts.
_TOUCH_EVERY = timedelta(seconds=1)
#: (alert id, outcome, incident id, incident number when already known)
_Handled = tuple[int | None, Outcome, int | None, int | None]
_COUNTED_COLUMNS = ["occurrences", "last_seen_at", "labels", "annotations"]


@dataclass(frozen=True)
class IngestResult:
    """What became of one event. ``incident`` is ``INC-n`` or None."""

    alert_id: int | None
    dedup_key: str
    action: Action
    outcome: Outcome
    incident: str | None


def ingest(
    *,
    session: Session,
    policy: Policy,
    integration: Integration,
    events: Sequence[InboundAlert],
    now: datetime,
) -> list[IngestResult]:
    """Store and act on one batch of events from ``integration``, in order. Never
    commits: the caller commits the whole batch at once (or nothing of it)."""
    if not events:
        return []
    return _Run(session, policy, integration, now).run(events)


def ingest_batches(
    *,
    session: Session,
    policy: Policy,
    batches: Sequence[tuple[Integration, Sequence[InboundAlert]]],
    now: datetime,
) -> list[list[IngestResult]]:
    """Group commit: the batches of several requests in one transaction.

    Batches for the same integration are run as one :func:`ingest` call (in the order
    given), which costs little more than one of them alone; the results are split back
    per batch. The integrations must belong to ``session``.
    """
    by_integration: dict[int, list[int]] = {}
    for position, (integration, _) in enumerate(batches):
        by_integration.setdefault(integration.id, []).append(position)
    results: list[list[IngestResult]] = [[] for _ in batches]
    for positions in by_integration.values():
        integration = batches[positions[0]][0]
        events = [event for p in positions for event in batches[p][1]]
        merged = ingest(
            session=session, policy=policy, integration=integration, events=events, now=now
        )
        start = 0
        for p in positions:
            size = len(batches[p][1])
            results[p] = merged[start : start + size]
            start += size
    return results


class _Run:
    def __init__(
        self, session: Session, policy: Policy, integration: Integration, now: datetime
    ) -> None:
        self.session = session
        self.policy = policy
        self.integration = integration
        self.now = now
        self.ctx = Context(session, policy, integration, now)
        self.triager = Triager(self.ctx)
        self.storms = Storms(self.ctx)
        self.known: dict[str, Known] = {}
        self.loaded: dict[str, Alert] = {}
        self.repeats: dict[int, Repeat] = {}
        self.triage: dict[int, Triage] = {}
        self.absorbed: dict[int, CascadeJoin] = {}
        #: New alerts inserted ahead of their turn (see _insert_new), by dedup key.
        self.created: dict[str, Alert] = {}
        #: New alerts inserted as members of a live storm: (id, incident id, number).
        self.decided: dict[str, tuple[int, int, int]] = {}
        self._triages: dict[tuple[tuple[tuple[str, str], ...], str | None], Triage] = {}

    # ------------------------------------------------------------ the batch

    def run(self, events: Sequence[InboundAlert]) -> list[IngestResult]:
        if self.integration.last_seen_at is None or (
            self.now - self.integration.last_seen_at >= _TOUCH_EVERY
        ):
            self.integration.last_seen_at = self.now
        self.session.flush()  # the hot path reads with plain SQL: it must see everything
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(:a, :b)"),
                {"a": _INGEST_LOCK, "b": self.integration.id},
            )
        keys = [clean_text(e.dedup_key) for e in events]
        self._load(set(keys))
        if all(self._plain_repeat(k, e) for k, e in zip(keys, events, strict=True)):
            return self._count_all(keys, events)
        self._look_ahead(keys, events)
        self._insert_new(keys, events)
        handled = [self._handle(i, k, e) for i, (k, e) in enumerate(zip(keys, events, strict=True))]
        self.storms.finish()
        self._write_repeats()
        names: dict[int, str] = {}
        return [
            IngestResult(
                alert_id=alert_id,
                dedup_key=key,
                action=event.action,
                outcome=outcome,
                incident=self._incident_name(incident_id, number, names),
            )
            for (alert_id, outcome, incident_id, number), key, event in zip(
                handled, keys, events, strict=True
            )
        ]

    def _count_all(self, keys: Sequence[str], events: Sequence[InboundAlert]) -> list[IngestResult]:
        """:meth:`run` for a batch of plain repeats only (the common batch): each is
        counted (see :meth:`_count_repeat`) and nothing is loaded. Results are
        immutable, so the repeats of one alert in the batch share one."""
        known = self.known
        times: dict[int, int] = {}
        latest: dict[int, InboundAlert] = {}
        made: dict[str, IngestResult] = {}
        names: dict[int, str] = {}
        results = []
        for key, event in zip(keys, events, strict=True):
            row = known[key]
            times[row.id] = times.get(row.id, 0) + 1
            latest[row.id] = event
            result = made.get(key)
            if result is None:
                result = made[key] = IngestResult(
                    alert_id=row.id,
                    dedup_key=key,
                    action="trigger",
                    outcome=AlertOutcome.deduplicated,
                    incident=self._incident_name(row.incident_id, row.number, names),
                )
            results.append(result)
        for alert_id, count in times.items():
            self._count_repeat(alert_id, latest[alert_id], count)
        self._write_repeats()
        return results

    def _incident_name(
        self, incident_id: int | None, number: int | None, names: dict[int, str]
    ) -> str | None:
        """``INC-n`` (``names``: those made so far in the batch, which shares a few)."""
        if number is None and incident_id is not None:
            incident = self.ctx.incident(incident_id)  # loaded already, as a rule
            number = incident.number if incident is not None else None
        if number is None:
            return None
        name = names.get(number)
        if name is None:
            name = names[number] = format_incident_id(number)
        return name

    def _load(self, keys: set[str]) -> None:
        self.known = load_known(self.session, integration_id=self.integration.id, keys=keys)

    def _plain_repeat(self, key: str, event: InboundAlert) -> bool:
        """A trigger for a firing, unmuted, non-heartbeat alert: only a counter moves."""
        row = self.known.get(key)
        return (
            key not in self.loaded
            and row is not None
            and event.action == "trigger"
            and row.status == "firing"
            and row.outcome not in MUTED
            and row.heartbeat_id is None
        )

    def _handle(self, index: int, key: str, event: InboundAlert) -> _Handled:
        member = self.decided.get(key)
        if member is not None:
            alert_id, incident_id, number = member
            return alert_id, AlertOutcome.attached, incident_id, number
        if self._plain_repeat(key, event):
            row = self.known[key]
            self._count_repeat(row.id, event)
            return row.id, AlertOutcome.deduplicated, row.incident_id, row.number
        alert = self._alert(key)
        if event.action == "acknowledge":
            return (*self._acknowledge(alert), None)
        if event.action == "resolve":
            return (*self._resolve(key, alert, event), None)
        return (*self._trigger(index, key, alert, event), None)

    # ------------------------------------------------------------ the hot path

    def _count_repeat(self, alert_id: int, event: InboundAlert, times: int = 1) -> None:
        """Count ``times`` plain repeats, ``event`` the latest. An event whose
        ``maps_clean`` attribute is true (one the parse memo hands out again,
        :class:`tocsin.ingest.memo.KeptEvent`) has labels and annotations that are
        storable as they are and never change: they are stored without cleaning."""
        pending = self.repeats.get(alert_id)
        count = times if pending is None else pending.times + times
        if getattr(event, "maps_clean", False):
            self.repeats[alert_id] = Repeat(alert_id, count, event.labels, event.annotations)
        else:
            self.repeats[alert_id] = Repeat(
                alert_id, count, clean_map(event.labels), clean_map(event.annotations)
            )

    def _write_repeats(self) -> None:
        write_repeats(self.session, repeats=list(self.repeats.values()), seen=self.now)
        identities = self.session.identity_map
        for mapped, ident, *_ in list(identities.keys()):  # held rows of counted alerts go stale
            if mapped is Alert and ident[0] in self.repeats:
                held = identities.get((mapped, ident, *_))
                if held is not None:
                    self.session.expire(held, _COUNTED_COLUMNS)

    def _alert(self, key: str) -> Alert | None:
        """The ORM row for ``key`` (with counts still pending on the hot path folded in)."""
        alert = self.loaded.get(key)
        if alert is None and key in self.known:
            alert = self.session.get(Alert, self.known[key].id)
            if alert is not None:
                pending = self.repeats.pop(alert.id, None)
                if pending is not None:
                    alert.occurrences += pending.times
                    alert.last_seen_at = self.now
                    alert.labels = dict(pending.labels)  # the row's own: it may change
                    alert.annotations = dict(pending.annotations)
                self.loaded[key] = alert
        return alert

    # ------------------------------------------------------------ events

    def _acknowledge(self, alert: Alert | None) -> tuple[int | None, Outcome, int | None]:
        if alert is None:
            return None, IngestNote.unknown_alert, None
        alert.last_seen_at = self.now
        source = alert.labels.get("source") or self.integration.name
        acknowledge_for(self.ctx, alert, f"pagerduty:{source}"[:100])
        return alert.id, IngestNote.acknowledged, alert.incident_id

    def _resolve(
        self, key: str, alert: Alert | None, event: InboundAlert
    ) -> tuple[int | None, Outcome, int | None]:
        if alert is None:  # never seen firing (e.g. from before Tocsin): stored as history
            alert = self._new_alert(key, event, self._triaged(event), status="resolved")
            alert.outcome = AlertOutcome.resolved.value
            return alert.id, AlertOutcome.resolved, None
        alert.last_seen_at = self.now
        if alert.status == "resolved":
            return alert.id, AlertOutcome.resolved, alert.incident_id
        alert.status = "resolved"
        alert.resolved_at = self.now
        alert.ends_at = event.ends_at or self.now
        flapping = self._transition(alert)
        if flapping and not alert.flapping:
            mark_flapping(self.ctx, alert)
        alert.flapping = flapping
        resolve_incidents(self.ctx, alert)
        return alert.id, AlertOutcome.resolved, alert.incident_id

    def _trigger(
        self, index: int, key: str, alert: Alert | None, event: InboundAlert
    ) -> tuple[int | None, Outcome, int | None]:
        triage = self.triage.get(index) or self._triaged(event)
        newly_flapping = False
        if alert is None:
            alert = self._new_alert(key, event, triage, status="firing")
        elif alert.status == "firing":  # a repeat that needs more than a count
            alert.occurrences += 1
            alert.last_seen_at = self.now
            alert.labels, alert.annotations = clean_map(event.labels), clean_map(event.annotations)
            if alert.outcome not in MUTED or triage.muted is not None:
                self._ping(alert, triage)
                if alert.outcome in MUTED:
                    self._mute(alert, triage)  # still muted (perhaps by another silence)
                return alert.id, AlertOutcome.deduplicated, alert.incident_id
            self._apply_route(alert, triage)  # its silence ended: judge it now
        else:  # resolved, and firing again
            self._refire(alert, event, triage)
            flapping = self._transition(alert)
            newly_flapping = flapping and not alert.flapping
            alert.flapping = flapping
        self._ping(alert, triage)
        if newly_flapping and triage.muted is None and triage.chosen.open_incident:
            mark_flapping(self.ctx, alert)
        self._decide(index, alert, triage)
        return alert.id, _outcome(alert.outcome), alert.incident_id

    # ------------------------------------------------------------ deciding

    def _decide(self, index: int, alert: Alert, triage: Triage) -> None:
        ghash = group_hash(alert.group_key)
        if triage.muted is not None:
            self._mute(alert, triage)
            return
        alert.silenced_by = None
        chosen = triage.chosen
        if not chosen.open_incident:
            alert.outcome = AlertOutcome.no_incident_route.value
            return
        if alert.flapping:
            place_flapping(self.ctx, alert, ghash)
            return
        cascade = self.absorbed.get(index)
        if cascade is not None:
            join_cascade(
                self.ctx,
                alert,
                ghash=cascade.ghash,
                services=cascade.services,
                origins=cascade.origins,
                members=cascade.members,
            )
            return
        if chosen.min_alerts > 1:
            alert.outcome = AlertOutcome.below_threshold.value
            since = self.now - chosen.within
            count = self.session.scalar(
                select(func.count())
                .select_from(Alert)
                .where(
                    Alert.route_path == alert.route_path,
                    Alert.fired_at >= since,
                    Alert.outcome.not_in((*MUTED, AlertOutcome.resolved.value)),
                    Alert.id.not_in([a.id for a in self.created.values()]),
                )
            )
            if not gate_open(count or 0, chosen.min_alerts):
                return
            place(self.ctx, alert, chosen, ghash, storms=self.storms)
            incident = self.ctx.incident(alert.incident_id)
            if incident is not None:
                attach_waiting(self.ctx, incident, alert, since)
            return
        place(self.ctx, alert, chosen, ghash, storms=self.storms)

    def _mute(self, alert: Alert, triage: Triage) -> None:
        assert triage.muted is not None
        outcome, by = triage.muted
        alert.outcome = outcome.value
        alert.silenced_by = by

    # ------------------------------------------------------------ routing

    def _triaged(self, event: InboundAlert) -> Triage:
        """The event's triage, made once per labels and severity hint in the run.

        Routing reads nothing else of an event, silencing and grouping only its
        labels, and the silences, maintenance windows and time are the same for the
        whole run; a batch that creates an alert often holds repeats of it, which
        take the full path and would otherwise be routed again each.
        """
        key = (tuple(event.labels.items()), event.severity_hint)
        triage = self._triages.get(key)
        if triage is None:
            triage = self._triages[key] = self.triager.triage(event)
        return triage

    def _apply_route(self, alert: Alert, triage: Triage) -> None:
        chosen = triage.chosen
        alert.service = chosen.service[:100] if chosen.service else None
        alert.severity = chosen.severity
        alert.route_path = route_text(chosen)
        alert.other_routes = [route_text(d) for d in triage.decisions if d is not chosen]
        alert.group_key = triage.group_key

    def _ping(self, alert: Alert, triage: Triage) -> None:
        decision = triage.heartbeat
        if decision is None or decision.heartbeat is None:
            alert.heartbeat_id = None
            return
        beat = heartbeats.route_ping(
            session=self.session,
            policy=self.policy,
            integration=self.integration,
            route_path=route_text(decision),
            interval=decision.heartbeat,
            service=decision.service,
            severity=decision.severity,
            escalation_policy=decision.escalation_policy,
            now=self.now,
        )
        alert.heartbeat_id = beat.id

    # ------------------------------------------------------------ storing

    def _insert_new(self, keys: Sequence[str], events: Sequence[InboundAlert]) -> None:
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
            if key in self.known or key in taken or event.action == "acknowledge":
                continue
            taken.add(key)
            status = "firing" if event.action == "trigger" else "resolved"
            triage = self.triage.get(index) or self._triaged(event)
            row = self._row(key, event, triage, status=status)
            storm = self._storm_member(index, triage) if once[key] == 1 else None
            if storm is None:
                rows.append(row)
                continue
            row["incident_id"], row["outcome"] = storm.id, AlertOutcome.attached.value
            members.setdefault(storm.id, []).append(row)
            storms[storm.id] = storm
        if rows:
            inserted = self.session.scalars(
                insert(Alert).returning(Alert, sort_by_parameter_order=True), rows
            ).all()
            for alert in inserted:
                self.created[alert.dedup_key] = alert
            self.ctx.fresh.update(alert.id for alert in inserted)
        for storm_id, joining in members.items():
            storm = storms[storm_id]
            ids = self.session.connection().execute(
                insert(Alert.__table__).returning(  # type: ignore[arg-type]
                    Alert.__table__.c.id, sort_by_parameter_order=True
                ),
                joining,
            )
            inserted_ids = [row.id for row in ids]
            for alert_id, row in zip(inserted_ids, joining, strict=True):
                self.decided[row["dedup_key"]] = (alert_id, storm.id, storm.number)
            self.storms.joined(
                storm,
                [
                    (alert_id, row["labels"], row["severity"])
                    for alert_id, row in zip(inserted_ids, joining, strict=True)
                ],
            )

    def _storm_member(self, index: int, triage: Triage) -> Incident | None:
        """The live storm a new firing joins as it is inserted, or None when it must be
        decided in its turn (anything but a plain new alert whose group feeds nothing)."""
        chosen = triage.chosen
        if (
            index not in self.triage  # not a new firing (see _look_ahead)
            or index in self.absorbed
            or triage.muted is not None
            or triage.heartbeat is not None
            or not chosen.open_incident
            or chosen.min_alerts > 1
        ):
            return None
        known = self.ctx.latest_links.get(group_hash(triage.group_key))
        if known is not None:
            return None  # its group has an incident: attach, reopen or follow in its turn
        return self.storms.live_storm(triage)

    def _row(self, key: str, event: InboundAlert, triage: Triage, *, status: str) -> dict[str, Any]:
        """A new alert's row, as :meth:`_build_alert` makes it."""
        chosen = triage.chosen
        now = self.now
        resolved = status == "resolved"
        return {
            "integration_id": self.integration.id,
            "source": event.source,
            "dedup_key": key,
            "status": status,
            "first_seen_at": now,
            "last_seen_at": now,
            "fired_at": now,
            "resolved_at": now if resolved else None,
            "occurrences": 1,
            "flapping": False,
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

    def _new_alert(self, key: str, event: InboundAlert, triage: Triage, *, status: str) -> Alert:
        alert = self.created.pop(key, None)
        if alert is None:
            alert = self._build_alert(key, event, triage, status=status)
            self.session.add(alert)
            self.session.flush()
            self.ctx.fresh.add(alert.id)
        self.loaded[key] = alert
        return alert

    def _build_alert(self, key: str, event: InboundAlert, triage: Triage, *, status: str) -> Alert:
        alert = Alert(
            integration_id=self.integration.id,
            source=event.source,
            dedup_key=key,
            status=status,
            first_seen_at=self.now,
            last_seen_at=self.now,
            fired_at=self.now,
            resolved_at=self.now if status == "resolved" else None,
            occurrences=1,
            flapping=False,
            # As _ping and _decide will set them: the row is inserted complete, not
            # inserted and then updated.
            transitions=[],
            silenced_by=None,
            heartbeat_id=None,
            outcome=AlertOutcome.deduplicated.value,  # replaced by the decision
        )
        self._fill(alert, event)
        self._apply_route(alert, triage)
        if status == "resolved":
            alert.ends_at = event.ends_at or self.now
        else:
            self._transition(alert)  # its first: never flapping
        return alert

    def _fill(self, alert: Alert, event: InboundAlert) -> None:
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

    def _refire(self, alert: Alert, event: InboundAlert, triage: Triage) -> None:
        alert.status = "firing"
        alert.fired_at = self.now
        alert.last_seen_at = self.now
        alert.resolved_at = None
        alert.occurrences += 1
        self._fill(alert, event)
        self._apply_route(alert, triage)

    # ------------------------------------------------------------ flapping

    def _transition(self, alert: Alert) -> bool:
        """Record a state change at now; True when the alert is flapping."""
        settings = self.policy.alerting
        window, k = settings.flapping_window, settings.flapping.transitions
        kept = [t for t in alert.transitions if datetime.fromisoformat(t) >= self.now - window]
        alert.transitions = [*kept[-(2 * k) :], self.now.isoformat()]
        return detect_flapping(
            [datetime.fromisoformat(t) for t in alert.transitions], self.now, window, k
        )

    # ------------------------------------------------------------ cascades

    def _look_ahead(self, keys: Sequence[str], events: Sequence[InboundAlert]) -> None:
        """Triage the batch's new firings up front and judge cascades over all of them."""
        candidates: list[tuple[int, str, Triage]] = []
        seen: set[str] = set()
        for index, (key, event) in enumerate(zip(keys, events, strict=True)):
            if event.action != "trigger" or key in seen:
                continue
            seen.add(key)
            row = self.known.get(key)
            if row is not None and row.status == "firing" and row.outcome not in MUTED:
                continue  # a repeat: it was judged when it fired
            self.triage[index] = self._triaged(event)
            candidates.append((index, key, self.triage[index]))
        if not candidates:
            return
        self.absorbed = self.triager.cascades(candidates)
        hashes = {group_hash(triage.group_key) for _, _, triage in candidates}
        preload_latest_links(self.ctx, hashes)
        self.storms.preview(
            triage
            for index, _, triage in candidates
            if index not in self.absorbed
            and triage.muted is None
            and triage.chosen.open_incident
            and triage.chosen.min_alerts <= 1
        )


def _outcome(value: str) -> Outcome:
    try:
        return AlertOutcome(value)
    except ValueError:
        return IngestNote(value)
