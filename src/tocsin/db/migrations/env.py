"""Alembic environment. The engine comes from `tocsin.db.migrate` (config.attributes)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from tocsin.tables import metadata

config = context.config
target_metadata = metadata

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
