"""Deadlines of one case (时限), computed from the policy on the desk's business calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.calendar import BusinessCalendar
from bot.domain.cases import Priority
from bot.domain.policy import Policy, Target


@dataclass(frozen=True, slots=True)
class Deadlines:
    first_response: datetime
    resolution: datetime


@dataclass(frozen=True)
class Sla:
    policy: Policy
    calendar: BusinessCalendar

    def targets(self, priority: Priority) -> tuple[Target, Target]:
        sla = self.policy.sla[priority]
        return sla.first_response, sla.resolution

    def deadlines(self, priority: Priority, received_at: datetime) -> Deadlines:
        first, resolution = self.targets(priority)
        return Deadlines(
            first_response=first.due(self.calendar, received_at),
            resolution=resolution.due(self.calendar, received_at),
        )

    def remaining(self, target: Target, due: datetime, now: datetime) -> timedelta:
        return target.remaining(self.calendar, due, now)

    def resume(
        self, priority: Priority, due: Deadlines, paused_at: datetime, resumed_at: datetime
    ) -> Deadlines:
        """Deadlines after a pause (等待客户) from ``paused_at`` to ``resumed_at``."""
        first, resolution = self.targets(priority)
        return Deadlines(
            first_response=first.shift_for_pause(
                self.calendar, due.first_response, paused_at, resumed_at
            ),
            resolution=resolution.shift_for_pause(
                self.calendar, due.resolution, paused_at, resumed_at
            ),
        )
