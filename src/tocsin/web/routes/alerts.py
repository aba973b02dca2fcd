"""Alerts and silences: thin handlers over :mod:`tocsin.alerts.service`.

``GET /api/v1/alerts`` (filters: status, service, incident), ``GET /api/v1/alerts/{id}``
(with the payload as received), ``GET /api/v1/incidents/{id}/alerts``; silences are
added and expired by responders and listed by anyone with a token.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from fastapi import APIRouter, Path, Query
from pydantic import ConfigDict, Field, model_validator

from tocsin.alerts import service as alerts
from tocsin.alerts.models import (
    AlertList,
    AlertRead,
    SilenceCreate,
    SilenceList,
    SilenceRead,
    StormRead,
)
from tocsin.alerts.service import ALERT_STATUSES
from tocsin.alerts.silencing import SILENCE_STATES
from tocsin.errors import InvalidInput, NotFound
from tocsin.incidents import service as incidents
from tocsin.schemas import Instant, OneOf
from tocsin.web.deps import CurrentIncident, NowClock, Responder, SessionDep, Viewer
from tocsin.web.fields import RequestDuration
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1", tags=["alerts"])


@router.get("/alerts")
def list_alerts(
    session: SessionDep,
    _principal: Viewer,
    status: Annotated[
        Annotated[str, OneOf(ALERT_STATUSES, "status")] | None,
        Query(description="firing or resolved"),
    ] = None,
    service: Annotated[str | None, Query(max_length=100)] = None,
    incident: Annotated[str | None, Query(description="INC-n: the alerts linked to it")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AlertList:
    """Alerts, most recently fired first."""
    incident_id = None if incident is None else incidents.get(session=session, ref=incident).id
    rows, total = alerts.list_alerts(
        session=session,
        status=status,
        service=service,
        incident_id=incident_id,
        limit=limit,
        offset=offset,
    )
    return AlertList(
        items=alerts.alerts_to_read(session=session, alerts=rows),
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/alerts/{alert_id}")
def get_alert(
    alert_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep, _principal: Viewer
) -> AlertRead:
    """One alert, with its payload as received (``raw``)."""
    alert = alerts.get_alert(session=session, alert_id=alert_id)
    return alerts.alerts_to_read(session=session, alerts=[alert], include_raw=True)[0]


@router.get("/incidents/{incident_id}/alerts", tags=["incidents"])
def incident_alerts(
    session: SessionDep,
    _principal: Viewer,
    incident: CurrentIncident,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AlertList:
    """The alerts linked to the incident, in the order they were linked, a page at a
    time (an alert storm holds thousands)."""
    rows = alerts.alerts_for_incident(
        session=session, incident_id=incident.id, limit=limit, offset=offset
    )
    items = alerts.alerts_to_read(session=session, alerts=rows)
    total = alerts.count_for_incident(session=session, incident_id=incident.id)
    return AlertList(items=items, total=total, limit=limit, offset=offset)


@router.get("/incidents/{incident_id}/storm", tags=["incidents"])
def incident_storm(
    incident_id: str, session: SessionDep, _principal: Viewer, incident: CurrentIncident
) -> StormRead:
    """What an alert-storm incident is made of: how many alerts, the most common
    alertnames and label values, the incidents merged into it. 404 for an incident
    that is not an alert storm."""
    storm = alerts.storm_for_incident(session=session, incident_id=incident.id)
    if storm is None:
        raise NotFound(f"{incident_id} is not an alert storm")
    return storm


# -- silences ----------------------------------------------------------------------------


def _given(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


class SilenceRequest(SilenceCreate):
    """:class:`SilenceCreate`, with ``duration`` as an alternative to ``ends_at``: the
    server's clock then sets the end, so a client with a skewed clock cannot cut a
    silence short (``tocsin silence add ... --duration 2h``)."""

    model_config = ConfigDict(
        **SilenceCreate.model_config,
        json_schema_extra={"oneOf": [_given("ends_at"), _given("duration")]},
    )

    ends_at: Instant | None = None  # type: ignore[assignment]
    duration: RequestDuration | None = Field(default=None, description="From starts_at (or now).")

    @model_validator(mode="after")
    def _one_end(self) -> Self:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give either ends_at or duration")
        return self


@router.post("/silences", status_code=201, tags=["silences"])
def add_silence(
    body: SilenceRequest, session: SessionDep, clock: NowClock, principal: Responder
) -> SilenceRead:
    """Mute matching alerts from ``starts_at`` (default now) to ``ends_at`` (or for
    ``duration``): they are stored and shown, but page nobody and open no incident."""
    now = clock.now()
    ends_at = body.ends_at
    if ends_at is None:
        assert body.duration is not None
        try:
            ends_at = (body.starts_at or now) + body.duration
        except OverflowError:
            raise InvalidInput("duration", "ends beyond the supported range of dates") from None
    record = alerts.add_silence(
        session=session,
        matchers=body.matchers,
        starts_at=body.starts_at,
        ends_at=ends_at,
        created_by=principal.actor,
        comment=body.comment,
        now=now,
    )
    return alerts.silence_to_read(record, now)


@router.get("/silences", tags=["silences"])
def list_silences(
    session: SessionDep,
    clock: NowClock,
    _principal: Viewer,
    state: Annotated[
        Annotated[str, OneOf(SILENCE_STATES, "state")],
        Query(description=" | ".join(SILENCE_STATES)),
    ] = "active",
) -> SilenceList:
    now = clock.now()
    rows = alerts.list_silences(session=session, state=state, now=now)
    return SilenceList(items=[alerts.silence_to_read(r, now) for r in rows])


@router.delete("/silences/{silence_id}", tags=["silences"])
def expire_silence(
    silence_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    clock: NowClock,
    _principal: Responder,
) -> SilenceRead:
    """End a silence now (a pending one never starts)."""
    now = clock.now()
    record = alerts.expire_silence(session=session, silence_id=silence_id, now=now)
    return alerts.silence_to_read(record, now)
