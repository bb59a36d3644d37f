"""Deadlines of one case (时限), computed from the policy on the desk's business calendar.

Every deadline is a function of the priority (a press enquiry's: of its category), the SLA
clock's own start (set when the case is opened and again when it is reopened) and the time
the clock stood still waiting for the customer. Nothing else: so a correction of the
priority months later recomputes the same deadlines the case would have had, never ones
before the clock started."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.calendar import BusinessCalendar
from bot.domain.cases import Priority
from bot.domain.policy import Policy
from bot.domain.targets import NOT_PAUSED, Paused, Target


@dataclass(frozen=True, slots=True)
class Deadlines:
    first_response: datetime
    resolution: datetime


@dataclass(frozen=True)
class Sla:
    policy: Policy
    calendar: BusinessCalendar

    def targets(self, priority: Priority, category: str | None = None) -> tuple[Target, Target]:
        """The priority's targets; a press enquiry's category has its own (policy [media])."""
        return self.policy.targets(priority, category)

    def deadlines(
        self,
        priority: Priority,
        start: datetime,
        paused: Paused = NOT_PAUSED,
        category: str | None = None,
    ) -> Deadlines:
        first, resolution = self.targets(priority, category)
        return Deadlines(
            first_response=first.due(self.calendar, start, paused),
            resolution=resolution.due(self.calendar, start, paused),
        )

    def remaining(self, target: Target, due: datetime, now: datetime) -> timedelta:
        return target.remaining(self.calendar, due, now)

    def resume(
        self,
        priority: Priority,
        due: Deadlines,
        *,
        start: datetime,
        paused: Paused,
        paused_at: datetime,
        resumed_at: datetime,
        category: str | None = None,
    ) -> tuple[Deadlines, Paused]:
        """Deadlines and the credited pause after waiting for the customer from ``paused_at``
        to ``resumed_at``. A deadline already missed when the pause began stays missed:
        waiting for the customer cannot undo a breach."""
        credited = paused.plus(self.calendar, paused_at, resumed_at)
        fresh = self.deadlines(priority, start, credited, category)
        return (
            Deadlines(
                first_response=due.first_response
                if due.first_response <= paused_at
                else fresh.first_response,
                resolution=due.resolution if due.resolution <= paused_at else fresh.resolution,
            ),
            credited,
        )
