"""``IncidentResponseSystem``: Tocsin's incident services behind a small script
interface, on an embedded SQLite database (no server).

Every call is one transaction through the same service functions the API uses:
declaring pages the on-call person (the page waits in the outbox, as it would for a
delivery worker), moving the status follows the lifecycle's rules (an illegal move
answers False), escalating pages the next tier of the escalation policy, the metrics
are Tocsin's metrics summary, and the post-incident review is Tocsin's post-mortem.

Time is the wall clock, except that a script may say that something happened later
than now (``incident.resolved_at = incident.created_at + timedelta(minutes=30)``): the
system's clock then moves forward to that instant, as if the script had waited, so
that the time is recorded as it would have been and nothing is ever in the future.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.clock import Clock, SystemClock
from tocsin.compat.objects import Incident, IncidentStatus, IncidentTimeline, SeverityLevel
from tocsin.compat.reports import incident_report, mttr_metrics
from tocsin.db import SessionFactory, create_db_engine, session_scope
from tocsin.db.migrate import upgrade
from tocsin.errors import Conflict, NotFound, TocsinError
from tocsin.incidents import corrections
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident as IncidentRow
from tocsin.incidents.models import IncidentCreate, IncidentRead, StatusUpdateCreate
from tocsin.incidents.paging.responder_controls import escalate_now
from tocsin.incidents.rules import IncidentStatus as Lifecycle
from tocsin.metrics.service import metrics_summary
from tocsin.policy import Policy, PolicyStore, example_policy_text, parse_policy
from tocsin.postmortems import service as postmortems
from tocsin.postmortems.models import PostmortemRead
from tocsin.wiring import wire

__all__ = ["IncidentResponseSystem", "ScriptClock"]

#: The reason recorded when a script sets a time.
SCRIPT_REASON = "set by a script"
#: Channels whose messages are public status updates; the others are internal.
PUBLIC_CHANNELS = frozenset({"status_page", "statuspage", "public", "customers"})
_MILESTONE_TARGET = {
    "acknowledged_at": Lifecycle.acknowledged,
    "mitigated_at": Lifecycle.monitoring,
    "resolved_at": Lifecycle.resolved,
}


class ScriptClock:
    """The wall clock, or a later instant a script moved it to (never backwards)."""

    def __init__(self, base: Clock | None = None) -> None:
        self.base = base or SystemClock()
        self.floor: datetime | None = None

    def now(self) -> datetime:
        now = self.base.now()
        return now if self.floor is None or now >= self.floor else self.floor

    def reach(self, instant: datetime) -> None:
        if instant > self.now():
            self.floor = instant


class _Incidents(Mapping[str, Incident]):
    """``system.incidents``: every incident in the database, by ``INC-n``."""

    def __init__(self, system: IncidentResponseSystem) -> None:
        self._system = system

    def __getitem__(self, ref: str) -> Incident:
        if not isinstance(ref, str) or self._system.find(ref) is None:
            raise KeyError(ref)
        return Incident(self._system, self._system.find(ref) or ref)

    def __iter__(self) -> Iterator[str]:
        return iter(self._system.refs())

    def __len__(self) -> int:
        return len(self._system.refs())


class IncidentResponseSystem:
    """Incident response on an embedded database.

    ``database_url`` defaults to a new SQLite file in a temporary directory (removed
    when the process exits); ``policy`` is a policy file (default: the example
    policy). A service a script names that the policy lacks is added to this system's
    policy, paged through the ``default`` escalation policy.
    """

    def __init__(
        self,
        database_url: str | None = None,
        policy: Path | str | None = None,
        clock: Clock | None = None,
    ) -> None:
        wire()
        if database_url is None:
            directory = Path(tempfile.mkdtemp(prefix="tocsin-"))
            atexit.register(shutil.rmtree, directory, True)
            database_url = f"sqlite:///{directory / 'tocsin.db'}"
        engine = create_db_engine(database_url)
        upgrade(engine)
        self.sessions = SessionFactory(engine)
        self.clock = ScriptClock(clock)
        text = Path(policy).read_text(encoding="utf-8") if policy else example_policy_text()
        self._policy_text = text
        self.policy = PolicyStore.from_policy(parse_policy(text))
        self.incidents: Mapping[str, Incident] = _Incidents(self)

    # -- the interface -------------------------------------------------------------------

    @property
    def escalation_rules(self) -> dict[str, Any]:
        """Each tier's timeout in minutes, of the policy named ``default``."""
        policy = self._policy()
        chosen = policy.escalation_policy("default") or (
            policy.escalation_policies[0] if policy.escalation_policies else None
        )
        rules: dict[str, Any] = {}
        for index, tier in enumerate(chosen.tiers if chosen else (), start=1):
            rules[f"tier{index}_timeout"] = int(tier.timeout.total_seconds() // 60)
        rules["auto_escalate"] = chosen is not None
        return rules

    @property
    def severity_config(self) -> dict[SeverityLevel, dict[str, int]]:
        """Response and escalation times in minutes, from the policy's severities."""
        config: dict[SeverityLevel, dict[str, int]] = {}
        for level in SeverityLevel:
            severity = self._policy().severity(level.policy_name)
            if severity is not None:
                config[level] = {
                    "response_time": int(severity.respond_within.total_seconds() // 60),
                    "escalation_time": int(severity.escalate_after.total_seconds() // 60),
                }
        return config

    def create_incident(
        self,
        title: str,
        description: str,
        severity: SeverityLevel,
        reporter: str,
        affected_services: list[str] | None = None,
    ) -> str:
        """Declare an incident (paging its on-call); its ``INC-n``."""
        services = list(affected_services or [])
        self._know_services(services)
        data = IncidentCreate(
            title=title, description=description, severity=severity.policy_name, services=services
        )
        with self._session() as session:
            incident = incidents.declare(
                session=session, policy=self._policy(), actor=reporter, data=data, now=self._now()
            )
            return incidents.to_read(incident).id

    def update_incident_status(
        self, incident_id: str, new_status: IncidentStatus, actor: str, notes: str = ""
    ) -> bool:
        """Move the incident (with ``notes`` as an internal update); False when it does
        not exist or may not move there."""
        return self.move(incident_id, new_status, actor=actor, notes=notes)

    def escalate_incident(self, incident_id: str, escalation_reason: str, actor: str) -> bool:
        """Page the next tier now; False when there is nobody to escalate to."""
        try:
            with self._session() as session:
                paged = escalate_now(
                    session=session,
                    policy=self._policy(),
                    incident=self._row(session, incident_id),
                    now=self._now(),
                    actor=actor,
                    reason=escalation_reason,
                )
        except (NotFound, Conflict):
            return False
        return bool(paged)

    def add_communication(self, incident_id: str, message: str, channel: str, actor: str) -> bool:
        """A status update: public for the status page's channels, internal otherwise."""
        data = StatusUpdateCreate(message=message, public=channel.lower() in PUBLIC_CHANNELS)
        try:
            with self._session() as session:
                incidents.post_update(
                    session=session,
                    policy=self._policy(),
                    incident=self._row(session, incident_id),
                    actor=actor,
                    data=data,
                    now=self._now(),
                )
        except NotFound:
            return False
        return True

    def generate_incident_report(self, incident_id: str) -> str:
        if self.find(incident_id) is None:
            return "Incident not found"
        return incident_report(self.incidents[incident_id], self._now())

    def calculate_mttr_metrics(self, time_period_days: int = 30) -> dict[str, Any]:
        """Time to resolve over the last ``time_period_days`` days, from Tocsin's metrics
        (by severity, with each severity's resolution target from the policy)."""
        policy = self._policy()
        with self._session(write=False) as session:
            summary = metrics_summary(
                session=session,
                policy=policy,
                now=self._now(),
                window=timedelta(days=time_period_days),
            )
        return mttr_metrics(summary, policy, time_period_days)

    # -- what the incident views use -----------------------------------------------------

    def find(self, ref: str) -> str | None:
        """The ``INC-n`` of ``ref`` when that incident exists."""
        try:
            return self.read_incident(ref).id
        except (NotFound, TocsinError):
            return None

    def refs(self) -> list[str]:
        with self._session(write=False) as session:
            numbers = session.scalars(select(IncidentRow.number).order_by(IncidentRow.number))
            return [f"INC-{n}" for n in numbers]

    def read_incident(self, ref: str) -> IncidentRead:
        with self._session(write=False) as session:
            return incidents.to_read(incidents.get(session=session, ref=ref))

    def move(self, ref: str, status: IncidentStatus, *, actor: str, notes: str) -> bool:
        target = status.lifecycle
        try:
            with self._session() as session:
                incident = self._row(session, ref)
                if incident.status == target.value:
                    return True
                incidents.transition(
                    session=session,
                    policy=self._policy(),
                    incident=incident,
                    actor=actor,
                    target=target,
                    now=self._now(),
                    message=notes.strip() or None,
                )
        except (NotFound, Conflict):
            return False
        return True

    def set_time(self, ref: str, field: str, value: datetime) -> None:
        """Correct ``field`` (audited, with the script's reason); a milestone not yet
        reached is reached at that time."""
        instant = value.astimezone(UTC)  # a naive time is the machine's local time
        self.clock.reach(instant)
        read = self.read_incident(ref)
        target = _MILESTONE_TARGET.get(field)
        if target is not None and getattr(read, field) is None:
            with self._session() as session:
                incident = self._row(session, ref)
                incidents.transition(
                    session=session,
                    policy=self._policy(),
                    incident=incident,
                    actor="script",
                    target=target,
                    now=self._now(),
                )
            if getattr(self.read_incident(ref), field) == instant:
                return
        with self._session() as session:
            corrections.correct_times(
                session=session,
                incident=self._row(session, ref),
                changes={field: instant},
                reason=SCRIPT_REASON,
                actor="script",
                now=self._now(),
            )

    def assignee_of(self, ref: str) -> str | None:
        """The people paged last (escalating changes them), else the commander."""
        paged = [e for e in self.timeline_of(ref) if e.event == "paged"]
        if paged:
            return self._paged_people(ref, len(paged) - 1)
        commanders = self.read_incident(ref).roles.get("commander")
        return ", ".join(commanders) if commanders else None

    def timeline_of(self, ref: str) -> list[IncidentTimeline]:
        with self._session(write=False) as session:
            events = incidents.timeline(session=session, incident=self._row(session, ref))
            return [IncidentTimeline(e.at, e.kind, e.actor, e.summary) for e in events]

    def communications_of(self, ref: str) -> list[dict[str, str]]:
        with self._session(write=False) as session:
            updates = incidents.list_updates(session=session, incident=self._row(session, ref))
            return [
                {
                    "timestamp": u.created_at.isoformat(),
                    "message": u.message,
                    "channel": "status_page" if u.public else "incident_channel",
                    "actor": u.actor,
                }
                for u in updates
            ]

    def postmortem_of(self, ref: str) -> PostmortemRead:
        """The incident's post-mortem (drafted now if its resolution did not)."""
        policy = self._policy()
        with self._session() as session:
            incident = self._row(session, ref)
            try:
                pm = postmortems.get_by_incident(session=session, incident=incident)
            except NotFound:
                pm = postmortems.create(
                    session=session,
                    policy=policy,
                    incident=incident,
                    actor="script",
                    now=self._now(),
                )
            return postmortems.to_read(session=session, policy=policy, pm=pm, now=self._now())

    # -- plumbing ------------------------------------------------------------------------

    def _paged_people(self, ref: str, index: int) -> str | None:
        with self._session(write=False) as session:
            events = [
                e
                for e in incidents.timeline(session=session, incident=self._row(session, ref))
                if e.kind == "paged"
            ]
            people = events[index].data.get("people") or []
            return ", ".join(str(p) for p in people) or None

    def _now(self) -> datetime:
        return self.clock.now()

    def _policy(self) -> Policy:
        return self.policy.current

    @contextmanager
    def _session(self, *, write: bool = True) -> Iterator[Session]:
        with session_scope(self.sessions, write=write) as session:
            yield session

    @staticmethod
    def _row(session: Session, ref: str) -> IncidentRow:
        return incidents.get(session=session, ref=ref)

    def _know_services(self, names: list[str]) -> None:
        """Add the services the policy lacks (each paged through ``default``)."""
        missing = [n for n in dict.fromkeys(names) if self._policy().service(n) is None]
        if not missing:
            return
        entries = "".join(
            f"  - name: {name}\n    escalation_policy: default\n\n" for name in missing
        )
        marker = "\nservices:\n"
        if marker not in self._policy_text:
            raise ValueError("the policy has no services section to add services to")
        text = self._policy_text.replace(marker, marker + entries, 1)
        policy = parse_policy(text)  # refuses a bad service name, naming it
        self._policy_text = text
        self.policy = PolicyStore.from_policy(policy)
