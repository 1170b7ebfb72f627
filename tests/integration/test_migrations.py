from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ordermesh.adapters.db.engine import connect
from ordermesh.adapters.db.migrate import current_revision, upgrade
from ordermesh.adapters.db.tables import metadata


def test_the_shipped_migrations_build_exactly_the_schema_the_code_uses(database_url):
    db = connect(database_url, pool_size=1)
    try:
        with db.reader.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata
            )
        assert diff == []
    finally:
        db.dispose()


def test_upgrading_twice_is_harmless(database_url):
    db = connect(database_url, pool_size=1)
    try:
        before = current_revision(db)
        upgrade(db)
        assert current_revision(db) == before == "0001"
    finally:
        db.dispose()
