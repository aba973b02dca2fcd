"""Post-mortem and action-item tables, and the API's pydantic schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, JSONValue, UTCDateTime
from tocsin.postmortems.rules import ActionStatus
from tocsin.schemas import PADDING, Day, Flag, OneOf, PlainText, no_nul

__all__ = [
    "ActionItem",
    "ActionItemCreate",
    "ActionItemList",
    "ActionItemRead",
    "ActionItemUpdate",
    "BlamelessFindingRead",
    "ExternalLink",
    "PatternIncident",
    "PatternList",
    "PatternRead",
    "Postmortem",
    "PostmortemList",
    "PostmortemRead",
    "PostmortemSummary",
    "PostmortemUpdate",
    "SimilarIncident",
    "SimilarList",
]

# ---------------------------------------------------------------- tables


class Postmortem(Base):
    """One per incident. `sections` holds only what people wrote (Markdown by section);
    the rest of the document is generated from the incident when it is read, until
    publishing freezes every section into `sections`."""

    __tablename__ = "postmortems"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'in_review', 'published')", name="status"),
        CheckConstraint(
            "root_cause_category IS NULL OR root_cause_category IN "
            "('technical', 'process', 'human', 'external')",
            name="root_cause_category",
        ),
        Index("ix_postmortems_status_publish_due", "status", "publish_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(100), index=True)
    required: Mapped[bool] = mapped_column(Boolean)
    customer_impact: Mapped[bool] = mapped_column(Boolean)
    sections: Mapped[dict[str, str]] = mapped_column(JSONValue, default=dict)
    root_cause_category: Mapped[str | None] = mapped_column(String(20))
    root_cause_subcategory: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    draft_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    publish_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    drafted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))


class ActionItem(Base):
    """`rule` names the suggestion rule that proposed the item (null for people's items),
    so that a rule proposes its item once per post-mortem, even after it was dropped."""

    __tablename__ = "action_items"
    __table_args__ = (
        UniqueConstraint("postmortem_id", "rule"),
        CheckConstraint("priority IN ('p1', 'p2', 'p3', 'p4')", name="priority"),
        CheckConstraint(
            "status IN ('suggested', 'open', 'in_progress', 'done', 'dropped')", name="status"
        ),
        Index("ix_action_items_status_due", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(
        ForeignKey("postmortems.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str | None] = mapped_column(String(100), index=True)
    due_date: Mapped[date | None] = mapped_column(Date)
    priority: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20))
    link: Mapped[str | None] = mapped_column(String(2000))
    rule: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- schemas

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _http_link(value: str) -> str:
    if not value.lower().startswith(("http://", "https://")) or any(c.isspace() for c in value):
        raise ValueError("must be an http:// or https:// URL without spaces")
    return value


Link = Annotated[
    str,
    Field(pattern=f"^{PADDING}[hH][tT][tT][pP][sS]?://[^\\s\\x1c-\\x1f]*{PADDING}$"),
    AfterValidator(_http_link),
    AfterValidator(no_nul),
]
Priority = Annotated[str, Field(pattern=r"^[pP][1-4]$")]
Person = Annotated[PlainText, Field(min_length=1, max_length=100)]
Tag = Annotated[PlainText, Field(min_length=1, max_length=50)]


class PostmortemUpdate(BaseModel):
    """A PATCH: Markdown by section (null puts the generated text back), classification,
    tags (replacing the list) and owner."""

    model_config = _STRICT

    sections: dict[str, PlainText | None] | None = Field(
        default=None,
        description='Section -> Markdown, e.g. {"root_cause": "..."}; null restores the '
        "generated text.",
    )
    root_cause_category: PlainText | None = Field(
        default=None,
        max_length=150,
        description="technical, process, human or external; 'technical/deployment' also "
        "sets the sub-category.",
    )
    root_cause_subcategory: PlainText | None = Field(default=None, max_length=100)
    tags: list[Tag] | None = Field(default=None, max_length=50)
    owner: Person | None = None
    customer_impact: Flag | None = None


class ActionItemCreate(BaseModel):
    model_config = _STRICT

    title: PlainText = Field(min_length=1, max_length=300)
    owner: Person | None = None
    due_date: Day | None = None
    priority: Priority = "p3"
    link: Link | None = Field(default=None, max_length=2000)


class ActionItemUpdate(BaseModel):
    model_config = _STRICT

    title: PlainText | None = Field(default=None, min_length=1, max_length=300)
    owner: Person | None = None
    due_date: Day | None = None
    priority: Priority | None = None
    status: Annotated[str, OneOf(tuple(ActionStatus), "status", padded=True)] | None = Field(
        default=None,
        description="suggested items: open (accept) or dropped; then in_progress, done, "
        "dropped, open",
    )
    link: Link | None = Field(default=None, max_length=2000)


class ExternalLink(BaseModel):
    """An object in an outside system: a Jira issue's key and address."""

    key: str
    url: str | None


class ActionItemRead(BaseModel):
    id: int
    postmortem: str
    incident: str
    title: str
    owner: str | None
    due_date: date | None
    priority: str
    status: str
    link: str | None
    suggested_by: str | None
    reason: str
    overdue: bool
    allowed_statuses: list[str]
    created_at: datetime
    updated_at: datetime
    created_by: str
    completed_at: datetime | None
    jira: ExternalLink | None = Field(
        default=None, description="Its Jira issue, once pushed (tocsin actions sync-jira)."
    )


class ActionItemList(BaseModel):
    items: list[ActionItemRead]
    total: int


class BlamelessFindingRead(BaseModel):
    section: str
    sentence: str
    reason: str
    suggestion: str


class PostmortemSummary(BaseModel):
    id: str
    number: int
    incident: str
    title: str
    severity: str
    status: str
    owner: str | None
    required: bool
    customer_impact: bool
    root_cause_category: str | None
    root_cause_subcategory: str | None
    tags: list[str]
    due: dict[str, datetime | None]
    overdue: bool
    overdue_stages: list[str]
    overdue_since: datetime | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    published_at: datetime | None


class PostmortemRead(PostmortemSummary):
    allowed_transitions: list[str]
    created_by: str
    services: list[str]
    sections: dict[str, str]
    edited_sections: list[str]
    metrics: dict[str, float | int | bool | None]
    action_items: list[ActionItemRead]
    blameless_findings: list[BlamelessFindingRead]
    markdown: str


class PostmortemList(BaseModel):
    items: list[PostmortemSummary]
    total: int
    limit: int
    offset: int


class PatternIncident(BaseModel):
    incident: str
    postmortem: str
    title: str
    severity: str
    services: list[str]
    root_cause_category: str
    root_cause_subcategory: str | None
    created_at: datetime
    duration_minutes: float | None


class PatternRead(BaseModel):
    pattern: str
    description: str
    category: str
    subcategory: str | None
    occurrences: int
    services: list[str]
    first_seen: datetime
    last_seen: datetime
    average_duration_minutes: float | None
    incidents: list[PatternIncident]


class PatternList(BaseModel):
    days: int
    more_than: int
    items: list[PatternRead]


class SimilarIncident(BaseModel):
    incident: str
    title: str
    severity: str
    status: str
    services: list[str]
    detected_at: datetime
    resolved_at: datetime | None
    postmortem: str | None
    root_cause_category: str | None
    score: float
    text_score: float
    service_score: float
    shared_services: list[str]


class SimilarList(BaseModel):
    incident: str
    items: list[SimilarIncident]
