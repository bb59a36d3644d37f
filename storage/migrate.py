"""Versioned schema migrations (Alembic), applied on start and by ``kesu db upgrade``."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.db import Store


def alembic_config(connection: Connection | None = None) -> Config:
    """A config built in code: no alembic.ini to ship, find or keep in sync."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("storage") / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found in storage/migrations")
    return head


async def current_revision(store: Store) -> str | None:
    """The schema's revision (None: empty database); the first statement of every command,
    so an unreachable database is :class:`~storage.db.Unreachable` here."""
    with store.reaching():
        return await store.read_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


#: Any constant: the advisory lock kesu's migrations hold on PostgreSQL.
_MIGRATION_LOCK = 0x6B657375  # "kesu"


def _upgrade(sync: Connection, revision: str) -> None:
    if sync.dialect.name == "postgresql":
        # Several instances start at once: the first migrates, the others wait here and then
        # find the schema current (a transaction-scoped lock: released at COMMIT).
        sync.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    command.upgrade(alembic_config(sync), revision)


async def upgrade(store: Store, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``revision`` in one transaction; returns (before, after)."""
    before = await current_revision(store)
    with store.reaching(writing=True):
        await store.write_sync(lambda sync: _upgrade(sync, revision))
    return before, await current_revision(store)
