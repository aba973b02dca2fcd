"""The checklist items attached to incidents, and the API's schemas for them.

One row per item: the list it belongs to is named on the row (``checklist``, with the
heading and owning role it had when attached), so an incident's checklists read in one
query. ``number`` is the item's number within the incident (``tocsin task done INC-7
3``), unique across all its lists. ``scope`` is the holder a handoff list was attached
for ("" otherwise): the unique key (incident, checklist, scope, position) is what makes
attaching a list twice impossible.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, UTCDateTime
from tocsin.schemas import PlainText

__all__ = [
    "ChecklistItem",
    "ChecklistItemRead",
    "ChecklistRead",
    "ItemState",
    "SkipRequest",
    "TaskList",
]


class ItemState(StrEnum):
    open = "open"
    done = "done"
    skipped = "skipped"


class ChecklistItem(Base):
    __tablename__ = "checklist_items"
    __table_args__ = (
        UniqueConstraint("incident_id", "number"),
        UniqueConstraint("incident_id", "checklist", "scope", "position"),
        CheckConstraint("state IN ('open', 'done', 'skipped')", name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    checklist: Mapped[str] = mapped_column(String(100))
    heading: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(50))
    scope: Mapped[str] = mapped_column(String(100), default="")
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(300))
    done_when: Mapped[str | None] = mapped_column(String(50))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(10), default=ItemState.open.value)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(1000))
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChecklistItemRead(BaseModel):
    number: int = Field(description="Its number within the incident: `tocsin task done INC-7 N`.")
    text: str
    state: ItemState
    due_at: datetime | None = Field(description="When it is due, if it has a deadline.")
    overdue: bool = Field(description="Still open after its due time.")
    done_when: str | None = Field(description="The event that ticks it by itself.")
    settled_at: datetime | None = Field(description="When it was ticked or skipped.")
    settled_by: str | None = Field(description="Who ticked or skipped it (tocsin: an event).")
    reason: str | None = Field(description="Why it was skipped.")


class ChecklistRead(BaseModel):
    name: str
    heading: str
    role: str | None = Field(description="The role that owns it (its holder is reminded).")
    holder: str | None = Field(description="For a handoff list: who it was attached for.")
    required_to_resolve: bool = Field(description="Resolving waits until every item is settled.")
    items: list[ChecklistItemRead]


class TaskList(BaseModel):
    incident: str
    open: int = Field(description="Items neither ticked nor skipped.")
    checklists: list[ChecklistRead]


class SkipRequest(BaseModel):
    reason: PlainText = Field(
        min_length=1, max_length=1000, description="Why the item does not apply."
    )
