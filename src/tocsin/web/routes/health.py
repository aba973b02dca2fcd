"""Liveness and readiness probes (no authentication, no secrets).

``/healthz`` says the process answers. ``/readyz`` says the database takes writes now:
it commits a real write (:mod:`tocsin.db.probe`), at most one a second per process,
and answers 503 with ``Retry-After`` and what is wrong while writes fail, 200 again
as soon as one succeeds, with no restart.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tocsin.db.probe import WriteProbe
from tocsin.web.context import AppContext
from tocsin.web.errors import BUSY, RETRY_AFTER_SECONDS, UNAVAILABLE, database_fault
from tocsin.web.routing import RequestThreadRoute

__all__ = ["PROBE_WAIT_SECONDS", "router"]

router = APIRouter(route_class=RequestThreadRoute, tags=["health"])
log = logging.getLogger(__name__)

#: A probe still waiting for its turn to write after this long means "busy": readiness
#: checks get an answer in time, and the probe goes on (a later check reuses it).
PROBE_WAIT_SECONDS = 5.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _probe_for(request: Request) -> WriteProbe:
    """The application's write probe (made on first use; runs on the event loop, so
    two requests cannot both make one)."""
    state = request.app.state
    probe: WriteProbe | None = getattr(state, "write_probe", None)
    if probe is None:
        context: AppContext = state.context
        probe = state.write_probe = WriteProbe(context.sessions, context.clock)
    return probe


@router.get(
    "/readyz",
    response_model=None,
    responses={503: {"description": "the database does not take writes now"}},
)
async def readyz(request: Request) -> dict[str, str] | JSONResponse:
    outcome = asyncio.wrap_future(_probe_for(request).outcome())
    try:
        failure = await asyncio.wait_for(asyncio.shield(outcome), PROBE_WAIT_SECONDS)
    except TimeoutError:
        reason = BUSY
    else:
        if failure is None:
            return {"status": "ready"}
        fault = database_fault(failure)
        if fault is None:  # not an operational fault: say so in the log, as a 500 would
            log.error("readiness write probe failed", exc_info=failure)
        reason = fault or f"{UNAVAILABLE} ({type(failure).__name__})"
    return JSONResponse(
        {"status": "unavailable", "detail": f"{reason}; a test write did not commit"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
