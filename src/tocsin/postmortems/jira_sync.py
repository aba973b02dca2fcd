"""Action items in Jira: push each item to one Jira issue, and pull the issue's status
back (an issue whose status is in Jira's "done" category completes the item).

**Synchronous, with a clear error.** Pushing is something a person asks for
(``tocsin actions sync-jira`` or ``POST .../action-items/{id}/jira``) and wants to see
the outcome of: the issue key, or why Jira refused. So it runs in the request, and a
Jira that is down or refuses answers 502 naming the reason; running the command again
is safe. Every item's issue carries the label ``tocsin-action-<id>``, and an item
without a stored key is first looked for by it, so a push whose answer was lost never
makes a second issue. The Jira calls run outside any database transaction (the
functions here open their own short ones), so a slow Jira never holds a database lock.

The channel is the policy's ``type: jira`` channel with ``action_items: true`` (the
default); its ``priorities`` map p1..p4 to Jira priorities, and the due date becomes
the issue's ``duedate``. The key is kept in ``external_refs`` (subject
``action_item:<id>``) and shows in the item's API view as ``jira``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.errors import Conflict, TocsinError
from tocsin.incidents import service as incidents
from tocsin.incidents.rules import format_incident_id
from tocsin.notify.channels.base import PermanentError, SendError, TemporaryError
from tocsin.notify.channels.jira_client import IssueFacts, JiraTracker
from tocsin.notify.channels.links import PUBLIC_URL_ENV
from tocsin.notify.channels.services import ChannelServices
from tocsin.notify.refs import put_ref
from tocsin.policy import Policy
from tocsin.policy.channels import JiraChannel
from tocsin.postmortems import actions, service
from tocsin.postmortems.models import ActionItem, ActionItemUpdate, Postmortem
from tocsin.postmortems.rules import ActionStatus, format_postmortem_id

__all__ = ["JiraUnavailable", "SyncReport", "SyncResult", "jira_channel", "push", "sync"]

SYSTEM = "jira"
_PUSHABLE = {ActionStatus.open.value, ActionStatus.in_progress.value, ActionStatus.done.value}
_OPEN = {ActionStatus.open.value, ActionStatus.in_progress.value}

#: A claim to create an item's issue older than this is taken over (its request died, or
#: its answer was lost and the issue is found by its label on the next push).
_CLAIM_STALE = timedelta(minutes=2)


class JiraUnavailable(TocsinError):
    """Jira could not be reached or refused the request (the message says which)."""


class SyncResult(BaseModel):
    item: int
    #: created | linked (found by its label) | synced | completed (Jira said done) | failed
    outcome: str
    key: str | None = None
    url: str | None = None
    jira_status: str | None = None
    error: str | None = None


class SyncReport(BaseModel):
    items: list[SyncResult]


@dataclass(frozen=True)
class _Item:
    id: int
    status: str
    fields: dict[str, Any]
    key: str | None


def jira_channel(policy: Policy) -> tuple[str, JiraChannel]:
    """The policy's Jira channel for action items (exactly one must take them)."""
    found = [
        (name, config)
        for name, config in policy.channels.items()
        if isinstance(config, JiraChannel) and config.action_items
    ]
    if not found:
        raise Conflict("no Jira channel for action items: add a channel of type jira")
    if len(found) > 1:
        names = ", ".join(name for name, _ in found)
        raise Conflict(
            f"several Jira channels take action items ({names}): set action_items: false "
            "on all but one"
        )
    return found[0]


def push(
    *,
    sessions: SessionFactory,
    policy: Policy,
    clock: Clock,
    item_id: int,
    environ: Mapping[str, str] | None = None,
) -> SyncResult:
    """Create (or find) the item's Jira issue and pull its status back."""
    name, config = jira_channel(policy)
    with session_scope(sessions, write=False) as session:
        item = actions.get(session=session, item_id=item_id)
        if item.status not in _PUSHABLE:
            raise Conflict(
                f"action item {item_id} is {item.status}: only open, in-progress and done "
                "items go to Jira (accept a suggestion first)"
            )
        [facts] = _items(
            session=session, policy=policy, config=config, rows=[item], environ=environ
        )
    tracker = JiraTracker(config, os.environ if environ is None else environ)
    try:
        return _sync_one(sessions, policy, clock, tracker, name, facts)
    except SendError as exc:
        raise JiraUnavailable(f"Jira ({name} channel): {exc}") from None


def sync(
    *,
    sessions: SessionFactory,
    policy: Policy,
    clock: Clock,
    postmortem: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[SyncResult]:
    """Push every open item without an issue and pull the status of every item with
    one, for one post-mortem (``PM-3``, or its incident ``INC-7``) or all of them. An
    item Jira refuses is reported as failed; the others go on."""
    name, config = jira_channel(policy)
    with session_scope(sessions, write=False) as session:
        query = select(ActionItem).where(ActionItem.status.in_(sorted(_PUSHABLE)))
        if postmortem is not None:
            query = query.where(
                ActionItem.postmortem_id == _postmortem_id(session=session, ref=postmortem)
            )
        rows = list(session.scalars(query.order_by(ActionItem.id)))
        items = [
            i
            for i in _items(
                session=session, policy=policy, config=config, rows=rows, environ=environ
            )
            if i.key is not None or i.status in _OPEN
        ]
    tracker = JiraTracker(config, os.environ if environ is None else environ)
    results: list[SyncResult] = []
    for item in items:
        try:
            results.append(_sync_one(sessions, policy, clock, tracker, name, item))
        except SendError as exc:
            results.append(SyncResult(item=item.id, outcome="failed", key=item.key, error=str(exc)))
    return results


# ---------------------------------------------------------------- the steps


def _sync_one(
    sessions: SessionFactory,
    policy: Policy,
    clock: Clock,
    tracker: JiraTracker,
    channel: str,
    item: _Item,
) -> SyncResult:
    label = item.fields["labels"][0]
    # Two pushes at once (a double click, the CLI beside the API): one creates.
    services, holder = ChannelServices(sessions, clock), uuid.uuid4().hex
    claim = {"system": SYSTEM, "subject": actions.item_subject(item.id)}
    claimed = False
    try:
        with tracker.session() as client:
            outcome = "synced"
            issue: IssueFacts | None = tracker.get(client, item.key) if item.key else None
            if issue is None:
                issue = tracker.find_by_label(client, label)
                outcome = "linked"
            if issue is None:
                claimed = services.claim(**claim, holder=holder, stale_after=_CLAIM_STALE)
                if not claimed:
                    raise TemporaryError(
                        "another request is creating this item's Jira issue; try again in a moment"
                    )
                created = tracker.create(client, item.fields)
                issue = tracker.get(client, created.key)
                outcome = "created"
    except (TemporaryError, PermanentError):  # Jira refused: nothing was created
        if claimed:
            services.release(**claim, holder=holder)
        raise
    with session_scope(sessions) as session:
        now = clock.now()
        put_ref(
            session=session,
            system=SYSTEM,
            kind="issue",
            subject=actions.item_subject(item.id),
            external_id=issue.key,
            url=issue.url,
            data={"channel": channel, "status": issue.status, "category": issue.category},
            now=now,
        )
        row = actions.get(session=session, item_id=item.id)
        if issue.category == "done" and row.status in _OPEN:
            actions.edit(
                session=session,
                policy=policy,
                item=row,
                changes=ActionItemUpdate(status=ActionStatus.done.value),
                now=now,
            )
            outcome = "completed"
    return SyncResult(
        item=item.id, outcome=outcome, key=issue.key, url=issue.url, jira_status=issue.status
    )


def _items(
    *,
    session: Session,
    policy: Policy,
    config: JiraChannel,
    rows: Sequence[ActionItem],
    environ: Mapping[str, str] | None,
) -> list[_Item]:
    """What each item's issue says, read in the caller's transaction."""
    project = config.action_item_project or config.project
    if project is None:
        raise Conflict("the Jira channel sets neither action_item_project nor project")
    keys = actions.jira_links(session=session, item_ids=[r.id for r in rows])
    pm_ids = {r.postmortem_id for r in rows}
    pms = {pm.id: pm for pm in session.scalars(select(Postmortem).where(Postmortem.id.in_(pm_ids)))}
    numbers = incidents.numbers_by_id(session=session, ids={pm.incident_id for pm in pms.values()})
    base = (os.environ if environ is None else environ).get(PUBLIC_URL_ENV, "").rstrip("/")
    found: list[_Item] = []
    for row in rows:
        pm = pms[row.postmortem_id]
        pm_id = format_postmortem_id(pm.number)
        lines = [
            f"Action item {row.id} from post-mortem {pm_id} "
            f"({format_incident_id(numbers.get(pm.incident_id, 0))}).",
            f"Owner: {_owner(policy, row.owner)}",
            f"Due: {row.due_date.isoformat() if row.due_date else 'not set'}",
            f"Priority: {row.priority.upper()}",
        ]
        if row.reason:
            lines.append(f"Why: {row.reason}")
        if row.link:
            lines.append(f"Link: {row.link}")
        if base.startswith(("http://", "https://")):
            lines.append(f"Post-mortem: {base}/postmortems/{pm_id}")
        fields: dict[str, Any] = {
            "project": {"key": project},
            "issuetype": {"name": config.action_item_type or config.issue_type},
            "summary": row.title[:255],
            "description": "\n".join(lines),
            "labels": [f"{config.label_prefix}-action-{row.id}", *config.labels],
        }
        if row.due_date is not None:
            fields["duedate"] = row.due_date.isoformat()
        priority = config.priorities.get(row.priority)
        if priority:
            fields["priority"] = {"name": priority}
        link = keys.get(row.id)
        found.append(_Item(row.id, row.status, fields, link.key if link else None))
    return found


def _owner(policy: Policy, owner: str | None) -> str:
    if not owner:
        return "nobody yet"
    person = policy.person(owner)
    if person is None:
        return f"team {owner}"
    return f"{person.display_name} <{person.email}>" if person.email else person.display_name


def _postmortem_id(*, session: Session, ref: str) -> int:
    if ref.strip().lower().startswith("inc-"):
        incident = incidents.get(session=session, ref=ref)
        return service.get_by_incident(session=session, incident=incident).id
    return service.get(session=session, ref=ref).id
