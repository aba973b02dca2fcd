"""The API's view of an incident's hints, links and recent changes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tocsin.changes.models import ChangeRead

__all__ = ["EvidenceRead", "HintRead", "IncidentHints", "LinkedIncident"]


class EvidenceRead(BaseModel):
    kind: str = Field(description="change, alert or incident.")
    ref: str = Field(description="What it is: `change 12`, `alert 40`, `INC-3`.")
    text: str
    href: str | None = Field(description="Where to see it, when there is a link.")


class HintRead(BaseModel):
    id: int
    rank: int = Field(description="1 = the most likely; 0 = no longer ranked (decided).")
    kind: str = Field(description="change, upstream, resource or similar.")
    confidence: float = Field(ge=0, le=1)
    explanation: str
    evidence: list[EvidenceRead]
    category: str = Field(description="The post-mortem root-cause category it gives.")
    status: str = Field(description="open, confirmed or rejected (ruled out).")
    decided_by: str | None
    decided_at: datetime | None
    computed_at: datetime


class LinkedIncident(BaseModel):
    incident: str
    title: str
    status: str
    reason: str = Field(description="Which dependency links them.")
    held: bool = Field(description="The downstream incident's pages waited for the upstream.")


class IncidentHints(BaseModel):
    incident: str
    hints: list[HintRead] = Field(description="Confirmed, then open by rank, then ruled out.")
    downstream_of: list[LinkedIncident] = Field(description="Upstream incidents of this one.")
    upstream_of: list[LinkedIncident] = Field(description="Incidents downstream of this one.")
    recent_changes: list[ChangeRead] = Field(
        description="Changes to its services and their dependencies, most recent first."
    )
