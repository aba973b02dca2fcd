"""Storage: engine, the one commit point, and shared column types."""

from tocsin.db.base import Base, JSONValue, UTCDateTime
from tocsin.db.engine import create_db_engine, is_postgres, is_sqlite
from tocsin.db.session import SessionFactory, session_scope

__all__ = [
    "Base",
    "JSONValue",
    "SessionFactory",
    "UTCDateTime",
    "create_db_engine",
    "is_postgres",
    "is_sqlite",
    "session_scope",
]
