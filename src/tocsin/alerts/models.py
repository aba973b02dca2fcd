"""Alert tables and their API schemas: integrations (inbound keys), alerts, the links
between alerts and incidents, silences and heartbeats.

Times are UTC (:class:`UTCDateTime`); label maps and payloads are JSON. An
integration's key is a secret: only its SHA-256 and a short prefix are stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, JSONValue, UTCDateTime
from tocsin.schemas import Instant, PlainText

__all__ = [
    "INTEGRATION_KINDS",
    "Alert",
    "AlertLink",
    "AlertList",
    "AlertRead",
    "Heartbeat",
    "Integration",
    "IntegrationCreated",
    "IntegrationRead",
    "SilenceCreate",
    "SilenceList",
    "SilenceRead",
    "SilenceRecord",
    "StormRead",
]

#: What an integration receives. ``heartbeat`` integrations receive pings only;
#: ``changes`` integrations receive changes only (deploys, GitHub deployment statuses).
INTEGRATION_KINDS: tuple[str, ...] = (
    "alertmanager",
    "grafana",
    "pagerduty",
    "opsgenie",
    "generic",
    "heartbeat",
    "changes",
)

# ---------------------------------------------------------------- tables


class Integration(Base):
    """An inbound endpoint's identity: who may send alerts, for which service."""

    __tablename__ = "integrations"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('alertmanager', 'grafana', 'pagerduty', 'opsgenie', 'generic', "
            "'heartbeat', 'changes')",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    service: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    #: Heartbeat integrations: a ping is expected at least this often (seconds).
    heartbeat_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Heartbeat(Base):
    """A dead man's switch: pings expected every ``interval_seconds``.

    One per heartbeat integration (``name`` empty) and one per integration and
    ``heartbeat`` route (``name`` = the route's path). The timer is a
    ``heartbeat_missed`` job; ``incident_id`` is the open "missed" incident, which the
    next ping resolves.
    """

    __tablename__ = "heartbeats"
    __table_args__ = (UniqueConstraint("integration_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    service: Mapped[str | None] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(50))
    escalation_policy: Mapped[str | None] = mapped_column(String(100))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    last_ping_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))


class Alert(Base):
    """One alert, identified by its dedup key within its integration.

    A repeat while it fires counts an occurrence; a firing after it resolved is a new
    firing of the same row (``fired_at`` moves, ``transitions`` records it for flapping
    detection). ``outcome`` says why its latest firing did or did not page.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("integration_id", "dedup_key"),
        # Covers the cascade count (firing alerts per service in a window) on its own.
        Index("ix_alerts_status_fired", "status", "fired_at", "outcome", "service"),
        Index("ix_alerts_service_fired", "service", "fired_at"),
        Index("ix_alerts_service_status_fired", "service", "status", "fired_at", "outcome"),
        Index("ix_alerts_route_fired", "route_path", "fired_at"),
        Index("ix_alerts_fired", "fired_at"),
        CheckConstraint("status IN ('firing', 'resolved')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    service: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20))
    dedup_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10))
    severity: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSONValue, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSONValue, default=dict)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSONValue, default=list)
    source_url: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the current (or last) firing began, as Tocsin received it.
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: A PagerDuty ``acknowledge`` of this alert; it covers the firing that began at
    #: ``fired_at`` only (a later firing is unacknowledged again).
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Injected by a game day: it correlates only with the drill's other alerts.
    drill: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Recent fire/resolve instants (ISO 8601), pruned to the flapping window.
    transitions: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    #: ``silence:<id>`` or ``maintenance:<service>`` while muted.
    silenced_by: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(30))
    #: The route that decided (``default/checkout``); the noise gate counts by it.
    route_path: Mapped[str] = mapped_column(String(500))
    #: Other routes that matched too (``continue: true``).
    other_routes: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    group_key: Mapped[str] = mapped_column(Text)
    raw: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    heartbeat_id: Mapped[int | None] = mapped_column(
        ForeignKey("heartbeats.id", ondelete="SET NULL")
    )


class AlertLink(Base):
    """An alert attached to an incident, and the group it was attached as.

    ``group_hash`` identifies the alert group (or a cascade's group of services); the
    newest link of a group names the incident that group is currently feeding.
    """

    __tablename__ = "alert_links"
    __table_args__ = (
        UniqueConstraint("incident_id", "alert_id"),
        Index("ix_alert_links_group", "group_hash", "linked_at"),
        Index("ix_alert_links_alert", "alert_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    #: opened | attached | reopened | cascade | gate
    reason: Mapped[str] = mapped_column(String(20))
    group_hash: Mapped[str] = mapped_column(String(32))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SilenceRecord(Base):
    """A stored silence (the pure :class:`tocsin.alerts.rules.Silence` is built from it)."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    matchers: Mapped[list[str]] = mapped_column(JSONValue)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- schemas


class AlertRead(BaseModel):
    id: int
    integration: str
    service: str | None
    source: str
    dedup_key: str
    status: str
    severity: str
    title: str
    summary: str
    labels: dict[str, str]
    annotations: dict[str, str]
    links: list[dict[str, str]]
    source_url: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    fired_at: datetime
    resolved_at: datetime | None
    acknowledged_at: datetime | None = Field(
        default=None, description="When a PagerDuty acknowledge covered its current firing."
    )
    occurrences: int
    flapping: bool
    silenced_by: str | None
    outcome: str
    route_path: str
    other_routes: list[str]
    group_key: str
    incident: str | None = Field(description="INC-n the alert is attached to, if any.")
    raw: Any = Field(default=None, description="The alert as received (single reads only).")


class AlertList(BaseModel):
    items: list[AlertRead]
    total: int
    limit: int
    offset: int


class SilenceCreate(BaseModel):
    """The body of ``POST /api/v1/silences``; the author comes from the caller's token."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    matchers: list[PlainText] = Field(
        min_length=1,
        max_length=50,
        description='Label matchers as in Alertmanager, e.g. ["service=checkout", '
        "'alertname=~\"High.*\"']; all must match.",
    )
    starts_at: Instant | None = Field(default=None, description="Default: now.")
    ends_at: Instant
    comment: PlainText = Field(default="", max_length=2000)


class SilenceRead(BaseModel):
    id: int
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    expired_at: datetime | None
    state: str = Field(description="pending, active or expired (at the time of reading).")


class SilenceList(BaseModel):
    items: list[SilenceRead]


class IntegrationRead(BaseModel):
    """An integration as shown to users; never carries the key itself."""

    id: int
    name: str
    service: str
    kind: str
    key_prefix: str = Field(description="The key's first characters, to tell keys apart.")
    heartbeat_interval_seconds: int | None
    created_at: datetime
    last_seen_at: datetime | None
    disabled_at: datetime | None


class IntegrationCreated(IntegrationRead):
    """The answer to creating an integration: the only time the key is shown."""

    key: str


class StormCount(BaseModel):
    name: str
    alerts: int


class StormRead(BaseModel):
    """What an alert-storm incident is made of."""

    scope: str = Field(description="`service:<name>` or `integration:<id>`.")
    alerts: int = Field(description="Alerts in the storm (merged ones included).")
    top_alertnames: list[StormCount]
    top_label_values: list[StormCount] = Field(description="`label=value` and its alerts.")
    merged: list[str] = Field(description="Incidents of the same burst merged into this one.")
    started_at: datetime
    updated_at: datetime
