"""Migrations build exactly the schema in ``storage/schema.py``, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrate
from storage.db import Store
from storage.schema import metadata
from tests.conftest import Backend


async def test_upgrade_from_empty_then_again_is_a_no_op(backend: Backend) -> None:
    store = backend.connect()
    try:
        assert await migrate.current_revision(store) is None
        before, after = await migrate.upgrade(store)
        assert (before, after) == (None, migrate.head_revision())
        assert await migrate.upgrade(store) == (after, after)
    finally:
        await store.close()


async def test_migrated_schema_matches_the_metadata(store: Store) -> None:
    diff = await store.read_sync(
        lambda sync: compare_metadata(
            MigrationContext.configure(sync, opts={"compare_type": True}), metadata
        )
    )
    tables = await store.read_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert diff == []
    assert {t.name for t in metadata.sorted_tables} <= tables
