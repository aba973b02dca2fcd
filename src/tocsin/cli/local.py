"""Shared pieces of the local admin commands (those that open the database directly)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console

from tocsin.config import Settings
from tocsin.db import SessionFactory, create_db_engine
from tocsin.db.migrate import upgrade

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
    settings = Settings()
    if policy is not None:
        settings = settings.model_copy(update={"policy": policy})
    return settings


def open_database(settings: Settings, *, migrate: bool = True) -> SessionFactory:
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
