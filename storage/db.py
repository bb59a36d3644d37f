"""The store: write and read transactions over SQLite (embedded default) or PostgreSQL.

Callers see one API on both backends. A write is a unit of work, ``await store.write(work)``,
where ``work(tx)`` is an async function that reads and writes through ``tx``'s repositories
and returns a value; the store runs it in one transaction and returns that value only once
the transaction is durable. The store may run ``work`` again when a commit fails (SQLite's
group commit re-runs every unit of a group whose COMMIT failed; PostgreSQL re-runs one that
lost a serialization conflict), so ``work`` changes nothing outside the database — wake-ups,
caches and acknowledgements come after the ``await``. A read is ``async with store.read() as
tx``: it sees only committed data and is never re-run.
"""

from __future__ import annotations

import contextvars
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError

from storage.repositories import StorageError, Tx

T = TypeVar("T")

#: A unit of work: everything one transaction does, re-runnable until it is durable.
Work = Callable[[Tx], Awaitable[T]]

# Set while a unit of work runs (and in tasks it starts), so a nested ``store.write`` inside
# it fails loudly instead of waiting for itself (SQLite) or committing apart from its caller
# (PostgreSQL).
_WRITING: contextvars.ContextVar[bool] = contextvars.ContextVar("kesu_writing", default=False)


class Store(ABC):
    """Owns the connections; hands out write and read transactions. No module-level state."""

    dialect: str

    @staticmethod
    def connect(url: str, **options: Any) -> Store:
        """A store for ``url``; nothing is opened until the first transaction.

        ``sqlite:///path`` (``sqlite+aiosqlite://`` is read the same way, as earlier releases
        wrote it) or ``postgresql://…`` / ``postgresql+asyncpg://…``. ``options`` go to the
        backend: for SQLite ``readers``, ``busy_timeout`` and ``max_group``; for PostgreSQL
        SQLAlchemy's engine options (``pool_size``, ``connect_args`` …).
        """
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StorageError(f"not a database URL: {url!r}") from None
        backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
        if backend == "sqlite":
            from storage.sqlite import SqliteStore  # noqa: PLC0415 (one backend per process)

            if driver not in ("pysqlite", "aiosqlite"):
                raise StorageError(f"unsupported SQLite driver {driver!r}: use sqlite:///path")
            if not parsed.database or parsed.database == ":memory:" or "mode=memory" in url:
                # Readers and the writer need one shared file to see each other's commits.
                raise StorageError("in-memory SQLite is not supported; use a file path")
            return SqliteStore(parsed.database, **options)
        if backend == "postgresql":
            from storage.postgres import PostgresStore  # noqa: PLC0415 (one backend per process)

            if driver not in ("asyncpg", "psycopg2"):  # psycopg2 is SQLAlchemy's name for bare
                raise StorageError(
                    f"unsupported PostgreSQL driver {driver!r}: use postgresql+asyncpg://"
                )
            return PostgresStore(parsed.set(drivername="postgresql+asyncpg"), **options)
        raise StorageError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")

    @abstractmethod
    async def write(self, work: Work[T]) -> T:
        """Run ``work`` in a write transaction; its value once the transaction is durable."""

    @abstractmethod
    def read(self) -> AbstractAsyncContextManager[Tx]:
        """A read-only transaction over committed data."""

    @abstractmethod
    async def write_sync(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` on a synchronous connection inside one write transaction, off the event
        loop (schema migrations: Alembic is synchronous)."""

    @abstractmethod
    async def read_sync(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` on a synchronous connection in a read transaction, off the event loop
        (Alembic's current revision, schema inspection)."""

    @abstractmethod
    async def close(self) -> None:
        """Finish queued writes, then close every connection."""

    @staticmethod
    def _refuse_nested_write() -> None:
        if _WRITING.get():
            raise StorageError(
                "store.write() called inside a unit of work: pass it the open tx instead "
                "(a nested write would wait for itself)"
            )

    @staticmethod
    def _enter_write() -> contextvars.Token[bool]:
        return _WRITING.set(True)

    @staticmethod
    def _leave_write(token: contextvars.Token[bool]) -> None:
        _WRITING.reset(token)
