"""Post-mortems, action items and lessons learned: thin handlers over `tocsin.postmortems`.

Also the post-mortem's page (`GET /postmortems/{id}`), server-rendered with Jinja2
(autoescaped); section Markdown goes through markdown-it with raw HTML disabled.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from tocsin.auth import Principal, Role
from tocsin.postmortems import actions, insights, service
from tocsin.postmortems.document import SECTION_TITLES
from tocsin.postmortems.models import (
    ActionItemCreate,
    ActionItemList,
    ActionItemRead,
    ActionItemUpdate,
    PatternList,
    PostmortemList,
    PostmortemRead,
    PostmortemUpdate,
    SimilarList,
)
from tocsin.postmortems.rules import ActionStatus, PostmortemStatus
from tocsin.schemas import OneOf
from tocsin.web.dashboard.session import bearer_or_session
from tocsin.web.deps import (
    CurrentIncident,
    CurrentPolicy,
    CurrentPostmortem,
    NowClock,
    Responder,
    SessionDep,
    Viewer,
)
from tocsin.web.routing import RequestThreadRoute

#: The page opens with a bearer token (scripts) or a dashboard session (people).
PageViewer = Annotated[Principal, Depends(bearer_or_session(Role.viewer))]

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, tags=["postmortems"])
API = "/api/v1"

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
PostmortemStatuses = Annotated[
    list[Annotated[str, OneOf(tuple(PostmortemStatus), "status", comma_separated=True)]],
    Query(description="Repeatable or comma-separated"),
]
ActionStatuses = Annotated[
    list[Annotated[str, OneOf(tuple(ActionStatus), "status", comma_separated=True)]],
    Query(description="Repeatable or comma-separated"),
]

#: The page shows internal findings to a signed-in browser: not cached, not framed, no
#: script (its one inline <style> is the only style it needs).
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# ---------------------------------------------------------------- post-mortems


@router.post(f"{API}/incidents/{{incident_id}}/postmortem", status_code=201)
def create_postmortem(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    incident: CurrentIncident,
) -> PostmortemRead:
    """Draft the post-mortem of a resolved incident from its timeline."""
    now = clock.now()
    pm = service.create(
        session=session, policy=policy, incident=incident, actor=principal.actor, now=now
    )
    return service.to_read(session=session, policy=policy, pm=pm, now=now)


@router.get(f"{API}/incidents/{{incident_id}}/postmortem")
def get_incident_postmortem(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _p: Viewer,
    incident: CurrentIncident,
) -> PostmortemRead:
    pm = service.get_by_incident(session=session, incident=incident)
    return service.to_read(session=session, policy=policy, pm=pm, now=clock.now())


@router.get(f"{API}/incidents/{{incident_id}}/similar")
def similar_incidents(
    session: SessionDep,
    policy: CurrentPolicy,
    _p: Viewer,
    incident: CurrentIncident,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SimilarList:
    """Earlier incidents ranked by text (title, description, root cause) and services."""
    return insights.similar(session=session, policy=policy, incident=incident, limit=limit)


@router.get(f"{API}/postmortems")
def list_postmortems(
    session: SessionDep,
    clock: NowClock,
    _p: Viewer,
    status: PostmortemStatuses = [],  # noqa: B006
    overdue: bool | None = None,
    owner: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PostmortemList:
    now = clock.now()
    rows, total = service.list_postmortems(
        session=session,
        now=now,
        statuses=status,
        overdue=overdue,
        owner=owner,
        limit=limit,
        offset=offset,
    )
    items = [service.to_summary(session=session, pm=pm, now=now) for pm in rows]
    return PostmortemList(items=items, total=total, limit=limit, offset=offset)


# Declared before `/postmortems/{pm_id}`, which would otherwise take "PM-1.md" as an id.
@router.get(
    f"{API}/postmortems/{{pm_id}}.md",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}},
)
def postmortem_markdown(
    session: SessionDep, policy: CurrentPolicy, clock: NowClock, _p: Viewer, pm: CurrentPostmortem
) -> Response:
    read = service.to_read(session=session, policy=policy, pm=pm, now=clock.now())
    return Response(read.markdown, media_type="text/markdown; charset=utf-8")


@router.get(f"{API}/postmortems/{{pm_id:ref}}")
def get_postmortem(
    session: SessionDep, policy: CurrentPolicy, clock: NowClock, _p: Viewer, pm: CurrentPostmortem
) -> PostmortemRead:
    return service.to_read(session=session, policy=policy, pm=pm, now=clock.now())


@router.patch(f"{API}/postmortems/{{pm_id:ref}}")
def edit_postmortem(
    body: PostmortemUpdate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    pm: CurrentPostmortem,
) -> PostmortemRead:
    """Edit sections (Markdown), root-cause category, tags, owner, customer impact."""
    now = clock.now()
    service.edit(
        session=session, policy=policy, pm=pm, actor=principal.actor, changes=body, now=now
    )
    return service.to_read(session=session, policy=policy, pm=pm, now=now)


def _add_move_route(action: str, target: PostmortemStatus, summary: str) -> None:
    """POST /submit and /publish differ only in the status they move to."""

    def move(
        session: SessionDep,
        policy: CurrentPolicy,
        clock: NowClock,
        principal: Responder,
        pm: CurrentPostmortem,
    ) -> PostmortemRead:
        now = clock.now()
        service.move(
            session=session, policy=policy, pm=pm, target=target, actor=principal.actor, now=now
        )
        return service.to_read(session=session, policy=policy, pm=pm, now=now)

    path = f"{API}/postmortems/{{pm_id}}/{action}"
    router.post(path, name=f"{action}_postmortem", summary=summary)(move)


_add_move_route("submit", PostmortemStatus.in_review, "Submit a draft for review")
_add_move_route("publish", PostmortemStatus.published, "Publish a reviewed post-mortem")


# ---------------------------------------------------------------- action items


@router.post(f"{API}/postmortems/{{pm_id}}/action-items", status_code=201)
def add_action_item(
    body: ActionItemCreate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
    pm: CurrentPostmortem,
) -> ActionItemRead:
    now = clock.now()
    item = actions.add(
        session=session, policy=policy, pm=pm, actor=principal.actor, data=body, now=now
    )
    return actions.to_reads(session=session, items=[item], today=now.date())[0]


@router.get(f"{API}/postmortems/{{pm_id}}/action-items")
def list_postmortem_action_items(
    session: SessionDep, clock: NowClock, _p: Viewer, pm: CurrentPostmortem
) -> ActionItemList:
    items = actions.for_postmortem(session=session, pm=pm)
    reads = actions.to_reads(session=session, items=items, today=clock.now().date())
    return ActionItemList(items=reads, total=len(reads))


@router.patch(f"{API}/action-items/{{item_id:int}}")
def edit_action_item(
    item_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: ActionItemUpdate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _p: Responder,
) -> ActionItemRead:
    """Accept (`status: open`) or drop a suggestion; update, complete or reopen an item."""
    now = clock.now()
    item = actions.get(session=session, item_id=item_id)
    actions.edit(session=session, policy=policy, item=item, changes=body, now=now)
    return actions.to_reads(session=session, items=[item], today=now.date())[0]


@router.get(f"{API}/action-items")
def list_action_items(
    session: SessionDep,
    clock: NowClock,
    _p: Viewer,
    overdue: bool | None = None,
    owner: str | None = None,
    status: ActionStatuses = [],  # noqa: B006
    limit: Limit = 100,
    offset: Offset = 0,
) -> ActionItemList:
    """Action items of every post-mortem (suggestions only when asked for by status)."""
    today = clock.now().date()
    rows, total = actions.list_items(
        session=session,
        today=today,
        overdue=overdue,
        owner=owner,
        statuses=status,
        limit=limit,
        offset=offset,
    )
    return ActionItemList(
        items=actions.to_reads(session=session, items=rows, today=today), total=total
    )


# ---------------------------------------------------------------- lessons learned


@router.get(f"{API}/patterns")
def recurring_patterns(
    session: SessionDep,
    clock: NowClock,
    _p: Viewer,
    days: Annotated[int, Query(ge=1, le=3650)] = 90,
) -> PatternList:
    """Root-cause categories seen more than twice in the last `days` days."""
    return insights.patterns(session=session, now=clock.now(), days=days)


# ---------------------------------------------------------------- page


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("tocsin.web", "templates"),
        auto_reload=False,
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # Raw HTML in a section is shown as text, never passed through.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


@router.get("/postmortems/{pm_id}", response_class=HTMLResponse, include_in_schema=False)
def postmortem_page(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _p: PageViewer,
    pm: CurrentPostmortem,
) -> HTMLResponse:
    read = service.to_read(session=session, policy=policy, pm=pm, now=clock.now())
    html = {key: Markup(_markdown().render(text)) for key, text in read.sections.items()}
    page = (
        _templates()
        .get_template("postmortem.html")
        .render(
            pm=read,
            titles=SECTION_TITLES,
            html=html,
            items=[i for i in read.action_items if i.status != "dropped"],
        )
    )
    return HTMLResponse(page, headers=_PAGE_HEADERS)
