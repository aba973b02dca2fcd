"""Schedule overrides added at run time (the policy holds the schedules themselves)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, UTCDateTime
from tocsin.schemas import Instant, PlainText


class ScheduleOverride(Base):
    __tablename__ = "schedule_overrides"
    __table_args__ = (Index("ix_schedule_overrides_window", "schedule", "end_at", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule: Mapped[str] = mapped_column(String(100))
    person: Mapped[str] = mapped_column(String(100))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OverrideCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person: PlainText = Field(min_length=1, max_length=100)
    start: Instant
    end: Instant
    reason: PlainText = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _window(self) -> OverrideCreate:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class OverrideRead(BaseModel):
    id: int
    schedule: str
    person: str
    start: datetime
    end: datetime
    reason: str
    created_by: str
    created_at: datetime
