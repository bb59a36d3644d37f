"""The clock's trigger (DESIGN.md principle 2: the database is the truth, the scheduler only
sweeps). APScheduler 3.x runs the sweep every second and the burst check every minute; each
job asks *on kesu's clock* (the injected one) what is due, so no trigger holds a due time of
its own: a frozen test clock, a sped-up demo clock and the wall clock all drive it alike, and
several instances running the same jobs at once act once, by unique keys, not by timing.

APScheduler is imported here only. 3.x cannot share a job store between processes; it needs
none: every instance runs the same sweep over the same rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.logsafe import log_failure

log = logging.getLogger(__name__)

#: A sweep every second keeps a step's lateness within about a second on every instance, also
#: for a change made on another one (the issue's bound is 2 s).
EVERY = 1.0


class _Quiet(logging.Filter):
    """A sweep longer than a tick makes APScheduler skip the next one, coalesced: that is the
    intent (the next sweep takes whatever is due), not a warning worth a line a second."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


#: A job: what to run, and every how many seconds.
Job = tuple[Callable[[], Awaitable[object]], float]


class Scheduler:
    def __init__(self, jobs: Mapping[str, Job]) -> None:
        self._jobs = dict(jobs)
        # APScheduler's own clock only paces the ticks; what is due is read on kesu's clock.
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._busy: set[asyncio.Task[object]] = set()
        self._stopped = False

    def start(self) -> None:
        """Begin ticking (inside the running event loop); every job runs at once, so a
        restart catches up with what fell due while kesu was down."""
        logging.getLogger("apscheduler.scheduler").addFilter(_Quiet())
        # "Running job …" / "… executed successfully" at INFO, every second: not news.
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        for name, (work, every) in self._jobs.items():
            self._scheduler.add_job(
                self._tick,
                "interval",
                args=(name, work),
                seconds=every,
                id=name,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),
            )
        self._scheduler.start()

    async def _tick(self, name: str, work: Callable[[], Awaitable[object]]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            await work()
        except Exception as exc:  # logged; the next tick tries again: the rows say what is due
            log_failure(log, logging.WARNING, "the %s failed; the next one retries", name,
                        exc=exc)  # fmt: skip
        finally:
            if task is not None:
                self._busy.discard(task)

    async def stop(self) -> None:
        """No new tick; a job under way finishes its transaction (APScheduler's own shutdown
        would cancel it midway), then the scheduler stops."""
        # APScheduler's asyncio shutdown runs later, on the loop: ``running`` stays true for a
        # moment, so a second stop is known by our own flag.
        if self._stopped or not self._scheduler.running:
            return
        self._stopped = True
        self._scheduler.pause()
        # A job APScheduler started just before the pause registers itself on its first
        # step: let it, and wait for every job under way, those included, to finish.
        await asyncio.sleep(0)
        while busy := [task for task in self._busy if not task.done()]:
            await asyncio.wait(busy)
        self._scheduler.shutdown(wait=False)
