"""API tokens and roles (viewer < responder < admin)."""

from tocsin.auth.rules import Principal, Role, hash_token, new_token
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
