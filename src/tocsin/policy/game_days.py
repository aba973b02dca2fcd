"""Game days: named drill scenarios, each a sequence of alerts with delays.

``tocsin drill run NAME`` injects the scenario's alerts through the real alert pipeline
(routing, grouping, the noise gate, storms, cascades) as a drill: the incidents they
open are drills that page only the scenario's responders (or the on-call with
``page_oncall``), and its alerts correlate only with each other, never with real ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from tocsin.policy.base import Loc, PolicyModel, Slug, entries, strings, unknown_name
from tocsin.policy.timefields import Delay

__all__ = ["GameDay", "GameDayAlert", "game_days_reference_issues"]


class GameDayAlert(PolicyModel):
    after: Delay = Field(
        default=timedelta(0), description="When it fires, counted from the start of the run."
    )
    labels: dict[str, str] = Field(
        min_length=1,
        description="Its labels, as Alertmanager would send them (alertname, service, "
        "severity, ...): the routes see them as they would a real alert's.",
    )
    annotations: dict[str, str] = Field(default_factory=dict, description="summary, ...")
    status: Literal["firing", "resolved"] = Field(
        default="firing", description="`resolved` resolves an earlier alert of the scenario."
    )


class GameDay(PolicyModel):
    name: Slug
    description: str = ""
    service: str | None = Field(
        default=None,
        description="The service of alerts without a service label (the scenario's "
        "integration's); default the first service of the policy.",
    )
    responders: tuple[str, ...] = Field(
        default=(), description="The people the drill's incidents page (policy names)."
    )
    page_oncall: bool = Field(
        default=False, description="Page the normal on-call instead (and escalate)."
    )
    alerts: tuple[GameDayAlert, ...] = Field(min_length=1, max_length=1000)


def game_days_reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Unknown responders and duplicate scenario names."""
    people = {p.get("name") for _, p in entries(data, "people")}
    services = [s.get("name") for _, s in entries(data, "services")]
    issues: list[tuple[Loc, str]] = []
    seen: set[str] = set()
    for index, entry in entries(data, "game_days"):
        name = entry.get("name")
        if isinstance(name, str):
            if name in seen:
                issues.append((("game_days", index, "name"), f"duplicate game day {name!r}"))
            seen.add(name)
        service = entry.get("service")
        if isinstance(service, str) and service not in services:
            known_services = [s for s in services if isinstance(s, str)]
            issues.append(
                (("game_days", index, "service"), unknown_name("service", service, known_services))
            )
        for i, person in strings(entry.get("responders")):
            if person not in people:
                known = [p for p in people if isinstance(p, str)]
                issues.append(
                    (("game_days", index, "responders", i), unknown_name("person", person, known))
                )
    return issues
