"""Status page tables and the admin API's schemas.

Public rows have their own random ``code`` (the id customers see in URLs, feeds and the
JSON); the link to an internal incident (``incident_id``) and who wrote a row
(``created_by``) exist for responders and are never part of a public view.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.db.base import Base, JSONValue, UTCDateTime
from tocsin.policy.statuspage import Impact
from tocsin.schemas import Flag, Instant, PlainText
from tocsin.statuspage.rules import ComponentStatus, IncidentState, MaintenanceStatus

__all__ = [
    "MaintenanceCreate",
    "MaintenanceEdit",
    "MaintenanceList",
    "MaintenanceRead",
    "MaintenanceUpdate",
    "MaintenanceUpdateRead",
    "PublicUpdateCreate",
    "PublicUpdateRead",
    "ScheduledMaintenance",
    "StatusIncident",
    "StatusIncidentCreate",
    "StatusIncidentLink",
    "StatusIncidentList",
    "StatusIncidentRead",
    "StatusIncidentUpdate",
    "Subscriber",
]

# ---------------------------------------------------------------- tables

_STATES = ", ".join(f"'{s.value}'" for s in IncidentState)
_IMPACTS = ", ".join(f"'{i.value}'" for i in Impact)
_MAINTENANCE = ", ".join(f"'{s.value}'" for s in MaintenanceStatus)


class StatusIncident(Base):
    """A public incident. ``published_at`` None = a draft only responders see."""

    __tablename__ = "status_incidents"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATES})", name="status"),
        CheckConstraint(f"impact IN ({_IMPACTS})", name="impact"),
        Index("ix_status_incidents_published_resolved", "published_at", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), unique=True
    )
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    impact: Mapped[str] = mapped_column(String(20))
    #: component name -> current ComponentStatus value
    components: Mapped[dict[str, str]] = mapped_column(JSONValue, default=dict)
    #: every change of `components`: [[ISO time, component, new status], ...]; the
    #: impact windows that uptime is computed from
    component_history: Mapped[list[list[str]]] = mapped_column(JSONValue, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    monitoring_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))

    updates: Mapped[list[StatusIncidentUpdate]] = relationship(
        cascade="all, delete-orphan",
        order_by="StatusIncidentUpdate.id",
        lazy="selectin",
    )


class StatusIncidentLink(Base):
    """Another internal incident that a status-page incident is about. Automation links
    an incident whose components an open status-page incident already covers to that
    one, rather than opening a second public incident (and a second subscriber email)
    for the same components; the public incident is resolved when the last of them is."""

    __tablename__ = "status_incident_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    status_incident_id: Mapped[int] = mapped_column(
        ForeignKey("status_incidents.id", ondelete="CASCADE"), index=True
    )
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatusIncidentUpdate(Base):
    """One public update. ``source_update_id`` is the internal public update it mirrors,
    which makes mirroring idempotent."""

    __tablename__ = "status_incident_updates"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATES})", name="status"),
        Index("ix_status_incident_updates_incident", "status_incident_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    status_incident_id: Mapped[int] = mapped_column(
        ForeignKey("status_incidents.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    #: [{"name": ..., "old_status": ..., "new_status": ...}]
    affected_components: Mapped[list[dict[str, str]]] = mapped_column(JSONValue, default=list)
    deliver_notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    source_update_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_updates.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    display_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))


class ScheduledMaintenance(Base):
    """Planned work. With ``auto_transition`` its status follows the clock."""

    __tablename__ = "scheduled_maintenances"
    __table_args__ = (
        CheckConstraint(f"status IN ({_MAINTENANCE})", name="status"),
        Index("ix_scheduled_maintenances_window", "scheduled_for", "scheduled_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    components: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())
    scheduled_until: Mapped[datetime] = mapped_column(UTCDateTime())
    auto_transition: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))

    updates: Mapped[list[MaintenanceUpdate]] = relationship(
        cascade="all, delete-orphan", order_by="MaintenanceUpdate.id", lazy="selectin"
    )


class MaintenanceUpdate(Base):
    __tablename__ = "scheduled_maintenance_updates"
    __table_args__ = (
        CheckConstraint(f"status IN ({_MAINTENANCE})", name="status"),
        Index("ix_scheduled_maintenance_updates_maintenance", "maintenance_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    maintenance_id: Mapped[int] = mapped_column(
        ForeignKey("scheduled_maintenances.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))


class Subscriber(Base):
    """An email subscription. ``confirm_token`` is cleared when used (one-time);
    ``unsubscribe_token`` lasts as long as the row. Unsubscribing deletes the row, so
    no address is kept for someone who left."""

    __tablename__ = "status_subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    confirm_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirm_sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- schemas

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
Name = Field(min_length=1, max_length=300)
Body = Field(min_length=1, max_length=20_000)
ComponentName = PlainText
ComponentMap = dict[ComponentName, ComponentStatus]

_COMPONENTS_HELP = (
    "Affected components: a list of names (their state follows the impact) or "
    '{"name": "partial_outage", ...}.'
)


def _component_map(value: Any) -> Any:
    """A list of names is shorthand for a map whose states the impact decides (None)."""
    if isinstance(value, list):
        return {str(name): None for name in value}
    return value


class StatusIncidentCreate(BaseModel):
    model_config = _STRICT

    name: PlainText = Name
    status: IncidentState = IncidentState.investigating
    impact: Impact | None = Field(
        default=None, description="Default: the worst state among the components."
    )
    components: dict[ComponentName, ComponentStatus | None] = Field(
        default_factory=dict, description=_COMPONENTS_HELP
    )
    body: PlainText | None = Field(
        default=None,
        max_length=20_000,
        description="First update; default: the policy's template for the status.",
    )
    incident_id: PlainText | None = Field(
        default=None, description="Internal incident it is about (INC-12), for responders."
    )
    started_at: Instant | None = Field(default=None, description="When impact began.")
    draft: Flag = Field(default=False, description="Keep it off the page until published.")
    deliver_notifications: Flag = True

    @field_validator("components", mode="before")
    @classmethod
    def _list_to_map(cls, value: Any) -> Any:
        return _component_map(value)


def _given(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


class PublicUpdateCreate(BaseModel):
    model_config = ConfigDict(
        **_STRICT,
        json_schema_extra={"anyOf": [_given(n) for n in ("status", "body", "components")]},
    )

    status: IncidentState | None = Field(default=None, description="Default: unchanged.")
    body: PlainText | None = Field(
        default=None,
        max_length=20_000,
        description="Default: the policy's template for the status.",
    )
    impact: Impact | None = None
    components: dict[ComponentName, ComponentStatus | None] | None = Field(
        default=None, description=_COMPONENTS_HELP + " Components left out keep their state."
    )
    deliver_notifications: Flag = True

    @field_validator("components", mode="before")
    @classmethod
    def _list_to_map(cls, value: Any) -> Any:
        return _component_map(value)

    @model_validator(mode="after")
    def _something(self) -> PublicUpdateCreate:
        if self.status is None and self.body is None and self.components is None:
            raise ValueError("give at least one of status, body or components")
        return self


class PublicUpdateRead(BaseModel):
    id: str
    status: str
    body: str
    affected_components: list[dict[str, str]]
    deliver_notifications: bool
    created_at: datetime
    display_at: datetime
    created_by: str
    mirrored: bool = Field(description="Posted from a public update of the incident.")


class StatusIncidentRead(BaseModel):
    """The responders' view: includes the draft flag and the internal link."""

    id: str
    name: str
    status: str
    impact: str
    components: dict[str, str]
    draft: bool
    incident_id: str | None
    also_about: list[str] = Field(
        default_factory=list,
        description="Other incidents this public incident is about: automation links an "
        "incident on components it already covers instead of opening another one.",
    )
    started_at: datetime
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    monitoring_at: datetime | None
    resolved_at: datetime | None
    created_by: str
    url: str
    updates: list[PublicUpdateRead]


class StatusIncidentList(BaseModel):
    items: list[StatusIncidentRead]
    total: int


class MaintenanceCreate(BaseModel):
    model_config = _STRICT

    name: PlainText = Name
    body: PlainText = Body
    components: list[ComponentName] = Field(default_factory=list, max_length=200)
    scheduled_for: Instant
    scheduled_until: Instant
    auto_transition: Flag = Field(default=True, description="Start and complete with the clock.")

    @model_validator(mode="after")
    def _order(self) -> MaintenanceCreate:
        if self.scheduled_until <= self.scheduled_for:
            raise ValueError("scheduled_until must be after scheduled_for")
        return self


class MaintenanceEdit(BaseModel):
    model_config = _STRICT

    name: PlainText | None = Field(default=None, min_length=1, max_length=300)
    body: PlainText | None = Field(
        default=None, min_length=1, max_length=20_000, description="Posted as an update."
    )
    status: MaintenanceStatus | None = None
    components: list[ComponentName] | None = Field(default=None, max_length=200)
    scheduled_for: Instant | None = None
    scheduled_until: Instant | None = None
    auto_transition: Flag | None = None


class MaintenanceUpdateRead(BaseModel):
    id: str
    status: str
    body: str
    created_at: datetime
    created_by: str


class MaintenanceRead(BaseModel):
    id: str
    name: str
    status: str
    components: list[str]
    scheduled_for: datetime
    scheduled_until: datetime
    auto_transition: bool
    created_at: datetime
    updated_at: datetime
    created_by: str
    url: str
    updates: list[MaintenanceUpdateRead]


class MaintenanceList(BaseModel):
    items: list[MaintenanceRead]
    total: int
