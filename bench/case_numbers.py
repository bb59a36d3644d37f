"""Case openings per second, with the number drawn in the opening transaction.

Prints JSON: for each backend (SQLite always; PostgreSQL when KESU_TEST_POSTGRES_URL is set),
the median over several rounds of 1,000 concurrent openings and 200 sequential ones, and
whether every round produced a gapless sequence. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from bot.clock import FrozenClock
from bot.config import load_policy
from bot.domain.sla import Sla
from bot.services import CaseService, NewComplaint
from storage import migrate
from storage.db import Store

TZ = ZoneInfo("Asia/Shanghai")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


async def one_round(store: Store, day_offset: int, concurrent: int, sequential: int) -> dict:
    policy = load_policy(None)
    clock = FrozenClock(datetime(2026, 11, 17, 6, tzinfo=UTC) + timedelta(days=day_offset))
    service = CaseService(store, Sla(policy, policy.calendar.build(TZ)), clock, TZ)
    text = "加油站员工态度恶劣,多收了我二十元,要求退款并道歉。"

    t0 = time.perf_counter()
    cases = await asyncio.gather(
        *(service.open_case(NewComplaint("telegram", str(i), text)) for i in range(concurrent))
    )
    t_conc = time.perf_counter() - t0
    seqs = sorted(int(c.number[10:]) for c in cases)

    t0 = time.perf_counter()
    for i in range(sequential):
        await service.open_case(NewComplaint("telegram", f"s{i}", text))
    t_seq = time.perf_counter() - t0
    return {
        "concurrent_per_s": concurrent / t_conc,
        "sequential_per_s": sequential / t_seq,
        "gapless": seqs == list(range(1, concurrent + 1)),
    }


async def bench_backend(name: str, url: str, options: dict) -> dict:
    store = Store.connect(url, **options)
    await migrate.upgrade(store)
    rounds = [await one_round(store, r, 1000, 200) for r in range(ROUNDS)]
    await store.close()
    return {
        "backend": name,
        "rounds": ROUNDS,
        "concurrent_1000_opens_per_s_median": round(
            statistics.median(r["concurrent_per_s"] for r in rounds), 1
        ),
        "sequential_opens_per_s_median": round(
            statistics.median(r["sequential_per_s"] for r in rounds), 1
        ),
        "every_round_gapless": all(r["gapless"] for r in rounds),
    }


async def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results.append(await bench_backend("sqlite", url, {}))
    pg = os.environ.get("KESU_TEST_POSTGRES_URL")
    if pg:
        schema = f"kesu_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(pg.replace("postgresql+asyncpg://", "postgresql://"))
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            opts = {"connect_args": {"server_settings": {"search_path": schema}}}
            results.append(await bench_backend("postgresql", pg, opts))
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()
    json.dump({"benchmark": "case_openings", "results": results}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    asyncio.run(main())
