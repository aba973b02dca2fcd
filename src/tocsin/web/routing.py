"""Routes whose work, and only their work, runs in a request thread.

FastAPI runs a plain ``def`` endpoint in a thread of the request-thread pool, gives the
thread back, then takes one again to validate what the endpoint returned. Between the
two, the request's transaction is still open: on PostgreSQL it holds the row locks it
took (the incident-number counter's, an incident's), and it commits only after the
validation. When every request thread is taken by requests waiting for those locks, the
request holding them waits for a thread to validate its answer, and nothing moves until
the clients give up: a storm on PostgreSQL stalled every declaration for a minute.

:class:`RequestThreadRoute` wraps such an endpoint in a coroutine that runs it in a
request thread and returns what it returned: FastAPI then validates the answer on the
event loop, so a request needs no second thread once its work is done.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastapi.routing import APIRoute

__all__ = ["RequestThreadRoute", "in_request_thread"]


def in_request_thread(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` as a coroutine function with the same signature (FastAPI reads the
    parameters through ``__wrapped__``) that runs it in a request thread."""

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(functools.partial(endpoint, *args, **kwargs))

    return run


class RequestThreadRoute(APIRoute):
    """An API route whose plain ``def`` endpoint is wrapped by :func:`in_request_thread`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.isfunction(endpoint) and not inspect.iscoroutinefunction(endpoint):
            endpoint = in_request_thread(endpoint)
        super().__init__(path, endpoint, **kwargs)
