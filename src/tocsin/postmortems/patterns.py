"""Lessons learned (pure): root-cause categories and recurring patterns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "CATEGORIES",
    "RECURRING_MORE_THAN",
    "Pattern",
    "PatternItem",
    "recurring_patterns",
    "split_category",
]

#: The root-cause categories of the usual contributing factors.
CATEGORIES = ("technical", "process", "human", "external")

#: A category seen more than this many times in the window is a pattern.
RECURRING_MORE_THAN = 2


def split_category(value: str) -> tuple[str, str | None]:
    """'technical/deployment' -> ('technical', 'deployment'); validates the category."""
    head, _, sub = value.strip().partition("/")
    category = head.strip().casefold()
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {head.strip()!r}; valid: {', '.join(CATEGORIES)}")
    return category, sub.strip().casefold() or None


@dataclass(frozen=True)
class PatternItem:
    """One categorised post-mortem, with what the pattern report shows of its incident."""

    postmortem: str
    incident: str
    title: str
    severity: str
    category: str
    subcategory: str | None
    services: tuple[str, ...]
    created_at: datetime
    duration: timedelta | None = None

    @property
    def pattern(self) -> str:
        return f"{self.category}/{self.subcategory}" if self.subcategory else self.category


@dataclass(frozen=True)
class Pattern:
    name: str
    category: str
    subcategory: str | None
    occurrences: int
    services: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    average_duration: timedelta | None
    items: tuple[PatternItem, ...]

    @property
    def description(self) -> str:
        count = len(self.services)
        return f"Recurring issue: {self.name} affecting {count} service{'s' if count != 1 else ''}"


def recurring_patterns(
    items: Iterable[PatternItem],
    *,
    now: datetime,
    days: int = 90,
    more_than: int = RECURRING_MORE_THAN,
) -> list[Pattern]:
    """Query: post-mortems created in the last `days` days, grouped by root-cause
    category (with its sub-category, when given), kept where the count is more than
    `more_than`. Most frequent first, then most recent."""
    since = now - timedelta(days=days)
    groups: dict[str, list[PatternItem]] = {}
    for item in items:
        if since < item.created_at <= now:
            groups.setdefault(item.pattern, []).append(item)
    patterns: list[Pattern] = []
    for name, members in groups.items():
        if len(members) <= more_than:
            continue
        members.sort(key=lambda i: i.created_at, reverse=True)
        durations = [m.duration for m in members if m.duration is not None]
        average = sum(durations, timedelta(0)) / len(durations) if durations else None
        patterns.append(
            Pattern(
                name=name,
                category=members[0].category,
                subcategory=members[0].subcategory,
                occurrences=len(members),
                services=tuple(sorted({s for m in members for s in m.services})),
                first_seen=members[-1].created_at,
                last_seen=members[0].created_at,
                average_duration=average,
                items=tuple(members),
            )
        )
    patterns.sort(key=lambda p: (-p.occurrences, -p.last_seen.timestamp(), p.name))
    return patterns
