"""Password hashing with Argon2id (argon2-cffi's recommended parameters).

A stored hash carries its own parameters, so raising them later only needs
:func:`needs_rehash` at the next successful sign-in: the user's hash is then replaced.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "hash_password", "needs_rehash", "verify_password"]

#: Shorter passwords are refused; longer ones only cost time to hash.
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored: str, password: str) -> bool:
    """True when ``password`` matches ``stored``; False for a mismatch or a bad hash."""
    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than today's."""
    try:
        return _hasher().check_needs_rehash(stored)
    except InvalidHashError:
        return True
