"""Audited timestamp corrections: when an incident's recorded times are wrong (the
page was acknowledged by phone and clicked an hour later, impact began before anyone
declared), a responder corrects them with a reason.

The rule (:func:`check_corrections`, pure): only a milestone the incident has reached
can be corrected (``started_at`` and ``detected_at`` always can); no time may be later
than now (plus the clock skew declaring allows); and afterwards the milestones must
still be in order — started ≤ detected ≤ acknowledged ≤ mitigated ≤ resolved ≤ closed.
The service writes the new times and one ``times_corrected`` timeline entry with
every change (from, to) and the reason; the metrics read the incident's columns, so
they follow on their next read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput
from tocsin.incidents.models import Incident
from tocsin.incidents.timeline import record

__all__ = ["CORRECTABLE", "check_corrections", "correct_times"]

#: The times a correction may set, in the order they must keep.
CORRECTABLE = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
_ORDER = (*CORRECTABLE, "closed_at")
#: How far into the future a client's clock may be (as when declaring).
CLOCK_SKEW = timedelta(minutes=5)
_ALWAYS_SET = ("started_at", "detected_at")


def check_corrections(
    current: Mapping[str, datetime | None],
    changes: Mapping[str, datetime],
    now: datetime,
) -> dict[str, datetime | None]:
    """The incident's times after ``changes``; raises :class:`InvalidInput` naming
    the field that cannot take its new value."""
    after = dict(current)
    for field, value in changes.items():
        if field not in CORRECTABLE:
            raise InvalidInput(field, f"cannot be corrected; correctable: {', '.join(CORRECTABLE)}")
        if field not in _ALWAYS_SET and current.get(field) is None:
            milestone = field.removesuffix("_at")
            raise InvalidInput(
                field,
                f"the incident has not been {milestone} yet; only reached times are corrected",
            )
        if value > now + CLOCK_SKEW:
            raise InvalidInput(field, "is in the future")
        after[field] = value
    reached = [(field, after[field]) for field in _ORDER if after.get(field) is not None]
    for (earlier, first), (later, second) in pairwise(reached):
        if second is not None and first is not None and second < first:
            wrong = later if later in changes else earlier
            raise InvalidInput(
                wrong,
                f"would put {later} ({second.isoformat()}) before {earlier} ({first.isoformat()})",
            )
    return after


def correct_times(
    *,
    session: Session,
    incident: Incident,
    changes: Mapping[str, datetime],
    reason: str,
    actor: str,
    now: datetime,
) -> dict[str, dict[str, str | None]]:
    """Apply ``changes`` (already known to be wanted) and record them with ``reason``;
    returns what changed (``field -> {"from", "to"}``), empty when nothing did."""
    if not reason.strip():
        raise InvalidInput("reason", "a correction needs a reason")
    current = {field: getattr(incident, field) for field in _ORDER}
    after = check_corrections(current, changes, now)
    changed: dict[str, dict[str, str | None]] = {}
    for field in CORRECTABLE:
        before, value = current[field], after[field]
        if value != before:
            changed[field] = {
                "from": before.isoformat() if before else None,
                "to": value.isoformat() if value else None,
            }
            setattr(incident, field, value)
    if not changed:
        return changed
    incident.updated_at = now
    fields = ", ".join(changed)
    record(
        session=session,
        incident=incident,
        now=now,
        actor=actor,
        kind="times_corrected",
        summary=f"Corrected {fields}: {reason.strip()}",
        data={"changes": changed, "reason": reason.strip()},
    )
    return changed
