"""``/dashboard/metrics``: incidents by severity, the MTTA/MTTR trend by ISO week and
SLA compliance, from :mod:`tocsin.metrics`.

The page itself is tables only (quick to send); its four charts are images of their
own (``/dashboard/metrics/charts/NAME.svg``), fetched by the browser in parallel, drawn
in two sizes (phones get the narrow one; a chart in a half-width card is always narrow)
and kept by the chart code, so the same data is drawn once. They carry an ETag: a
browser that has the chart gets a 304.

Weeks are ISO weeks (Monday 00:00 UTC), the same as the per-week counts of
``tocsin metrics``; both read the server's in-memory incident table.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput
from tocsin.metrics import charts
from tocsin.metrics.cache import IncidentTableCache
from tocsin.metrics.rules import MetricsSummary, SlaReport
from tocsin.metrics.service import metrics_summary
from tocsin.metrics.trends import WeekTrend, weekly_trend
from tocsin.policy import Policy
from tocsin.web.dashboard.session import Viewer
from tocsin.web.dashboard.views import page
from tocsin.web.deps import ContextDep, CurrentPolicy, NowClock, SessionDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["CHARTS", "WINDOWS", "router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/dashboard", include_in_schema=False)

WINDOWS = {"7d": 7, "30d": 30, "90d": 90}
#: The page's charts, in the order shown, with their text alternative.
CHARTS = {
    "sla": "Bars: share of incidents within the response and the resolution SLA, by "
    "severity (the table beside it has the numbers).",
    "severity": "Stacked bars: incidents per ISO week by severity (the table below has "
    "the numbers).",
    "mttr": "Lines: mean and median time to resolve per ISO week (the table below has the "
    "numbers).",
    "mtta": "Lines: mean and median time to acknowledge per ISO week (the table below has "
    "the numbers).",
}
#: Charts in a half-width card: drawn narrow at every width (shown at their own size).
NARROW_ONLY = ("sla",)
_SVG_HEADERS = {
    # Opened on its own, a chart may style itself and nothing else.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    # Kept by the browser, asked again each time: a 304 while the data is unchanged.
    "Cache-Control": "private, no-cache",
}
Window = Annotated[str, Query(max_length=10)]


@dataclass(frozen=True)
class _Figures:
    summary: MetricsSummary
    severities: list[str]
    weeks: list[WeekTrend]


def _figures(
    *,
    session: Session,
    policy: Policy,
    cache: IncidentTableCache,
    now: datetime,
    days: int,
) -> _Figures:
    window = timedelta(days=days)
    summary = metrics_summary(session=session, policy=policy, now=now, window=window, cache=cache)
    severities = [s.name for s in policy.severities]
    table = cache.table(session=session, since=now - window, until=now)
    weeks = weekly_trend(table, severities=severities, since=now - window, until=now)
    return _Figures(summary, severities, weeks)


def _draw(name: str, figures: _Figures, size: charts.ChartSize) -> str:
    weeks, severities = figures.weeks, figures.severities
    labels = [w.short_label for w in weeks]
    if name == "severity":
        counts = {s: [w.counts[s] for w in weeks] for s in severities}
        return charts.severity_trend_chart(labels, counts, severities, size)
    if name == "mttr":
        mean, median = [w.mttr.mean for w in weeks], [w.mttr.median for w in weeks]
        return charts.mttr_trend_chart(labels, mean, median, size)
    if name == "mtta":
        mean, median = [w.mtta.mean for w in weeks], [w.mtta.median for w in weeks]
        return charts.mtta_trend_chart(labels, mean, median, size)

    def rate(report: SlaReport, severity: str) -> float | None:
        compliance = report.by_severity.get(severity)
        return compliance.rate if compliance is not None else None

    summary = figures.summary
    return charts.sla_compliance_chart(
        severities,
        [rate(summary.response_sla, s) for s in severities],
        [rate(summary.resolution_sla, s) for s in severities],
        size,
    )


def _unknown_window(request: Request, user: Viewer) -> HTMLResponse:
    return page(
        request,
        "dashboard/message.html",
        user=user,
        active="metrics",
        status_code=422,
        heading="Unknown window",
        text=str(InvalidInput("window", f"use one of {', '.join(WINDOWS)}")),
    )


@router.get("/metrics")
def metrics_page(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    user: Viewer,
    window: Window = "30d",
) -> HTMLResponse:
    if window not in WINDOWS:
        return _unknown_window(request, user)
    figures = _figures(
        session=session,
        policy=policy,
        cache=context.metrics_cache,
        now=clock.now(),
        days=WINDOWS[window],
    )
    return page(
        request,
        "dashboard/metrics.html",
        user=user,
        active="metrics",
        window=window,
        windows=list(WINDOWS),
        summary=figures.summary,
        severities=figures.severities,
        weeks=figures.weeks,
        charts=CHARTS,
        narrow_only=NARROW_ONLY,
    )


@router.get("/metrics/charts/{name}.svg")
def metrics_chart(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    user: Viewer,
    name: Annotated[str, Path(max_length=20)],
    window: Window = "30d",
    size: charts.ChartSize = charts.ChartSize.wide,
) -> Response:
    if name not in CHARTS:
        return Response("no such chart", status_code=404, media_type="text/plain")
    if window not in WINDOWS:
        return _unknown_window(request, user)
    figures = _figures(
        session=session,
        policy=policy,
        cache=context.metrics_cache,
        now=clock.now(),
        days=WINDOWS[window],
    )
    svg = _draw(name, figures, size)
    etag = '"' + hashlib.sha256(svg.encode()).hexdigest()[:20] + '"'
    headers = {**_SVG_HEADERS, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(svg, media_type="image/svg+xml", headers=headers)
