"""Incident tables and the API's pydantic schemas (IncidentCreate / Update / Read / List)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.db.base import Base, JSONValue, UTCDateTime
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus
from tocsin.schemas import WHOLE, Flag, Instant, OneOf, PlainText

# ---------------------------------------------------------------- tables

#: An open incident, in SQL, with its statuses written out: SQLite uses a partial index
#: only for a query whose WHERE repeats the index's condition with the same literal
#: values (never with bound parameters), so the index and its queries share this text.
OPEN_INCIDENT_SQL = "status IN ({})".format(", ".join(f"'{s.value}'" for s in ACTIVE_STATUSES))


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # The open incidents only (a few among a long history), for counting them.
        # Each filter of the incident list, in the list's order (newest first).
        Index("ix_incidents_status_number", "status", "number"),
        Index("ix_incidents_severity_number", "severity", "number"),
        Index(
            "ix_incidents_open_severity",
            "severity",
            sqlite_where=text(OPEN_INCIDENT_SQL),
            postgresql_where=text(OPEN_INCIDENT_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    severity: Mapped[str] = mapped_column(String(50), index=True)
    severity_rank: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    #: A rehearsal, set at declaration only (see :mod:`tocsin.incidents.drills`).
    drill: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: A drill pages the normal on-call (else only its responders).
    drill_pages_oncall: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    drill_responders: Mapped[list[str] | None] = mapped_column(JSONValue)
    #: Its pages' and timers' lane (see :mod:`tocsin.db.lanes`).
    lane: Mapped[str] = mapped_column(String(100), default="", server_default="")

    services: Mapped[list[IncidentService]] = relationship(
        cascade="all, delete-orphan", order_by="IncidentService.service", lazy="selectin"
    )
    roles: Mapped[list[IncidentRole]] = relationship(
        cascade="all, delete-orphan", order_by="IncidentRole.id", lazy="selectin"
    )


class IncidentService(Base):
    __tablename__ = "incident_services"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)

    __table_args__ = (Index("ix_incident_services_service_incident", "service", "incident_id"),)


class IncidentRole(Base):
    __tablename__ = "incident_roles"
    __table_args__ = (UniqueConstraint("incident_id", "role", "person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(50))
    person: Mapped[str] = mapped_column(String(100))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_by: Mapped[str] = mapped_column(String(100))


class IncidentEscalation(Base):
    """Where an incident's escalation stands. The timers themselves are jobs.

    `epoch` grows each time the escalation starts over (a reopen), so that timers of an
    earlier run, should one still fire, are recognised as stale and do nothing.
    """

    __tablename__ = "incident_escalations"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[str | None] = mapped_column(String(100))
    epoch: Mapped[int] = mapped_column(Integer, default=1)
    step: Mapped[int] = mapped_column(Integer, default=-1)
    state: Mapped[str] = mapped_column(String(20))
    repages: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TimelineEvent(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_events_incident_at", "incident_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(50))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)


class StatusUpdate(Base):
    __tablename__ = "status_updates"
    __table_args__ = (Index("ix_status_updates_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- schemas

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
Title = Field(min_length=1, max_length=300)
Message = Field(min_length=1, max_length=20_000)


class IncidentCreate(BaseModel):
    model_config = _STRICT

    title: PlainText = Title
    description: PlainText = Field(default="", max_length=50_000)
    severity: PlainText = Field(min_length=1, max_length=50)
    services: list[PlainText] = Field(default_factory=list, max_length=100)
    started_at: Instant | None = Field(default=None, description="When impact began.")
    drill: Flag = Field(
        default=False,
        description="A rehearsal: never on the status page, never to stakeholders or "
        "outside systems, in no metric; pages only `drill_responders` (or the on-call "
        "with `drill_pages_oncall`), each message marked [DRILL]. Set only here.",
    )
    drill_responders: list[PlainText] = Field(
        default_factory=list, max_length=50, description="The people a drill pages."
    )
    drill_pages_oncall: Flag = Field(
        default=False, description="A drill pages the normal on-call and escalates."
    )

    @model_validator(mode="after")
    def _drill_only(self) -> IncidentCreate:
        if not self.drill and (self.drill_responders or self.drill_pages_oncall):
            field = "drill_responders" if self.drill_responders else "drill_pages_oncall"
            raise ValueError(f"{field} needs drill: true")
        return self


RoleAssignment = PlainText | list[PlainText] | None


def _no_default(schema: dict[str, Any]) -> None:
    """No ``default: null`` in the document for a field that may not be null."""
    schema.pop("default", None)


_CORRECTABLE = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")


class IncidentUpdate(BaseModel):
    # A corrected time needs a reason, and a reason needs a corrected time.
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "dependentRequired": {name: ["reason"] for name in _CORRECTABLE},
            "dependentSchemas": {
                "reason": {"anyOf": [{"required": [name]} for name in _CORRECTABLE]}
            },
        },
    )

    title: PlainText | None = Field(default=None, min_length=1, max_length=300)
    description: PlainText | None = Field(default=None, max_length=50_000)
    severity: PlainText | None = Field(default=None, min_length=1, max_length=50)
    services: list[PlainText] | None = Field(default=None, max_length=100)
    roles: dict[PlainText, RoleAssignment] | None = Field(
        default=None,
        description='Role -> person, list of people, or null to clear: {"commander": "alice"}',
    )
    started_at: Instant | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_no_default, description="Correct when impact began."
    )
    detected_at: Instant | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_no_default, description="Correct when it was noticed."
    )
    acknowledged_at: Instant | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_no_default,
        description="Correct the first acknowledgement (a reached milestone).",
    )
    mitigated_at: Instant | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_no_default,
        description="Correct when impact was mitigated (a reached milestone).",
    )
    resolved_at: Instant | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_no_default,
        description="Correct when it was resolved (a reached milestone).",
    )
    reason: Annotated[PlainText, Field(min_length=1, max_length=2000)] | SkipJsonSchema[None] = (
        Field(
            default=None,
            json_schema_extra=_no_default,
            description="Why the times are corrected; required with any of them, on the timeline.",
        )
    )

    def corrections(self) -> dict[str, datetime]:
        """The times this PATCH corrects."""
        return {f: v for f in _CORRECTABLE if (v := getattr(self, f)) is not None}

    @model_validator(mode="after")
    def _reason_with_times(self) -> IncidentUpdate:
        given = [name for name in (*_CORRECTABLE, "reason") if name in self.model_fields_set]
        for name in given:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: cannot be null; leave it out to keep it")
        if "reason" in given and len(given) == 1:
            raise ValueError("reason: goes with a timestamp correction only")
        if given and "reason" not in given:
            raise ValueError("reason: a timestamp correction needs a reason")
        return self


class TransitionRequest(BaseModel):
    model_config = _STRICT

    message: PlainText | None = Field(default=None, min_length=1, max_length=20_000)
    public: Flag = False


class AcknowledgeRequest(BaseModel):
    model_config = _STRICT

    on_behalf_of: list[PlainText] = Field(
        default_factory=list,
        max_length=10,
        description="Other people acknowledging together with the caller (a pair).",
    )


class EscalateRequest(BaseModel):
    model_config = _STRICT

    tier: Annotated[int, Field(ge=1, le=50), WHOLE] | None = Field(
        default=None, description="1-based; default: next"
    )
    reason: PlainText | None = Field(default=None, max_length=2000)


class ReassignRequest(BaseModel):
    model_config = _STRICT

    person: PlainText = Field(min_length=1, max_length=100)
    note: PlainText | None = Field(
        default=None, max_length=1000, description="Sent with the page and kept on the timeline."
    )


class StatusUpdateCreate(BaseModel):
    model_config = _STRICT

    status: Annotated[str, OneOf(tuple(IncidentStatus), "status", padded=True)] | None = Field(
        default=None, description="Move the incident to this status too (if it may go there)."
    )
    message: PlainText = Message
    public: Flag = False


class IncidentRead(BaseModel):
    id: str
    number: int
    title: str
    description: str
    status: str
    severity: str
    severity_rank: int
    services: list[str]
    tags: list[str]
    roles: dict[str, list[str]]
    started_at: datetime | None
    detected_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: str
    allowed_transitions: list[str]
    drill: bool = False
    drill_responders: list[str] = Field(default_factory=list)
    drill_pages_oncall: bool = False


class IncidentList(BaseModel):
    items: list[IncidentRead]
    total: int | None = Field(
        description="How many incidents match the filters; null on a page read with `after` "
        "(a walk by cursor is counted once, on its first page, so a page costs the same "
        "however long the history). A server counts a filter once until an incident is "
        "opened or deleted or changes status, severity or services, in any process."
    )
    limit: int
    offset: int
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `after` for the next page (None: this page is the last).",
    )


class StatusUpdateRead(BaseModel):
    id: int
    incident_id: str
    status: str
    message: str
    public: bool
    actor: str
    created_at: datetime


class StatusUpdateList(BaseModel):
    items: list[StatusUpdateRead]


class TimelineEventRead(BaseModel):
    id: int
    at: datetime
    actor: str
    kind: str
    summary: str
    data: dict[str, Any]


class TimelineList(BaseModel):
    items: list[TimelineEventRead]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `after` for the next page (None: this page is the last).",
    )
