"""The sweep (DESIGN.md principle 2): "what is due now?" over the ``cases.next_due`` index,
each due case in a transaction of its own. The scheduler runs it every second; cron can run
it too (``kesu sweep --once``). It holds no state: the steps done are rows keyed by (case,
deadline version, step), so a restart, a missed tick or a second instance sweeping at the same
moment acts on each step once.

A step's action is a handler by the deadline it belongs to; a reminder point or a breach calls
:meth:`Sweep.remind`, which hands it to each staff desk's reminders (bot/desk/reminders.py).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain import steps
from bot.domain.cases import Case, DomainError
from bot.domain.sla import Sla
from bot.domain.steps import Step
from bot.logsafe import log_failure
from bot.services.closure import Closure
from storage.db import Store
from storage.repositories import Tx

log = logging.getLogger(__name__)

LATE = "late"  # acted long after its instant (after downtime)
SKIPPED = "skipped"  # replaced by a later point of the same deadline, never acted
#: Later than this after its instant, a step that acts is marked late (the sweep runs every
#: second; more is downtime or a stopped scheduler).
LATE_AFTER = timedelta(minutes=1)

#: The level's own deadlines: their breach escalates, with no reminder of its own.
_LEVEL_TIMES = frozenset({steps.REVIEW, steps.LEVEL})

#: What a step does, in the sweep's transaction; returns a word for the report.
Handler = Callable[[Tx, Case, Step], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Acted:
    number: str
    step: str
    mark: str | None
    outcome: str  # what the handler did: recorded, closed, not closed …


async def _recorded(tx: Tx, case: Case, step: Step) -> str:
    """No one to act: the step's row is the record."""
    return "recorded"


@dataclass
class Sweep:
    store: Store
    sla: Sla
    closure: Closure
    batch: int = 100
    handlers: dict[str, Handler] = field(default_factory=dict)
    #: Who hears of a reminder point or a breach (each staff desk's reminders, app.py).
    reminders: list[Handler] = field(default_factory=list)
    #: Who reports a raised flag (热点 / 重大): each staff desk's flag reports (app.py).
    reports: list[Handler] = field(default_factory=list)
    #: What a breach (a point @100, the level's review) does: escalation.py's on_breach.
    on_breach: Handler = _recorded

    def __post_init__(self) -> None:
        self.handlers.setdefault(steps.FIRST_RESPONSE, self._deadline)
        self.handlers.setdefault(steps.RESOLUTION, self._deadline)
        self.handlers.setdefault(steps.REVIEW, self._deadline)
        self.handlers.setdefault(steps.LEVEL, self._deadline)
        self.handlers.setdefault(steps.SILENCE, self.remind)
        self.handlers.setdefault(steps.REPORT, self._report)
        self.handlers.setdefault(steps.CONFIRM_TIMEOUT, self._confirm_timeout)

    async def once(self, now: datetime) -> list[Acted]:
        """Act on every step due by ``now``; what acted. A case whose transaction failed is
        logged and left due for the next sweep, never retried in a loop within this one."""
        acted: list[Acted] = []
        failed: set[int] = set()
        while True:
            async with self.store.read() as tx:
                ids = [i for i in await tx.steps.due(now, self.batch) if i not in failed]
            if not ids:
                return acted
            for case_id in ids:
                try:
                    acted += await self.store.write(
                        functools.partial(self._case, case_id=case_id, now=now)
                    )
                except Exception as exc:
                    failed.add(case_id)
                    log_failure(log, logging.ERROR, "sweep: case id %s failed; it stays due",
                                case_id, exc=exc)  # fmt: skip

    async def _case(self, tx: Tx, *, case_id: int, now: datetime) -> list[Acted]:
        case = Case.from_row(await tx.cases.get(case_id, for_update=True))
        if case.next_due is None or case.next_due > now:
            return []  # another instance swept it a moment ago
        found = steps.steps(case, self.sla.policy, self.sla.calendar)
        done = await tx.steps.done(case.id, case.deadline_version)
        acting, skipped = steps.passed(found, done, now)
        behind = {s.deadline for s in skipped}
        marks = {s.key: SKIPPED for s in skipped} | {
            s.key: LATE if s.deadline in behind or now - s.at > LATE_AFTER else None for s in acting
        }
        rows = [(s.key, s.at, marks[s.key]) for s in (*skipped, *acting)]
        recorded = await tx.steps.record(case.id, case.deadline_version, rows, now)
        acted = []
        for step in acting:
            if step.key in recorded:
                outcome = await self.handlers[step.deadline](tx, case, step)
                acted.append(Acted(case.number, step.key, marks[step.key], outcome))
        left = steps.next_due(found, set(done) | {key for key, _, _ in rows})
        await tx.steps.set_next_due(case.id, case.deadline_version, left)
        return acted

    async def remind(self, tx: Tx, case: Case, step: Step) -> str:
        """A reminder point or a breach: the row is the record; each desk reminds its people."""
        outcomes = [await reminder(tx, case, step) for reminder in self.reminders]
        return ", ".join(outcomes) or "recorded"

    async def _deadline(self, tx: Tx, case: Case, step: Step) -> str:
        """A point reminds the people on the case; the breach escalates (issue 14 item 4) and
        then tells them it is overdue. The level's own deadlines (review, escalate_after) only
        escalate: their reminder is the escalation's own ping of the level."""
        outcomes = []
        if step.key == steps.key(step.deadline, steps.BREACH):
            outcomes.append(await self.on_breach(tx, case, step))
        if step.deadline not in _LEVEL_TIMES and (self.reminders or not outcomes):
            outcomes.append(await self.remind(tx, case, step))
        return ", ".join(outcomes)

    async def _report(self, tx: Tx, case: Case, step: Step) -> str:
        """A flag's report: the row is the record; each desk tells its supervisors."""
        outcomes = [await report(tx, case, step) for report in self.reports]
        return ", ".join(outcomes) or "recorded"

    async def _confirm_timeout(self, tx: Tx, case: Case, step: Step) -> str:
        """Nobody answered the resolution within the window: the case closes, as such."""
        try:
            await self.closure.close_unanswered(case.number, case.reopen_count, tx=tx)
        except DomainError as exc:
            log.info("case %s not closed unconfirmed: %s", case.number, type(exc).__name__)
            return "not closed"
        return "closed"
