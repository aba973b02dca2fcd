"""`tocsin user create|list|disable|passwd`: dashboard users (local admin commands that
open the database directly, like `tocsin token`).

A password is asked for twice on the terminal, or read with ``--password-stdin`` from
the first line of standard input (its line ending removed; further lines, such as a
confirmation a script repeats, are ignored). With neither a terminal nor ``--password-stdin``
the command says so instead of reading an echoed password from a pipe.
"""

from __future__ import annotations

import getpass
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from tocsin.auth.rules import Role
from tocsin.cli.local import (
    PolicyOption,
    check_person,
    open_database,
    require_database,
    settings_for,
)
from tocsin.cli.output import NONE, data_table, fail, format_time, get_console, print_json, say
from tocsin.clock import SystemClock
from tocsin.errors import TocsinError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tocsin.auth.models import User

__all__ = ["user_app"]

user_app = typer.Typer(
    help="Dashboard users (passwords stored as Argon2 hashes).", no_args_is_help=True
)

JsonOption = typer.Option(False, "--json", help="Print JSON.")
PasswordStdin = typer.Option(
    False,
    "--password-stdin",
    help="Read the password from the first line of standard input (for scripts).",
)


@contextmanager
def _session(policy: Path | None, *, write: bool = True) -> Iterator[Session]:
    """A transaction on the configured database, its connections closed when the
    command is done."""
    from tocsin.db import session_scope

    sessions = open_database(settings_for(policy))
    try:
        with session_scope(sessions, write=write) as session:
            yield session
    finally:
        sessions.engine.dispose()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin: standard input is empty; give the password on its first line")
        return line.removesuffix("\n").removesuffix("\r")
    # Without a terminal, getpass would warn and read the password, echoed, from stdin.
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        except getpass.GetPassWarning:
            fail("no terminal to ask for the password on: pipe it in with --password-stdin")
    return value


def _read(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "person": user.person,
        "created_at": user.created_at.isoformat(),
        "disabled_at": user.disabled_at.isoformat() if user.disabled_at else None,
    }


@user_app.command("create")
def user_create(
    name: str = typer.Argument(..., help="The username to sign in with."),
    role: Role = typer.Option(Role.responder, "--role", "-r", help="viewer, responder or admin"),
    person: str | None = typer.Option(
        None, help="The policy person this user acts as (shown on timelines)."
    ),
    password_stdin: bool = PasswordStdin,
    as_json: bool = JsonOption,
    policy: Path | None = PolicyOption,
) -> None:
    """Create a user; the password is asked for twice (or read with --password-stdin)."""
    from tocsin.auth.users import create_user

    settings = settings_for(policy)
    require_database(settings)
    check_person(settings, person)
    password = _password(password_stdin)
    try:
        with _session(policy) as session:
            user = create_user(
                session=session,
                username=name,
                password=password,
                role=role,
                person=person,
                now=SystemClock().now(),
            )
            read = _read(user)
    except TocsinError as exc:
        fail(str(exc))
    if as_json:
        print_json(read)
        return
    say(f"Created {role} user {name!r}. Sign in at /login.")


@user_app.command("list")
def user_list(as_json: bool = JsonOption, policy: Path | None = PolicyOption) -> None:
    """List users (never their password hashes)."""
    from tocsin.auth.users import list_users

    with _session(policy, write=False) as session:
        rows = [_read(u) for u in list_users(session=session)]
    if as_json:
        print_json({"items": rows})
        return
    if not rows:
        say("No users yet: tocsin user create NAME --role admin")
        return
    table = data_table("USERNAME", "ROLE", "PERSON", "CREATED (UTC)", "DISABLED (UTC)")
    for row in rows:
        table.add_row(
            Text(row["username"]),
            Text(row["role"]),
            Text(row["person"] or NONE),
            Text(format_time(row["created_at"])),
            Text(format_time(row["disabled_at"]) if row["disabled_at"] else ""),
        )
    get_console().print(table)


@user_app.command("disable")
def user_disable(name: str, as_json: bool = JsonOption, policy: Path | None = PolicyOption) -> None:
    """Disable a user: they can no longer sign in, and their open sessions end."""
    from tocsin.auth.users import disable_user

    try:
        with _session(policy) as session:
            read = _read(disable_user(session=session, username=name, now=SystemClock().now()))
    except TocsinError as exc:
        fail(str(exc))
    if as_json:
        print_json(read)
        return
    say(f"Disabled {name!r}; their sessions have ended.")


@user_app.command("passwd")
def user_passwd(
    name: str,
    password_stdin: bool = PasswordStdin,
    policy: Path | None = PolicyOption,
) -> None:
    """Set a new password (asked for twice); the user's open sessions end."""
    from tocsin.auth.users import set_password

    require_database(settings_for(policy))
    password = _password(password_stdin)
    try:
        with _session(policy) as session:
            set_password(session=session, username=name, password=password)
    except TocsinError as exc:
        fail(str(exc))
    say(f"Password of {name!r} changed; their other sessions have ended.")
