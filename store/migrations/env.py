"""Alembic's entry point: runs the migrations on the connection `store.database` hands over
(in `config.attributes["connection"]`), or on `sqlalchemy.url` when run by the `alembic` tool."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters a table by copying it; PostgreSQL alters in place.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if isinstance(given, Connection):
    _run(given)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        _run(connection)
