"""Game days: a scenario of the policy's ``game_days`` run as a drill.

Starting a run (:func:`start_game_day`) sets one timer per alert of the scenario, due
at the run's start plus the alert's ``after``, in the scenario's order (timers due
together are claimed in the order they were set). Each timer hands its alert to the real alert
pipeline (:func:`tocsin.alerts.pipeline.ingest`) from the scenario's own integration,
as a drill: the incidents it opens are drills (paging the scenario's responders), and
its alerts meet no real alert in grouping, storms or cascades. Every alert carries the
labels ``game_day`` and ``game_day_run``, so two runs never share an alert either.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.integrations import create_integration
from tocsin.alerts.models import Integration
from tocsin.alerts.pipeline import ingest
from tocsin.alerts.rules import fingerprint
from tocsin.db.jobs import schedule
from tocsin.errors import InvalidInput, NotFound
from tocsin.incidents.drills import DrillPlan
from tocsin.policy import Policy
from tocsin.policy.game_days import GameDay

__all__ = ["GAME_DAY_ALERT", "GameDayRun", "handle_game_day_alert", "start_game_day"]

#: The job kind of one scenario alert.
GAME_DAY_ALERT = "game_day_alert"


class GameDayRun(BaseModel):
    game_day: str
    run: str
    started_at: datetime
    #: When each alert is due, in the scenario's order.
    alerts: list[datetime]
    responders: list[str]
    page_oncall: bool


@dataclass(frozen=True)
class _Event:
    """One scenario alert as the pipeline takes it (an :class:`InboundAlert`)."""

    dedup_key: str
    action: Literal["trigger", "acknowledge", "resolve"]
    title: str
    summary: str
    severity_hint: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime | None
    source: str = "game_day"
    ends_at: datetime | None = None
    source_url: str | None = None
    links: Sequence[Any] = field(default_factory=tuple)
    raw: Any = None


def _game_day(policy: Policy, name: str) -> GameDay:
    found = next((g for g in policy.game_days if g.name == name), None)
    if found is None:
        known = ", ".join(g.name for g in policy.game_days) or "none in the policy"
        raise NotFound(f"game day {name!r} not found; known: {known}")
    return found


def _integration(session: Session, policy: Policy, game_day: GameDay, now: datetime) -> Integration:
    """The scenario's own integration (made on its first run)."""
    name = f"game-day-{game_day.name}"[:100]
    found = session.scalar(select(Integration).where(Integration.name == name))
    if found is not None:
        return found
    service = game_day.service or next((s.name for s in policy.services), None)
    if service is None:
        raise InvalidInput("service", "a game day needs a service in the policy")
    integration, _ = create_integration(
        session=session, policy=policy, name=name, service=service, kind="alertmanager", now=now
    )
    return integration


def start_game_day(*, session: Session, policy: Policy, name: str, now: datetime) -> GameDayRun:
    """Set the timers of a run of game day ``name``, starting now."""
    game_day = _game_day(policy, name)
    integration = _integration(session, policy, game_day, now)
    run = secrets.token_hex(4)
    due: list[datetime] = []
    for index, alert in enumerate(game_day.alerts):
        at = now + alert.after
        schedule(
            session=session,
            kind=GAME_DAY_ALERT,
            due_at=at,
            now=now,
            payload={
                "game_day": game_day.name,
                "run": run,
                "index": index,
                "integration_id": integration.id,
            },
            key=f"game-day:{game_day.name}/{run}/{index}",
        )
        due.append(at)
    return GameDayRun(
        game_day=game_day.name,
        run=run,
        started_at=now,
        alerts=due,
        responders=list(game_day.responders),
        page_oncall=game_day.page_oncall,
    )


def handle_game_day_alert(
    *, session: Session, policy: Policy, payload: Mapping[str, Any], now: datetime
) -> str:
    """Send one scenario alert through the pipeline, as a drill."""
    game_day = next((g for g in policy.game_days if g.name == payload["game_day"]), None)
    integration = session.get(Integration, int(payload["integration_id"]))
    index = int(payload["index"])
    if game_day is None or integration is None or index >= len(game_day.alerts):
        return "gone"
    alert = game_day.alerts[index]
    labels = {**alert.labels, "game_day": game_day.name, "game_day_run": str(payload["run"])}
    event = _Event(
        dedup_key=fingerprint(labels),
        action="trigger" if alert.status == "firing" else "resolve",
        title=labels.get("alertname") or f"Game day {game_day.name} alert {index + 1}",
        summary=alert.annotations.get("summary", ""),
        severity_hint=labels.get("severity"),
        labels=labels,
        annotations=dict(alert.annotations),
        starts_at=now,
    )
    plan = DrillPlan(game_day.name, game_day.responders, game_day.page_oncall)
    [result] = ingest(
        session=session,
        policy=policy,
        integration=integration,
        events=[event],
        now=now,
        drill=plan,
    )
    return f"{result.outcome.value} {result.incident or ''}".strip()
