"""Alembic environment. The engine comes from `tocsin.db.migrate` (config.attributes)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

import tocsin.auth.models
import tocsin.db.counters
import tocsin.incidents.models  # noqa: F401  (registers tables for autogenerate)
from tocsin.db.base import Base

config = context.config
target_metadata = Base.metadata

#: Any constant: serialises concurrent `tocsin migrate` runs against one PostgreSQL database.
_MIGRATION_LOCK = 7_460_001


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
            context.run_migrations()


run_migrations_online()
