"""Runs of diagnostic collectors and remediation playbooks, their steps, and the API's
schemas.

One table holds both kinds of run (``kind``): a diagnostic run is queued, runs and ends;
a playbook run starts as a proposal (or a trigger still to be checked), is approved or
declined, then runs like a diagnostic. The run table is also the executor's queue: a
worker claims a queued run (``claimed_by``, ``lease_until``), and a run whose worker
died is marked interrupted, never started again by itself.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, JSONValue, UTCDateTime
from tocsin.schemas import PlainText

__all__ = [
    "DiagnoseRequest",
    "RunKind",
    "RunList",
    "RunRead",
    "RunState",
    "RunbookRun",
    "RunbookStep",
    "StepRead",
]


class RunKind(StrEnum):
    diagnostic = "diagnostic"
    playbook = "playbook"


class RunState(StrEnum):
    #: A playbook whose PromQL trigger the executor checks before proposing it.
    checking = "checking"
    #: A playbook whose trigger did not hold: nothing to propose.
    not_triggered = "not_triggered"
    proposed = "proposed"
    declined = "declined"
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    interrupted = "interrupted"


#: A run in one of these states is claimed by the executor.
CLAIMABLE = (RunState.queued.value, RunState.checking.value)
#: The states in which a run is over.
FINISHED = (
    RunState.done.value,
    RunState.failed.value,
    RunState.interrupted.value,
    RunState.declined.value,
    RunState.not_triggered.value,
)


class RunbookRun(Base):
    __tablename__ = "runbook_runs"
    __table_args__ = (
        Index("ix_runbook_runs_state", "state", "id"),
        Index("ix_runbook_runs_incident", "incident_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The steps as rendered when the run was created (what a proposal shows).
    rendered: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, default=list)
    note: Mapped[str] = mapped_column(Text, default="")


class RunbookStep(Base):
    __tablename__ = "runbook_steps"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runbook_runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    display: Mapped[str] = mapped_column(Text, default="")
    #: running | ok | failed | timeout | error | skipped | interrupted
    state: Mapped[str] = mapped_column(String(20))
    exit_status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    output: Mapped[str] = mapped_column(Text, default="")
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- schemas


class DiagnoseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    collector: PlainText | None = Field(
        default=None,
        max_length=100,
        description="One collector of the policy; none = every collector that fits the "
        "incident's services and severity.",
    )


class StepRead(BaseModel):
    position: int
    name: str
    kind: str
    display: str
    state: str
    exit_status: int | None
    duration_ms: int | None
    output: str
    truncated: bool
    data: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None


class RunRead(BaseModel):
    id: int
    incident: str
    kind: str
    name: str
    state: str
    requested_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    note: str
    planned: list[dict[str, Any]] = Field(description="The steps as rendered for this run.")
    steps: list[StepRead]


class RunList(BaseModel):
    items: list[RunRead]
