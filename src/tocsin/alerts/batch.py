"""One ingest call's batch: the events of one integration and everything the stages
learn about them, in one object that every stage of :mod:`tocsin.alerts.stages`
reads and adds to (see :mod:`tocsin.alerts.pipeline` for the order of the stages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.alerts.hotpath import Known, Repeat
from tocsin.alerts.inbound import Action, InboundAlert
from tocsin.alerts.linking import Context, Outcome
from tocsin.alerts.models import Alert, Integration
from tocsin.alerts.storms import Storms
from tocsin.alerts.triage import CascadeJoin, Triage, Triager
from tocsin.incidents.drills import DrillPlan
from tocsin.incidents.rules import format_incident_id
from tocsin.policy import Policy

__all__ = ["Batch", "Handled", "IngestResult"]

#: (alert id, outcome, incident id, incident number when already known)
Handled = tuple[int | None, Outcome, int | None, int | None]


@dataclass(frozen=True)
class IngestResult:
    """What became of one event. ``incident`` is ``INC-n`` or None."""

    alert_id: int | None
    dedup_key: str
    action: Action
    outcome: Outcome
    incident: str | None


class Batch:
    """The state of one ingest call, shared by its stages."""

    def __init__(
        self,
        session: Session,
        policy: Policy,
        integration: Integration,
        now: datetime,
        drill: DrillPlan | None = None,
    ) -> None:
        self.session = session
        self.policy = policy
        self.integration = integration
        self.now = now
        self.ctx = Context(session, policy, integration, now, drill=drill)
        self.triager = Triager(self.ctx)
        self.storms = Storms(self.ctx)
        self.known: dict[str, Known] = {}
        self.loaded: dict[str, Alert] = {}
        self.repeats: dict[int, Repeat] = {}
        self.triage: dict[int, Triage] = {}
        self.absorbed: dict[int, CascadeJoin] = {}
        #: New alerts inserted ahead of their turn (see stages.store.insert_new), by dedup key.
        self.created: dict[str, Alert] = {}
        #: New alerts inserted as members of a live storm: (id, incident id, number).
        self.decided: dict[str, tuple[int, int, int]] = {}
        self._triages: dict[tuple[tuple[tuple[str, str], ...], str | None], Triage] = {}

    def triaged(self, event: InboundAlert) -> Triage:
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

    def alert(self, key: str) -> Alert | None:
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

    def incident_name(
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
