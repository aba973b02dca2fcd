"""Cross-reference checks of the whole policy document: duplicate names, unknown
references and dependency cycles, the core sections' own and every section's.

They run on the plain document (see :mod:`tocsin.policy.base`); the loader reports them
together with field errors, and :class:`~tocsin.policy.models.Policy` runs them when it
is validated on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tocsin.policy.alerting import alerting_reference_issues
from tocsin.policy.base import Loc, entries, format_loc, index_by_name, strings, unknown_name
from tocsin.policy.channels import delivery_reference_issues
from tocsin.policy.checklists import checklists_reference_issues
from tocsin.policy.game_days import game_days_reference_issues
from tocsin.policy.oncall import oncall_reference_issues
from tocsin.policy.runbooks import runbooks_reference_issues
from tocsin.policy.slos import slos_reference_issues
from tocsin.policy.statuspage import statuspage_reference_issues

__all__ = ["reference_issues"]


def _severity_issues(data: Mapping[str, Any], issues: list[tuple[Loc, str]]) -> None:
    owner: dict[str, tuple[int, str]] = {}
    for index, entry in entries(data, "severities"):
        labels: list[tuple[Loc, str]] = []
        if isinstance(entry.get("name"), str):
            labels.append((("severities", index, "name"), entry["name"]))
        labels += [
            (("severities", index, "aliases", i), a) for i, a in strings(entry.get("aliases"))
        ]
        for loc, label in labels:
            key = label.casefold()
            if key not in owner:
                owner[key] = (index, label)
            elif owner[key][0] != index:
                other = owner[key]
                issues.append(
                    (
                        loc,
                        f"{label!r} is already used by {format_loc(('severities', other[0]))} "
                        f"({other[1]!r}); severity names and aliases must be unique, ignoring case",
                    )
                )


def _team_issues(
    data: Mapping[str, Any], people: Mapping[str, int], issues: list[tuple[Loc, str]]
) -> None:
    for index, entry in entries(data, "teams"):
        members = [m for _, m in strings(entry.get("members"))]
        for i, member in strings(entry.get("members")):
            if member not in people:
                issues.append(
                    (("teams", index, "members", i), unknown_name("person", member, people))
                )
        lead = entry.get("lead")
        if isinstance(lead, str) and lead not in members:
            issues.append(
                (("teams", index, "lead"), f"lead {lead!r} is not one of the team's members")
            )


def _dependency_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each elementary cycle found by depth-first search, once, rotated to its least name."""
    cycles: dict[tuple[str, ...], list[str]] = {}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if nxt == node or nxt not in graph:
                continue  # self-references and unknown names are reported separately
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                start = cycle.index(min(cycle))
                rotated = cycle[start:] + cycle[:start]
                cycles.setdefault(tuple(rotated), rotated)
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return list(cycles.values())


def _service_issues(
    data: Mapping[str, Any],
    services: Mapping[str, int],
    teams: Mapping[str, int],
    issues: list[tuple[Loc, str]],
) -> None:
    graph: dict[str, list[str]] = {}
    for index, entry in entries(data, "services"):
        name = entry.get("name")
        team = entry.get("team")
        if isinstance(team, str) and team not in teams:
            issues.append((("services", index, "team"), unknown_name("team", team, teams)))
        deps: list[str] = []
        for i, dep in strings(entry.get("depends_on")):
            loc: Loc = ("services", index, "depends_on", i)
            if dep == name:
                issues.append((loc, f"service {dep!r} cannot depend on itself"))
            elif dep not in services:
                issues.append((loc, unknown_name("service", dep, services)))
            deps.append(dep)
        if isinstance(name, str) and services.get(name) == index:
            graph[name] = deps
    for cycle in _dependency_cycles(graph):
        loc = ("services", services[cycle[0]], "depends_on")
        issues.append((loc, "dependency cycle: " + " -> ".join([*cycle, cycle[0]])))


def reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Errors that span entries: duplicates, unknown references, dependency cycles."""
    issues: list[tuple[Loc, str]] = []
    _severity_issues(data, issues)
    index_by_name(data, "roles", "name", "role", issues)
    people = index_by_name(data, "people", "name", "person", issues)
    teams = index_by_name(data, "teams", "name", "team", issues)
    services = index_by_name(data, "services", "name", "service", issues)
    index_by_name(data, "tagging", "tag", "tagging rule for tag", issues)
    _team_issues(data, people, issues)
    _service_issues(data, services, teams, issues)
    issues += oncall_reference_issues(data)
    issues += alerting_reference_issues(data)
    issues += slos_reference_issues(data)
    issues += delivery_reference_issues(data)
    issues += statuspage_reference_issues(data)
    issues += runbooks_reference_issues(data)
    issues += game_days_reference_issues(data)
    issues += checklists_reference_issues(data)
    return issues
