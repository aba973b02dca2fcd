"""Pure decisions that read the policy."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from tocsin.policy.models import Policy

__all__ = ["compute_tags"]


@lru_cache(maxsize=1024)
def _word(keyword: str) -> re.Pattern[str]:
    # Not \b: a keyword may itself start or end with punctuation ("c++", ".net").
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE)


def compute_tags(
    policy: Policy, *, title: str, description: str, services: Sequence[str]
) -> list[str]:
    """Tags for an incident: the affected services' names, plus the tag of every
    tagging rule with a keyword that appears as a whole word in the title or
    description ("db" matches "db down" but not "feedback"). Sorted, unique."""
    text = f"{title}\n{description}"
    tags = {name for name in services if name}
    for rule in policy.tagging:
        if rule.tag not in tags and any(_word(k).search(text) for k in rule.keywords):
            tags.add(rule.tag)
    return sorted(tags)
