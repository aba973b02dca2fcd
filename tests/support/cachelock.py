"""One installer at a time for a test cache directory (npm packages the tests use):
parallel test processes wait for the first one's install instead of racing it."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def installing(target: Path) -> Iterator[None]:
    """Hold an exclusive lock beside ``target`` for the block (check, then install)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
