"""``tocsin serve --workers N``: N HTTP server processes sharing one listening socket.

One Python process answers HTTP on one core at a time (the GIL): with 100 alerts per
request its event loop parses while its group-commit thread writes, taking turns. N
processes parse in parallel, and their write transactions queue on the database's
writer lock (:mod:`tocsin.db.writers`), so a 2-core machine takes about twice the
alerts. Every answer still follows the commit of what it reports.

The processes (started with ``spawn``) only serve HTTP. The engine and delivery
workers stay in the parent, once, and the parent supervises: a process that dies is
started again, SIGTERM/SIGINT stop them all. A parent killed outright (SIGKILL) cannot
tell them: each notices within half a second and stops as on SIGTERM, so no process
keeps the port and takes alerts with no engine behind it. What must cross processes:

- *wake-ups* — a child whose commit scheduled a job or a notification sends the parent
  SIGUSR1, which wakes both workers at once (without it they would find the work at
  their next poll, up to half a second later);
- *policy reloads* — SIGHUP to the parent reloads its policy and is passed on to every
  child; ``POST /api/v1/policy/reload`` in a child reloads that child and sends the
  parent SIGHUP, so all processes follow. A bad file is refused by each and the
  running policy stays, as with one process.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from tocsin.config import Settings
from tocsin.db.jobs import JOB_SCHEDULED
from tocsin.db.wakeups import listen
from tocsin.notify.outbox import NOTIFICATION_ENQUEUED
from tocsin.web.timeouts import (
    BODY_TIMEOUT_SECONDS,
    HEADER_TIMEOUT_SECONDS,
    KEEP_ALIVE_SECONDS,
    REQUEST_THREADS,
    SHUTDOWN_GRACE_SECONDS,
    header_timeout_protocol,
)

if TYPE_CHECKING:
    from tocsin.web.context import AppContext

__all__ = ["HttpOptions", "serve_processes"]

log = logging.getLogger("tocsin.web")

#: How often the parent looks for children that died.
_SUPERVISE_SECONDS = 0.5
#: How long a child has to finish its requests when told to stop.
_STOP_SECONDS = 10.0


@dataclass(frozen=True)
class HttpOptions:
    """How each server process serves HTTP."""

    access_log: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    header_timeout: float = HEADER_TIMEOUT_SECONDS
    body_timeout: float = BODY_TIMEOUT_SECONDS
    threads: int = REQUEST_THREADS


class _Pokes:
    """Signals, turned into flags and a byte on a pipe that a thread waits on: a
    handler must not take locks (it may interrupt their holder) nor run a reload (it
    may interrupt itself)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self.flags: set[str] = set()

    def handler(self, flag: str) -> Callable[[int, FrameType | None], None]:
        def handle(_signum: int, _frame: FrameType | None) -> None:
            self.flags.add(flag)
            with contextlib.suppress(BlockingIOError):  # a wake-up is pending anyway
                os.write(self._write, b"!")

        return handle

    def wait(self, timeout: float | None) -> set[str]:
        """The flags raised since the last call, after waiting up to ``timeout``."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        if ready:
            os.read(self._read, 4096)
        raised = set(self.flags)
        self.flags.difference_update(raised)
        return raised


def serve_processes(
    *,
    settings: Settings,
    count: int,
    options: HttpOptions,
    reload_policy: Callable[[], None],
    listener: socket.socket | None = None,
) -> None:
    """Bind ``settings.host:port`` (unless given the ``listener``), run ``count`` server
    processes until SIGTERM/SIGINT. ``reload_policy`` reloads the parent's own policy
    (on SIGHUP)."""
    if listener is None:
        listener = socket.create_server((settings.host, settings.port), backlog=2048)
    spawn = get_context("spawn")
    pokes = _Pokes()

    def start() -> BaseProcess:
        child = spawn.Process(
            target=_child,
            args=(settings, listener, options, os.getpid()),
            name="tocsin-http",
            daemon=False,
        )
        child.start()
        return child

    previous = {
        number: signal.signal(number, pokes.handler(flag))
        for number, flag in (
            (signal.SIGHUP, "reload"),
            (signal.SIGUSR1, "work"),
            (signal.SIGTERM, "stop"),
            (signal.SIGINT, "stop"),
        )
    }
    children: list[BaseProcess] = []
    try:
        children.extend(start() for _ in range(count))
        while True:
            raised = pokes.wait(_SUPERVISE_SECONDS)
            if "stop" in raised:
                break
            if "work" in raised:
                JOB_SCHEDULED.notify()
                NOTIFICATION_ENQUEUED.notify()
            if "reload" in raised:
                reload_policy()
                for child in children:
                    if child.pid is not None and child.is_alive():
                        os.kill(child.pid, signal.SIGHUP)
            for index, child in enumerate(children):
                if not child.is_alive():
                    log.error(
                        "server process %s ended (exit %s); starting another",
                        child.pid,
                        child.exitcode,
                    )
                    children[index] = start()
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join(_STOP_SECONDS)
            if child.is_alive():
                child.kill()
                child.join()
        listener.close()
        for number, handler in previous.items():
            signal.signal(number, handler)


def _child(settings: Settings, listener: socket.socket, options: HttpOptions, parent: int) -> None:
    """One server process: the application on the shared socket, HTTP only."""
    import uvicorn

    from tocsin.web.app import create_app, set_request_threads
    from tocsin.web.context import AppContext
    from tocsin.web.limits import set_body_timeout

    context = AppContext.from_settings(settings)
    _follow_reloads(context, parent)
    _forward_wakeups(parent)
    _stop_without(parent)
    listen(context.sessions.engine)  # live dashboards hear other hosts' changes
    app = create_app(context)
    set_body_timeout(app, options.body_timeout)
    set_request_threads(app, options.threads)
    gc.freeze()
    uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="info",
            access_log=options.access_log,
            ssl_certfile=str(options.tls_cert) if options.tls_cert else None,
            ssl_keyfile=str(options.tls_key) if options.tls_key else None,
            http=header_timeout_protocol(options.header_timeout),
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
    ).run(sockets=[listener])


def _stop_without(parent: int) -> None:
    """Stop (as on SIGTERM: open requests are finished) once the main process is gone:
    killed with SIGKILL, it could not stop its children, and they would keep the port
    and take alerts with no engine to page for them, and no restart could listen."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_SUPERVISE_SECONDS)
        log.warning("the main server process %s is gone: this process stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="tocsin-parent-watch", daemon=True).start()


def _follow_reloads(context: AppContext, parent: int) -> None:
    """SIGHUP (from the parent) reloads this process's policy, in a thread; a reload
    this process made itself (the API's) asks the parent to reload everyone."""
    from tocsin.policy import PolicyError

    pokes = _Pokes()
    signal.signal(signal.SIGHUP, pokes.handler("reload"))
    context.policy.listeners.append(lambda _policy: os.kill(parent, signal.SIGHUP))

    def follow() -> None:
        while True:
            if "reload" in pokes.wait(None):
                try:
                    context.policy.reload(announce=False)
                except PolicyError as exc:
                    log.error("policy refused; the running policy is unchanged: %s", exc)

    threading.Thread(target=follow, name="tocsin-policy", daemon=True).start()


def _forward_wakeups(parent: int) -> None:
    """SIGUSR1 to the parent after each commit that scheduled a job or a notification
    (several commits in a row are one signal: the workers read all there is)."""
    committed = threading.Event()
    JOB_SCHEDULED.subscribe(committed)
    NOTIFICATION_ENQUEUED.subscribe(committed)

    def forward() -> None:
        while True:
            committed.wait()
            committed.clear()
            try:
                os.kill(parent, signal.SIGUSR1)
            except ProcessLookupError:
                return

    threading.Thread(target=forward, name="tocsin-wakeups", daemon=True).start()
