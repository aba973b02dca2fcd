"""The ``checklists`` section of the policy: the procedures responders tick through.

::

    checklists:
      - name: initial-response
        title: "Initial response: the first five minutes"
        role: commander                 # whose list it is: its holder is reminded
        attach: declared                # declared | assigned | handoff
        severities: [SEV1, SEV2]        # empty = every severity
        items:
          - text: Acknowledge the page
            within: 5m
            done_when: acknowledged
          - Assess the severity and change it if needed

A checklist is attached to an incident when it is declared (``attach: declared``),
when its ``role`` is first assigned (``assigned``), or each time that role passes to
someone new (``handoff``), at the incident's severity. An item is a sentence, or a
mapping with ``text``, an optional ``within`` (due that long after the list was
attached; the role holder is reminded when it is overdue) and an optional
``done_when``: the event that ticks it by itself. ``required_to_resolve: true`` keeps a
person from resolving the incident while an item of the list is still open (ticked or
skipped with a reason both count as settled).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, model_validator

from tocsin.policy.base import Loc, PolicyModel, Slug, entries, strings, unknown_name
from tocsin.policy.durations import Duration
from tocsin.policy.roles import DEFAULT_ROLES

__all__ = [
    "AttachOn",
    "AutoTick",
    "Checklist",
    "ChecklistItemDef",
    "checklists_reference_issues",
]


class AutoTick(StrEnum):
    """The events that tick an item by themselves."""

    #: Someone acknowledged the incident.
    acknowledged = "acknowledged"
    #: The incident's own chat channel was created.
    channel_created = "channel_created"
    #: The first status update was posted.
    update_posted = "update_posted"
    #: The incident is on the public status page.
    status_page_updated = "status_page_updated"
    #: The incident has a commander.
    commander_assigned = "commander_assigned"


class AttachOn(StrEnum):
    """When a checklist is attached to an incident."""

    #: When the incident is declared.
    declared = "declared"
    #: When its role is first assigned.
    assigned = "assigned"
    #: Each time its role passes to a new holder (once per holder).
    handoff = "handoff"


def _item_from_text(value: Any) -> Any:
    return {"text": value} if isinstance(value, str) else value


class ChecklistItemDef(PolicyModel):
    text: str = Field(min_length=1, max_length=300, description="What to do, as a rule.")
    within: Duration | None = Field(
        default=None, description="Due this long after the list is attached."
    )
    done_when: AutoTick | None = Field(
        default=None, description="The event that ticks it by itself."
    )


class Checklist(PolicyModel):
    name: Slug
    title: str = Field(default="", max_length=200, description="Shown above the items.")
    role: Slug | None = Field(
        default=None,
        description="The role whose holder owns the list (and is reminded of overdue "
        "items); required for `attach: assigned` and `handoff`. Without one, the "
        "commander is reminded.",
    )
    attach: AttachOn = Field(default=AttachOn.declared, description="When it is attached.")
    severities: tuple[str, ...] = Field(
        default=(), description="Severities (names or aliases) it applies to; empty = all."
    )
    required_to_resolve: bool = Field(
        default=False, description="A person cannot resolve while an item is open."
    )
    items: tuple[Annotated[ChecklistItemDef, BeforeValidator(_item_from_text)], ...] = Field(
        min_length=1, max_length=100, description="A sentence, or {text, within, done_when}."
    )

    @model_validator(mode="after")
    def _role_for_role_lists(self) -> Self:
        if self.attach is not AttachOn.declared and self.role is None:
            raise ValueError(f"a checklist attached on {self.attach.value} needs a role")
        return self

    @property
    def heading(self) -> str:
        return self.title or self.name.replace("-", " ").replace("_", " ").capitalize()

    def applies_to(self, severity_labels: tuple[str, ...]) -> bool:
        """Whether it applies at the severity whose name and aliases are given."""
        if not self.severities:
            return True
        wanted = {s.casefold() for s in self.severities}
        return any(label.casefold() in wanted for label in severity_labels)


def checklists_reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Checklists that name roles or severities the policy does not have, or a name twice."""
    issues: list[tuple[Loc, str]] = []
    roles_given = data.get("roles")
    roles = (
        [e["name"] for _, e in entries(data, "roles") if isinstance(e.get("name"), str)]
        if roles_given is not None
        else [r.name for r in DEFAULT_ROLES]
    )
    severities: list[str] = []
    for _, entry in entries(data, "severities"):
        if isinstance(entry.get("name"), str):
            severities.append(entry["name"])
        severities += [a for _, a in strings(entry.get("aliases"))]
    known = {s.casefold() for s in severities}
    seen: set[str] = set()
    for index, entry in entries(data, "checklists"):
        name = entry.get("name")
        if isinstance(name, str):
            if name in seen:
                issues.append(
                    (("checklists", index, "name"), f"checklist {name!r} is defined twice")
                )
            seen.add(name)
        role = entry.get("role")
        if isinstance(role, str) and role not in roles:
            issues.append((("checklists", index, "role"), unknown_name("role", role, roles)))
        for i, severity in strings(entry.get("severities")):
            if severity.casefold() not in known:
                issues.append(
                    (
                        ("checklists", index, "severities", i),
                        unknown_name("severity", severity, severities),
                    )
                )
    return issues
