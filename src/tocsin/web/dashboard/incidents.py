"""The incident list (``/dashboard``) and an incident's page, read through the same
services as the API.

The list is in one of three orders: ``urgent`` (the default: open incidents of the two
worst severities first, worst first, then everything newest first), ``severity`` (worst
first, newest first within a severity) or ``newest``. Each order is a few bounded reads
of the incidents service, one per severity at most. It shows :data:`PAGE_SIZE`
incidents a page, up to :data:`MOST_PAGES` pages: the open incidents of the moment are
on the first, and older history is a matter for the filters (or the API's cursor).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy.orm import Session

from tocsin.alerts import service as alerts
from tocsin.auth import Role
from tocsin.checklists import service as checklists
from tocsin.errors import InvalidInput, NotFound
from tocsin.hints import service as hints
from tocsin.incidents import service
from tocsin.incidents.models import Incident, IncidentRead
from tocsin.incidents.queries import list_reads
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus
from tocsin.notify.outbox import deliveries_of
from tocsin.notify.service import list_notifications
from tocsin.policy import Policy, UnknownSeverity
from tocsin.postmortems import service as postmortems
from tocsin.postmortems.rules import format_postmortem_id
from tocsin.runbooks import service as runbooks
from tocsin.runbooks.models import RunKind
from tocsin.web.dashboard.session import Viewer
from tocsin.web.dashboard.views import age, page, render_fragment
from tocsin.web.deps import CurrentPolicy, NowClock, SessionDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["incident_row", "router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/dashboard", include_in_schema=False)

#: Incidents on one page of the list (rendering 200 took four times as long, and the
#: open incidents of the moment come first in the default order).
PAGE_SIZE = 50
#: The list pages through the first ``PAGE_SIZE * MOST_PAGES`` incidents of an order
#: (deeper pages would read every row before them).
MOST_PAGES = 40
NOTIFICATION_LIMIT = 200
#: The incident page lists this many of its alerts (an alert storm holds thousands).
ALERT_LIMIT = 100
Filter = Annotated[str, Query(max_length=100)]
#: Open incidents of a severity ranked this or worse go first in the ``urgent`` order
#: (SEV1 and SEV2; the dashboard also beeps for them).
URGENT_RANK = 2


class Order(StrEnum):
    urgent = "urgent"
    severity = "severity"
    newest = "newest"


def order_labels(policy: Policy) -> dict[Order, str]:
    """``Open SEV1/SEV2 first`` (the policy's worst severities), and the other orders."""
    urgent = "/".join(s.name for s in policy.severities if s.rank <= URGENT_RANK)
    return {
        Order.urgent: f"Open {urgent} first",
        Order.severity: "Severity, worst first",
        Order.newest: "Newest first",
    }


#: Rows rendered, by everything a row shows: the first page of the list looks the same
#: to everyone who opens it until one of its incidents changes (or grows a minute
#: older), and escaping every value of every row was a sixth of the page's time.
_rendered: dict[tuple[Any, ...], str] = {}
#: Rows kept: past this, the next row rendered starts them afresh.
MOST_ROWS_KEPT = 4_096


def incident_rows(reads: list[IncidentRead], now: datetime) -> Markup:
    """Incidents of the list, as HTML: each row as it was rendered last, if nothing it
    shows has changed; those that did in one rendering (one per row cost a fifth of the
    list's time)."""
    shown = [_shown(read, now) for read in reads]
    rows = {key: _rendered.get(key) for key in shown}  # another request may clear them
    missing = {key: read for key, read in zip(shown, reads, strict=True) if rows[key] is None}
    if missing:
        if len(_rendered) + len(missing) > MOST_ROWS_KEPT:
            _rendered.clear()
        html = str(
            render_fragment(
                "dashboard/_incident_rows.html",
                rows=[(read, key[-1]) for key, read in missing.items()],
            )
        )
        for key, row in zip(missing, html.split(_ROW_END), strict=False):
            rows[key] = _rendered[key] = row + _ROW_END
    return Markup("".join(rows[key] or "" for key in shown))


#: How each row of ``_incident_rows.html`` ends (no row holds it before its end: every
#: value in a row is escaped).
_ROW_END = "</li>\n"


def _shown(read: IncidentRead, now: datetime) -> tuple[Any, ...]:
    """Everything the row of ``read`` shows, its age last."""
    started = read.started_at or read.detected_at
    return (
        read.number,
        read.title,
        read.status,
        read.severity,
        read.severity_rank,
        tuple(read.services),
        read.drill,
        started,
        age(started, now),
    )


def incident_row(read: IncidentRead, now: datetime) -> Markup:
    """One incident of the list, as HTML (also sent over SSE to update open lists)."""
    return incident_rows([read], now)


def _filters(policy: Policy) -> dict[str, list[tuple[str, str]]]:
    statuses = [("", "All"), ("active", "Open (not resolved)")]
    statuses += [(s.value, s.value.capitalize()) for s in IncidentStatus]
    return {
        "status": statuses,
        "severity": [("", "All")] + [(s.name, s.name) for s in policy.severities],
        "service": [("", "All")] + [(s.name, s.name) for s in policy.services],
        "sort": [(o.value, text) for o, text in order_labels(policy).items()],
    }


def _open_part(status: str) -> list[str]:
    """The open statuses the ``status`` filter lets through (none for resolved/closed)."""
    if status in ("", "active"):
        return [s.value for s in ACTIVE_STATUSES]
    return [status] if status in {s.value for s in ACTIVE_STATUSES} else []


def _ordered(
    *,
    session: Session,
    policy: Policy,
    status: str,
    severity: str,
    service_name: str | None,
    order: Order,
    offset: int = 0,
) -> tuple[list[IncidentRead], int]:
    """The :data:`PAGE_SIZE` incidents after the first ``offset`` matching the filters,
    in ``order``; and how many match in all. Raises :class:`InvalidInput` for an
    unknown filter value."""
    statuses = [status] if status else []
    if order is Order.newest:
        return list_reads(
            session=session,
            policy=policy,
            statuses=statuses,
            severity=severity or None,
            service=service_name,
            limit=PAGE_SIZE,
            offset=offset,
        )
    try:
        chosen = policy.severity(severity).name if severity else None
    except UnknownSeverity as exc:
        raise InvalidInput("severity", str(exc)) from None
    levels = [s for s in policy.severities if chosen in (None, s.name)]
    first_statuses = statuses
    if order is Order.urgent:
        first_statuses = _open_part(status)
        levels = [s for s in levels if s.rank <= URGENT_RANK] if first_statuses else []
    # Each group is read only as far as the pages up to this one still have room, and
    # counted never: the one count is the whole filter's (a count walks every match, a
    # page only its rows).
    wanted = offset + PAGE_SIZE
    ordered: list[IncidentRead] = []
    seen: set[int] = set()
    for level in [*(level.name for level in levels), None]:
        room = wanted - len(ordered)
        if room <= 0:
            break
        last = level is None  # the rest, newest first
        part, _ = list_reads(
            session=session,
            policy=policy,
            statuses=statuses if last else first_statuses,
            severity=(severity or None) if last else level,
            service=service_name,
            # The rest may repeat every incident already placed.
            limit=room + len(ordered) if last else room,
            with_total=False,
        )
        for incident in part:
            if incident.number not in seen:
                seen.add(incident.number)
                ordered.append(incident)
    _, total = list_reads(
        session=session,
        policy=policy,
        statuses=statuses,
        severity=severity or None,
        service=service_name,
        limit=0,
    )
    return ordered[offset:wanted], total


def _page_number(text: str) -> int:
    """The ``page`` parameter: 1 (the first) when absent."""
    if not text:
        return 1
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MOST_PAGES:
        raise InvalidInput(
            "page",
            f"{text!r} is not a page of the list; pages go from 1 to {MOST_PAGES} "
            f"({PAGE_SIZE} incidents each; narrow the filters to see older ones)",
        )
    return int(text)


def _pages(
    number: int, shown: int, total: int, chosen: dict[str, str]
) -> dict[str, str | int | None]:
    """What the list says about its place: the rows shown, and the links to the newer
    and older pages (with the same filters)."""
    first = (number - 1) * PAGE_SIZE + 1

    def link(to: int) -> str:
        query = urlencode(
            {name: value for name, value in chosen.items() if value}
            | ({"page": to} if to > 1 else {})
        )
        return f"/dashboard?{query}" if query else "/dashboard"

    more = first - 1 + shown < total
    return {
        "number": number,
        "first": first,
        "last": first - 1 + shown,
        "newer": link(number - 1) if number > 1 else None,
        "older": link(number + 1) if more and number < MOST_PAGES else None,
        "capped": more and number >= MOST_PAGES,
    }


@router.get("")
def incident_list(
    request: Request,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    user: Viewer,
    status: Filter = "",
    severity: Filter = "",
    service_name: Annotated[str, Query(alias="service", max_length=100)] = "",
    sort: Filter = "",
    page_number: Annotated[str, Query(alias="page", max_length=20)] = "",
) -> HTMLResponse:
    now = clock.now()
    error = None
    reads: list[IncidentRead] = []
    total = 0
    order = Order.urgent
    number = 1
    try:
        number = _page_number(page_number)
        if sort:
            try:
                order = Order(sort)
            except ValueError:
                raise InvalidInput(
                    "sort", f"{sort!r} is not an order; use one of {', '.join(Order)}"
                ) from None
        reads, total = _ordered(
            session=session,
            policy=policy,
            status=status,
            severity=severity,
            service_name=service_name or None,
            order=order,
            offset=(number - 1) * PAGE_SIZE,
        )
    except InvalidInput as exc:
        error = str(exc)
    chosen = {"status": status, "severity": severity, "service": service_name, "sort": sort}
    return page(
        request,
        "dashboard/incidents.html",
        user=user,
        active="incidents",
        status_code=422 if error else 200,
        error=error,
        incidents=reads,
        rows=incident_rows(reads, now),
        total=total,
        pages=_pages(number, len(reads), total, chosen),
        filters=_filters(policy),
        chosen={
            "status": status,
            "severity": severity,
            "service": service_name,
            "sort": order.value,
        },
        order=order.value,
        order_text=order_labels(policy)[order],
        urgent_rank=URGENT_RANK,
    )


@dataclass(frozen=True)
class _Choices:
    severities: list[str]
    roles: list[tuple[str, str]]
    people: list[tuple[str, str]]
    statuses: list[str]


#: Statuses an update can move the incident to (the buttons cover the others).
_UPDATE_STATUSES = (
    IncidentStatus.investigating,
    IncidentStatus.identified,
    IncidentStatus.monitoring,
    IncidentStatus.resolved,
)
#: The lifecycle buttons: the action's path, its label, the status it moves to.
_MOVES = (
    ("acknowledge", "Acknowledge", IncidentStatus.acknowledged),
    ("resolve", "Resolve", IncidentStatus.resolved),
    ("close", "Close", IncidentStatus.closed),
    ("reopen", "Reopen", IncidentStatus.triggered),
)
COMMANDER_ROLE = "commander"


def _choices(policy: Policy, read: IncidentRead) -> _Choices:
    allowed = set(read.allowed_transitions)
    return _Choices(
        severities=[s.name for s in policy.severities],
        roles=[(r.name, r.label) for r in policy.roles],
        people=[(p.name, p.full_name or p.name) for p in policy.people],
        statuses=[s.value for s in _UPDATE_STATUSES if s.value in allowed],
    )


def actions_for(read: IncidentRead) -> list[tuple[str, str]]:
    """The buttons the incident offers now, as (path, label): the moves its status
    allows (Reopen for a resolved one), and Escalate while it is open."""
    allowed = set(read.allowed_transitions)
    is_open = read.status in {s.value for s in ACTIVE_STATUSES}
    buttons = []
    for path, text, target in _MOVES:
        if target.value in allowed:
            buttons.append((path, text))
        if target is IncidentStatus.acknowledged and is_open:
            buttons.append(("escalate", "Escalate"))
    return buttons


@dataclass(frozen=True)
class PostmortemLink:
    ref: str
    status: str


def _postmortem(session: Session, incident: Incident) -> PostmortemLink | None:
    try:
        pm = postmortems.get_by_incident(session=session, incident=incident)
    except NotFound:
        return None
    return PostmortemLink(format_postmortem_id(pm.number), pm.status.replace("_", " "))


def incident_context(
    *, session: Session, policy: Policy, incident: Incident, now: datetime
) -> dict[str, Any]:
    """Everything the incident page shows, as the API would return it."""
    read = service.to_read(incident)
    linked = alerts.alerts_for_incident(session=session, incident_id=incident.id, limit=ALERT_LIMIT)
    notifications, notification_total = list_notifications(
        session=session, incident_id=incident.id, limit=NOTIFICATION_LIMIT
    )
    role_labels = {r.name: r.label for r in policy.roles}
    return {
        "incident": read,
        "hints": hints.overview(session=session, policy=policy, incident=incident),
        "role_labels": role_labels,
        "commander_label": role_labels.get(COMMANDER_ROLE, "Incident commander"),
        "commanders": read.roles.get(COMMANDER_ROLE, []),
        "actions": actions_for(read),
        "postmortem": _postmortem(session, incident),
        "timeline": [
            service.timeline_to_read(e)
            for e in service.timeline(session=session, incident=incident)
        ],
        "updates": [
            service.update_to_read(incident, u)
            for u in service.list_updates(session=session, incident=incident)
        ],
        "alerts": alerts.alerts_to_read(session=session, alerts=linked),
        "alert_total": alerts.count_for_incident(session=session, incident_id=incident.id),
        "storm": alerts.storm_for_incident(session=session, incident_id=incident.id),
        "notifications": notifications,
        "notification_total": notification_total,
        "deliveries": deliveries_of(
            session=session, notification_ids=[n.id for n in notifications]
        ),
        "choices": _choices(policy, read),
        "tasks": checklists.task_list(session=session, policy=policy, incident=incident, now=now),
        "collectors": sorted(policy.diagnostics.collectors),
        "diagnostics": runbooks.list_runs(
            session=session, incident=incident, kind=RunKind.diagnostic
        ),
        "playbooks": [  # a trigger being checked or that did not hold: nothing to show
            run
            for run in runbooks.list_runs(session=session, incident=incident, kind=RunKind.playbook)
            if run.state not in ("checking", "not_triggered")
        ],
    }


@router.get("/incidents/{incident_id}")
def incident_page(
    request: Request,
    incident_id: str,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    user: Viewer,
) -> HTMLResponse:
    try:
        incident = service.get(session=session, ref=incident_id)
    except NotFound as exc:
        return page(
            request,
            "dashboard/message.html",
            user=user,
            active="incidents",
            status_code=404,
            heading="Incident not found",
            text=str(exc),
        )
    return page(
        request,
        "dashboard/incident.html",
        user=user,
        active="incidents",
        can_act=user.role.allows(Role.responder),
        **incident_context(session=session, policy=policy, incident=incident, now=clock.now()),
    )
