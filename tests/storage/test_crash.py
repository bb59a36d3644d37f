"""kill -9 in the middle of a burst of case openings leaves no half-written case; several
processes on one SQLite file queue instead of failing.

A real process opens cases from 20 concurrent tasks; we SIGKILL it while it writes, then
check the store as the next start would find it: every case has its opening event, every
event its case, the daily sequence is gapless and matches the counter, and the next opening
continues the sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import func, select, text

from bot.clock import FrozenClock
from bot.domain.sla import Sla
from bot.services import CaseService, NewComplaint
from storage import migrate
from storage.schema import case_events, case_sequences, cases
from tests.conftest import SHANGHAI, Backend
from tests.queries import case_count

WORKER = Path(__file__).with_name("burst_worker.py")


async def count_cases(backend: Backend) -> int:
    store = backend.connect()
    try:
        async with store.read() as tx:
            return await case_count(tx)
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def bursting(backend: Backend, log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """A real process opening cases as fast as it can (burst_worker.py), killed with SIGKILL
    when the block ends."""
    args = [sys.executable, str(WORKER), backend.url, *([backend.schema] if backend.schema else [])]
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
            assert line.strip() == b"ready", log.read_text()  # noqa: ASYNC240 (a failed start)
            yield proc
        finally:
            if proc.returncode is None:
                os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()


async def test_kill_minus_nine_mid_burst_leaves_no_half_case(
    backend: Backend, service: CaseService, tmp_path: Path
) -> None:
    async with bursting(backend, tmp_path / "worker.log") as proc:
        for _ in range(600):  # at most 60 s to get well into the burst
            if await count_cases(backend) >= 150:
                break
            await asyncio.sleep(0.1)
    assert proc.returncode == -signal.SIGKILL

    store = service.store
    async with store.read() as tx:
        conn = tx.session
        if backend.name == "sqlite":
            assert (await conn.execute(text("PRAGMA integrity_check"))).scalar_one() == "ok"
        opened = select(case_events.c.case_id).where(case_events.c.action == "open")
        without_event = await conn.execute(
            select(func.count()).select_from(cases).where(cases.c.id.not_in(opened))
        )
        assert without_event.scalar_one() == 0
        orphan_events = await conn.execute(
            select(func.count())
            .select_from(case_events)
            .where(case_events.c.case_id.not_in(select(cases.c.id)))
        )
        assert orphan_events.scalar_one() == 0
        numbers = (await conn.execute(select(cases.c.number))).scalars()
        last = (await conn.execute(select(case_sequences.c.last))).scalar_one()
    seqs = sorted(int(n[10:]) for n in numbers)
    assert len(seqs) >= 150
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no repeat
    assert last == len(seqs)

    # The next start simply carries on.
    after = await service.open_case(NewComplaint("telegram", "next", "重启后的第一条投诉"))
    assert after.number == f"TS20261117{last + 1:03d}"


async def test_several_processes_on_one_sqlite_file_queue_and_share_one_sequence(
    tmp_path: Path, sla: Sla, clock: FrozenClock
) -> None:
    """A burst in one process, openings in this one and `kesu` commands beside them (the
    operator's CLI next to `kesu run`): every write waits its turn, none fails, and the
    daily sequence stays gapless across all of them. Then the burst is killed -9."""
    backend = Backend("sqlite", f"sqlite:///{tmp_path / 'shared.db'}", {})
    store = backend.connect()
    await migrate.upgrade(store)
    service = CaseService(store, sla, clock, SHANGHAI, prefix="TS")
    env = {**os.environ, "KESU_DATABASE_URL": backend.url}
    try:
        async with bursting(backend, tmp_path / "worker.log") as proc:
            ours = asyncio.gather(
                *(
                    service.open_case(NewComplaint("telegram", f"here-{i}", "同一文件上的投诉"))
                    for i in range(30)
                )
            )
            commands = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    *args,
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                for args in (("db", "upgrade"), ("case", "list", "--limit", "3"))
            ]
            outputs = [await asyncio.wait_for(c.communicate(), 90) for c in commands]
            opened = await asyncio.wait_for(ours, 90)
            for _ in range(300):  # the burst is still going: it got its turns too
                if await count_cases(backend) >= len(opened) + 100:
                    break
                await asyncio.sleep(0.1)
        assert proc.returncode == -signal.SIGKILL
        for command, (_, err) in zip(commands, outputs, strict=True):
            assert command.returncode == 0, err.decode()
        assert b"schema already at revision" in outputs[0][0]
        assert len(opened) == 30
        async with store.read() as tx:
            numbers = (await tx.session.execute(select(cases.c.number))).scalars()
            last = (await tx.session.execute(select(case_sequences.c.last))).scalar_one()
    finally:
        await store.close()
    seqs = sorted(int(n[10:]) for n in numbers)
    assert len(seqs) >= 130
    assert seqs == list(range(1, len(seqs) + 1))  # both processes drew from one sequence
    assert last == len(seqs)
