"""The ``runbooks`` section of the policy: response procedures, step by step.

::

    runbooks:
      database-connections:
        description: "Connection pool exhausted"
        services: [auth-service]        # where it applies; empty = anywhere
        steps:
          - Check the pool metrics on the database dashboard
          - title: Find the sessions holding connections
            command: "SELECT pid, state, query_start FROM pg_stat_activity"

A step is a sentence, or a mapping with a ``title`` and an optional ``command`` and
``details``. ``/incident runbook NAME`` in Slack lists the steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from tocsin.policy.base import Loc, PolicyModel, unknown_name

__all__ = ["Runbook", "RunbookStep", "runbooks_reference_issues"]


def _step_from_text(value: Any) -> Any:
    return {"title": value} if isinstance(value, str) else value


class RunbookStep(PolicyModel):
    title: str = Field(min_length=1, max_length=500)
    command: str | None = Field(default=None, description="A command to run, shown as code.")
    details: str = ""


class Runbook(PolicyModel):
    description: str = ""
    services: tuple[str, ...] = Field(
        default=(), description="Services it applies to (from `services`); empty = any."
    )
    steps: tuple[Annotated[RunbookStep, BeforeValidator(_step_from_text)], ...] = Field(
        min_length=1, description="In order: a sentence, or {title, command, details}."
    )


def runbooks_reference_issues(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Runbooks that name services the policy does not have."""
    services = [
        entry["name"]
        for entry in data.get("services") or ()
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str)
    ]
    issues: list[tuple[Loc, str]] = []
    runbooks = data.get("runbooks")
    if not isinstance(runbooks, Mapping):
        return issues
    for name, runbook in runbooks.items():
        listed = runbook.get("services") if isinstance(runbook, Mapping) else None
        if not isinstance(listed, Sequence) or isinstance(listed, str):
            continue
        for index, service in enumerate(listed):
            if isinstance(service, str) and service not in services:
                issues.append(
                    (
                        ("runbooks", name, "services", index),
                        unknown_name("service", service, services),
                    )
                )
    return issues
