"""``/dashboard/metrics``: incidents by severity, the MTTA/MTTR trend and SLA
compliance, from :mod:`tocsin.metrics` (charts drawn by its SVG chart code).

The trend is weekly over the chosen window: one load of the incident table, then the
metrics rules over each week's slice (drills left out, as everywhere in metrics).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput
from tocsin.metrics import charts
from tocsin.metrics.rules import Measure, SlaReport, Stats, measure_stats
from tocsin.metrics.service import load_table, metrics_summary
from tocsin.web.dashboard.session import Viewer
from tocsin.web.dashboard.views import page
from tocsin.web.deps import ContextDep, CurrentPolicy, NowClock, SessionDep

__all__ = ["WINDOWS", "router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)

WINDOWS = {"7d": 7, "30d": 30, "90d": 90}


@dataclass(frozen=True)
class Week:
    label: str
    counts: dict[str, int]
    mtta: Stats
    mttr: Stats


def _weeks(*, session: Session, severities: list[str], now: datetime, days: int) -> list[Week]:
    count = max(days // 7, 1)
    first = now - timedelta(weeks=count)
    table = load_table(session=session, since=first, until=now)
    real = table.where(~table.drill)
    weeks = []
    for k in range(count):
        start, end = first + timedelta(weeks=k), first + timedelta(weeks=k + 1)
        chunk = real.where(real.detected_between(start.timestamp(), end.timestamp()))
        per = {name: int(mask.sum()) for name, mask in chunk.by_severity().items()}
        weeks.append(
            Week(
                label=f"{start:%b %d}",
                counts={name: per.get(name, 0) for name in severities},
                mtta=measure_stats(chunk, Measure.mtta).overall,
                mttr=measure_stats(chunk, Measure.mttr).overall,
            )
        )
    return weeks


def _data_uri(svg: str) -> str:
    """Charts go in as images: their inline styles would be refused by the page's CSP."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


@router.get("/metrics")
def metrics_page(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    user: Viewer,
    window: Annotated[str, Query(max_length=10)] = "30d",
) -> HTMLResponse:
    if window not in WINDOWS:
        return page(
            request,
            "dashboard/message.html",
            user=user,
            active="metrics",
            status_code=422,
            heading="Unknown window",
            text=str(InvalidInput("window", f"use one of {', '.join(WINDOWS)}")),
        )
    now = clock.now()
    days = WINDOWS[window]
    summary = metrics_summary(
        session=session,
        policy=policy,
        now=now,
        window=timedelta(days=days),
        cache=context.metrics_cache,
    )
    severities = [s.name for s in policy.severities]
    weeks = _weeks(session=session, severities=severities, now=now, days=days)
    labels = [w.label for w in weeks]
    severity_chart = charts.severity_trend_chart(
        labels, {s: [w.counts[s] for w in weeks] for s in severities}, severities
    )
    mttr_chart = charts.mttr_trend_chart(
        labels, [w.mttr.mean for w in weeks], [w.mttr.median for w in weeks]
    )
    mtta_chart = charts.mtta_trend_chart(
        labels, [w.mtta.mean for w in weeks], [w.mtta.median for w in weeks]
    )

    def rate(report: SlaReport, severity: str) -> float | None:
        compliance = report.by_severity.get(severity)
        return compliance.rate if compliance is not None else None

    sla_chart = charts.sla_compliance_chart(
        severities,
        [rate(summary.response_sla, s) for s in severities],
        [rate(summary.resolution_sla, s) for s in severities],
    )
    return page(
        request,
        "dashboard/metrics.html",
        user=user,
        active="metrics",
        window=window,
        windows=list(WINDOWS),
        summary=summary,
        severities=severities,
        weeks=weeks,
        severity_chart=_data_uri(severity_chart),
        mttr_chart=_data_uri(mttr_chart),
        mtta_chart=_data_uri(mtta_chart),
        sla_chart=_data_uri(sla_chart),
    )
