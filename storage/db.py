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

import contextlib
import contextvars
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from storage.repositories import StorageError, Tx

T = TypeVar("T")

#: A unit of work: everything one transaction does, re-runnable until it is durable.
Work = Callable[[Tx], Awaitable[T]]

# Set while a unit of work runs (and in tasks it starts), so a nested ``store.write`` inside
# it fails loudly instead of waiting for itself (SQLite) or committing apart from its caller
# (PostgreSQL).
_WRITING: contextvars.ContextVar[bool] = contextvars.ContextVar("kesu_writing", default=False)
_PASSWORD = re.compile(r"(://[^:/@?#]*:)[^@/?#]*@")


class CannotOpen(StorageError):
    """The database cannot be used at all — a wrong URL, a server that does not answer, a
    file that is not there. Something an operator fixes, so its message is one line that
    names the database, never its password."""


class Unreachable(CannotOpen):
    """The database did not answer, refused us, or could not be opened (with the reason)."""


class NoDatabase(CannotOpen):
    """No SQLite file where the URL points, and the caller asked not to create one."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no database at {path}")
        self.path = path


def shown_url(url: str) -> str:
    """``url`` as it may appear in a message or a log: its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return _PASSWORD.sub(r"\1***@", url)


class Store(ABC):
    """Owns the connections; hands out write and read transactions. No module-level state."""

    dialect: str
    #: The URL as messages and logs may show it (password masked); set by :meth:`connect`.
    shown: str = "the database"

    @staticmethod
    def connect(url: str, *, create: bool = True, **options: Any) -> Store:
        """A store for ``url``; nothing is opened until the first transaction.

        ``sqlite:///path`` (``sqlite+aiosqlite://`` is read the same way, as earlier releases
        wrote it) or ``postgresql://…`` / ``postgresql+asyncpg://…``. ``create=False`` is for
        callers that only look at what is there: a missing SQLite file is :class:`NoDatabase`
        instead of a new empty database. ``options`` go to the backend: for SQLite
        ``readers``, ``busy_timeout`` and ``max_group``; for PostgreSQL SQLAlchemy's engine
        options (``pool_size``, ``connect_args`` …).
        """
        shown = shown_url(url)
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise CannotOpen(f"not a database URL: {shown!r}") from None
        backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
        store: Store
        if backend == "sqlite":
            from storage.sqlite import SqliteStore  # noqa: PLC0415 (one backend per process)

            if driver not in ("pysqlite", "aiosqlite"):
                raise CannotOpen(f"unsupported SQLite driver {driver!r}: use sqlite:///path")
            if not parsed.database or parsed.database == ":memory:" or "mode=memory" in url:
                # Readers and the writer need one shared file to see each other's commits.
                raise CannotOpen("in-memory SQLite is not supported; use a file path")
            path = Path(parsed.database)
            if not path.parent.is_dir():  # SQLite creates a file, never its directory
                raise Unreachable(f"cannot open the database {shown}: no directory {path.parent}")
            if not create and not path.exists():
                raise NoDatabase(path)
            store = SqliteStore(parsed.database, **options)
        elif backend == "postgresql":
            from storage.postgres import PostgresStore  # noqa: PLC0415 (one backend per process)

            # A bare postgresql:// (SQLAlchemy 2.0 names its driver psycopg2, 2.1 psycopg)
            # means asyncpg here: it is the driver kesu ships with.
            if "+" in parsed.drivername and driver not in ("asyncpg", "psycopg2"):
                raise CannotOpen(
                    f"unsupported PostgreSQL driver {driver!r}: use postgresql+asyncpg://"
                )
            store = PostgresStore(parsed.set(drivername="postgresql+asyncpg"), **options)
        else:
            raise CannotOpen(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
        store.shown = shown
        return store

    @contextlib.contextmanager
    def reaching(self, *, writing: bool = False) -> Iterator[None]:
        """Around a first statement: not reaching the database becomes :class:`Unreachable`,
        one line naming it, instead of the driver's traceback.

        Reading, every driver error is about reaching it (refused, unknown host, wrong
        password, no such database, not a database file); ``writing`` (a migration), only
        the operational ones are (a read-only file, a full disk) — anything else there is a
        bug and keeps its traceback."""
        caught = (OSError, DBAPIError) if not writing else (OSError, OperationalError)
        try:
            yield
        except caught as exc:
            reason = getattr(exc, "orig", None) or exc
            words = str(reason).strip().splitlines()
            first = words[0] if words else type(reason).__name__
            verb = "migrate" if writing else "open"
            raise Unreachable(f"cannot {verb} the database {self.shown}: {first}") from exc

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
