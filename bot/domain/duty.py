"""Who is on duty (值班) at an instant, and where a week leaves nobody on duty.

A calendar-clock target (priority A: answer within an hour, at any hour) is only a promise if
somebody is there outside working hours; reminders then go to the people on duty. The rota is
kept small, after PagerDuty/Opsgenie schedule restrictions: a ``default`` and ``[[duty.shift]]``
blocks, each on some days (weekday names, or the calendar's own kind of day) and a time range
that may run past midnight. Every shift that covers the instant counts (its people are added,
as Opsgenie adds the layers of a schedule); nobody in any shift means the default.

A shift's days are the days it *starts* on: ``mon``–``fri`` 18:00–09:00 covers Friday night
into Saturday morning, and not Sunday night.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal, Protocol, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from bot.domain.calendar import BusinessCalendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The three kinds of day, which never overlap: a working day (调休 weekend days worked
#: included), a Saturday or Sunday off, and a Monday–Friday off (法定节假日 and bridge days).
Kind = Literal["workday", "weekend", "holiday"]
KINDS: tuple[Kind, ...] = ("workday", "weekend", "holiday")
#: A role is a lowercase word ("supervisor", "oncall"); any other name is a person's id on a
#: staff channel (a Slack user or user group id), passed to the channel as it is.
ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_NAME_RE = re.compile(r"^\S{1,64}$")


def is_role(name: str) -> bool:
    return bool(ROLE_RE.match(name))


class RolePeople(Protocol):
    """A staff channel's answer to "who holds this role": its own ids (Slack: users and
    user groups), so the domain and the policy stay channel-neutral."""

    def people(self, role: str) -> tuple[str, ...]: ...


def people_of(names: Iterable[str], roles: RolePeople) -> tuple[str, ...]:
    """The people behind a list of names (on duty, or a level's role): a role stands for its
    people on the channel, anything else is a person's id already; each once, in order."""
    found: dict[str, None] = {}
    for name in names:
        for person in roles.people(name) if is_role(name) else (name,):
            found.setdefault(person)
    return tuple(found)


def _names(value: object) -> object:
    """``who = "oncall"`` is as clear as ``who = ["oncall"]``."""
    return [value] if isinstance(value, str) else value


def _check_names(names: list[str], *, empty_ok: bool) -> list[str]:
    if not names and not empty_ok:
        raise ValueError("name at least one role or person")
    for name in names:
        if not _NAME_RE.match(name):
            raise ValueError(f"{name!r} is not a role (a lowercase word) or a person's id")
    if len(set(names)) != len(names):
        raise ValueError("a role or person is named twice")
    return names


def _clock(value: str, key: str) -> time:
    try:
        parsed = time.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"'{key}' {value!r} is not a time like 09:00") from exc
    if parsed.second or parsed.microsecond or parsed.tzinfo:
        raise ValueError(f"'{key}' {value!r}: give hours and minutes only, like 09:00")
    return parsed


Names = Annotated[list[str], BeforeValidator(_names)]


class Shift(BaseModel):
    """``days`` × the range ``from``–``to`` in the desk's time zone; no range = the whole
    calendar day; ``to`` before ``from`` runs past midnight into the next day, and ``to`` equal
    to ``from`` is a 24-hour shift handed over at that time (an on-call week's 09:00)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    days: list[str]
    start: str | None = Field(None, alias="from")
    end: str | None = Field(None, alias="to")
    who: Names

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if not self.days:
            raise ValueError(
                "'days' is empty: name weekdays (mon … sun) or workday/weekend/holiday"
            )
        unknown = [d for d in self.days if d not in WEEKDAYS and d not in KINDS]
        if unknown:
            raise ValueError(
                f"unknown day {unknown[0]!r}: use mon tue wed thu fri sat sun, "
                "workday (调休 workdays included), weekend or holiday"
            )
        if len(set(self.days)) != len(self.days):
            raise ValueError("'days' names a day twice")
        if (self.start is None) != (self.end is None):
            raise ValueError("give both 'from' and 'to', or neither for the whole day")
        for key, value in (("from", self.start), ("to", self.end)):
            if value is not None:
                _clock(value, key)  # raises the message naming the key
        _check_names(self.who, empty_ok=False)
        return self

    @property
    def range(self) -> tuple[time, time] | None:
        if self.start is None or self.end is None:
            return None
        return _clock(self.start, "from"), _clock(self.end, "to")

    def on(self, weekday: int, kind: Kind) -> bool:
        """Starts on a day of this weekday and kind."""
        return WEEKDAYS[weekday] in self.days or kind in self.days

    def covers(self, today: tuple[int, Kind], yesterday: tuple[int, Kind], at: time) -> bool:
        span = self.range
        if span is None:
            return self.on(*today)
        start, end = span
        if start < end:
            return self.on(*today) and start <= at < end
        return (self.on(*today) and at >= start) or (self.on(*yesterday) and at < end)

    def describe(self) -> str:
        span = self.range
        days = " ".join(self.days)
        if span is None:
            return f"{days}, all day"
        start, end = span
        after = " (next day)" if end <= start else ""
        return f"{days} {start:%H:%M}–{end:%H:%M}{after}"


class Duty(BaseModel):
    """The ``[duty]`` table. ``default`` is required in a file that has the table: an empty
    list (nobody outside the shifts) must be written, not assumed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Names
    shift: list[Shift] = []

    @model_validator(mode="after")
    def _valid(self) -> Self:
        _check_names(self.default, empty_ok=True)
        return self

    def who(self, today: tuple[int, Kind], yesterday: tuple[int, Kind], at: time) -> list[str]:
        """Everyone of the shifts covering ``at`` (in order, once each), else the default."""
        found: list[str] = []
        for shift in self.shift:
            if shift.covers(today, yesterday, at):
                found += [n for n in shift.who if n not in found]
        return found or list(self.default)

    def on_duty(self, calendar: BusinessCalendar, instant: datetime) -> tuple[str, ...]:
        """The roles and people on duty at ``instant``, on the desk's calendar and clock."""
        local = instant.astimezone(calendar.tz)
        day = local.date()
        yesterday = day - timedelta(days=1)
        return tuple(self.who(_kind_of(calendar, day), _kind_of(calendar, yesterday), local.time()))

    def first_gap(self, hours: Iterable[tuple[time, time]], *, holidays: bool = True) -> Gap | None:
        """The first stretch outside working ``hours`` with nobody on duty: the ordinary week
        first (Monday first), then the days a statutory calendar adds when ``holidays`` — a
        Monday–Friday off, a weekend day worked (调休) and the days after them."""
        working = tuple(hours)
        cuts = {time(0)}
        for start, end in working:
            cuts |= {start, end}
        for shift in self.shift:
            if (span := shift.range) is not None:
                cuts |= set(span)
        bounds = sorted(cuts)
        for today, yesterday in _day_pairs(holidays):
            gap_from: time | None = None
            for i, at in enumerate(bounds):
                nobody = not (today[1] == "workday" and _inside(working, at)) and not self.who(
                    today, yesterday, at
                )
                if nobody and gap_from is None:
                    gap_from = at
                elif not nobody and gap_from is not None:
                    return Gap(today, yesterday, gap_from, at)
                if i == len(bounds) - 1 and gap_from is not None:
                    return Gap(today, yesterday, gap_from, None)
        return None


@dataclass(frozen=True, slots=True)
class Gap:
    """Nobody on duty from ``start`` to ``end`` (None = midnight) on a day of ``today``'s
    weekday and kind, after a day of ``yesterday``'s."""

    today: tuple[int, Kind]
    yesterday: tuple[int, Kind]
    start: time
    end: time | None

    def __str__(self) -> str:
        day = _day_words(*self.today)
        if self.yesterday[1] != _plain(self.yesterday[0]):
            day += f" after {_day_words(*self.yesterday)}"
        end = "24:00" if self.end is None else f"{self.end:%H:%M}"
        return f"{day[0].upper()}{day[1:]} {self.start:%H:%M}–{end} nobody on duty"


def _kind_of(calendar: BusinessCalendar, day: date) -> tuple[int, Kind]:
    weekday = day.weekday()
    if calendar.is_workday(day):
        return weekday, "workday"
    return weekday, "weekend" if weekday >= 5 else "holiday"


def _plain(weekday: int) -> Kind:
    return "workday" if weekday < 5 else "weekend"


def _day_words(weekday: int, kind: Kind) -> str:
    name = WEEKDAY_NAMES[weekday]
    if kind == _plain(weekday):
        return name
    return f"a holiday {name}" if kind == "holiday" else f"a {name} worked (调休)"


def _kinds(weekday: int, holidays: bool) -> tuple[Kind, ...]:
    plain = _plain(weekday)
    if not holidays:
        return (plain,)
    return (plain, "holiday" if weekday < 5 else "workday")


def _day_pairs(holidays: bool) -> Iterator[tuple[tuple[int, Kind], tuple[int, Kind]]]:
    """(today, yesterday) for every day that can occur, the ordinary week first."""
    pairs = [
        ((w, kind), ((w - 1) % 7, before))
        for w in range(7)
        for kind in _kinds(w, holidays)
        for before in _kinds((w - 1) % 7, holidays)
    ]

    def unusual(pair: tuple[tuple[int, Kind], tuple[int, Kind]]) -> int:
        (w, kind), (v, before) = pair
        return (kind != _plain(w)) + (before != _plain(v))

    yield from sorted(pairs, key=unusual)  # stable: Monday first within each group


def _inside(hours: tuple[tuple[time, time], ...], at: time) -> bool:
    return any(start <= at < end for start, end in hours)
