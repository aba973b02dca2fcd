"""The ``people`` and ``teams`` sections of the policy."""

from __future__ import annotations

from pydantic import Field

from tocsin.policy.base import Email, Phone, PolicyModel, SlackMemberId, Slug, Timezone

__all__ = ["Person", "Team"]


class Team(PolicyModel):
    name: Slug
    description: str = ""
    timezone: Timezone = Field(default="UTC", description="Time zone its schedules use.")
    members: tuple[Slug, ...] = Field(default=(), description="Names from `people`.")
    lead: Slug | None = Field(default=None, description="A member of the team.")


class Person(PolicyModel):
    name: Slug = Field(description="Short handle used everywhere else in the policy.")
    full_name: str | None = None
    email: Email | None = None
    chat: str | None = Field(default=None, description="Chat handle, e.g. '@alice'.")
    phone: Phone | None = None
    slack: SlackMemberId | None = Field(
        default=None, description="Slack member id (invites, DMs, who clicked in Slack)."
    )
    timezone: Timezone = "UTC"
    expertise: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        return self.full_name or self.name
