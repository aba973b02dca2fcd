"""Action items: added by people or suggested by the rules, accepted or dropped, done.

A suggestion (status `suggested`) stays out of everyone's list until a person accepts it
(→ open) or drops it. Each suggestion rule proposes its item once per post-mortem: a
dropped suggestion does not come back when the post-mortem is edited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents import service as incidents
from tocsin.incidents.rules import format_incident_id
from tocsin.notify.refs import ExternalRef
from tocsin.pagination import paginate
from tocsin.policy import Policy
from tocsin.postmortems.document import ActionRow
from tocsin.postmortems.models import (
    ActionItem,
    ActionItemCreate,
    ActionItemRead,
    ActionItemUpdate,
    ExternalLink,
    Postmortem,
)
from tocsin.postmortems.rules import (
    OPEN_ACTION_STATUSES,
    ActionStatus,
    IllegalMove,
    IncidentFacts,
    ResponseMetrics,
    action_item_overdue,
    allowed_action_moves,
    check_action_move,
    format_postmortem_id,
    suggest_action_items,
)

__all__ = [
    "add",
    "edit",
    "for_postmortem",
    "get",
    "item_subject",
    "jira_links",
    "list_items",
    "refresh_suggestions",
    "rows",
    "to_reads",
]


def refresh_suggestions(
    *,
    session: Session,
    pm: Postmortem,
    facts: IncidentFacts,
    metrics: ResponseMetrics,
    now: datetime,
) -> list[ActionItem]:
    """Add the suggestions whose rule has not proposed an item for `pm` yet."""
    proposed = set(
        session.scalars(
            select(ActionItem.rule).where(
                ActionItem.postmortem_id == pm.id, ActionItem.rule.is_not(None)
            )
        )
    )
    added: list[ActionItem] = []
    root_cause = pm.sections.get("root_cause", "")
    for suggestion in suggest_action_items(facts, metrics, root_cause=root_cause):
        if suggestion.rule in proposed:
            continue
        item = ActionItem(
            postmortem_id=pm.id,
            title=suggestion.title,
            owner=pm.owner,
            due_date=(now + suggestion.due_in).date(),
            priority=suggestion.priority,
            status=ActionStatus.suggested.value,
            rule=suggestion.rule,
            reason=suggestion.reason,
            created_at=now,
            updated_at=now,
            created_by="tocsin",
        )
        session.add(item)
        added.append(item)
    if added:
        session.flush()
    return added


def add(
    *,
    session: Session,
    policy: Policy,
    pm: Postmortem,
    actor: str,
    data: ActionItemCreate,
    now: datetime,
) -> ActionItem:
    _check_owner(policy, data.owner)
    item = ActionItem(
        postmortem_id=pm.id,
        title=data.title,
        owner=data.owner,
        due_date=data.due_date,
        priority=data.priority.lower(),
        status=ActionStatus.open.value,
        link=data.link,
        rule=None,
        reason="",
        created_at=now,
        updated_at=now,
        created_by=actor,
    )
    session.add(item)
    session.flush()
    return item


def get(*, session: Session, item_id: int) -> ActionItem:
    item = session.get(ActionItem, item_id)
    if item is None:
        raise NotFound(f"action item {item_id} not found")
    return item


def edit(
    *,
    session: Session,
    policy: Policy,
    item: ActionItem,
    changes: ActionItemUpdate,
    now: datetime,
) -> ActionItem:
    target = _status(changes.status) if changes.status is not None else None
    if target is not None:
        try:
            check_action_move(ActionStatus(item.status), target)
        except IllegalMove as exc:
            raise Conflict(f"action item {item.id}: {exc}") from None
    _check_owner(policy, changes.owner)
    fields = changes.model_fields_set
    if changes.title is not None:
        item.title = changes.title
    if "owner" in fields:
        item.owner = changes.owner
    if "due_date" in fields:
        item.due_date = changes.due_date
    if changes.priority is not None:
        item.priority = changes.priority.lower()
    if "link" in fields:
        item.link = changes.link
    if target is not None and target.value != item.status:
        item.status = target.value
        item.completed_at = now if target is ActionStatus.done else None
    item.updated_at = now
    return item


def for_postmortem(*, session: Session, pm: Postmortem) -> list[ActionItem]:
    return list(
        session.scalars(
            select(ActionItem).where(ActionItem.postmortem_id == pm.id).order_by(ActionItem.id)
        )
    )


def list_items(
    *,
    session: Session,
    today: date,
    overdue: bool | None = None,
    owner: str | None = None,
    statuses: Sequence[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[ActionItem], int]:
    """Items across post-mortems; without a status filter, suggestions are left out."""
    query = select(ActionItem)
    wanted = [_status(s).value for raw in statuses for s in raw.split(",") if s.strip()]
    if wanted:
        query = query.where(ActionItem.status.in_(wanted))
    else:
        query = query.where(ActionItem.status != ActionStatus.suggested.value)
    if owner:
        query = query.where(ActionItem.owner == owner)
    if overdue is not None:
        late = (
            ActionItem.status.in_([s.value for s in OPEN_ACTION_STATUSES])
            & ActionItem.due_date.is_not(None)
            & (ActionItem.due_date < today)
        )
        query = query.where(late if overdue else ~late)
    ordered = query.order_by(ActionItem.due_date.is_(None), ActionItem.due_date, ActionItem.id)
    return paginate(session=session, query=ordered, limit=limit, offset=offset)


def to_reads(*, session: Session, items: Sequence[ActionItem], today: date) -> list[ActionItemRead]:
    """API views of `items`, with the post-mortem and incident each belongs to."""
    pm_ids = {i.postmortem_id for i in items}
    pms = (
        {pm.id: pm for pm in session.scalars(select(Postmortem).where(Postmortem.id.in_(pm_ids)))}
        if pm_ids
        else {}
    )
    numbers = incidents.numbers_by_id(session=session, ids={pm.incident_id for pm in pms.values()})
    issues = jira_links(session=session, item_ids=[i.id for i in items])
    reads: list[ActionItemRead] = []
    for item in items:
        pm = pms[item.postmortem_id]
        status = ActionStatus(item.status)
        reads.append(
            ActionItemRead(
                id=item.id,
                postmortem=format_postmortem_id(pm.number),
                incident=format_incident_id(numbers.get(pm.incident_id, 0)),
                title=item.title,
                owner=item.owner,
                due_date=item.due_date,
                priority=item.priority,
                status=item.status,
                link=item.link,
                suggested_by=item.rule,
                reason=item.reason,
                overdue=action_item_overdue(status, item.due_date, today),
                allowed_statuses=[s.value for s in allowed_action_moves(status)],
                created_at=item.created_at,
                updated_at=item.updated_at,
                created_by=item.created_by,
                completed_at=item.completed_at,
                jira=issues.get(item.id),
            )
        )
    return reads


def item_subject(item_id: int) -> str:
    """The item's subject in ``external_refs`` (its Jira issue)."""
    return f"action_item:{item_id}"


def jira_links(*, session: Session, item_ids: Sequence[int]) -> dict[int, ExternalLink]:
    """The Jira issues of the items that have one, by item id."""
    if not item_ids:
        return {}
    subjects = {item_subject(i): i for i in item_ids}
    refs = session.scalars(
        select(ExternalRef).where(
            ExternalRef.system == "jira",
            ExternalRef.kind == "issue",
            ExternalRef.subject.in_(list(subjects)),
        )
    )
    return {subjects[r.subject]: ExternalLink(key=r.external_id, url=r.url) for r in refs}


def rows(items: Sequence[ActionItem]) -> list[ActionRow]:
    """The document's action-item table: everything but dropped items."""
    return [
        ActionRow(i.title, i.owner, i.due_date, i.priority, i.status, i.link)
        for i in items
        if i.status != ActionStatus.dropped.value
    ]


def _status(value: str) -> ActionStatus:
    name = value.strip().lower().replace("-", "_")
    try:
        return ActionStatus(name)
    except ValueError:
        valid = ", ".join(s.value for s in ActionStatus)
        raise InvalidInput("status", f"unknown status {name!r}; valid: {valid}") from None


def _check_owner(policy: Policy, owner: str | None) -> None:
    """An owner is a person or a team from the policy."""
    if owner is not None and policy.person(owner) is None and policy.team(owner) is None:
        raise InvalidInput("owner", f"unknown person or team {owner!r}")
