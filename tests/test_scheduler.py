"""The scheduler (bot/scheduler.py): named jobs at their own pace, run at once at start, a
failing job logged and run again, and a stop that lets every job under way finish — a
transaction cut midway would be a sweep or a burst check half done."""

from __future__ import annotations

import asyncio

import pytest

from bot.scheduler import Scheduler


async def test_each_job_runs_at_once_then_at_its_pace_and_stop_waits_for_those_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = {"fast": 0, "slow": 0, "failing": 0}
    finished: list[str] = []

    async def fast() -> None:
        runs["fast"] += 1

    async def slow() -> None:
        runs["slow"] += 1
        await asyncio.sleep(0.3)  # still running when stop is asked
        finished.append("slow")

    async def failing() -> None:
        runs["failing"] += 1
        raise RuntimeError("database gone")

    scheduler = Scheduler({"fast": (fast, 0.05), "slow": (slow, 60.0), "failing": (failing, 0.05)})
    scheduler.start()
    await asyncio.sleep(0.25)
    await scheduler.stop()
    assert runs["fast"] >= 3
    assert runs["slow"] == 1  # at once at start, not again within a minute
    assert finished == ["slow"]  # waited for, not cancelled
    assert runs["failing"] >= 2  # failed, and tried again
    assert "the failing failed; the next one retries" in caplog.text
    await scheduler.stop()  # a second stop is harmless
