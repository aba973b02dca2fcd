"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from tocsin import __version__
from tocsin.web.context import AppContext
from tocsin.web.errors import install_error_handlers
from tocsin.web.limits import BodyGuard
from tocsin.web.routes import health, incidents, oncall, paging, policy

__all__ = ["create_app"]


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(
        title="Tocsin",
        version=__version__,
        description="Self-hosted incident response: incidents, on-call, paging, status page.",
    )
    app.state.context = context
    install_error_handlers(app)
    for router in (health.router, incidents.router, oncall.router, paging.router, policy.router):
        app.include_router(router)
    app.add_middleware(BodyGuard, max_bytes=context.settings.max_body_bytes)
    return app
