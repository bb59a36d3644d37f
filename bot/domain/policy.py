"""The service-level policy (时限政策) as data: SLA targets, business hours, holidays, escalation.

A deployment edits a TOML file, never code. Parsing is strict (unknown keys are errors) so a
typo such as ``frist_response`` is reported instead of silently falling back to a default.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.calendar import BusinessCalendar, YearDays, chinese_statutory_workday
from bot.domain.cases import DomainError, Priority


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Strict):
    """A time limit: hours on the calendar or business clock, or a number of working days."""

    hours: Annotated[float, Field(gt=0, le=24 * 366)] | None = None
    working_days: Annotated[int, Field(ge=1, le=366)] | None = None
    clock: Literal["calendar", "business"] = "business"

    @model_validator(mode="after")
    def _one_measure(self) -> Self:
        if (self.hours is None) == (self.working_days is None):
            raise ValueError("give exactly one of 'hours' or 'working_days'")
        if self.working_days is not None and self.clock != "business":
            raise ValueError("'working_days' always counts on the business calendar")
        return self

    def describe(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days} working day{'s' if self.working_days > 1 else ''}"
        hours = f"{self.hours:g} h"
        return f"{hours} ({self.clock})"

    def describe_zh(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days} 个工作日"
        return f"{self.hours:g} 小时" + ("(工作时间)" if self.clock == "business" else "")

    def due(self, calendar: BusinessCalendar, start: datetime) -> datetime:
        if self.working_days is not None:
            return calendar.add_working_days(start, self.working_days)
        assert self.hours is not None  # noqa: S101 (guaranteed by _one_measure)
        amount = timedelta(hours=self.hours)
        if self.clock == "calendar":
            return start + amount
        return calendar.add(start, amount)

    def remaining(self, calendar: BusinessCalendar, due: datetime, now: datetime) -> timedelta:
        """Time left on this target's clock; negative = overdue by that much."""
        if self.clock == "calendar" and self.working_days is None:
            return due - now
        return calendar.between(now, due)

    def shift_for_pause(
        self, calendar: BusinessCalendar, due: datetime, paused_at: datetime, resumed_at: datetime
    ) -> datetime:
        """Move ``due`` by the time the clock stood still waiting for the customer.

        A deadline already missed when the pause began stays missed: waiting for the customer
        cannot undo a breach.
        """
        if due <= paused_at or resumed_at <= paused_at:
            return due
        if self.clock == "calendar" and self.working_days is None:
            return due + (resumed_at - paused_at)
        return calendar.add(due, calendar.between(paused_at, resumed_at))


class PrioritySla(_Strict):
    name_zh: str
    name_en: str
    first_response: Target
    resolution: Target


class EscalationStep(_Strict):
    """One level of the chain; ``escalate_after`` is how long a case may sit here unresolved."""

    name_zh: str
    name_en: str
    review_within: Target | None = None
    escalate_after: Target | None = None


class YearSchedule(_Strict):
    off: list[date] = []
    workdays: list[date] = []


def _parse_hhmm(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a time like 09:00") from exc


class CalendarPolicy(_Strict):
    hours: list[tuple[str, str]] = [("09:00", "18:00")]
    statutory: bool = True  # follow the State Council schedule via chinesecalendar
    years: dict[int, YearSchedule] = {}

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for start, end in value:
            if _parse_hhmm(start) >= _parse_hhmm(end):
                raise ValueError(f"working hours {start}-{end} end before they start")
        return value

    def build(self, tz: ZoneInfo) -> BusinessCalendar:
        return BusinessCalendar(
            tz=tz,
            hours=tuple((_parse_hhmm(s), _parse_hhmm(e)) for s, e in self.hours),
            years={
                y: YearDays(off=frozenset(s.off), workdays=frozenset(s.workdays))
                for y, s in self.years.items()
            },
            statutory=chinese_statutory_workday if self.statutory else None,
        )


class Policy(_Strict):
    calendar: CalendarPolicy = CalendarPolicy()
    sla: dict[Priority, PrioritySla]
    escalation: list[EscalationStep]

    @field_validator("sla")
    @classmethod
    def _every_priority(cls, value: dict[Priority, PrioritySla]) -> dict[Priority, PrioritySla]:
        missing = [p.value for p in Priority if p not in value]
        if missing:
            raise ValueError(f"missing SLA for priority {', '.join(missing)}")
        return value

    @field_validator("escalation")
    @classmethod
    def _chain(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        if not value:
            raise ValueError("the escalation chain needs at least the front line")
        return value


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate; every problem comes back as one DomainError naming the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DomainError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise DomainError(f"{source}: {problems}") from exc
