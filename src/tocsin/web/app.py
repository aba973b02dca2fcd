"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from tocsin import __version__
from tocsin.web.assets import VersionedStaticFiles
from tocsin.web.context import AppContext
from tocsin.web.dashboard import install_dashboard
from tocsin.web.docs import install_docs
from tocsin.web.errors import install_error_handlers
from tocsin.web.inbound import InboundLane, inbound_for
from tocsin.web.limits import BodyGuard
from tocsin.web.openapi import install_openapi
from tocsin.web.pages import STATIC_DIR
from tocsin.web.routes import action_items_jira as action_item_jira_routes
from tocsin.web.routes import alerts as alert_routes
from tocsin.web.routes import calendars as calendar_routes
from tocsin.web.routes import changes as change_routes
from tocsin.web.routes import chatops_slack as slack_routes
from tocsin.web.routes import chatops_twilio as twilio_routes
from tocsin.web.routes import comms as comms_routes
from tocsin.web.routes import drills as drill_routes
from tocsin.web.routes import (
    health,
    incidents,
    oncall,
    paging,
    policy,
    status_json,
    status_pages,
    statuspage_admin,
    tasks,
)
from tocsin.web.routes import hints as hint_routes
from tocsin.web.routes import integrations as integration_routes
from tocsin.web.routes import metrics as metrics_routes
from tocsin.web.routes import opsgenie as opsgenie_routes
from tocsin.web.routes import postmortems as postmortem_routes
from tocsin.web.routes import runbooks as runbook_routes
from tocsin.web.timeouts import REQUEST_THREADS
from tocsin.wiring import wire

__all__ = ["REQUEST_THREADS", "create_app", "set_request_threads"]


def set_request_threads(app: FastAPI, threads: int) -> None:
    """How many requests ``app`` works on in threads at once (from its start)."""
    app.state.request_threads = int(threads)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    threads = getattr(app.state, "request_threads", REQUEST_THREADS)
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    # Alerts a crash left queued but undecided are decided without waiting for traffic.
    inbound_for(app).committer.kick()
    yield


def create_app(context: AppContext) -> FastAPI:
    wire()  # the incident hooks and metrics sources of this process (idempotent)
    app = FastAPI(
        title="Tocsin",
        version=__version__,
        description="Self-hosted incident response: incidents, on-call, paging, status page.",
        lifespan=_lifespan,
        docs_url=None,  # tocsin.web.docs serves them, without a CDN
        redoc_url=None,
    )
    app.state.context = context
    install_error_handlers(app)
    app.include_router(integration_routes.router)
    app.include_router(opsgenie_routes.router)
    app.include_router(alert_routes.router)
    app.include_router(calendar_routes.router)  # before /schedules/{name}, which takes "x.ics"
    app.include_router(change_routes.router)
    app.include_router(hint_routes.router)
    for router in (health.router, incidents.router, oncall.router, paging.router, policy.router):
        app.include_router(router)
    app.include_router(metrics_routes.router)
    app.include_router(drill_routes.router)
    app.include_router(tasks.router)
    app.include_router(runbook_routes.router)
    app.include_router(postmortem_routes.router)
    app.include_router(action_item_jira_routes.router)
    app.include_router(comms_routes.router)
    app.include_router(twilio_routes.router)
    app.include_router(slack_routes.router)
    for router in (status_pages.router, status_json.router, statuspage_admin.router):
        app.include_router(router)
    install_dashboard(app)
    install_openapi(app)  # after every route: each one's error answers are derived
    install_docs(app)
    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    # Text answers over 500 bytes are gzipped for clients that accept it; the event
    # stream is not (GZipMiddleware leaves text/event-stream alone), nor the inbound lane
    # outside it.
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
    app.add_middleware(InboundLane)  # inbound alerts skip the router (tocsin.web.inbound)
    app.add_middleware(
        BodyGuard,
        max_bytes=context.settings.max_body_bytes,
        form_paths=("/api/v1/chatops/",),  # Twilio and Slack post forms
    )
    return app
