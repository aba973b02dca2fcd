"""Flapping: an alert that fires and resolves again and again is kept to one incident
and its re-fires page nobody, but flapping never lowers a severity.

Windows are closed at both ends: a change exactly ``window`` old still counts, as does
one stamped exactly ``now``; later stamps (clock skew) do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

__all__ = ["detect_flapping", "flapping_severity"]


def _in_window(at: datetime, now: datetime, window: timedelta) -> bool:
    return now - window <= at <= now


def detect_flapping(
    transitions: Sequence[datetime], now: datetime, window: timedelta, k: int
) -> bool:
    """True when an alert changed state (fired or resolved) at least ``k`` times within
    ``window`` before ``now``. ``transitions`` are the times of those changes."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    return sum(1 for at in transitions if _in_window(at, now, window)) >= k


def flapping_severity(
    current: int, *, alert: int, firing: Iterable[int] = (), person: int | None = None
) -> int:
    """The severity rank (lower is more severe) an incident has once one of its alerts
    flaps: ``current``, raised to the worst of the flapping alert's own routed severity
    (``alert``), the other alerts of the incident that still fire (``firing``) and the
    last severity a person set (``person``).

    Flapping only stops the re-fires from paging again; it never lowers a severity. A
    flapping alert is as real a problem as its route says (an outage that comes back
    within the hour is still an outage), so its incident is never less severe than it.
    Raising to the person's severity repairs an incident lowered behind their back.
    """
    floors = [current, alert, *firing]
    if person is not None:
        floors.append(person)
    return min(floors)
