"""Migration 0011 (issue 15): existing cases get their party key in place, computed by the
migration's own frozen copy of ``party_key`` — which must agree with the app's."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import opencc
from sqlalchemy.engine import Connection

from bot.nlp.text import party_key
from storage import migrate
from tests.conftest import Backend
from tests.storage import rows as written

SPELLINGS = [
    "三堰加油站", "三堰 加油站", "三堰加油站 ", "三堰　加油站", "中國石化(三堰站)", "ＳＨＥＬＬ",
    "Shell-Station", "", " …。", "顺丰速运 · 望京网点", "A" * 300,
]  # fmt: skip


def test_the_migrations_copy_of_the_key_agrees_with_the_apps() -> None:
    path = Path(migrate.__file__).parent / "migrations/versions/v0011_party_key.py"
    spec = importlib.util.spec_from_file_location("v0011_party_key", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    t2s = opencc.OpenCC("t2s")
    assert [module.key(s, t2s) for s in SPELLINGS] == [party_key(s) for s in SPELLINGS]


async def test_upgrade_from_0010_gives_existing_cases_their_party_key(backend: Backend) -> None:
    at = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)
    store = backend.connect()
    try:
        assert await migrate.upgrade(store, "0010") == (None, "0010")

        def populate(sync: Connection) -> list[int]:
            customer_id = written.customer(sync, at)
            return [
                written.case(
                    sync, customer_id, at, n, status="new", category="billing", party=party
                )
                for n, party in enumerate(("三堰 加油站", "三堰加油站 ", None), start=1)
            ]

        ids = await store.write_sync(populate)
        assert await migrate.upgrade(store) == ("0010", migrate.head_revision())
        async with store.read() as tx:
            rows = [await tx.cases.get(i) for i in ids]
            same = await tx.cases.same_party("billing", "三堰加油站", at, at)
        assert [r["party_key"] for r in rows] == ["三堰加油站", "三堰加油站", None]
        assert [r["id"] for r in same] == ids[:2]
    finally:
        await store.close()
