"""What holds a due delivery back at dispatch: a delayed step of a person's
notification rules that the incident's progress made moot (cancelled), or a channel's
rate limit (delayed, with the reason on the row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.incidents.rules import IncidentStatus, format_incident_id
from tocsin.incidents.service import get_by_id
from tocsin.notify import deliveries, outbox
from tocsin.notify.models import Delivery
from tocsin.notify.rules import rate_limit_text, throttled_until
from tocsin.policy.channels import ChannelConfig, RateLimit

__all__ = ["cancel_if_moot", "delay_if_throttled"]

_DONE_STATES = {IncidentStatus.resolved.value, IncidentStatus.closed.value}


def cancel_if_moot(*, session: Session, row: Delivery) -> bool:
    """Cancel a delayed step the incident's progress made moot; True if it did."""
    if row.unless is None or row.incident_id is None:
        return False
    incident = get_by_id(session=session, incident_id=row.incident_id, with_related=False)
    if incident is None:
        reason = "skipped: the incident no longer exists"
    else:
        moot = incident.status in _DONE_STATES or (
            row.unless == "acknowledged" and incident.status != IncidentStatus.triggered
        )
        if not moot:
            return False
        reason = f"skipped: {format_incident_id(incident.number)} was {incident.status}"
    deliveries.cancel(session=session, row=row, reason=reason)
    return True


def delay_if_throttled(
    *, session: Session, row: Delivery, channel: str, config: ChannelConfig, now: datetime
) -> bool:
    """Delay ``row`` if a rate limit holds it back; True if it did. (The sends claimed
    earlier in this transaction count: the query autoflushes them.)"""
    checks: list[tuple[RateLimit, list[datetime], str | None]] = []
    if config.rate_limit is not None:
        since = now - config.rate_limit.per
        recent = outbox.recent_starts(session=session, channel=channel, since=since)
        checks.append((config.rate_limit, recent, None))
    if config.person_rate_limit is not None and row.person:
        since = now - config.person_rate_limit.per
        recent = outbox.recent_starts(
            session=session, channel=channel, since=since, person=row.person
        )
        checks.append((config.person_rate_limit, recent, row.person))
    for limit, recent, person in checks:
        until = throttled_until(limit, recent, now)
        if until is not None:
            reason = rate_limit_text(limit, channel, person)
            deliveries.delay(session=session, row=row, until=until, reason=reason)
            return True
    return False
