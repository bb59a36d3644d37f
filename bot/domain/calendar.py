"""Business time on the Chinese statutory calendar (工作日历).

A complaint desk counts time in working hours on working days: public holidays are off, and
the weekend days swapped into workdays (调休) are on. ``chinesecalendar`` knows the announced
years; for a later year the policy file supplies the list, and until it does the law's own
holidays (bot/domain/holidays.py) and weekends are off and we say so loudly — the swaps are
never guessed, nothing crashes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from bot.domain.cases import DomainError
from bot.domain.holidays import legal_holidays

log = logging.getLogger(__name__)

#: Longest stretch we search for working time before declaring the calendar broken (no hours).
_MAX_SCAN_DAYS = 3 * 366

StatutoryLookup = Callable[[date], bool | None]


def chinese_statutory_workday(day: date) -> bool | None:
    """True/False from the State Council schedule, or None for a year it does not cover."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def statutory_years() -> range:
    """Years ``chinesecalendar`` covers, so start-up can tell operators what is missing."""
    years = [d.year for d in chinese_calendar.holidays] + [
        d.year for d in chinese_calendar.workdays
    ]
    return range(min(years), max(years) + 1)


@dataclass(frozen=True, slots=True)
class YearDays:
    """A year the policy file spells out: extra days off and weekend days worked (调休)."""

    off: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class BusinessCalendar:
    tz: ZoneInfo
    hours: tuple[tuple[time, time], ...]
    years: Mapping[int, YearDays] = field(default_factory=dict)
    statutory: StatutoryLookup | None = chinese_statutory_workday
    _warned: set[int] = field(default_factory=set, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.hours:
            raise DomainError("business hours are empty: no time would ever count")
        previous_end: time | None = None
        for start, end in self.hours:
            if start >= end:
                raise DomainError(f"business hours {start:%H:%M}-{end:%H:%M} end before they start")
            if previous_end is not None and start < previous_end:
                raise DomainError("business hours overlap or are not in order")
            previous_end = end

    # -- days -------------------------------------------------------------------------------

    def year_is_known(self, year: int) -> bool:
        """Known = announced by the State Council (chinesecalendar) or listed in the policy."""
        if year in self.years:
            return True
        if self.statutory is None:
            return True  # a deployment that chose plain weekends has nothing to fill in
        return self.statutory(date(year, 1, 1)) is not None

    def unknown_years(self, years: Iterable[int]) -> list[int]:
        """For the start-up warning: which of these years would fall back to weekends."""
        return [y for y in years if not self.year_is_known(y)]

    def is_workday(self, day: date) -> bool:
        """The policy file's lists win where they speak; then the State Council's schedule;
        in a year not announced yet, the law's own holidays (元旦, 春节 with 除夕, 清明, 劳动节,
        端午, 中秋, 国庆) and weekends are off, so a desk never promises contact on 元旦."""
        listed = self.years.get(day.year)
        if listed is not None:
            if day in listed.workdays:
                return True
            if day in listed.off:
                return False
        if self.statutory is None:
            return day.weekday() < 5
        statutory = self.statutory(day)
        if statutory is not None:
            return statutory
        if listed is None and day.year not in self._warned:
            self._warned.add(day.year)
            log.warning(
                "no holiday schedule for %s yet: counting the law's public holidays and weekends "
                "as days off; the weekend days worked (调休) and the bridge days are not known "
                "until announced: add [calendar.years.%s] to the policy file then",
                day.year,
                day.year,
            )
        return day.weekday() < 5 and day not in legal_holidays(day.year)

    def working_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_workday(day):
            return []
        return [
            (datetime.combine(day, s, self.tz), datetime.combine(day, e, self.tz))
            for s, e in self.hours
        ]

    # -- instants ---------------------------------------------------------------------------

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """``start`` plus ``amount`` of working time; zero moves to the next working instant.

        The result of a positive amount lies inside a working interval or on its closing edge
        (18:00 sharp is "by the end of today", not "tomorrow 09:00").
        """
        if amount < timedelta(0):
            raise ValueError("amount must not be negative")
        remaining = amount
        t = _aware(start).astimezone(self.tz)
        day = t.date()
        for _ in range(_MAX_SCAN_DAYS):
            for begin, end in self.working_intervals(day):
                if end <= t:
                    continue
                seg_start = max(begin, t)
                available = end - seg_start
                if remaining <= available:
                    return seg_start + remaining
                remaining -= available
            day += timedelta(days=1)
        raise DomainError(f"no working time within {_MAX_SCAN_DAYS} days of {start.isoformat()}")

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b``; negative when ``b`` is earlier (overdue)."""
        if b < a:
            return -self.between(b, a)
        a, b = _aware(a).astimezone(self.tz), _aware(b).astimezone(self.tz)
        total = timedelta(0)
        day = a.date()
        while day <= b.date():
            for begin, end in self.working_intervals(day):
                lo, hi = max(begin, a), min(end, b)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same working clock time ``days`` working days later (3 个工作日).

        A start outside working hours first moves to the next working instant, so a complaint
        received on Saturday night counts from Monday 09:00.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        t = self.add(start, timedelta(0))
        day = t.date()
        counted = 0
        for _ in range(_MAX_SCAN_DAYS):
            if counted == days:
                return datetime.combine(day, t.timetz().replace(tzinfo=None), self.tz)
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        raise DomainError(f"no {days} working days within {_MAX_SCAN_DAYS} days of {start}")


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime: kesu computes only with timezone-aware instants")
    return instant
