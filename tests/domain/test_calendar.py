"""Business time on the Chinese statutory calendar: fixed cases a desk would check by hand,
and properties that must hold for every start instant and every target."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.calendar import BusinessCalendar, YearDays, statutory_years
from bot.domain.cases import DomainError, Priority
from bot.domain.sla import Deadlines, Sla
from bot.domain.targets import Paused, Target

SH = ZoneInfo("Asia/Shanghai")
NINE_TO_SIX = ((time(9), time(18)),)


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


@pytest.fixture
def cal() -> BusinessCalendar:
    return BusinessCalendar(tz=SH, hours=NINE_TO_SIX)


# -- fixed cases: National Day 2025 (Oct 1-8 off, Sun Sep 28 and Sat Oct 11 worked) ----------


def test_c_complaint_on_the_eve_of_national_day(sla: Sla) -> None:
    """Received Tue 30 Sep 15:00: first response the next working day (Thu 9 Oct) at 15:00,
    resolution three working days on: 9, 10 and Saturday 11 Oct, a 调休 workday."""
    d = sla.deadlines(Priority.C, at(2025, 9, 30, 15))
    assert d == Deadlines(at(2025, 10, 9, 15), at(2025, 10, 11, 15))


def test_b_complaint_late_on_the_eve_counts_only_working_hours(sla: Sla) -> None:
    # 17:00-18:00 on 30 Sep is one hour; the other three run from 09:00 on 9 Oct.
    assert sla.deadlines(Priority.B, at(2025, 9, 30, 17)).first_response == at(2025, 10, 9, 12)
    # At 22:00 nothing is left that day: 09:00 + 4 h.
    assert sla.deadlines(Priority.B, at(2025, 9, 30, 22)).first_response == at(2025, 10, 9, 13)


def test_a_complaint_runs_around_the_clock_even_on_holidays(sla: Sla) -> None:
    d = sla.deadlines(Priority.A, at(2025, 10, 1, 2))
    assert d == Deadlines(at(2025, 10, 1, 3), at(2025, 10, 1, 6))


def test_tiaoxiu_sunday_is_a_workday(cal: BusinessCalendar) -> None:
    assert cal.is_workday(date(2025, 9, 28))  # Sunday, worked for National Day
    assert cal.add(at(2025, 9, 28, 10), timedelta(hours=4)) == at(2025, 9, 28, 14)


def test_spring_festival_2026(cal: BusinessCalendar) -> None:
    assert cal.is_workday(date(2026, 2, 14))  # Saturday worked before the festival
    assert not cal.is_workday(date(2026, 2, 16))
    # Friday 13 Feb 17:00 + 2 working hours: one hour Friday, one on Saturday the 14th.
    assert cal.add(at(2026, 2, 13, 17), timedelta(hours=2)) == at(2026, 2, 14, 10)
    # Saturday 14 Feb 17:00 + 2 h: the next workday is Tuesday 24 Feb.
    assert cal.add(at(2026, 2, 14, 17), timedelta(hours=2)) == at(2026, 2, 24, 10)


def test_a_full_working_day_ends_at_closing_time_not_next_morning(cal: BusinessCalendar) -> None:
    assert cal.add(at(2026, 11, 17, 9), timedelta(hours=9)) == at(2026, 11, 17, 18)


def test_zero_moves_to_the_next_working_instant(cal: BusinessCalendar) -> None:
    assert cal.add(at(2026, 11, 21, 23), timedelta(0)) == at(2026, 11, 23, 9)  # Sat night
    assert cal.add(at(2026, 11, 17, 18), timedelta(0)) == at(2026, 11, 18, 9)  # closing time
    assert cal.add(at(2026, 11, 17, 12), timedelta(0)) == at(2026, 11, 17, 12)


def test_lunch_break_is_not_working_time() -> None:
    cal = BusinessCalendar(tz=SH, hours=((time(9), time(12)), (time(13, 30), time(17, 30))))
    assert cal.add(at(2026, 11, 17, 11), timedelta(hours=2)) == at(2026, 11, 17, 14, 30)
    assert cal.between(at(2026, 11, 17, 11), at(2026, 11, 17, 14, 30)) == timedelta(hours=2)


def test_between_is_negative_when_overdue(cal: BusinessCalendar) -> None:
    due = at(2026, 11, 17, 10)
    assert cal.between(at(2026, 11, 17, 11), due) == -timedelta(hours=1)
    # Overdue since Friday 17:00, seen Monday 10:00: two working hours late.
    assert cal.between(at(2026, 11, 23, 10), at(2026, 11, 20, 17)) == -timedelta(hours=2)


def test_remaining_on_each_clock(cal: BusinessCalendar) -> None:
    business = Target(hours=4, clock="business")
    calendar = Target(hours=4, clock="calendar")
    friday_5pm, monday_10am = at(2026, 11, 20, 17), at(2026, 11, 23, 10)
    assert business.remaining(cal, monday_10am, friday_5pm) == timedelta(hours=2)
    assert calendar.remaining(cal, monday_10am, friday_5pm) == timedelta(hours=65)


def test_working_days_from_outside_hours_start_next_morning(cal: BusinessCalendar) -> None:
    # Saturday night complaint: counts from Monday 09:00, three working days → Thursday 09:00.
    assert cal.add_working_days(at(2026, 11, 21, 22), 3) == at(2026, 11, 26, 9)


def test_pause_moves_a_deadline_by_the_paused_time_on_its_own_clock(cal: BusinessCalendar) -> None:
    start = at(2026, 11, 17, 9)  # Tuesday 09:00
    # Paused Tue 10:00, resumed Wed 10:00: one working day (9 h) and 24 wall hours stood still.
    paused = Paused().plus(cal, at(2026, 11, 17, 10), at(2026, 11, 18, 10))
    assert paused == Paused(wall=timedelta(hours=24), business=timedelta(hours=9))
    business = Target(hours=4, clock="business")
    assert business.due(cal, start) == at(2026, 11, 17, 13)
    assert business.due(cal, start, paused) == at(2026, 11, 18, 13)
    calendar = Target(hours=1, clock="calendar")
    assert calendar.due(cal, start, paused) == at(2026, 11, 18, 10)
    days = Target(working_days=1)
    # Wednesday 09:00 plus the nine paused working hours: the end of Wednesday's working time.
    assert days.due(cal, start, paused) == at(2026, 11, 18, 18)


# -- years the package does not know ----------------------------------------------------------


def test_unknown_year_falls_back_to_the_law_and_weekends_and_warns_once(
    cal: BusinessCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    assert max(statutory_years()) < 2030
    with caplog.at_level(logging.WARNING):
        assert not cal.is_workday(date(2030, 1, 1))  # a Tuesday, but 元旦 is the law's
        assert cal.is_workday(date(2030, 1, 2))
        assert not cal.is_workday(date(2030, 1, 5))  # Saturday
    warnings = [r for r in caplog.records if "2030" in r.getMessage()]
    assert len(warnings) == 1
    assert "[calendar.years.2030]" in warnings[0].getMessage()
    assert cal.unknown_years([2025, 2030]) == [2030]


def test_policy_listed_year_is_used_and_silences_the_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listed = YearDays(off=frozenset({date(2030, 1, 1)}), workdays=frozenset({date(2030, 1, 5)}))
    cal = BusinessCalendar(tz=SH, hours=NINE_TO_SIX, years={2030: listed})
    with caplog.at_level(logging.WARNING):
        assert not cal.is_workday(date(2030, 1, 1))
        assert cal.is_workday(date(2030, 1, 5))
        assert cal.is_workday(date(2030, 1, 2))
    assert caplog.records == []
    assert cal.unknown_years([2030]) == []


def test_a_late_december_case_due_in_an_unknown_year_does_not_crash(
    sla: Sla, caplog: pytest.LogCaptureFixture
) -> None:
    """2027 is not announced yet: Friday 1 Jan is 元旦 by law, so the next working day is
    Monday 4 Jan (the fallback knows no 调休), and the operators are told what is unknown."""
    cal = BusinessCalendar(tz=SH, hours=NINE_TO_SIX)  # fresh: the shared one may have warned
    fresh = Sla(sla.policy, cal)
    with caplog.at_level(logging.WARNING):
        d = fresh.deadlines(Priority.C, at(2026, 12, 31, 16))
    assert d == Deadlines(at(2027, 1, 4, 16), at(2027, 1, 6, 16))
    assert any("2027" in r.getMessage() for r in caplog.records)


def test_plain_weekday_calendar_never_warns(caplog: pytest.LogCaptureFixture) -> None:
    cal = BusinessCalendar(tz=SH, hours=NINE_TO_SIX, statutory=None)
    with caplog.at_level(logging.WARNING):
        assert cal.is_workday(date(2025, 10, 1))  # National Day, but this desk works Mon-Fri
    assert caplog.records == []


def test_broken_hours_are_refused() -> None:
    with pytest.raises(DomainError, match="empty"):
        BusinessCalendar(tz=SH, hours=())
    with pytest.raises(DomainError, match="end before"):
        BusinessCalendar(tz=SH, hours=((time(18), time(9)),))
    with pytest.raises(DomainError, match="overlap"):
        BusinessCalendar(tz=SH, hours=((time(9), time(13)), (time(12), time(18))))


def test_naive_instants_are_refused(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        cal.add(datetime(2026, 11, 17, 9), timedelta(hours=1))  # noqa: DTZ001


# -- properties -------------------------------------------------------------------------------

PROPERTY_CAL = BusinessCalendar(tz=SH, hours=((time(9), time(12)), (time(13), time(18))))
# hypothesis takes naive bounds and attaches the zone itself.
starts = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001
    max_value=datetime(2026, 12, 31),  # noqa: DTZ001
    timezones=st.just(SH),
)
minutes = st.integers(min_value=0, max_value=60 * 9 * 15)


def _inside_working_time(instant: datetime, *, closing_edge_ok: bool) -> bool:
    local = instant.astimezone(SH)
    for begin, end in PROPERTY_CAL.working_intervals(local.date()):
        if begin <= local < end or (closing_edge_ok and local == end):
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(start=starts, a=minutes, b=minutes)
def test_business_hours_properties(start: datetime, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    due_lo = PROPERTY_CAL.add(start, timedelta(minutes=lo))
    due_hi = PROPERTY_CAL.add(start, timedelta(minutes=hi))
    assert due_lo >= start
    assert due_lo <= due_hi  # monotone in the target
    assert _inside_working_time(due_hi, closing_edge_ok=hi > 0)
    # Round trip: the working time between start and due is exactly the target.
    assert PROPERTY_CAL.between(start, due_hi) == timedelta(minutes=hi)


@settings(max_examples=200, deadline=None)
@given(start=starts, a=st.integers(0, 20), b=st.integers(0, 20))
def test_working_days_properties(start: datetime, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    due_lo = PROPERTY_CAL.add_working_days(start, lo)
    due_hi = PROPERTY_CAL.add_working_days(start, hi)
    assert start <= due_lo <= due_hi
    assert PROPERTY_CAL.is_workday(due_hi.date())
    assert _inside_working_time(due_hi, closing_edge_ok=False)


@settings(max_examples=100, deadline=None)
@given(start=starts, a=minutes, b=minutes)
def test_sla_targets_are_monotone_and_never_before_start(start: datetime, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    for clock in ("business", "calendar"):
        t_lo = Target(hours=max(lo, 1) / 60, clock=clock)
        t_hi = Target(hours=max(hi, 1) / 60, clock=clock)
        assert start <= t_lo.due(PROPERTY_CAL, start) <= t_hi.due(PROPERTY_CAL, start)


# -- targets in minutes ----------------------------------------------------------------------


def test_minutes_are_due_on_both_clocks(cal: BusinessCalendar) -> None:
    fifteen = Target(minutes=15)
    # Tuesday 17:50: ten working minutes left today, five more from Wednesday 09:00.
    assert fifteen.due(cal, at(2026, 11, 17, 17, 50)) == at(2026, 11, 18, 9, 5)
    assert fifteen.due(cal, at(2026, 11, 17, 10)) == at(2026, 11, 17, 10, 15)
    around = Target(minutes=5, clock="calendar")
    assert around.on_calendar_clock
    assert around.due(cal, at(2026, 11, 21, 23, 58)) == at(2026, 11, 22, 0, 3)  # Saturday night
    # Received on a holiday (National Day 2025): business minutes start on 10-09 at 09:00.
    assert fifteen.due(cal, at(2025, 10, 1, 10)) == at(2025, 10, 9, 9, 15)
    assert fifteen.remaining(cal, at(2026, 11, 18, 9, 5), at(2026, 11, 17, 17, 50)) == timedelta(
        minutes=15
    )


def test_minutes_targets_get_the_pause_credited_on_their_own_clock(
    cal: BusinessCalendar,
) -> None:
    start = at(2026, 11, 17, 17, 50)  # Tuesday
    # Waited for the customer from 17:55 to Wednesday 09:30: 5 + 30 working minutes.
    paused = Paused().plus(cal, at(2026, 11, 17, 17, 55), at(2026, 11, 18, 9, 30))
    assert paused.business == timedelta(minutes=35)
    assert Target(minutes=15).due(cal, start, paused) == at(2026, 11, 18, 9, 40)
    around = Target(minutes=15, clock="calendar")
    assert around.due(cal, start, paused) == start + timedelta(minutes=15) + paused.wall
