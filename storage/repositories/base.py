"""What every repository stands on: one async way to run a statement, whatever runs it.

Repositories are written once, against :class:`Session`. Beneath it, each backend runs
statements its own fastest safe way (``storage/sqlite.py``: on the event loop inside a
group-committed transaction, or on a reader thread; ``storage/postgres.py``: asyncpg's
prepared statements), both from SQL that SQLAlchemy compiled once (``storage/compiled.py``).
Hot-path statements are built once — per dialect when the SQL differs, as module constants
otherwise — with ``bindparam`` for every value, so a call costs a cache lookup instead of
building, hashing and compiling a statement tree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Executable

from storage.schema import Row

S = TypeVar("S")

#: One parameter set, or several for an executemany.
Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


class StorageError(Exception):
    """Base of what storage reports; the message is meant for a person."""


class NotFound(StorageError):
    pass


class StaleRow(StorageError):
    """Somebody changed the row since it was read (two staff clicking at once)."""


class DatabaseError(StorageError):
    """The database refused a statement; the driver's own error is the cause. One type on
    both backends, so callers never import a driver."""


class IntegrityViolation(DatabaseError):
    """A unique, foreign-key or not-null rule refused a row."""


class Conflict(DatabaseError):
    """The server rolled the transaction back (a serialization conflict, a deadlock):
    running the unit of work again may succeed. The store does; code that catches errors
    inside a unit of work lets this one through."""


class Rows:
    """A statement's rows, all fetched, each a dict from column name to value."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Row], rowcount: int = -1) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def first(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def one(self) -> Row:
        if len(self.rows) != 1:
            raise StorageError(f"expected exactly one row, got {len(self.rows)}")
        return self.rows[0]

    def scalar(self) -> Any:
        """The first column of the first row, or None when there is no row."""
        return next(iter(self.rows[0].values())) if self.rows else None

    def scalar_one(self) -> Any:
        return next(iter(self.one().values()))

    def scalars(self) -> list[Any]:
        return [next(iter(r.values())) for r in self.rows]


class Session(Protocol):
    """One open transaction, as repositories see it."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: which prebuilt statement to pick."""
        ...

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        """Run a query (or DML with RETURNING); its rows, all fetched."""
        ...

    async def modify(self, statement: Executable, params: Params = None) -> int:
        """Run DML without RETURNING (once, or per parameter set for a list of them); how
        many rows it changed, or -1 where the driver does not say."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested transaction: what is written inside is undone alone if it raises."""
        ...


def per_dialect(build: Callable[[str], S]) -> Callable[[str], S]:
    """Build a statement once per dialect, on first use (for SQL that differs, such as the
    upserts' ON CONFLICT), and hand out that same object ever after."""
    return functools.cache(build)


def insert_for(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which knows ON CONFLICT (upserts stay one statement, no races)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise StorageError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")


def replace_on_conflict(
    dialect: str, table: Table, keys: Sequence[str], columns: Sequence[str]
) -> Executable:
    """INSERT, or on a clash of ``keys`` set ``columns`` to the values just offered."""
    ins = insert_for(dialect, table)
    return ins.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={c: ins.excluded[c] for c in columns},
    )


class Repo:
    """A repository: statements over the session of one transaction."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session
