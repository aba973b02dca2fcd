"""Shared pieces of the local admin commands (those that open the database directly).

The CLI imports every command's module to list them, so what only one command needs
(the database layer, the engine, the policy models) is imported in that command: a
`tocsin incident ack` at 3 am should not wait for the whole server to load.

Only ``tocsin init`` (and ``serve``, ``worker`` and ``migrate`` next to a policy file)
may create a SQLite database. The other local commands refuse when there is none, with
a hint: run in a directory that was never set up, ``tocsin token create`` would
otherwise make a new, empty database there and a token nobody's server knows.

``tocsin serve`` writes the address it listens on into ``.tocsin/credentials.json``
(when ``tocsin init`` made one), so the API commands in that directory follow the
server to whatever ``--host``/``--port`` it was started with.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.db import SessionFactory

__all__ = [
    "CREDENTIALS_FILE",
    "PolicyOption",
    "check_person",
    "cli_url",
    "err",
    "listen",
    "open_database",
    "out",
    "record_server_url",
    "require_database",
    "require_policy",
    "settings_for",
    "write_credentials",
]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

CREDENTIALS_FILE = "credentials.json"
DATABASE_FILE = "tocsin.db"
POLICY_FILE = "tocsin.yaml"

PolicyOption = typer.Option(
    None,
    "--policy",
    "-p",
    envvar="TOCSIN_POLICY",
    help="Policy file (default: tocsin.yaml in the current directory).",
)


def settings_for(policy: Path | None) -> Settings:
    from tocsin.config import Settings

    settings = Settings()
    if policy is not None:
        settings = settings.model_copy(update={"policy": policy})
    return settings


def _refuse(message: str) -> NoReturn:
    err.print(Text(message, style="red"))
    raise typer.Exit(1)


def sqlite_file(settings: Settings) -> Path | None:
    """The file of the configured SQLite database; None for other databases."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    if url.database == ":memory:" or url.database.startswith("file:"):
        return None
    return Path(url.database)


def _nearest_setup(start: Path) -> Path | None:
    """The nearest directory above ``start`` that ``tocsin init`` set up."""
    for directory in start.parents:
        if (directory / ".tocsin" / DATABASE_FILE).is_file():
            return directory
    return None


def _missing_database(settings: Settings, path: Path) -> str:
    """Why there is no database, and what to do about it."""
    if settings.database_url is not None:
        return (
            f"TOCSIN_DATABASE_URL names {path}, which does not exist: check the path "
            "(`tocsin migrate` creates it)."
        )
    if settings.policy.is_file():
        return (
            f"No database yet for {settings.policy} ({path} does not exist): start the "
            "server once (`tocsin serve`) or run `tocsin migrate`."
        )
    message = (
        f"No Tocsin set-up here: neither {settings.policy} nor {path} exists, and this "
        "command does not create them."
    )
    found = _nearest_setup(Path.cwd().resolve())
    if found is not None:
        return (
            f"{message} The nearest set-up is in {found}: run the command there, or pass "
            f"--policy {found / POLICY_FILE}."
        )
    return (
        f"{message} Run `tocsin init` to set one up here, or run the command in the "
        "directory where you ran it (or pass --policy PATH)."
    )


def require_policy(settings: Settings) -> None:
    """Refuse, with the way out, when the policy file is not there."""
    if settings.policy.is_file():
        return
    found = _nearest_setup(Path.cwd().resolve())
    where = (
        f"the nearest set-up is in {found}: run the command there, or pass --policy "
        f"{found / POLICY_FILE}"
        if found is not None
        else "run `tocsin init` to write the example policy here, or pass --policy PATH"
    )
    _refuse(f"No policy file {settings.policy}: {where}.")


def require_database(settings: Settings) -> None:
    """Refuse, with a hint, when the configured SQLite database does not exist."""
    path = sqlite_file(settings)
    if path is not None and not path.exists():
        _refuse(_missing_database(settings, path))


def open_database(
    settings: Settings, *, migrate: bool = True, create: bool = False
) -> SessionFactory:
    """The configured database, migrated; a SQLite file that does not exist yet is
    created only with ``create`` (otherwise the command is refused with a hint)."""
    from tocsin.db import SessionFactory, create_db_engine
    from tocsin.db.migrate import upgrade

    if not create:
        require_database(settings)
    engine = create_db_engine(settings.resolved_database_url())
    if migrate:
        upgrade(engine)
    return SessionFactory(engine)


def check_person(settings: Settings, person: str | None) -> None:
    """Refuse a ``--person`` the policy does not have, naming it (and a close match)."""
    if person is None:
        return
    from tocsin.policy import PolicyError, load_policy

    try:
        policy = load_policy(settings.policy)
    except PolicyError as exc:
        _refuse(f"cannot check --person {person!r} against the policy:\n{exc}")
    names = [p.name for p in policy.people]
    if person in names:
        return
    close = difflib.get_close_matches(person, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"the people are: {', '.join(names)}"
    _refuse(f"--person: no person named {person!r} in {settings.policy}; {hint}")


def write_credentials(state_dir: Path, *, url: str, token: str) -> Path:
    """Store the CLI's URL and token readable by the owner only. The file is replaced
    whole (a CLI reading it while ``serve`` records its address sees one or the other)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / CREDENTIALS_FILE
    fd, temporary = tempfile.mkstemp(dir=state_dir, prefix=".credentials-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: owner-only
            json.dump({"url": url, "token": token}, handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_credentials(state_dir: Path) -> dict[str, str] | None:
    path = state_dir / CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when the host has a colon, as
    uvicorn decides); raises OSError when the address is taken or not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def cli_url(host: str, port: int, *, tls: bool) -> str:
    """The URL a CLI on this machine reaches a server listening on ``host:port`` at:
    the loopback address for a wildcard host."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"


def record_server_url(state_dir: Path, url: str) -> bool:
    """Point the credentials file in ``state_dir`` (if there is one) at ``url``;
    True if it named another address before."""
    stored = read_credentials(state_dir)
    if not stored or not stored.get("token") or stored.get("url") == url:
        return False
    write_credentials(state_dir, url=url, token=str(stored["token"]))
    return True
