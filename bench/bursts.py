"""The burst check (issue 15 item 4) under a desk's history, printed as JSON.

Every instance runs ``Bursts.check(now)`` once a minute: five hour-windows of ``cases`` by
``received_at`` (the last hour and the same hour 1–4 weeks back), the active alerts and the
desk's first complaint, in one transaction. This measures its median and p99 over BENCH_RUNS
checks at sizes BENCH_SIZES (default 100k and 1M cases received over the 5 weeks before the
check, six categories), on SQLite and, with KESU_TEST_POSTGRES_URL, on a scratch PostgreSQL
database, with each window's plan (the ``received_at`` index). Nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import Connection  # noqa: E402

from bench.sweep import T0, TZ, _load, case_values, scratch_store  # noqa: E402
from bot.config import load_policy  # noqa: E402
from bot.domain import burst  # noqa: E402
from bot.domain.cases import Priority, Status  # noqa: E402
from bot.domain.policy import Policy  # noqa: E402
from bot.domain.sla import Sla  # noqa: E402
from bot.services.bursts import Bursts  # noqa: E402
from storage.repositories.bursts import _INTAKE  # noqa: E402  (the statement the check runs)

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "100000,1000000").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "50"))
TEMPLATES = 2000
HISTORY = timedelta(weeks=5)


def history(sla: Sla) -> list[dict[str, Any]]:
    """Closed cases received at random instants over the five weeks before T0."""
    rows = []
    for _ in range(TEMPLATES):
        start = T0 - timedelta(seconds=random.uniform(0, HISTORY.total_seconds()))
        values = case_values(sla, Status.NEW, random.choice(list(Priority)), start)
        rows.append(values | {"status": Status.CLOSED.value, "closed_at": start})
    return rows


def _plan(conn: Connection) -> list[str]:
    after, until = burst.windows(T0, 4)[1]
    sql = str(
        _INTAKE.params(after=after, until=until).compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}
        )
    )
    if conn.dialect.name == "sqlite":
        return [str(r[3]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    return [str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {sql}")]


async def one_size(backend: str, directory: Path, sla: Sla, n: int) -> dict[str, Any]:
    async with scratch_store(backend, directory) as store:
        rows = history(sla)
        start = time.perf_counter()
        await store.write_sync(lambda c: _load(c, n, rows, T0))
        load_s = time.perf_counter() - start
        plan = await store.read_sync(_plan)
        bursts = Bursts(store, Policy.Burst())
        timings: list[float] = []
        for r in range(RUNS):
            now = T0 + timedelta(minutes=r)
            t = time.perf_counter()
            await bursts.check(now)
            timings.append((time.perf_counter() - t) * 1000)
        async with store.read() as tx:
            window = await tx.bursts.intake(burst.windows(T0, 4))
    return {
        "cases": n,
        "load_s": round(load_s, 1),
        "cases_per_window": sum(v[0] for v in window.values()),
        "check_ms": {
            "median": round(statistics.median(timings), 2),
            "p99": round(sorted(timings)[int(len(timings) * 0.99)], 2),
        },
        "intake_query_plan": plan,
    }


async def main() -> None:
    random.seed(15)
    policy = load_policy(None)
    sla = Sla(policy, policy.calendar.build(TZ))
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("KESU_TEST_POSTGRES_URL") else [])
    result: dict[str, Any] = {"benchmark": "bursts", "runs": RUNS}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            result[backend] = [await one_size(backend, Path(tmp), sla, n) for n in SIZES]
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    print()


if __name__ == "__main__":
    asyncio.run(main())
