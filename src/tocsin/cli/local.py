"""Shared pieces of the local admin commands (those that open the database directly).

The CLI imports every command's module to list them, so what only one command needs
(the database layer, the engine, the policy models) is imported in that command: a
`tocsin incident ack` at 3 am should not wait for the whole server to load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.db import SessionFactory

__all__ = [
    "CREDENTIALS_FILE",
    "PolicyOption",
    "err",
    "open_database",
    "out",
    "settings_for",
    "write_credentials",
]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

CREDENTIALS_FILE = "credentials.json"

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


def open_database(settings: Settings, *, migrate: bool = True) -> SessionFactory:
    from tocsin.db import SessionFactory, create_db_engine
    from tocsin.db.migrate import upgrade

    engine = create_db_engine(settings.resolved_database_url())
    if migrate:
        upgrade(engine)
    return SessionFactory(engine)


def write_credentials(state_dir: Path, *, url: str, token: str) -> Path:
    """Store the CLI's URL and token readable by the owner only."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"url": url, "token": token}, handle)
    os.chmod(path, 0o600)
    return path


def read_credentials(state_dir: Path) -> dict[str, str] | None:
    path = state_dir / CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
