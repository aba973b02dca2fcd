"""``/api/v2/*.json``: the public status page in Atlassian Statuspage's API shape.

No sign-in, like Atlassian's public endpoints, and CORS-open so that a status widget on
another site can read it. ``<``, ``>`` and ``&`` are written as ``\\u003c`` etc. in
strings (the value is unchanged for any JSON parser), so even a response that something
mistakenly renders as HTML cannot run markup from an incident's text.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tocsin.statuspage import atlassian, public
from tocsin.web.deps import CurrentPolicy, NowClock, SessionDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["PublicJSON", "router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v2", tags=["status page (public)"])

_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}


class PublicJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return text.encode("utf-8")


def _view(*, session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> public.PageView:
    return public.load_page(session=session, policy=policy, now=clock.now(), with_uptime=False)


def _answer(body: dict[str, Any]) -> PublicJSON:
    return PublicJSON(body, headers=_HEADERS)


@router.get("/summary.json", response_class=PublicJSON)
def summary(session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> PublicJSON:
    """Status indicator, components, unresolved incidents, upcoming and active maintenance."""
    return _answer(atlassian.summary_json(_view(session=session, policy=policy, clock=clock)))


@router.get("/status.json", response_class=PublicJSON)
def status(session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> PublicJSON:
    """The overall indicator (none, minor, major, critical) and its description."""
    return _answer(atlassian.status_json(_view(session=session, policy=policy, clock=clock)))


@router.get("/components.json", response_class=PublicJSON)
def components(session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> PublicJSON:
    return _answer(atlassian.components_json(_view(session=session, policy=policy, clock=clock)))


@router.get("/incidents.json", response_class=PublicJSON)
def incidents(session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> PublicJSON:
    """The 50 most recent published incidents."""
    return _answer(atlassian.incidents_json(_view(session=session, policy=policy, clock=clock)))


@router.get("/incidents/unresolved.json", response_class=PublicJSON)
def unresolved(session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> PublicJSON:
    return _answer(
        atlassian.incidents_json(
            _view(session=session, policy=policy, clock=clock), unresolved=True
        )
    )


@router.get("/scheduled-maintenances.json", response_class=PublicJSON)
def maintenances(session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> PublicJSON:
    """The 50 most recent scheduled maintenances."""
    return _answer(atlassian.maintenances_json(_view(session=session, policy=policy, clock=clock)))


@router.get("/scheduled-maintenances/upcoming.json", response_class=PublicJSON)
def upcoming(session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> PublicJSON:
    return _answer(
        atlassian.maintenances_json(
            _view(session=session, policy=policy, clock=clock), which="upcoming"
        )
    )


@router.get("/scheduled-maintenances/active.json", response_class=PublicJSON)
def active(session: SessionDep, policy: CurrentPolicy, clock: NowClock) -> PublicJSON:
    return _answer(
        atlassian.maintenances_json(
            _view(session=session, policy=policy, clock=clock), which="active"
        )
    )
