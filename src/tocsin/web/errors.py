"""Client mistakes become 4xx answers that name the field; never a 500. A database
that fails for an operational reason (disk full, read-only, locked beyond its bound,
unreachable, pool exhausted) becomes 503 with ``Retry-After``: the client may try again,
and nothing it asked for was half done (the transaction rolled back).

Every error body has `detail` (one human sentence) and, for validation, `errors`
(a list of `{field, message}`): :class:`tocsin.web.openapi.ErrorBody`.

A method a path does not have is answered 405 with an ``Allow`` header listing every
method the path has (each method of a path is its own route, and the router would
name only the first one's); ``OPTIONS`` is answered 204 with the same header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from tocsin.db.faults import (
    BUSY,
    DATABASE_FAULTS,
    DISK_FULL,
    READ_ONLY,
    UNAVAILABLE,
    UNREACHABLE,
    database_fault,
)
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.ingest import IngestError
from tocsin.policy import PolicyError

__all__ = [
    "BUSY",
    "DATABASE_FAULTS",
    "DISK_FULL",
    "READ_ONLY",
    "RETRY_AFTER_SECONDS",
    "UNAVAILABLE",
    "UNREACHABLE",
    "database_fault",
    "database_unavailable",
    "install_error_handlers",
    "unavailable_detail",
]

#: What a 503 asks clients to wait before retrying (as the inbound endpoints do).
RETRY_AFTER_SECONDS = 5


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _error(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = list(exc.errors())
    for problem in problems:
        if problem.get("type") == "json_invalid":
            ctx = problem.get("ctx") or {}
            reason = ctx.get("error", "invalid JSON")
            return _error(400, f"malformed JSON body: {reason}")
    errors = [
        {"field": _field(p.get("loc", ())), "message": str(p.get("msg", "invalid"))}
        for p in problems
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return _error(422, detail, errors)


async def _invalid_input(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInput)
    return _error(422, str(exc), [{"field": exc.field, "message": exc.message}])


async def _ingest_error(_request: Request, exc: Exception) -> JSONResponse:
    """An inbound alert body that cannot be used: 400, naming the field."""
    assert isinstance(exc, IngestError)
    return _error(400, str(exc), [{"field": exc.field, "message": exc.message}])


async def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    return _error(404, str(exc))


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    return _error(409, str(exc))


async def _policy_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PolicyError)
    errors = [
        {"field": issue.path, "line": issue.line, "message": issue.message} for issue in exc.issues
    ]
    return _error(422, f"policy refused, the running policy is unchanged:\n{exc}", errors)


async def _data_error(_request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot hold (out of range, NUL in text) is the client's input."""
    return _error(422, "a value in the request cannot be stored: out of range or invalid text")


def unavailable_detail(reason: str) -> str:
    """The sentence a 503 carries: what is wrong, and what the client should do."""
    return f"service unavailable: {reason}; try again in a few seconds"


async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """503 + Retry-After for a database fault; any other database error is re-raised
    (a bug answers 500, and is logged as one, rather than asking clients to retry)."""
    reason = database_fault(exc)
    if reason is None:
        raise exc
    return _error(
        503, unavailable_detail(reason), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the application takes at the request's path."""
    methods = {"OPTIONS"}
    for route in iter_route_contexts(request.app.router.routes):
        if isinstance(route.original_route, Mount):
            continue
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allow = {"Allow": ", ".join(allowed_methods(request))}
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=allow)
        detail = f"method {request.method} is not allowed here; use {allow['Allow']}"
        return _error(405, detail, headers=allow)
    return _error(exc.status_code, str(exc.detail), headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(IngestError, _ingest_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(PolicyError, _policy_error)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DataError, _data_error)
    for fault in DATABASE_FAULTS:
        app.add_exception_handler(fault, database_unavailable)
