"""Which database errors are faults a retry may get past (disk full, read-only,
busy, unreachable), and which are bugs.

The web layer answers a fault with 503 and ``Retry-After``; the engine retries the
whole batch later instead of counting the failure against a job. SQLite reports some
mistakes of the program (a missing table) as ``OperationalError`` too: those are bugs.
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa_exc

__all__ = [
    "BUSY",
    "DATABASE_DOWN",
    "DATABASE_FAULTS",
    "DISK_FULL",
    "READ_ONLY",
    "UNAVAILABLE",
    "UNREACHABLE",
    "database_fault",
]

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

#: What a transaction raises when the database cannot be reached or refuses the write
#: (SQLAlchemy's wrapped errors, and its pool's timeout): alert intake answers these
#: 503 and keeps what it had stored.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
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
