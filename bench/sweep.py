"""The SLA sweep under many open cases (issue 14's figures), printed as JSON.

1. sizes (BENCH_SIZES, default 10k, 100k, 1M open cases; statuses spread over new, claimed,
   in progress and resolved, each row's ``next_due`` its real next step, computed by the
   domain): with 100 cases due, the median of ``Sweep.once(now)`` over BENCH_RUNS fresh due
   sets, the median of the due query alone (``tx.steps.due(now, 100)``, what must grow with the
   due count, not the open count) and its plan (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL
   ``EXPLAIN``), on SQLite and, with KESU_TEST_POSTGRES_URL, on a scratch PostgreSQL database.
2. lateness: 100k open cases, a real ``Scheduler`` sweeping every second on the system clock
   for ~20 s while 200 steps fall due over 15 s; p50/p99/max of ``case_steps.at - due_at``
   (the instant the sweep acted on) and of the wall time the step's handler ran minus due_at.
3. rss: the process's resident memory before loading and after 100k cases were loaded and
   swept (SQLite's page cache is the process's own memory, so it counts).

Rows are loaded by ``INSERT … SELECT`` over a counter (a recursive CTE, portable) joined to
a few hundred template rows, through the store's synchronous connection. Steps that passed
before the load are treated as done but have no ``case_steps`` rows: only the due sets are
ever swept. Nothing here asserts a speed.
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
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import (  # noqa: E402
    Column,
    Integer,
    MetaData,
    String,
    Table,
    cast,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.engine import Connection  # noqa: E402

from bot.clock import FrozenClock, SystemClock  # noqa: E402
from bot.config import load_policy  # noqa: E402
from bot.domain import steps  # noqa: E402
from bot.domain.cases import Case, Priority, Status  # noqa: E402
from bot.domain.sla import Sla  # noqa: E402
from bot.scheduler import EVERY, Scheduler  # noqa: E402
from bot.services import CaseService  # noqa: E402
from bot.services.sweep import Sweep  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import Store  # noqa: E402
from storage.repositories.steps import _DUE  # noqa: E402  (the statement the sweep runs)
from storage.schema import case_steps, cases, customers  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "10000,100000,1000000").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
DUE = 100  # cases due at each sweep
QUERIES = 20  # due-query timings per run
TEMPLATES = 500
T0 = datetime(2026, 11, 17, 6, tzinfo=UTC)  # a Tuesday, 14:00 in Shanghai: working time
AGENT = "slack:UAGENT001"
CONTENT = "加油站员工态度恶劣,多收了我二十元,要求退款并道歉。昨天下午三点在中山路加油站。"
#: What a case row holds before anything happened to it (as ``bot/services/due.py`` has it).
BLANK: dict[str, Any] = {
    "id": 0, "paused_seconds": 0, "paused_business_seconds": 0, "first_responded_at": None,
    "resolved_at": None, "closed_at": None, "clock_paused_at": None, "resolution": None,
    "outcome": None, "headcount": None, "version": 1, "deadline_version": 1, "next_due": None,
    "assignee": None, "escalation_level": 0, "reopen_count": 0, "repeat_of": None,
    "party": None, "reference": None, "desired_outcome": None, "contact": None,
    "severity": "general", "risk": "none", "channel": "telegram", "language": "zh-hans",
    "survey": None, "party_key": None, "severity_since": None,
}  # fmt: skip
PRIORITIES = [Priority.A, Priority.B, Priority.B, Priority.C, Priority.C, Priority.C]
CATEGORIES = ["product", "process", "billing", "staff", "suggestion", "other"]


def rss_kb() -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of this process, in kB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def case_values(sla: Sla, status: Status, priority: Priority, start: datetime) -> dict[str, Any]:
    """A case row opened at ``start``, moved to ``status`` the way staff would; its deadlines
    and ``next_due`` (steps passed by ``start``'s later life treated as done) by the domain."""
    deadlines = sla.deadlines(priority, start)
    values = BLANK | {
        "status": Status.NEW.value, "priority": priority.value,
        "category": random.choice(CATEGORIES), "subject": "服务态度", "content": CONTENT,
        "received_at": start, "sla_started_at": start, "keywords": ["态度", "多收"],
        "first_response_due": deadlines.first_response, "resolution_due": deadlines.resolution,
        "created_at": start, "updated_at": start, "number": "", "customer_id": 0,
        "level_since": start, "customer_heard_at": start, "confirm_asked_at": None,
    }  # fmt: skip
    if status is not Status.NEW:
        values |= {"status": status.value, "assignee": AGENT}
    if status in (Status.IN_PROGRESS, Status.RESOLVED):
        values["first_responded_at"] = start + timedelta(minutes=20)
        values["customer_heard_at"] = values["first_responded_at"]
    if status is Status.RESOLVED:
        values["resolved_at"] = values["confirm_asked_at"] = start + timedelta(hours=2)
    return values


def next_due(sla: Sla, values: dict[str, Any], done_by: datetime) -> datetime | None:
    found = steps.steps(Case.from_row(values), sla.policy, sla.calendar)
    return steps.next_due(found, {s.key for s in found if s.at <= done_by})


def templates(sla: Sla, t0: datetime, horizon: timedelta) -> list[dict[str, Any]]:
    """Cases of every working status whose next step lies beyond ``t0 + horizon``: open, with
    something still due, and none of it due during the measurement."""
    found: list[dict[str, Any]] = []
    statuses = [Status.NEW, Status.CLAIMED, Status.IN_PROGRESS, Status.RESOLVED]
    while len(found) < TEMPLATES:
        status = statuses[len(found) % len(statuses)]
        start = t0 - timedelta(seconds=random.uniform(0, 5 * 86400))
        values = case_values(sla, status, random.choice(PRIORITIES), start)
        values["next_due"] = next_due(sla, values, t0)
        if values["next_due"] is not None and values["next_due"] > t0 + horizon:
            found.append(values)
    return found


def due_at(sla: Sla, at: datetime) -> dict[str, Any]:
    """A new priority-A case whose first reminder (first_response@50) falls at ``at``."""
    values = case_values(sla, Status.NEW, Priority.A, at - timedelta(minutes=30))
    values["next_due"] = next_due(sla, values, at - timedelta(microseconds=1))
    if values["next_due"] != at:
        raise RuntimeError(f"the policy moved the first reminder: {values['next_due']} != {at}")
    return values


def _load(conn: Connection, n: int, rows: list[dict[str, Any]], t0: datetime) -> None:
    """``n`` cases (and half as many customers): ``INSERT … SELECT`` from the templates over a
    counter, in one transaction."""
    shape = [c.name for c in cases.columns if c.name not in ("id", "number", "customer_id")]
    scratch = Table(
        "bench_template",
        MetaData(),
        Column("t", Integer, primary_key=True),
        *(Column(c.name, c.type) for c in cases.columns if c.name in shape),
    )
    scratch.create(conn)
    conn.execute(
        insert(scratch), [{"t": i, **{k: r[k] for k in shape}} for i, r in enumerate(rows)]
    )
    people = max(1, n // 2)

    def counter(count: int) -> Any:
        c = select(literal(0, Integer).label("i")).cte("n", recursive=True)
        return c.union_all(select((c.c.i + 1).label("i")).where(c.c.i < count - 1))

    n_ = counter(people)
    conn.execute(
        insert(customers).from_select(
            ["channel", "channel_user_id", "language", "created_at", "updated_at"],
            select(
                literal("telegram"),
                cast(n_.c.i, String),
                literal("zh-hans"),
                literal(t0, customers.c.created_at.type),
                literal(t0, customers.c.updated_at.type),
            ),
        )
    )
    n_ = counter(n)
    conn.execute(
        insert(cases).from_select(
            ["number", "customer_id", *shape],
            select(
                literal("BX") + cast(n_.c.i, String),
                1 + n_.c.i % people,
                *(scratch.c[k] for k in shape),
            ).select_from(n_.join(scratch, scratch.c.t == n_.c.i % len(rows))),
        )
    )
    scratch.drop(conn)
    if conn.dialect.name == "postgresql":  # what autovacuum would do after such a load
        conn.execute(text("ANALYZE"))


def _add(conn: Connection, rows: list[dict[str, Any]], tag: str) -> None:
    """A few hand-made cases (the due sets) beside the bulk, their customers among its own."""
    conn.execute(
        insert(cases),
        [
            {k: v for k, v in r.items() if k != "id"}
            | {"number": f"BX{tag}{i}", "customer_id": 1 + i}
            for i, r in enumerate(rows)
        ],
    )


def _plan(conn: Connection, now: datetime) -> list[str]:
    """The due query's plan, its values inlined (the statement itself is the sweep's)."""
    sql = str(
        _DUE.params(now=now)
        .limit(DUE)
        .compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    )
    if conn.dialect.name == "sqlite":
        return [str(r[3]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    return [str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {sql}")]


def _statuses(conn: Connection) -> dict[str, int]:
    """What was loaded, as a check that every status is there and the count is right."""
    found = conn.execute(select(cases.c.status, func.count()).group_by(cases.c.status))
    return {str(status): int(count) for status, count in found}


@asynccontextmanager
async def scratch_store(backend: str, directory: Path) -> AsyncIterator[Store]:
    """An empty, migrated store: a SQLite file in ``directory`` or a PostgreSQL database made
    for it and dropped after."""
    if backend == "sqlite":
        store = Store.connect(f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.db'}")
        await migrate.upgrade(store)
        try:
            yield store
        finally:
            await store.close()
        return
    url = os.environ["KESU_TEST_POSTGRES_URL"]
    name = f"kesu_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        store = Store.connect(url.rsplit("/", 1)[0] + f"/{name}")
        await migrate.upgrade(store)
        try:
            yield store
        finally:
            await store.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def service(store: Store, sla: Sla, now: datetime) -> CaseService:
    return CaseService(store, sla, FrozenClock(now), TZ)


async def one_size(backend: str, directory: Path, sla: Sla, n: int) -> dict[str, Any]:
    """``n`` open cases, RUNS due sets of DUE each (set r falls due at T0 + r s, and only it:
    a swept set's next point is 18 min later)."""
    sets = [[due_at(sla, T0 + timedelta(seconds=r)) for _ in range(DUE)] for r in range(RUNS)]
    async with scratch_store(backend, directory) as store:
        start = time.perf_counter()
        rows = templates(sla, T0, timedelta(hours=1))
        await store.write_sync(lambda c: _load(c, n - DUE * RUNS, rows, T0))
        await store.write_sync(lambda c: _add(c, [r for s in sets for r in s], "D"))
        load_s = time.perf_counter() - start
        sweep = service(store, sla, T0).sweep
        plan = await store.read_sync(lambda c: _plan(c, T0))
        statuses = await store.read_sync(_statuses)
        query_ms: list[float] = []
        sweep_ms: list[float] = []
        acted: list[int] = []
        for r in range(RUNS):
            now = T0 + timedelta(seconds=r)
            for _ in range(QUERIES):
                t = time.perf_counter()
                async with store.read() as tx:
                    ids = await tx.steps.due(now, DUE)
                query_ms.append((time.perf_counter() - t) * 1000)
                if len(ids) != DUE:
                    raise RuntimeError(f"{len(ids)} due at run {r}, not {DUE}")
            t = time.perf_counter()
            acted.append(len(await sweep.once(now)))
            sweep_ms.append((time.perf_counter() - t) * 1000)
    return {
        "open_cases": n,
        "by_status": statuses,
        "load_s": round(load_s, 1),
        "due_query_ms": {
            "median": round(statistics.median(query_ms), 3),
            "p99": round(sorted(query_ms)[int(len(query_ms) * 0.99)], 3),
        },
        "sweep_once_ms": {
            "median": round(statistics.median(sweep_ms), 1),
            "each_run": [round(s, 1) for s in sweep_ms],
        },
        "acted_per_sweep": acted,
        "due_query_plan": plan,
    }


async def lateness(backend: str, directory: Path, sla: Sla, n: int = 100_000) -> dict[str, Any]:
    """A real scheduler on the system clock over ``n`` open cases while 200 steps fall due
    over 15 s; lateness of each step, as recorded and as the wall clock saw its handler."""
    clock = SystemClock()
    async with scratch_store(backend, directory) as store:
        t0 = clock.now()
        rows = templates(sla, t0, timedelta(hours=1))
        await store.write_sync(lambda c: _load(c, n - 200, rows, t0))
        first = clock.now() + timedelta(seconds=2)
        due = [due_at(sla, first + timedelta(seconds=15 * i / 200)) for i in range(200)]
        await store.write_sync(lambda c: _add(c, due, "L"))
        sweep: Sweep = service(store, sla, t0).sweep
        ran: dict[int, datetime] = {}
        recorded = sweep.handlers[steps.FIRST_RESPONSE]

        async def observed(tx: Any, case: Case, step: steps.Step) -> str:
            ran[case.id] = clock.now()  # wall time the step acted, before its commit
            return await recorded(tx, case, step)

        sweep.handlers[steps.FIRST_RESPONSE] = observed
        scheduler = Scheduler({"sweep": (lambda: sweep.once(clock.now()), EVERY)})
        scheduler.start()
        await asyncio.sleep((first + timedelta(seconds=18) - clock.now()).total_seconds())
        await scheduler.stop()
        async with store.read() as tx:
            done = await tx.session.execute(
                select(case_steps.c.case_id, case_steps.c.due_at, case_steps.c.at), {}
            )
        memory = rss_kb()
    late = sorted((r["at"] - r["due_at"]).total_seconds() for r in done)
    wall = sorted((ran[r["case_id"]] - r["due_at"]).total_seconds() for r in done)

    def spread(values: list[float]) -> dict[str, float] | None:
        if not values:
            return None
        return {
            "p50_s": round(statistics.median(values), 3),
            "p99_s": round(values[int(len(values) * 0.99)], 3),
            "max_s": round(values[-1], 3),
        }

    return {
        "open_cases": n,
        "steps_due": len(due),
        "steps_acted": len(late),
        "recorded_at_minus_due_at": spread(late),
        "handler_wall_minus_due_at": spread(wall),
        "rss_kb_after": memory,
    }


async def main() -> None:
    random.seed(14)
    policy = load_policy(None)
    sla = Sla(policy, policy.calendar.build(TZ))
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("KESU_TEST_POSTGRES_URL") else [])
    result: dict[str, Any] = {
        "benchmark": "sweep",
        "due_per_sweep": DUE,
        "runs": RUNS,
        "rss_kb_at_start": rss_kb(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        # First, before any larger size raises the process's peak: RSS with 100k cases.
        for backend in backends:
            result[f"lateness_{backend}"] = await lateness(backend, Path(tmp), sla)
        for backend in backends:
            result[f"sizes_{backend}"] = [await one_size(backend, Path(tmp), sla, n) for n in SIZES]
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    print()


if __name__ == "__main__":
    asyncio.run(main())
