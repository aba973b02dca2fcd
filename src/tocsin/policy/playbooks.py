"""The ``playbooks`` section of the policy: remediation proposed for an incident and
run, action by action, once the incident commander (or an admin) approves.

::

    playbooks:
      restart-api:
        description: "Memory leak: clear the cache, restart if memory stays high"
        services: [checkout-api]
        trigger:
          match: ['alertname="HighMemoryUsage"']     # any alert of the incident
          # or: promql: {prometheus: main, query: 'memory_usage_ratio > 0.9'}
        approval: required          # `none`: runs by itself (keep that for read-only ones)
        actions:
          - name: Clear the application cache
            command: [kubectl, exec, "{{ labels.pod }}", --, /app/clear_cache.sh]
            timeout: 1m
          - name: Restart if memory is still high
            condition: {prometheus: main, query: 'memory_usage_ratio > 0.9'}
            command: [kubectl, rollout, restart, "deployment/{{ labels.deployment }}"]
          - name: Start the rollback pipeline
            http: {url: "https://ci.internal/rollback", method: POST,
                   json: {service: "{{ service }}"}}

An action's ``condition`` is a PromQL query that must still return something when the
action's turn comes ("restart if still high"); otherwise the action is skipped. A
declined or failed playbook is not proposed again for the same incident by itself; a
person may propose it again.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from tocsin.policy.alerting import MatcherText
from tocsin.policy.base import PolicyModel, Slug
from tocsin.policy.diagnostics import DiagnosticsSettings, DiagnosticStep, check_sources

__all__ = ["Playbook", "PlaybookAction", "PlaybookTrigger", "PromqlCondition", "check_playbooks"]


class PromqlCondition(PolicyModel):
    prometheus: Slug = Field(description="A name under `diagnostics.prometheus`.")
    query: str = Field(min_length=1, description="Holds while it returns at least one series.")


class PlaybookTrigger(PolicyModel):
    match: tuple[MatcherText, ...] = Field(
        default=(), description="Label matchers, all true of one of the incident's alerts."
    )
    promql: PromqlCondition | None = Field(
        default=None, description="Or: a PromQL query that returns something."
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        if bool(self.match) == (self.promql is not None):
            raise ValueError("a trigger needs either `match` or `promql`")
        return self


class PlaybookAction(DiagnosticStep):
    condition: PromqlCondition | None = Field(
        default=None, description="PromQL that must still hold when the action's turn comes."
    )

    @model_validator(mode="after")
    def _acting_kind(self) -> Self:
        if self.kind not in ("command", "http"):
            raise ValueError(f"action {self.name!r}: an action is a command or an http request")
        return self


class Playbook(PolicyModel):
    description: str = ""
    services: tuple[str, ...] = Field(default=(), description="Empty = any service.")
    trigger: PlaybookTrigger
    approval: Literal["required", "none"] = Field(
        default="required",
        description="`none` runs it without asking: only for read-only playbooks.",
    )
    actions: tuple[PlaybookAction, ...] = Field(min_length=1)


def check_playbooks(diagnostics: DiagnosticsSettings, playbooks: dict[str, Playbook]) -> list[str]:
    """Problems with the Prometheus servers the playbooks name."""
    problems: list[str] = []
    for name, playbook in playbooks.items():
        conditions = [playbook.trigger.promql] + [a.condition for a in playbook.actions]
        for condition in conditions:
            if condition is not None and condition.prometheus not in diagnostics.prometheus:
                known = ", ".join(sorted(diagnostics.prometheus)) or "none"
                problems.append(
                    f"playbooks.{name}: unknown prometheus {condition.prometheus!r} "
                    f"(known under diagnostics.prometheus: {known})"
                )
        for action in playbook.actions:
            try:
                check_sources(diagnostics, f"playbooks.{name}, action {action.name!r}", action)
            except ValueError as exc:
                problems.append(str(exc))
    return problems
