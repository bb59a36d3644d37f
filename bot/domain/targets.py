"""Time limits (时限) as the policy writes them: hours or minutes on the calendar or business
clock, or working days, and the time a clock stood still waiting for the customer. Apart from
``policy.py`` (the file's whole shape) because every deadline computation uses them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.domain.calendar import BusinessCalendar


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Paused:
    """Time an SLA clock stood still waiting for the customer (等待客户), on each clock: a
    calendar-clock target is credited the wall time, a business-clock one the working time."""

    wall: timedelta = timedelta(0)
    business: timedelta = timedelta(0)

    def plus(self, calendar: BusinessCalendar, paused_at: datetime, resumed_at: datetime) -> Paused:
        if resumed_at <= paused_at:
            return self
        return Paused(
            self.wall + (resumed_at - paused_at),
            self.business + calendar.between(paused_at, resumed_at),
        )


NOT_PAUSED = Paused()


class Target(_Strict):
    """A time limit: hours or minutes on the calendar or business clock, or a number of
    working days. Minutes are for the procedures' short steps (record within 15 minutes, a
    courier desk forwards within 5) and let a desk try its policy out in minutes."""

    hours: Annotated[float, Field(gt=0, le=24 * 366)] | None = None
    minutes: Annotated[int, Field(ge=1, le=60 * 24 * 366)] | None = None
    working_days: Annotated[int, Field(ge=1, le=366)] | None = None
    clock: Literal["calendar", "business"] = "business"

    @model_validator(mode="after")
    def _one_measure(self) -> Self:
        given = [m for m in (self.hours, self.minutes, self.working_days) if m is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'hours', 'minutes' or 'working_days'")
        if self.working_days is not None and self.clock != "business":
            raise ValueError("'working_days' always counts on the business calendar")
        return self

    @property
    def span(self) -> timedelta | None:
        """The length of an hours or minutes target; None for working days, whose length
        depends on the calendar."""
        if self.hours is not None:
            return timedelta(hours=self.hours)
        if self.minutes is not None:
            return timedelta(minutes=self.minutes)
        return None

    def describe(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days} working day{'s' if self.working_days > 1 else ''}"
        amount = f"{self.minutes} min" if self.minutes is not None else f"{self.hours:g} h"
        return f"{amount} ({self.clock})"

    def describe_zh(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days} 个工作日"
        amount = f"{self.minutes} 分钟" if self.minutes is not None else f"{self.hours:g} 小时"
        return amount + ("(工作时间)" if self.clock == "business" else "")

    @property
    def on_calendar_clock(self) -> bool:
        """Runs around the clock (值班); otherwise it runs in working time only."""
        return self.clock == "calendar" and self.working_days is None

    def due(
        self, calendar: BusinessCalendar, start: datetime, paused: Paused = NOT_PAUSED
    ) -> datetime:
        """Due ``start`` plus this target, plus the time the clock stood still waiting for the
        customer, counted on this target's own clock."""
        span = self.span
        if span is None:
            assert self.working_days is not None  # noqa: S101 (guaranteed by _one_measure)
            due = calendar.add_working_days(start, self.working_days)
        else:
            due = start + span if self.clock == "calendar" else calendar.add(start, span)
        if self.on_calendar_clock:
            return due + paused.wall
        return calendar.add(due, paused.business) if paused.business else due

    def budget(self, working_day: timedelta) -> tuple[bool, timedelta]:
        """(on the calendar clock?, length) — comparable between two targets on one clock;
        a working day is the calendar's working hours of one day."""
        span = self.span
        if span is None:
            assert self.working_days is not None  # noqa: S101 (guaranteed by _one_measure)
            return False, working_day * self.working_days
        return self.on_calendar_clock, span

    def remaining(self, calendar: BusinessCalendar, due: datetime, now: datetime) -> timedelta:
        """Time left on this target's clock; negative = overdue by that much."""
        if self.on_calendar_clock:
            return due - now
        return calendar.between(now, due)
