"""Reliability metrics: ``/api/v1/metrics/summary``, ``/api/v1/slos``,
``/api/v1/reports/monthly`` and the Prometheus ``/metrics`` (thin handlers over
:mod:`tocsin.metrics`).

Starting the server also schedules the first run of the burn-rate watch
(``slo_evaluate``), which then keeps itself scheduled.
"""

from __future__ import annotations

import logging
import multiprocessing
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from tocsin.alerts import inbox
from tocsin.metrics import prometheus
from tocsin.metrics.budget import SloStatus
from tocsin.metrics.catalog import ALERTS_QUEUED, ALERTS_QUEUED_OLDEST
from tocsin.metrics.report import MEDIA_TYPES, ReportFormat, monthly_review, previous_month, render
from tocsin.metrics.rules import MetricsSummary, Period
from tocsin.metrics.service import metrics_summary, parse_window, slo_statuses
from tocsin.web.deps import (
    ContextDep,
    CurrentPolicy,
    NowClock,
    SessionDep,
    Viewer,
    get_principal,
)
from tocsin.web.fields import DURATION_TEXT
from tocsin.web.routing import RequestThreadRoute

log = logging.getLogger("tocsin.web")


router = APIRouter(route_class=RequestThreadRoute, tags=["metrics"])

#: The text format every Prometheus version reads (the names here need nothing newer).
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/api/v1/metrics/summary")
def summary(
    context: ContextDep,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Viewer,
    window: Annotated[
        str,
        Query(description="Look-back, e.g. 7d, 30d, 90d, 365d.", pattern=DURATION_TEXT),
    ] = "30d",
    period: Annotated[
        Period,
        Query(
            description="Bucket of the incidents-per-period counts (UTC days, ISO weeks "
            "from Monday, months)."
        ),
    ] = Period.week,
) -> MetricsSummary:
    """MTTD/MTTA/MTTM/MTTR, SLA compliance, counts and rates of the incidents detected in
    the window (durations in seconds, rates as fractions, null = n/a)."""
    return metrics_summary(
        session=session,
        policy=policy,
        now=clock.now(),
        window=parse_window(window),
        period=period,
        cache=context.metrics_cache,
    )


class SloList(BaseModel):
    items: list[SloStatus]


@router.get("/api/v1/slos")
def list_slos(
    session: SessionDep, policy: CurrentPolicy, clock: NowClock, _principal: Viewer
) -> SloList:
    return SloList(items=slo_statuses(session=session, policy=policy, now=clock.now()))


@router.get("/api/v1/slos/{service}")
def get_slo(
    service: str, session: SessionDep, policy: CurrentPolicy, clock: NowClock, _principal: Viewer
) -> SloStatus:
    return slo_statuses(session=session, policy=policy, now=clock.now(), service=service)[0]


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/" not in accept and "*/*" not in accept


@router.get(
    "/api/v1/reports/monthly",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "text/markdown": {}, "application/json": {}}}},
)
def monthly_report(
    request: Request,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Viewer,
    month: Annotated[
        str | None,
        Query(
            description="YYYY-MM (1970-01 to 8999-12); default: last month.",
            pattern=r"^(19[7-9][0-9]|[2-8][0-9]{3})-(0[1-9]|1[0-2])$",
        ),
    ] = None,
    fmt: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.html,
    charts: Annotated[
        bool, Query(description="Include the charts (SVG); false for text only.")
    ] = True,
) -> Response:
    """The monthly review. A client that accepts only JSON gets
    ``{month, format, media_type, content}`` instead of the document itself."""
    now = clock.now()
    chosen = month or previous_month(now)
    review = monthly_review(
        session=session, policy=policy, month=chosen, now=now, with_charts=charts
    )
    content = render(review, fmt)
    if _wants_json(request):
        return JSONResponse(
            {
                "month": review.month,
                "format": fmt.value,
                "media_type": MEDIA_TYPES[fmt],
                "content": content,
            }
        )
    return Response(content, media_type=MEDIA_TYPES[fmt])


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(
    request: Request, context: ContextDep, session: SessionDep, policy: CurrentPolicy
) -> Response:
    """Prometheus text exposition. A bearer token of any role is required unless the
    policy says ``prometheus: {public: true}``."""
    if not policy.prometheus.public:
        get_principal(request, context)  # 401 without a valid token
    queued = inbox.backlog(session=session)
    waited = (context.clock.now() - queued.oldest).total_seconds() if queued.oldest else 0.0
    body = prometheus.exposition(
        session=session,
        policy=policy,
        per_process=multiprocessing.parent_process() is None,
        gauges={
            ALERTS_QUEUED.name: {(): float(queued.alerts)},
            ALERTS_QUEUED_OLDEST.name: {(): max(0.0, waited)},
        },
    )
    return Response(body, media_type=PROMETHEUS_TEXT)
