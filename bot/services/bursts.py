"""The burst alert (预警机制: 投诉突增, DOMAIN.md §5; issue 15 item 4): every minute, each
category's intake in the last hour against its usual rate (bot/domain/burst.py); a burst
raises one alert for the category, which stays active — however long the burst lasts, on any
number of instances — until the last hour's intake is back halfway to the usual rate (or
under half the minimum: ``Intake.calm``), when it ends.

The alert and its announcement commit together (the staff desks' announcers queue their
messages in the check's transaction), so a crash loses neither and repeats neither: the
active row is the record that the supervisors were told. Runs on the scheduler beside the
sweep (bot/scheduler.py) and in ``kesu sweep --once``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import burst
from bot.domain.policy import Policy
from storage.db import Store
from storage.repositories import Tx
from storage.schema import Row

log = logging.getLogger(__name__)

#: How often ``kesu run`` checks: a burst is heard of within a minute of crossing the rule.
EVERY = 60.0


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert raised (``ended_at`` None) or ended by this check."""

    id: int
    category: str
    started_at: datetime
    intake: burst.Intake  # the counts at this check
    weeks: int  # the policy's weeks of history (the intake may hold fewer: a young desk)
    peak: int
    ended_at: datetime | None = None


#: Tells people of an alert, in the check's transaction (each staff desk's, app.py).
Announcer = Callable[[Tx, Alert], Awaitable[None]]


@dataclass
class Bursts:
    store: Store
    rule: Policy.Burst
    announcers: list[Announcer] = field(default_factory=list)

    async def check(self, now: datetime) -> list[Alert]:
        """Raise the alerts of categories bursting now and end those back to usual; what
        changed. One transaction: on PostgreSQL two instances checking at once wait on the
        active-alert index, and the second finds the work done. Turned off in the policy, it
        only ends the alerts still active (silently: nobody asked to hear of bursts)."""
        if not self.rule.enabled:
            async with self.store.read() as tx:
                if not await tx.bursts.active():
                    return []
        return await self.store.write(functools.partial(self._check, now=now))

    async def _check(self, tx: Tx, *, now: datetime) -> list[Alert]:
        spans = burst.windows(now, self.rule.weeks)
        counts = await tx.bursts.intake(spans)
        active = await tx.bursts.active()
        if not self.rule.enabled:
            counts = {}
        first = await tx.bursts.first_received()
        changed: list[Alert] = []
        for category in sorted(counts.keys() | active.keys()):
            found = counts.get(category) or [0] * len(spans)
            intake = burst.intake(category, found, spans, first or now)
            alert = await self._judge(tx, intake, active.get(category), now)
            if alert is None or not self.rule.enabled:
                continue
            for announce in self.announcers:
                await announce(tx, alert)
            changed.append(alert)
        return changed

    async def _judge(
        self, tx: Tx, intake: burst.Intake, row: Row | None, now: datetime
    ) -> Alert | None:
        if row is None:
            if not self.rule.enabled or not intake.bursting(self.rule):
                return None
            alert_id = await tx.bursts.start(intake.category, now, intake.last_hour, intake.usual)
            if alert_id is None:
                return None  # another instance raised it a moment ago
            log.warning(
                "burst: %s complaints in category %s in the last hour, usually %.1f: alert %s",
                intake.last_hour, intake.category, intake.usual, alert_id,
            )  # fmt: skip
            return Alert(alert_id, intake.category, now, intake, self.rule.weeks,
                         intake.last_hour)  # fmt: skip
        alert_id, peak = int(row["id"]), max(int(row["peak"]), intake.last_hour)
        if peak > int(row["peak"]):
            await tx.bursts.peak(alert_id, peak)
        if self.rule.enabled and not intake.calm(self.rule):
            return None  # still above the usual rate: the same alert
        if not await tx.bursts.end(alert_id, now):
            return None  # another instance ended it a moment ago
        started: datetime = row["started_at"]
        if not self.rule.enabled:
            log.info("burst alert %s (category %s) ended: burst alerts are off in the policy",
                     alert_id, intake.category)  # fmt: skip
        else:
            log.info("burst over in category %s (alert %s): %s in the last hour, usually %.1f",
                     intake.category, alert_id, intake.last_hour, intake.usual)  # fmt: skip
        return Alert(alert_id, intake.category, started, intake, self.rule.weeks, peak, now)
