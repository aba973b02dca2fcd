"""The ``services`` section of the policy: what is run, who owns it, what it depends on."""

from __future__ import annotations

from pydantic import Field

from tocsin.policy.base import PolicyModel, Slug

__all__ = ["Service", "StatusPageComponent"]


class StatusPageComponent(PolicyModel):
    component: str = Field(min_length=1, description="Component name on the status page.")
    group: str | None = Field(default=None, description="Optional component group.")


class Service(PolicyModel):
    name: Slug
    description: str = ""
    team: Slug | None = Field(default=None, description="Owning team, from `teams`.")
    tier: int = Field(default=3, ge=1, le=4, description="1 = most critical ... 4 = least.")
    depends_on: tuple[Slug, ...] = Field(default=(), description="Names from `services`.")
    customer_facing: bool = False
    status_page: StatusPageComponent | None = Field(
        default=None, description="Where it appears on the status page; absent = not shown."
    )
    escalation_policy: Slug | None = Field(
        default=None, description="From `escalation_policies`; absent = the one named `default`."
    )
