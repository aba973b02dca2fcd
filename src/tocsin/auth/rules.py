"""Pure rules for roles and token material."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

TOKEN_PREFIX = "tcs_"
#: Calendar subscription tokens: they open one schedule's iCalendar feed, nothing else.
CALENDAR_TOKEN_PREFIX = "tcsc_"


class Role(StrEnum):
    viewer = "viewer"
    responder = "responder"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.viewer: 1, Role.responder: 2, Role.admin: 3}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name, its role and the person it acts for, if any."""

    name: str
    role: Role
    person: str | None = None

    @property
    def actor(self) -> str:
        """The name recorded on timelines for this caller's actions."""
        return self.person or self.name


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_calendar_token() -> str:
    return CALENDAR_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
