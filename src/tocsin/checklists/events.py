"""The incident hooks and the outbox observer that attach and tick checklists.

:func:`tocsin.wiring.wire` registers them; each runs in the transaction of the change
it hears of. They are registered after the hooks of the chat channel and the status
page, so that what those wrote is there to be seen when items are ticked.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.checklists import service
from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.notify.channels.slack import OPEN_CHANNEL
from tocsin.notify.models import Delivery, Notification, NotificationKind
from tocsin.notify.observers import DeliveryOutcome
from tocsin.policy import Policy
from tocsin.policy.checklists import AutoTick

__all__ = [
    "on_declared",
    "on_delivery",
    "on_event",
    "on_role_assigned",
    "on_severity_changed",
    "on_update_posted",
]


def on_declared(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """A new incident gets the lists of its severity and of its roles."""
    if not policy.checklists:
        return
    waiting = service.attach_when_declared(
        session=session, policy=policy, incident=incident, now=now, new=True
    )
    service.refresh(session=session, incident=incident, now=now, waiting=waiting, new=True)


def on_severity_changed(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """A severity that calls for more lists adds them; the status page may have changed."""
    if not policy.checklists:
        return
    service.attach_when_declared(session=session, policy=policy, incident=incident, now=now)
    service.refresh(session=session, incident=incident, now=now)


def on_role_assigned(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    if not policy.checklists:
        return
    service.attach_for_roles(session=session, policy=policy, incident=incident, now=now)
    service.refresh(session=session, incident=incident, now=now)


def on_event(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """Something happened that may satisfy an item (an acknowledgement, a severity
    change that put the incident on the status page)."""
    service.refresh(session=session, incident=incident, now=now)


def on_update_posted(
    *,
    session: Session,
    policy: Policy,
    incident: Incident,
    update: StatusUpdate,
    actor: str,
    now: datetime,
) -> None:
    service.refresh(session=session, incident=incident, now=now)


def on_delivery(*, session: Session, row: Delivery, outcome: DeliveryOutcome) -> None:
    """The chat adapter opened an incident's channel: its items tick."""
    if (
        outcome is not DeliveryOutcome.sent
        or row.incident_id is None
        or row.kind != NotificationKind.broadcast.value
    ):
        return
    message = session.get(Notification, row.notification_id)
    chat = message.data.get("slack") if message is not None else None
    if not isinstance(chat, dict) or chat.get("op") != OPEN_CHANNEL:
        return
    incident = session.get(Incident, row.incident_id)
    if incident is not None:
        now = row.sent_at or incident.updated_at
        service.auto_tick(
            session=session, incident=incident, events=[AutoTick.channel_created], now=now
        )
