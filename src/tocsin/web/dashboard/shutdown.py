"""Ending open event streams when the server shuts down.

uvicorn waits for every open response to finish before it exits, and an event stream
never finishes by itself: without help, stopping a server with a dashboard open would
hang. ASGI tells an application nothing until those responses are done, so the first
step of :meth:`uvicorn.Server.shutdown` is wrapped to announce the shutdown here; every
stream checks :func:`shutting_down` and ends (the browser reconnects to whichever server
answers next, resuming from the last event it saw).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from tocsin.web.dashboard.changes import BELL

__all__ = ["generation", "shutting_down", "watch_uvicorn"]

_lock = threading.Lock()
_generation = 0


def generation() -> int:
    """Changes each time a server of this process begins to shut down."""
    return _generation


def shutting_down(since: int) -> bool:
    return _generation != since


def _announce() -> None:
    global _generation
    with _lock:
        _generation += 1
    BELL.ring()


def watch_uvicorn() -> None:
    """Wrap ``uvicorn.Server.shutdown`` once per process (no-op without uvicorn)."""
    try:
        from uvicorn import Server
    except ImportError:  # served by another ASGI server
        return
    original: Callable[..., Awaitable[None]] = Server.shutdown
    if getattr(original, "_tocsin_announces", False):
        return

    async def shutdown(self: Any, sockets: list[socket.socket] | None = None) -> None:
        _announce()
        await original(self, sockets=sockets)

    shutdown._tocsin_announces = True  # type: ignore[attr-defined]
    Server.shutdown = shutdown  # type: ignore[method-assign]
