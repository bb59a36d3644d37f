"""Statements compiled once by SQLAlchemy, run on the driver directly.

SQLAlchemy Core builds and compiles every statement; this module keeps what a compilation
yields — the SQL text, the order of its positional parameters, and each value's type
processors (aware datetimes stored as naive UTC, JSON) — and hands the driver plain tuples:
the standard library's sqlite3 for SQLite, asyncpg's prepared statements for PostgreSQL.

Why not ``Connection.execute``: measured on this project's statements, SQLAlchemy's
per-call execution machinery costs ~35 µs a statement over sqlite3 (the statement itself
~7 µs) and ~100 µs over asyncpg through the async bridge (asyncpg itself ~57 µs), plus
~220 µs a transaction for the async engine's connection and transaction wrappers; intake
runs ~7 statements a message. Only public SQLAlchemy APIs are used: ``compile``,
``construct_params``, ``construct_expanded_state`` (IN lists), ``exported_columns`` and the
types' ``dialect_impl(...).bind_processor/result_processor``. Result processors are built
without the driver's type codes, which the schema's types (integers, text, dates, UtcDateTime,
JSON) do not need; a type that does (Numeric on asyncpg) is refused when compiled, with why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from storage.repositories.base import Params, StorageError

Processor = Callable[[Any], Any] | None

#: Compiled forms kept per store: far more than the statements kesu has, so ad-hoc
#: statements (tests, inspection) never push the hot ones out for long.
CACHE_SIZE = 2048


@dataclass(frozen=True, slots=True)
class Compiled:
    """One statement for one parameter shape, ready for the driver."""

    compiled: SQLCompiler
    sql: str
    names: tuple[str, ...]  # positional parameter names, in order
    binds: tuple[Processor, ...]  # their processors (None: pass the value as it is)
    by_name: Mapping[str, Processor]  # every bind's processor, for IN lists expanded late
    results: tuple[Processor, ...]  # per result column, when the statement knows its columns
    expanding: bool  # IN lists: the SQL text depends on the values

    def args(self, params: Mapping[str, Any] | None) -> tuple[str, tuple[Any, ...]]:
        """The SQL text and positional values for one parameter set."""
        if self.expanding:
            state = self.compiled.construct_expanded_state(params, escape_names=False)
            names = state.positiontup or ()
            values = state.parameters
            late = state.processors

            def processor(name: str) -> Processor:
                return late.get(name) or self.by_name.get(name)

            return state.statement, tuple(_apply(processor(n), values[n]) for n in names)
        values = self.compiled.construct_params(params, escape_names=False)
        return self.sql, tuple(
            _apply(p, values[n]) for n, p in zip(self.names, self.binds, strict=True)
        )

    def rows(self, keys: Sequence[str], records: Iterable[Iterable[Any]]) -> list[dict[str, Any]]:
        """Driver rows as dicts, each value through its column type's processor."""
        if not any(self.results):  # plain values (or text(): columns unknown to SQLAlchemy)
            return [dict(zip(keys, record, strict=True)) for record in records]
        if len(self.results) != len(keys):
            raise StorageError(
                f"{len(keys)} columns came back, the statement names {len(self.results)}"
            )
        pairs = tuple(zip(keys, self.results, strict=True))
        return [
            {
                k: (p(v) if p is not None and v is not None else v)
                for (k, p), v in zip(pairs, r, strict=True)
            }
            for r in records
        ]


def _apply(processor: Processor, value: Any) -> Any:
    return value if processor is None else processor(value)


class Compiler:
    """Compiles each statement once per parameter shape, for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._cache: dict[tuple[ClauseElement, tuple[str, ...], bool], Compiled] = {}

    def get(self, statement: Executable, params: Params) -> Compiled:
        many = isinstance(params, Sequence)
        first = params[0] if isinstance(params, Sequence) and params else params
        keys = tuple(sorted(first)) if isinstance(first, Mapping) else ()
        if not isinstance(statement, ClauseElement):
            raise StorageError(f"not a SQL statement: {statement!r}")
        key = (statement, keys, many)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            found = self._cache[key] = self._compile(statement, keys, many=many)
        return found

    def _compile(self, statement: ClauseElement, keys: tuple[str, ...], *, many: bool) -> Compiled:
        # for_executemany, as SQLAlchemy compiles an executemany: no implicit RETURNING.
        compiled = statement.compile(
            dialect=self.dialect, column_keys=list(keys), for_executemany=many
        )
        assert isinstance(compiled, SQLCompiler)  # noqa: S101 (every statement compiles to SQL)
        dialect = self.dialect
        by_name: dict[str, Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        names = tuple(compiled.positiontup or ())
        columns = getattr(statement, "exported_columns", ())
        try:
            results = tuple(_result_processor(col.type, dialect) for col in columns)
        except Exception as exc:  # a type whose processor needs the driver's type code
            raise StorageError(
                f"cannot read the columns of {statement!s:.80} without the driver's type codes "
                f"({exc}); storage/compiled.py supports the types the schema uses"
            ) from exc
        return Compiled(
            compiled=compiled,
            sql=compiled.string,
            names=names,
            binds=tuple(by_name.get(n) for n in names),
            by_name=by_name,
            results=results,
            expanding=bool(compiled.post_compile_params or compiled.literal_execute_params),
        )

    def many(
        self, statement: Executable, params: Sequence[Mapping[str, Any]]
    ) -> tuple[str, list[tuple[Any, ...]]]:
        """The SQL text and every parameter set's values, for an executemany."""
        compiled = self.get(statement, params)
        if compiled.expanding:
            raise StorageError("an IN list cannot be expanded in an executemany")
        return compiled.sql, [compiled.args(p)[1] for p in params]


def _result_processor(kind: TypeEngine[Any], dialect: Dialect) -> Processor:
    """A column's result processor. A float needs none: both drivers return Python floats
    (SQLAlchemy's asyncpg one would ask for the driver's type code, which a compiled
    statement does not have)."""
    if isinstance(kind, Float) and not kind.asdecimal:
        return None
    return kind.dialect_impl(dialect).result_processor(dialect, None)


def split(params: Params) -> tuple[Mapping[str, Any] | None, Sequence[Mapping[str, Any]] | None]:
    """One parameter set, or several (an executemany)."""
    if params is None or isinstance(params, Mapping):
        return params, None
    return None, params
