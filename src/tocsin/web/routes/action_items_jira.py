"""Action items in Jira: push one item (``POST .../action-items/{item}/jira``) or sync a
post-mortem's items, or all (``POST /api/v1/action-items/jira-sync``). Thin handlers over
`tocsin.postmortems.jira_sync`, which talks to Jira outside any database transaction, so
these routes open their own short ones instead of the request's. Jira down or refusing
is a 502 that says why.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from tocsin.db import session_scope
from tocsin.errors import NotFound
from tocsin.postmortems import actions, jira_sync, service
from tocsin.postmortems.models import ActionItemRead
from tocsin.web.deps import ContextDep, Responder
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, tags=["postmortems"])
API = "/api/v1"


@router.post(
    f"{API}/postmortems/{{pm_id}}/action-items/{{item_id}}/jira",
    responses={502: {"description": "Jira could not be reached or refused the issue"}},
)
def push_action_item(
    pm_id: str, item_id: int, context: ContextDep, _p: Responder
) -> ActionItemRead:
    """Create the item's Jira issue (once) and pull its status back (Jira done → done)."""
    with session_scope(context.sessions, write=False) as session:
        pm = service.get(session=session, ref=pm_id)
        if actions.get(session=session, item_id=item_id).postmortem_id != pm.id:
            raise NotFound(f"action item {item_id} is not an item of {pm_id}")
    try:
        jira_sync.push(
            sessions=context.sessions,
            policy=context.policy.current,
            clock=context.clock,
            item_id=item_id,
        )
    except jira_sync.JiraUnavailable as exc:
        raise HTTPException(status_code=502, detail=str(exc)) from None
    with session_scope(context.sessions, write=False) as session:
        item = actions.get(session=session, item_id=item_id)
        return actions.to_reads(session=session, items=[item], today=context.clock.now().date())[0]


@router.post(f"{API}/action-items/jira-sync")
def sync_action_items(
    context: ContextDep,
    _p: Responder,
    postmortem: Annotated[
        str | None, Query(description="PM-3, or its incident INC-7; default: every item.")
    ] = None,
) -> jira_sync.SyncReport:
    """Push open items without an issue, pull the status of those with one."""
    results = jira_sync.sync(
        sessions=context.sessions,
        policy=context.policy.current,
        clock=context.clock,
        postmortem=postmortem,
    )
    return jira_sync.SyncReport(items=results)
