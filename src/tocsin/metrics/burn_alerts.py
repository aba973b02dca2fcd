"""The burn-rate watch: two engine jobs.

``slo_evaluate`` runs every minute. It computes every objective's burn rates and, for
each one above its threshold, schedules an ``slo_burn`` job keyed by service, burn-rate
window and the instant the burn rate rose above the threshold
(:func:`tocsin.metrics.budget.crossing_start`). That instant depends only on the
incidents, so the next minute's evaluation computes the same key and the jobs table's
unique key turns it into a no-op: each crossing is handled once, whatever the number of
workers or evaluations, with no table of its own. Then it schedules itself for the next
minute, keyed by that minute (two chains that meet on the same minute merge).

``slo_burn`` notes the crossing on the timeline of each incident spending budget in the
burn-rate window and notifies the lead of the team owning the service (outbox kind
``slo_burn``, idempotency key = the job's key and the person), in one transaction.

Something must schedule the first ``slo_evaluate``: :func:`ensure_slo_evaluation`,
called when the API server starts (and safe to call from anywhere, any number of times).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from tocsin.db.jobs import schedule
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.service import hold_incidents
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.metrics.budget import driving
from tocsin.metrics.service import SloSnapshot, slo_snapshots
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import enqueue
from tocsin.policy import Policy, format_duration

__all__ = [
    "SLO_BURN",
    "SLO_EVALUATE",
    "TIMELINE_KIND",
    "burn_key",
    "ensure_slo_evaluation",
    "evaluate_burn_rates",
    "handle_slo_burn",
    "handle_slo_evaluate",
]

log = logging.getLogger("tocsin.metrics")

SLO_EVALUATE = "slo_evaluate"
SLO_BURN = "slo_burn"
#: The timeline event kind of a burn-rate crossing.
TIMELINE_KIND = "slo_burn_rate"
_TICK = timedelta(minutes=1)


class HandlerContext(Protocol):
    """What the engine hands a job handler (structurally its ``EngineContext``)."""

    @property
    def policy(self) -> Policy: ...

    @property
    def now(self) -> datetime: ...


def _next_tick(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(second=0, microsecond=0) + _TICK


def ensure_slo_evaluation(*, session: Session, now: datetime) -> bool:
    """Schedule ``slo_evaluate`` for the next whole minute (a no-op if it already is)."""
    tick = _next_tick(now)
    return schedule(
        session=session,
        kind=SLO_EVALUATE,
        due_at=tick,
        payload={},
        key=f"{SLO_EVALUATE}/{tick:%Y-%m-%dT%H:%MZ}",
        now=now,
    )


def burn_key(service: str, window: timedelta, since: datetime) -> str:
    return f"{SLO_BURN}/{service}/{format_duration(window)}/{since:%Y-%m-%dT%H:%M:%SZ}"


def _crossings(snapshot: SloSnapshot, now: datetime) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for alert, burn in zip(snapshot.slo.burn_rate_alerts, snapshot.status.burn_rates, strict=True):
        if not burn.alerting:
            continue
        since = burn.since
        if since is None:
            # Above the threshold since before the history looked at: date it by the
            # oldest impact in that history, which stays put while the episode lasts.
            since = min(i.start for i in snapshot.impacts).replace(microsecond=0)
        incidents = driving(snapshot.impacts, now=now, window=alert.window)
        found.append(
            {
                "key": burn_key(snapshot.slo.service, alert.window, since),
                "service": snapshot.slo.service,
                "objective": snapshot.slo.objective,
                "window": format_duration(alert.window),
                "threshold": alert.threshold,
                "burn_rate": round(burn.rate, 3),
                "since": since.isoformat(),
                "budget_remaining_percent": round(snapshot.status.remaining_percent, 1),
                "incident_ids": sorted({i.incident_id for i in incidents}),
            }
        )
    return found


def evaluate_burn_rates(*, session: Session, policy: Policy, now: datetime) -> int:
    """Schedule an ``slo_burn`` job for each new crossing; returns how many were new."""
    new = 0
    for snapshot in slo_snapshots(session=session, policy=policy, now=now):
        for crossing in _crossings(snapshot, now):
            new += schedule(
                session=session,
                kind=SLO_BURN,
                due_at=now,
                payload=crossing,
                key=crossing["key"],
                now=now,
            )
    return new


def handle_slo_evaluate(
    session: Session, context: HandlerContext, payload: Mapping[str, Any]
) -> str:
    """Evaluate, then schedule the next minute's run even if evaluating failed (a
    failure here must not end the chain)."""
    try:
        with session.begin_nested():
            new = evaluate_burn_rates(session=session, policy=context.policy, now=context.now)
        outcome = f"{new} new crossing(s)"
    except Exception:
        log.exception("slo_evaluate failed; trying again in a minute")
        outcome = "failed"
    ensure_slo_evaluation(session=session, now=context.now)
    return outcome


def _lead(policy: Policy, service: str) -> str | None:
    owner = policy.service(service)
    team = policy.team(owner.team) if owner and owner.team else None
    return team.lead if team else None


def handle_slo_burn(session: Session, context: HandlerContext, payload: Mapping[str, Any]) -> str:
    service = str(payload["service"])
    rate, threshold = float(payload["burn_rate"]), float(payload["threshold"])
    window, left = str(payload["window"]), float(payload["budget_remaining_percent"])
    summary = (
        f"Error budget of {service} burning {rate:.1f}x the allowed rate over {window} "
        f"(alert threshold {threshold:g}); {left:.1f} % of the budget left"
    )
    ids = [int(i) for i in payload["incident_ids"]]
    # One query for them all: a flood leaves hundreds of incidents open on a service.
    held = {incident.id: incident for incident in hold_incidents(session=session, ids=ids)}
    present = [held[i] for i in ids if i in held]
    for incident in present:
        record(
            session=session,
            incident=incident,
            now=context.now,
            actor=SYSTEM_ACTOR,
            kind=TIMELINE_KIND,
            summary=summary,
            data={k: payload[k] for k in ("service", "window", "threshold", "burn_rate", "since")},
        )
    lead = _lead(context.policy, service)
    if lead is None:
        return "no team lead to notify"
    refs = ", ".join(format_incident_id(i.number) for i in present) or "none open"
    enqueue(
        session=session,
        key=f"{payload['key']}/{lead}",
        person=lead,
        kind=NotificationKind.slo_burn,
        subject=f"[SLO] {service}: error budget burn rate {rate:.1f}x over {window}",
        body=f"{summary}.\nObjective: {payload['objective']} %.\nIncidents: {refs}.",
        reason=f"burn rate {rate:.1f} over {window} above {threshold:g} since {payload['since']}",
        now=context.now,
        incident_id=present[0].id if present else None,
        data={k: payload[k] for k in ("service", "window", "threshold", "burn_rate", "since")},
    )
    return f"notified {lead}"
