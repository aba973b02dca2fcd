"""API tokens and roles (viewer < responder < admin).

The token use cases (and with them the database layer) load on first use: the CLI
needs ``Role`` to list its options long before, if ever, it opens the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tocsin.auth.rules import Principal, Role, hash_token, new_token

if TYPE_CHECKING:
    from tocsin.auth.service import (
        TokenExists,
        authenticate,
        create_token,
        list_tokens,
        revoke_token,
    )

__all__ = [
    "Principal",
    "Role",
    "TokenExists",
    "authenticate",
    "create_token",
    "hash_token",
    "list_tokens",
    "new_token",
    "revoke_token",
]

_FROM_SERVICE = frozenset(
    {"TokenExists", "authenticate", "create_token", "list_tokens", "revoke_token"}
)


def __getattr__(name: str) -> Any:
    if name in _FROM_SERVICE:
        from tocsin.auth import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
