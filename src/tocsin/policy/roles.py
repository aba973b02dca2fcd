"""The ``roles`` section of the policy: incident roles, and the ones used by default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from tocsin.policy.base import PolicyModel, Slug

__all__ = ["DEFAULT_ROLES", "RoleDef"]


class RoleDef(PolicyModel):
    """An incident role (commander, scribe, ...)."""

    name: Slug
    label: str = Field(default="", description="Display label; defaults from the name.")
    description: str = ""
    multiple: bool = Field(default=False, description="Whether several people can hold it.")

    @model_validator(mode="before")
    @classmethod
    def _default_label(cls, data: Any) -> Any:
        if (
            isinstance(data, Mapping)
            and not data.get("label")
            and isinstance(data.get("name"), str)
        ):
            return {**data, "label": data["name"].replace("_", " ").capitalize()}
        return data


DEFAULT_ROLES: tuple[RoleDef, ...] = (
    RoleDef(
        name="commander",
        label="Incident commander",
        description="Coordinates the response, makes decisions, owns communication.",
    ),
    RoleDef(
        name="tech_lead",
        label="Technical lead",
        description="Leads the technical investigation and the fix.",
    ),
    RoleDef(
        name="comms_lead",
        label="Communications lead",
        description="Status page, customer and stakeholder updates.",
    ),
    RoleDef(
        name="scribe",
        label="Scribe",
        description="Keeps the timeline, decisions and action items.",
    ),
    RoleDef(
        name="sme",
        label="Subject matter expert",
        description="Specialist knowledge of an affected component.",
        multiple=True,
    ),
)
