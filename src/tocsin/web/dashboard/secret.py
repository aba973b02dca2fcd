"""The key that signs dashboard session cookies.

``TOCSIN_SECRET_KEY`` when set; otherwise a random key generated on first start into
``.tocsin/secret_key`` (readable by the owner only), so that ``make run`` works out of
the box and sessions survive a restart. Several servers sharing one database must be
given the same ``TOCSIN_SECRET_KEY``. The key is never logged.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tocsin.config import Settings

__all__ = ["KEY_FILE", "MIN_KEY_LENGTH", "signing_key"]

KEY_FILE = "secret_key"
#: A shorter key (an empty variable, a truncated file) would let anyone forge sessions.
MIN_KEY_LENGTH = 32


def signing_key(settings: Settings) -> str:
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value().strip()
        where = "TOCSIN_SECRET_KEY"
    else:
        key = _key_file(settings.state_dir / KEY_FILE)
        where = str(settings.state_dir / KEY_FILE)
    if len(key) < MIN_KEY_LENGTH:
        raise RuntimeError(
            f"{where} holds a session signing key shorter than {MIN_KEY_LENGTH} characters; "
            "set a long random value (or remove the file to have one generated)"
        )
    return key


def _key_file(path: Path) -> str:
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    try:
        # Another process starting at the same moment may have won: keep its key.
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text(encoding="utf-8").strip()
