"""The law's own holidays (法定节假日) in a year the State Council has not announced yet.

The computed dates are checked against ``chinesecalendar`` for the years it knows: a calendar
whose statutory lookup pretends not to know 2025 or 2026 must still give every day the law
fixes off; it may differ from the announced schedule only by the swaps (调休) nobody can
compute — weekend days worked and the bridge days they buy.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from bot.config import load_policy
from bot.domain.calendar import (
    BusinessCalendar,
    StatutoryLookup,
    YearDays,
    chinese_statutory_workday,
    statutory_years,
)
from bot.domain.cases import Priority
from bot.domain.holidays import legal_holidays
from bot.domain.sla import Deadlines, Sla

SH = ZoneInfo("Asia/Shanghai")
NINE_TO_SIX = ((time(9), time(18)),)
#: In force since 2025-01-01 (春节 with 除夕, 劳动节 two days): the years to check it against.
LAW_2024_YEARS = (2025, 2026)


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def unannounced(*years: int) -> StatutoryLookup:
    """The package's answers, except for ``years``: as if they were not announced yet."""

    def lookup(day: date) -> bool | None:
        return None if day.year in years else chinese_statutory_workday(day)

    return lookup


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


# -- the computed dates against the announced years -------------------------------------------


@pytest.mark.parametrize("year", LAW_2024_YEARS)
def test_every_legal_holiday_is_off_in_the_announced_schedule(year: int) -> None:
    assert year in statutory_years()
    holidays = legal_holidays(year)
    assert len(holidays) == 1 + 4 + 1 + 2 + 1 + 1 + 3  # 中秋 on 国庆 (2028) makes one fewer
    for day in holidays:
        assert not chinese_calendar.is_workday(day), (day, holidays[day])


def test_lunar_and_solar_term_holidays_match_the_package_since_2015() -> None:
    """清明, 端午, 中秋 and 正月初一 have been legal holidays since 2008; the package names
    them (a holiday on a weekend or merged with 国庆 carries the other name or none)."""
    names = {
        "清明": "Tomb-sweeping Day",
        "端午": "Dragon Boat Festival",
        "中秋": "Mid-autumn Festival",
        "春节 正月初一": "Spring Festival",
    }
    for year in range(2015, max(statutory_years()) + 1):
        found = legal_holidays(year)
        for holiday, package_name in names.items():
            (day,) = [d for d, name in found.items() if holiday in name]
            assert not chinese_calendar.is_workday(day), (year, holiday, day)
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
            assert on_holiday
            assert name in (package_name, "National Day", None), (year, holiday, day, name)


@pytest.mark.parametrize("year", LAW_2024_YEARS)
def test_an_unannounced_year_differs_from_the_schedule_only_by_the_swaps(year: int) -> None:
    fallback = BusinessCalendar(tz=SH, hours=NINE_TO_SIX, statutory=unannounced(year))
    package = BusinessCalendar(tz=SH, hours=NINE_TO_SIX)
    only_fallback_off = [
        d for d in days_of(year) if not fallback.is_workday(d) and package.is_workday(d)
    ]
    only_package_off = [
        d for d in days_of(year) if fallback.is_workday(d) and not package.is_workday(d)
    ]
    # Off in the fallback but worked in the schedule: exactly the weekend days swapped in.
    assert only_fallback_off == sorted(d for d in chinese_calendar.workdays if d.year == year)
    assert all(d.weekday() >= 5 for d in only_fallback_off)
    # Off in the schedule only: the bridge days the swaps bought, never a legal holiday.
    assert all(d.weekday() < 5 and d not in legal_holidays(year) for d in only_package_off)


def test_chuxi_is_the_last_day_of_the_lunar_year_even_a_29th() -> None:
    """腊月 of 2024 had 29 days: 除夕 2025 was 腊月二十九, 28 January."""
    fallback = BusinessCalendar(tz=SH, hours=NINE_TO_SIX, statutory=unannounced(2025))
    assert legal_holidays(2025)[date(2025, 1, 28)] == "春节 除夕"
    assert not fallback.is_workday(date(2025, 1, 28))
    assert fallback.is_workday(date(2025, 1, 27))


# -- years nobody has announced ---------------------------------------------------------------


def test_the_law_s_holidays_of_2027_and_2028_are_off() -> None:
    """Dates a desk can check in any almanac (万年历)."""
    cal = BusinessCalendar(tz=SH, hours=NINE_TO_SIX, statutory=unannounced(2027, 2028))
    weekday_holidays_2027 = [
        date(2027, 1, 1),  # 元旦, a Friday
        date(2027, 2, 5),  # 除夕, a Friday (初一-初三: Saturday 6 to Monday 8 Feb)
        date(2027, 2, 8),
        date(2027, 4, 5),  # 清明, a Monday
        date(2027, 6, 9),  # 端午, a Wednesday
        date(2027, 9, 15),  # 中秋, a Wednesday
        date(2027, 10, 1),  # 国庆, Friday 1 to Sunday 3 Oct
    ]
    assert [cal.is_workday(d) for d in weekday_holidays_2027] == [False] * 7
    assert cal.is_workday(date(2027, 2, 4))
    assert cal.is_workday(date(2027, 2, 9))
    # 劳动节 1-2 May 2027 is a weekend: the make-up day only an announcement can give, so
    # Monday the 3rd is worked until the policy file lists it.
    assert cal.is_workday(date(2027, 5, 3))
    # 2028: 除夕 Tuesday 25 Jan, 初一-初三 26-28 Jan; Monday the 24th is worked.
    assert [cal.is_workday(date(2028, 1, d)) for d in range(24, 29)] == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_a_c_case_on_new_year_s_eve_is_not_promised_contact_on_new_year_s_day() -> None:
    """Received Thursday 2026-12-31 15:00, with 2027 unannounced: the first response is the
    next working day, Monday 4 Jan (Friday is 元旦, then the weekend), resolution Wednesday."""
    pol = load_policy(None)
    fallback = Sla(pol, BusinessCalendar(tz=SH, hours=NINE_TO_SIX, statutory=unannounced(2027)))
    assert fallback.deadlines(Priority.C, at(2026, 12, 31, 15)) == Deadlines(
        at(2027, 1, 4, 15), at(2027, 1, 6, 15)
    )
    # With the package as installed, whatever it knows of 2027 by now.
    package = Sla(pol, pol.calendar.build(SH))
    first = package.deadlines(Priority.C, at(2026, 12, 31, 15)).first_response
    assert first.date() > date(2027, 1, 1)
    assert package.calendar.is_workday(first.date())


def test_new_year_s_eve_of_an_announced_year_uses_the_package_s_swaps() -> None:
    """2026's 元旦 is Thursday 1 to Saturday 3 Jan, Sunday the 4th worked (调休): the package
    knows the Sunday; the fallback would know only the 1st is off."""
    pol = load_policy(None)
    package = Sla(pol, pol.calendar.build(SH))
    assert package.deadlines(Priority.C, at(2025, 12, 31, 15)) == Deadlines(
        at(2026, 1, 4, 15), at(2026, 1, 6, 15)
    )
    fallback = Sla(pol, BusinessCalendar(tz=SH, hours=NINE_TO_SIX, statutory=unannounced(2026)))
    assert fallback.deadlines(Priority.C, at(2025, 12, 31, 15)).first_response == at(2026, 1, 2, 15)


def test_an_unannounced_year_warns_once_naming_what_is_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cal = BusinessCalendar(tz=SH, hours=NINE_TO_SIX, statutory=unannounced(2027))
    with caplog.at_level(logging.WARNING):
        assert not cal.is_workday(date(2027, 1, 1))
        assert cal.is_workday(date(2027, 1, 4))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "2027" in messages[0]
    assert "调休" in messages[0]
    assert "[calendar.years.2027]" in messages[0]


def test_the_policy_file_wins_where_it_speaks() -> None:
    """A desk that works on 元旦 lists it as a workday; a listed day off stays off; the law
    still gives the days the list does not mention."""
    listed = YearDays(
        off=frozenset({date(2027, 2, 9), date(2027, 2, 10)}),
        workdays=frozenset({date(2027, 1, 1), date(2027, 2, 20)}),
    )
    cal = BusinessCalendar(
        tz=SH, hours=NINE_TO_SIX, years={2027: listed}, statutory=unannounced(2027)
    )
    assert cal.is_workday(date(2027, 1, 1))
    assert not cal.is_workday(date(2027, 2, 9))
    assert cal.is_workday(date(2027, 2, 20))  # a Saturday
    assert not cal.is_workday(date(2027, 2, 5))  # 除夕: not listed, the law's


def test_a_plain_weekday_desk_keeps_its_holidays_to_itself() -> None:
    cal = BusinessCalendar(tz=SH, hours=NINE_TO_SIX, statutory=None)
    assert cal.is_workday(date(2027, 1, 1))
