"""Annotated dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from tocsin.auth import Principal, Role, authenticate
from tocsin.auth.rules import CALENDAR_TOKEN_PREFIX
from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.incidents import service as incidents
from tocsin.incidents.models import Incident
from tocsin.policy import Policy
from tocsin.postmortems import service as postmortems
from tocsin.postmortems.models import Postmortem
from tocsin.web.context import AppContext
from tocsin.web.openapi import answers

__all__ = [
    "ContextDep",
    "CurrentIncident",
    "CurrentPolicy",
    "CurrentPostmortem",
    "CurrentPrincipal",
    "IncidentOnly",
    "NowClock",
    "SessionDep",
    "caller_session",
    "require",
]

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies that only read what is in memory are coroutines: FastAPI runs a plain
# function dependency in a worker thread, a hop that costs more than the function.


async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


@answers(503)
async def get_session(request: Request, context: ContextDep) -> AsyncIterator[Session]:
    """One transaction per request, committed before the response is sent.

    ``scope="function"`` below runs this tear-down (the commit) as soon as the handler
    returns, inside the exception handling of the route: a commit that fails (a full
    disk, a lost connection) is answered as if the handler had raised it (503, see
    :mod:`tocsin.web.errors`), never after a 2xx has gone out.

    A write transaction starts by waiting for the writer lock (:mod:`tocsin.db.writers`).
    That wait, and the commit, run outside the request threads (``serve --threads``):
    a request holding the lock needs a request thread for its handler, and requests
    waiting for the lock in those threads would leave it none. A read first waits for
    a place among :data:`READ_SESSIONS`, on the event loop.
    """
    write = request.method not in _READ_METHODS
    scope = session_scope(context.sessions, write=write)
    async with nullcontext() if write else _read_place(request):
        if write:
            session = await anyio.to_thread.run_sync(scope.__enter__, limiter=lock_waits(request))
        else:
            # A read's session connects at its first statement, in the thread that runs
            # it: opening it here waits for nothing, and needs no request thread.
            session = scope.__enter__()
        setattr(request.state, _REQUEST_SESSION, session)
        # The end never waits for a request thread, and a cancelled request still ends
        # its transaction (and so hands the writer lock on).
        ending = anyio.CapacityLimiter(1)
        try:
            yield session
        except BaseException as exc:
            setattr(request.state, _REQUEST_SESSION, None)
            with anyio.CancelScope(shield=True):
                suppressed = await anyio.to_thread.run_sync(
                    scope.__exit__, type(exc), exc, exc.__traceback__, limiter=ending
                )
            if not suppressed:
                raise
        else:
            setattr(request.state, _REQUEST_SESSION, None)
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(scope.__exit__, None, None, None, limiter=ending)


#: Read requests holding a session at once, at most (more wait for a place, on the event
#: loop, holding nothing). A read's connection stays checked out from its first
#: statement (an early dependency's: the caller's token) to its end, across its waits
#: for a request thread; without a bound, 16 concurrent readers with one request thread
#: held all 15 of PostgreSQL's pooled connections waiting for the thread, while the
#: thread waited for a connection: every request, the engine's and the delivery
#: worker's stalled for the pool's 30 s timeout. The pool keeps room beyond these for
#: the writers, the workers and the event streams (:data:`tocsin.db.engine.POOL_SIZE`).
READ_SESSIONS = 10
#: Write requests waiting for the writer lock at once, at most (more wait for a place).
LOCK_WAITS = 256


def _app_limiter(request: Request, name: str, places: int) -> anyio.CapacityLimiter:
    """The application's limiter called ``name`` (one per application: a limiter
    belongs to the event loop that serves it)."""
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, name, None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(places)
        setattr(request.app.state, name, limiter)
    return limiter


def lock_waits(request: Request) -> anyio.CapacityLimiter:
    """The application's limiter of writer-lock waits."""
    return _app_limiter(request, "lock_waits", LOCK_WAITS)


@asynccontextmanager
async def _read_place(request: Request) -> AsyncIterator[None]:
    """One of the :data:`READ_SESSIONS` places, held until the block ends (on behalf of
    the request, whichever task ends it)."""
    limiter = _app_limiter(request, "read_sessions", READ_SESSIONS)
    place = object()
    await limiter.acquire_on_behalf_of(place)
    try:
        yield
    finally:
        limiter.release_on_behalf_of(place)


#: Where :func:`get_session` keeps the request's session for :func:`caller_session`.
_REQUEST_SESSION = "tocsin_session"


@contextmanager
def caller_session(request: Request, sessions: SessionFactory) -> Iterator[Session]:
    """Where to read who is calling: the request's own transaction when it has opened
    one already, else a short read transaction, closed before the request's own opens.
    Never two connections at once: concurrent requests each holding one connection and
    waiting for a second would take every pooled connection and wait, 30 s, for more."""
    existing = getattr(request.state, _REQUEST_SESSION, None)
    if existing is not None:
        yield existing
        return
    with session_scope(sessions, write=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@answers(404)
def current_incident(incident_id: str, session: SessionDep) -> Incident:
    """The incident the ``{incident_id}`` path parameter names (INC-n), read with the
    request's session; an unknown one answers 404 (:class:`tocsin.errors.NotFound`).

    Declare it after the caller's role (``Viewer``, ``Responder``): dependencies run in
    the order of the handler's parameters, so a caller without a valid token is told so
    before learning whether the incident exists."""
    return incidents.get(session=session, ref=incident_id)


CurrentIncident = Annotated[Incident, Depends(current_incident)]


@answers(404)
def current_incident_only(incident_id: str, session: SessionDep) -> Incident:
    """:func:`current_incident` for the routes that show neither its services nor its
    roles: they are read only if touched (two queries fewer)."""
    return incidents.get(session=session, ref=incident_id, with_related=False)


IncidentOnly = Annotated[Incident, Depends(current_incident_only)]


@answers(404)
def current_postmortem(pm_id: str, session: SessionDep) -> Postmortem:
    """The post-mortem the ``{pm_id}`` path parameter names (PM-n); 404 if unknown."""
    return postmortems.get(session=session, ref=pm_id)


CurrentPostmortem = Annotated[Postmortem, Depends(current_postmortem)]


async def get_policy(context: ContextDep) -> Policy:
    return context.policy.current


CurrentPolicy = Annotated[Policy, Depends(get_policy)]


async def get_clock(context: ContextDep) -> Clock:
    return context.clock


NowClock = Annotated[Clock, Depends(get_clock)]


#: Declares the bearer scheme in the OpenAPI document (clients and Swagger UI send the
#: token with it); :func:`get_principal` reads the header itself, to word its refusals.
_BEARER = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer <token>`.")


@answers(401, 503)
def get_principal(
    request: Request,
    context: ContextDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status_code=401,
            detail="missing bearer token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with caller_session(request, context.sessions) as session:
        principal = authenticate(session=session, token=token.strip())
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="a calendar subscription token opens its schedule's .ics feed only"
            if token.strip().startswith(CALENDAR_TOKEN_PREFIX)
            else "invalid or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits callers whose role is at least `role`."""

    @answers(403)
    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.role.allows(role):
            raise HTTPException(
                status_code=403,
                detail=f"permission denied: this action needs the {role} role; "
                f"token {principal.name!r} has {principal.role}",
            )
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Responder = Annotated[Principal, Depends(require(Role.responder))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
