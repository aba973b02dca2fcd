"""Dashboard users: create, verify a password, change it, disable, list.

Every change that must end a user's open sessions (a new password, disabling) raises
``session_epoch``; a session cookie names the epoch it was issued in and stops being
accepted once the user's epoch has moved on.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.auth.models import User
from tocsin.auth.passwords import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    hash_password,
    needs_rehash,
    verify_password,
)
from tocsin.auth.rules import Principal, Role
from tocsin.db import SessionFactory, session_scope
from tocsin.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "SignInBusy",
    "UserExists",
    "check_password_rules",
    "create_user",
    "disable_user",
    "get_user",
    "list_users",
    "principal_of",
    "session_user",
    "set_password",
    "sign_in",
]

#: Passwords checked at once in this process: each check holds ~64 MiB for ~0.1 s, so a
#: flood of sign-in attempts must queue rather than exhaust memory and threads.
_CHECKING = threading.BoundedSemaphore(4)


class SignInBusy(Exception):
    """Too many sign-in attempts are being checked right now; none was judged."""


_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


@cache
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so that a wrong name takes as long
    as a wrong password and the timing does not tell which one was wrong. Made on first
    use: hashing is a noticeable part of a process's start."""
    return hash_password("tocsin: no such user")


class UserExists(Conflict):
    pass


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("password", f"must be at most {MAX_PASSWORD} characters")
    if "\x00" in password:
        raise InvalidInput("password", "must not contain NUL characters")


def create_user(
    *,
    session: Session,
    username: str,
    password: str,
    role: Role,
    person: str | None,
    now: datetime,
) -> User:
    if not _USERNAME.match(username):
        raise InvalidInput(
            "username",
            "use 1-100 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
        )
    check_password_rules(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserExists(f"a user named {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        person=person,
        session_epoch=0,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def get_user(*, session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def sign_in(
    *, sessions: SessionFactory, username: str, password: str, wait: float = 5.0
) -> User | None:
    """The active user with this name and password, or None (whichever was wrong).

    The user is read in a read-only transaction and the password checked outside any
    transaction, so that failed attempts, however many, never hold the database's write
    lock (on SQLite, every alert and acknowledgement would wait behind them). Only a
    successful sign-in with an outdated hash writes, briefly, to store today's.
    Raises :class:`SignInBusy` when no check could start within ``wait`` seconds.
    """
    if not _CHECKING.acquire(timeout=wait):
        raise SignInBusy("too many sign-in attempts at once")
    try:
        with session_scope(sessions, write=False) as session:
            user = session.scalar(select(User).where(User.username == username))
        if user is None or user.disabled_at is not None:
            verify_password(_dummy_hash(), password)
            return None
        if not verify_password(user.password_hash, password):
            return None
    finally:
        _CHECKING.release()
    if needs_rehash(user.password_hash):
        with session_scope(sessions) as session:
            stored = session.get(User, user.id)
            if stored is not None:
                stored.password_hash = hash_password(password)
    return user


def session_user(*, session: Session, user_id: int, epoch: int) -> User | None:
    """The user a session cookie names, if that session may still be used."""
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None or user.session_epoch != epoch:
        return None
    return user


def set_password(*, session: Session, username: str, password: str) -> User:
    """A new password; every open session of the user ends."""
    check_password_rules(password)
    user = get_user(session=session, username=username)
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    return user


def disable_user(*, session: Session, username: str, now: datetime) -> User:
    """The user can no longer sign in, and their open sessions end."""
    user = get_user(session=session, username=username)
    if user.disabled_at is not None:
        raise Conflict(f"user {username!r} is already disabled")
    user.disabled_at = now
    user.session_epoch += 1
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def principal_of(user: User) -> Principal:
    """The user as a caller of the same services the API uses (same roles, same actor)."""
    return Principal(name=user.username, role=Role(user.role), person=user.person)
