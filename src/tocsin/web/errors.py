"""Client mistakes become 4xx answers that name the field; never a 500. A database
that fails for an operational reason (disk full, read-only, locked beyond its bound,
unreachable, pool exhausted) becomes 503 with ``Retry-After``: the client may try again,
and nothing it asked for was half done (the transaction rolled back).

Every error body has `detail` (one human sentence) and, for validation, `errors`
(a list of `{field, message}`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.ingest import IngestError
from tocsin.policy import PolicyError

__all__ = [
    "DATABASE_FAULTS",
    "RETRY_AFTER_SECONDS",
    "database_fault",
    "database_unavailable",
    "install_error_handlers",
    "unavailable_detail",
]

#: What a 503 asks clients to wait before retrying (as the inbound endpoints do).
RETRY_AFTER_SECONDS = 5

DISK_FULL = "the database disk is full"
READ_ONLY = "the database is read-only"
BUSY = "the database is busy"
UNREACHABLE = "the database cannot be reached"
UNAVAILABLE = "the database is unavailable"

#: The exception classes that may mean a database fault. SQLAlchemy wraps the driver's
#: errors (sqlite3's and psycopg's) in its own classes; the bare driver classes are
#: listed for code that talks to a driver directly. ``InternalError`` is here because
#: PostgreSQL reports a read-only transaction (SQLSTATE 25006) as one.
DATABASE_FAULTS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.InternalError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)

#: PostgreSQL SQLSTATEs (the class, or the exact code) and what they mean.
_SQLSTATES: tuple[tuple[str, str], ...] = (
    ("53100", DISK_FULL),  # disk_full
    ("25006", READ_ONLY),  # read_only_sql_transaction (a standby, default_transaction_read_only)
    ("55P03", BUSY),  # lock_not_available (lock_timeout)
    ("57014", BUSY),  # query_canceled (statement_timeout)
    ("53300", BUSY),  # too_many_connections
    ("40", BUSY),  # transaction rollback: serialization failure, deadlock
    ("57P", UNREACHABLE),  # admin / crash shutdown, cannot connect now
    ("08", UNREACHABLE),  # connection exception
    ("53", UNAVAILABLE),  # insufficient resources (out of memory, ...)
    ("58", UNAVAILABLE),  # system error (I/O)
)

#: Words of the drivers' messages (lower case), first match wins.
_MESSAGES: tuple[tuple[str, str], ...] = (
    ("database or disk is full", DISK_FULL),
    ("no space left on device", DISK_FULL),
    ("disk full", DISK_FULL),
    ("could not extend file", DISK_FULL),
    ("readonly database", READ_ONLY),
    ("read-only", READ_ONLY),
    ("read only", READ_ONLY),
    ("is locked", BUSY),
    ("database is busy", BUSY),
    ("deadlock", BUSY),
    ("lock timeout", BUSY),
    ("statement timeout", BUSY),
    ("too many clients", BUSY),
    ("unable to open database file", UNREACHABLE),
    ("connection", UNREACHABLE),  # refused, failed, closed, lost, reset, timed out
    ("server closed", UNREACHABLE),
    ("terminating", UNREACHABLE),
    ("database system is", UNREACHABLE),  # shutting down, starting up, in recovery
    ("could not translate host name", UNREACHABLE),
    ("no route to host", UNREACHABLE),
    ("timeout expired", UNREACHABLE),
    ("ssl syscall", UNREACHABLE),
    ("disk i/o error", UNAVAILABLE),
)

#: SQLite reports these mistakes of the program as OperationalError too: they are
#: bugs (500), not faults a retry could get past.
_SQLITE_BUGS = (
    "no such table",
    "no such column",
    "no such function",
    "has no column named",
    "syntax error",
    "too many sql variables",
    "too many terms",
    'near "',
)


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


def database_fault(exc: BaseException) -> str | None:
    """What is wrong with the database, as a sentence (``"the database disk is full"``),
    when ``exc`` is an operational failure that a later retry may get past; None when
    it is not one (a bug, or the client's input: :class:`~sqlalchemy.exc.DataError`
    never is)."""
    if not isinstance(exc, DATABASE_FAULTS):  # IntegrityError, ProgrammingError, ...
        return None
    if isinstance(exc, sa_exc.TimeoutError):  # the connection pool stayed exhausted
        return BUSY
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return UNREACHABLE
        driver: BaseException | None = exc.orig
    else:
        driver = exc
    if isinstance(exc, sa_exc.DataError) or isinstance(driver, psycopg.DataError):
        return None
    message = str(driver if driver is not None else exc).lower()
    sqlstate = getattr(driver, "sqlstate", None)
    if isinstance(sqlstate, str):
        for prefix, reason in _SQLSTATES:
            if sqlstate.startswith(prefix):
                return reason
    if isinstance(driver, sqlite3.Error) and any(bug in message for bug in _SQLITE_BUGS):
        return None
    for words, reason in _MESSAGES:
        if words in message:
            return reason
    if isinstance(exc, sa_exc.InternalError | psycopg.InternalError):
        return None  # an internal error that is not a read-only transaction: a bug
    return UNAVAILABLE


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


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
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
