"""The ``tagging`` section of the policy: tags added to incidents by keyword."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tocsin.policy.base import PolicyModel, Slug

__all__ = ["TaggingRule"]


class TaggingRule(PolicyModel):
    """Add ``tag`` to an incident whose title or description contains a keyword."""

    tag: Slug
    keywords: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        min_length=1, description="Whole words or phrases, matched case-insensitively."
    )
