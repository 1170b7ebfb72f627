"""Alembic environment: migrations run on a connection handed over by ordermesh."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from ordermesh.adapters.db.engine import normalise_url
from ordermesh.adapters.db.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = normalise_url(config.get_main_option("sqlalchemy.url") or "sqlite:///./var/ordermesh.db")
    with create_engine(url).begin() as conn:
        _migrate(conn)


def _migrate(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
