"""Engine set-up and transactions.

SQLite (the embedded default) gets WAL, a busy timeout, foreign keys and full fsync, and its
write transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock
upgrade; inside one process writers also queue on an asyncio lock, which is much faster than
letting SQLite's busy handler poll. PostgreSQL needs none of this: row locks taken by the
upserts serialise what must be serialised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from storage.repositories import Tx

_WRITE = "kesu_write"


class Store:
    """Owns the engine; hands out read and write transactions. No module-level state."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @classmethod
    def connect(cls, url: str, **engine_options: Any) -> Store:
        """Create the engine for ``url``; nothing is opened until the first transaction."""
        if url.startswith("sqlite") and ":memory:" in url:
            # Each pooled connection would get its own empty database: refuse, don't surprise.
            raise ValueError("in-memory SQLite is not supported; use a file path")
        if url.startswith("sqlite"):
            engine_options.setdefault("pool_size", 5)
            engine_options.setdefault("max_overflow", 5)
        else:
            engine_options.setdefault("pool_size", 10)
            engine_options.setdefault("max_overflow", 10)
        engine_options.setdefault("pool_timeout", 120)
        engine = create_async_engine(url, **engine_options)
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        return cls(engine)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """A transaction that may write; committed on success, rolled back on any error."""
        lock = self._write_lock or contextlib.nullcontext()
        async with lock, self.engine.connect() as conn:
            await conn.execution_options(**{_WRITE: True})
            async with conn.begin():
                yield Tx(conn)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A read-only snapshot; on SQLite (WAL) readers never wait for the writer."""
        async with self.engine.connect() as conn, conn.begin():
            yield Tx(conn)

    async def close(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN out of the driver's hands so we can say IMMEDIATE (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed case survives a power cut
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
