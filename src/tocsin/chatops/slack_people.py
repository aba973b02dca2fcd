"""Slack users and Tocsin people: a person's ``slack`` member id links the two."""

from __future__ import annotations

import re

from tocsin.policy import Person, Policy

__all__ = ["LINK_ACCOUNT", "mentioned_person", "person_for_slack_user"]

#: Told to a Slack user no person in the policy has as their ``slack`` id.
LINK_ACCOUNT = (
    "I don't know who you are in Tocsin yet. Link your account: ask an admin to add "
    "`slack: {user}` to your entry under `people` in the Tocsin policy."
)

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def person_for_slack_user(policy: Policy, user_id: str) -> Person | None:
    return next((p for p in policy.people if p.slack and p.slack == user_id), None)


def mentioned_person(policy: Policy, token: str) -> Person | None:
    """The person a command names: a Slack mention (``<@U012AB|alice>``), their Tocsin
    name (``@alice`` or ``alice``) or their chat handle."""
    match = _MENTION.match(token)
    if match is not None:
        return person_for_slack_user(policy, match.group(1))
    name = token.lstrip("@")
    found = policy.person(name)
    if found is not None:
        return found
    return next((p for p in policy.people if p.chat and p.chat.lstrip("@") == name), None)
