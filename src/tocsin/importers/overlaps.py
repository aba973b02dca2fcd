"""Rotations of one schedule that are on call at the same time.

Opsgenie pages everyone on call in a schedule, so two of its rotations may overlap on
purpose; a Tocsin schedule has one person at a time, the later layer winning. The
import keeps the layers in the source's order and reports each overlap it finds in the
coming weeks, so nobody is surprised that only one of the two is paged.
"""

from __future__ import annotations

from datetime import datetime
from itertools import combinations
from typing import Any

from pydantic import ValidationError

from tocsin.importers.draft import Draft
from tocsin.oncall.rules import shifts
from tocsin.policy.oncall import Schedule

__all__ = ["first_overlap", "report_overlaps"]


def _coverage(
    entry: dict[str, Any], layer: dict[str, Any], since: datetime, until: datetime
) -> list[tuple[datetime, datetime, str]]:
    single = Schedule.model_validate(
        {"name": entry["name"], "timezone": entry.get("timezone"), "layers": [layer]}
    )
    return [(s.start, s.end, s.person) for s in shifts(single, since, until)]


def first_overlap(
    entry: dict[str, Any], since: datetime, until: datetime
) -> tuple[str, str, datetime] | None:
    """The first two layers of schedule ``entry`` (policy data) that both have someone on
    call at one instant in [since, until), and that instant."""
    try:
        covers = {layer["name"]: _coverage(entry, layer, since, until) for layer in entry["layers"]}
    except ValidationError:
        return None
    found: tuple[str, str, datetime] | None = None
    for (first, a), (second, b) in combinations(covers.items(), 2):
        for a_start, a_end, _ in a:
            for b_start, b_end, _ in b:
                start = max(a_start, b_start)
                if start < min(a_end, b_end) and (found is None or start < found[2]):
                    found = (first, second, start)
    return found


def report_overlaps(draft: Draft, since: datetime, until: datetime) -> None:
    for entry in draft.schedules:
        if len(entry.get("layers", ())) < 2:
            continue
        overlap = first_overlap(entry, since, until)
        if overlap is not None:
            first, second, at = overlap
            draft.skip(
                "overlapping rotations",
                f"{entry['name']}: {first} and {second}",
                f"both are on call from {at.isoformat()}; {draft.product} pages both, "
                f"Tocsin only {second}'s person (the later layer wins)",
            )
