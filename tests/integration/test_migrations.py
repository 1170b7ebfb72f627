from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from ordermesh.adapters.db.engine import connect
from ordermesh.adapters.db.migrate import alembic_config, current_revision, upgrade
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
        heads = ScriptDirectory.from_config(alembic_config(db)).get_heads()
        assert [current_revision(db)] == [before] == heads
    finally:
        db.dispose()
