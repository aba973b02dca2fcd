"""The signed-in dashboard: sign-in, the live incident list and incident pages, on
call, silences and metrics (server-rendered pages, a small script for live updates),
and where ``/`` leads."""

from __future__ import annotations

from fastapi import FastAPI

from tocsin.web.dashboard import (
    actions,
    auth,
    events,
    hint_actions,
    home,
    incidents,
    metrics,
    oncall,
    runbook_actions,
    silences,
)
from tocsin.web.dashboard.errors import install_dashboard_errors
from tocsin.web.dashboard.shutdown import watch_uvicorn

__all__ = ["install_dashboard"]


def install_dashboard(app: FastAPI) -> None:
    """Add the dashboard's routes and error pages to ``app``."""
    install_dashboard_errors(app)
    for module in (
        home,
        auth,
        incidents,
        actions,
        hint_actions,
        runbook_actions,
        events,
        oncall,
        silences,
        metrics,
    ):
        app.include_router(module.router)
    watch_uvicorn()
