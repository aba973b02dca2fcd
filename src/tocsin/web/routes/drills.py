"""Drills: the drills section of the metrics (``/api/v1/metrics/drills``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tocsin.metrics.drills import DrillsSummary, drills_summary
from tocsin.metrics.service import parse_window
from tocsin.web.deps import NowClock, SessionDep, Viewer

__all__ = ["router"]

router = APIRouter(tags=["drills"])


@router.get("/api/v1/metrics/drills")
def drills(
    session: SessionDep,
    clock: NowClock,
    _principal: Viewer,
    window: Annotated[str, Query(description="Look-back, e.g. 30d, 90d, 365d.")] = "90d",
) -> DrillsSummary:
    """The drills declared in the window: count, time to acknowledge and to mitigate
    (seconds from the declaration, null = not yet), and who took part. Drills count in
    no other metric."""
    return drills_summary(session=session, now=clock.now(), window=parse_window(window))
