"""Drills: the drills section of the metrics (``/api/v1/metrics/drills``) and game days,
the policy's drill scenarios (``/api/v1/game-days``, ``/api/v1/game-days/{name}/run``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from tocsin.engine.game_days import GameDayRun, start_game_day
from tocsin.metrics.drills import DrillsSummary, drills_summary
from tocsin.metrics.service import parse_window
from tocsin.policy.game_days import GameDay
from tocsin.web.deps import CurrentPolicy, NowClock, Responder, SessionDep, Viewer
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

from tocsin.web.fields import DURATION_TEXT

router = APIRouter(route_class=RequestThreadRoute, tags=["drills"])


@router.get("/api/v1/metrics/drills")
def drills(
    session: SessionDep,
    clock: NowClock,
    _principal: Viewer,
    window: Annotated[
        str, Query(description="Look-back, e.g. 30d, 90d, 365d.", pattern=DURATION_TEXT)
    ] = "90d",
) -> DrillsSummary:
    """The drills declared in the window: count, time to acknowledge and to mitigate
    (seconds from the declaration, null = not yet), and who took part. Drills count in
    no other metric."""
    return drills_summary(session=session, now=clock.now(), window=parse_window(window))


class GameDayList(BaseModel):
    items: list[GameDay]


@router.get("/api/v1/game-days")
def game_days(policy: CurrentPolicy, _principal: Viewer) -> GameDayList:
    """The drill scenarios of the policy (``game_days``)."""
    return GameDayList(items=list(policy.game_days))


@router.post("/api/v1/game-days/{name}/run", status_code=202)
def run_game_day(
    name: str, session: SessionDep, policy: CurrentPolicy, clock: NowClock, _principal: Responder
) -> GameDayRun:
    """Start a run of the scenario: its alerts go through the alert pipeline as a drill,
    each at its delay from now (202: the run is set; the alerts follow)."""
    return start_game_day(session=session, policy=policy, name=name, now=clock.now())
