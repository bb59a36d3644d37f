"""The clock's trigger (DESIGN.md principle 2: the database is the truth, the scheduler only
sweeps). APScheduler 3.x runs one job, the sweep, every second; the job asks the sweep what is
due *on kesu's clock* (the injected one), so no trigger holds a due time of its own: a frozen
test clock, a sped-up demo clock and the wall clock all drive it alike, and several instances
sweeping at once act on each step once, by the steps' unique keys, not by timing.

APScheduler is imported here only. 3.x cannot share a job store between processes; it needs
none: every instance runs the same sweep over the same rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
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


class Scheduler:
    def __init__(self, sweep: Callable[[], Awaitable[object]], every: float = EVERY) -> None:
        self._sweep = sweep
        self._every = every
        # APScheduler's own clock only paces the ticks; what is due is read on kesu's clock.
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._busy: asyncio.Task[object] | None = None

    def start(self) -> None:
        """Begin ticking (inside the running event loop); the first sweep runs at once, so a
        restart catches up with what fell due while kesu was down."""
        logging.getLogger("apscheduler.scheduler").addFilter(_Quiet())
        # "Running job …" / "… executed successfully" at INFO, every second: not news.
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        self._scheduler.add_job(
            self._tick,
            "interval",
            seconds=self._every,
            id="sweep",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.start()

    async def _tick(self) -> None:
        task = asyncio.current_task()
        self._busy = task
        try:
            await self._sweep()
        except Exception as exc:  # logged; the next tick tries again: the rows say what is due
            log_failure(log, logging.WARNING, "the sweep failed; the next one retries", exc=exc)
        finally:
            self._busy = None

    async def stop(self) -> None:
        """No new tick; a sweep under way finishes its case (APScheduler's own shutdown would
        cancel it mid-transaction), then the scheduler stops."""
        if not self._scheduler.running:
            return
        self._scheduler.pause()
        busy = self._busy
        if busy is not None and not busy.done():
            await asyncio.wait([busy])
        self._scheduler.shutdown(wait=False)
