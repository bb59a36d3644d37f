"""Statements compiled once (storage/compiled.py): what the driver receives for the shapes
SQLAlchemy's own execution would handle — odd column names, IN lists whose values need their
type's processor, executemany, and the types it cannot serve."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, Numeric, String, Table, bindparam, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from storage.compiled import Compiler
from storage.repositories import StorageError
from storage.schema import UtcDateTime, attachments

NOW = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
odd = Table(
    "odd",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("a(b)", String),
    Column("at", UtcDateTime),
)


@pytest.fixture
def db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute('CREATE TABLE odd (id INTEGER PRIMARY KEY, "a(b)" TEXT, "at" DATETIME)')
    return conn


def test_odd_column_names_and_aware_times_round_trip(db: sqlite3.Connection) -> None:
    compiler = Compiler(SQLiteDialect_pysqlite())
    params = {"a(b)": "值 ✓", "at": NOW}
    sql, args = compiler.get(odd.insert(), params).args(params)
    assert args == ("值 ✓", "2026-11-17 06:30:00.000000")  # naive UTC, as SQLAlchemy stores it
    db.execute(sql, args)
    query = select(odd).where(odd.c["a(b)"] == bindparam("v"))
    compiled = compiler.get(query, {"v": "值 ✓"})
    cursor = db.execute(*compiled.args({"v": "值 ✓"}))
    keys = [c[0] for c in cursor.description]
    assert compiled.rows(keys, cursor.fetchall()) == [{"id": 1, "a(b)": "值 ✓", "at": NOW}]


def test_an_in_list_expands_per_call_with_each_values_processor(db: sqlite3.Connection) -> None:
    compiler = Compiler(SQLiteDialect_pysqlite())
    db.execute("INSERT INTO odd VALUES (1, 'x', '2026-11-17 06:30:00.000000')")
    query = select(odd.c.id).where(odd.c.at.in_(bindparam("times", expanding=True)))
    compiled = compiler.get(query, {"times": [NOW]})
    for times, expected in (([NOW], [(1,)]), ([NOW, NOW.replace(hour=7)], [(1,)]), ([], [])):
        sql, args = compiled.args({"times": times})
        assert db.execute(sql, args).fetchall() == expected


def test_an_executemany_on_postgresql_asks_for_no_rows_back() -> None:
    compiler = Compiler(PGDialect_asyncpg(dbapi=PGDialect_asyncpg.import_dbapi()))
    row = {"case_id": 1, "channel": "t", "file_id": "f", "kind": "photo", "created_at": NOW}
    sql, rows = compiler.many(attachments.insert(), [row, row])
    assert "RETURNING" not in sql
    assert len(rows) == 2


def test_a_type_needing_the_drivers_type_codes_is_refused_with_the_reason() -> None:
    money = Table(
        "money", MetaData(), Column("id", Integer, primary_key=True), Column("n", Numeric)
    )
    compiler = Compiler(PGDialect_asyncpg(dbapi=PGDialect_asyncpg.import_dbapi()))
    with pytest.raises(StorageError, match="type codes"):
        compiler.get(select(money), None)
    # Where the dialect needs no type code for it, the column reads as usual.
    assert Compiler(SQLiteDialect_pysqlite()).get(select(money), None).results


def test_rows_of_another_width_than_the_statement_names_are_an_error() -> None:
    compiled = Compiler(SQLiteDialect_pysqlite()).get(select(odd), None)
    with pytest.raises(StorageError, match="columns came back"):
        compiled.rows(["id"], [(1,)])
