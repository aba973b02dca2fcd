"""Connection timeouts for ``tocsin serve``, so that idle or trickling clients cannot
pile up connections.

uvicorn closes a connection that stays idle after a response (``timeout_keep_alive``),
but it sets no deadline for a request's headers: a client that connects and sends
nothing, or half a request line, holds its connection for ever, and a new connection
has no timer at all until its first response. :func:`header_timeout_protocol` returns
uvicorn's HTTP protocol class (h11 or httptools, whichever uvicorn would pick) with a
deadline: the request headers must be complete within ``seconds`` of the connection
opening or of the previous response, or the connection is closed. Trickling the
headers a byte at a time does not move the deadline.

The request body has its own deadline, between chunks, in
:class:`tocsin.web.limits.BodyGuard` (an answer there can be a proper 408).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

__all__ = [
    "BODY_TIMEOUT_SECONDS",
    "HEADER_TIMEOUT_SECONDS",
    "KEEP_ALIVE_SECONDS",
    "SHUTDOWN_GRACE_SECONDS",
    "HeaderTimeout",
    "header_timeout_protocol",
]

#: Defaults of ``tocsin serve --header-timeout / --body-timeout`` and the keep-alive idle.
HEADER_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 30.0
KEEP_ALIVE_SECONDS = 5
#: How long a stopping server waits for open connections before closing them. Without a
#: bound, an idle TLS keep-alive connection whose client never answers the close holds
#: the stop for asyncio's own 30 s TLS shutdown timeout, and a stuck client for ever.
SHUTDOWN_GRACE_SECONDS = 5

#: Requests a process works on in threads at once (``tocsin serve --threads``).
#: Python runs one thread at a time, and SQLite releases the interpreter at each row
#: it reads: with many threads, each row read waits its turn behind every other
#: thread, and handing the interpreter between them costs CPU of its own. Two threads
#: keep both cores busy where a query runs without the interpreter (SQLite's count of a
#: deep filter, PostgreSQL's answer on its way) and take few turns: with 16 concurrent
#: clients over 100,000 incidents, the incident list answered 174 requests/s at p99 126
#: ms with two threads, 147 at p99 169 ms with four (SQLite), and an incident's timeline
#: on PostgreSQL 346/s at p99 67 ms against 272/s at p99 95 ms; forty threads took
#: twice as long as four. A request beyond them waits for a thread, not the interpreter.
REQUEST_THREADS = 2

log = logging.getLogger("tocsin.web")


class HeaderTimeout(asyncio.Protocol):
    """Mixed in before uvicorn's ``H11Protocol`` or ``HttpToolsProtocol``.

    Both keep the request being served in ``self.cycle`` (``None`` before the first
    request's headers are complete, replaced when the next one's are, with
    ``response_complete`` set once answered), and both call ``on_response_complete``
    after each response: that is all this relies on.
    """

    header_timeout: float = HEADER_TIMEOUT_SECONDS

    # Set by uvicorn's protocol classes.
    transport: asyncio.Transport
    cycle: Any
    loop: asyncio.AbstractEventLoop

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None and not self._awaiting_headers():
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        cast(Any, super()).on_response_complete()
        if self._awaiting_headers() and not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _awaiting_headers(self) -> bool:
        """No request is being served: the next one's headers have not arrived yet."""
        cycle = self.cycle
        return cycle is None or bool(cycle.response_complete)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            return  # closed already, or upgraded to a WebSocket
        if not self._awaiting_headers():
            return
        log.debug("closing a connection whose request headers took over %s s", self.header_timeout)
        transport.close()


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's own HTTP protocol class (``http="auto"``), with a header deadline of
    ``seconds``; pass it as ``uvicorn.Config(http=...)``."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    name = f"HeaderTimeout{AutoHTTPProtocol.__name__}"
    return type(name, (HeaderTimeout, AutoHTTPProtocol), {"header_timeout": float(seconds)})
