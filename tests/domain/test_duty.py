"""Who is on duty (值班) by weekday, kind of day and time, and the gaps a rota leaves."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_policy
from bot.domain.calendar import BusinessCalendar
from bot.domain.cases import DomainError
from bot.domain.policy import Policy, parse_policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT = (Path(__file__).parents[2] / "bot/policies/default.toml").read_text(encoding="utf-8")


def with_duty(duty: str, *, extra: str = "") -> Policy:
    """The default policy with its [duty] table replaced."""
    head = DEFAULT.split("[duty]")[0]
    return parse_policy(extra + head + duty, "desk.toml")


def cal(policy: Policy) -> BusinessCalendar:
    return policy.calendar.build(SHANGHAI)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


NIGHTS = """
[duty]
default = []
[[duty.shift]]
days = ["workday"]
from = "18:00"
to = "09:00"
who = ["oncall"]
[[duty.shift]]
days = ["weekend", "holiday"]
from = "09:00"
to = "09:00"
who = ["oncall", "supervisor"]
"""


def test_the_default_policy_puts_the_front_line_on_duty_at_every_hour() -> None:
    p = load_policy(None)
    for instant in ("2026-03-14 03:00", "2026-10-01 12:00", "2026-03-16 10:00"):
        assert p.duty.on_duty(cal(p), at(instant)) == ("agent",)
    assert p.duty_gap() is None


def test_an_overnight_shift_runs_from_its_start_day_into_the_next_morning() -> None:
    p = with_duty(NIGHTS.replace('days = ["weekend", "holiday"]', 'days = ["sun"]'))
    c = cal(p)
    assert p.duty.on_duty(c, at("2026-03-13 17:59")) == ()  # Friday, working hours
    assert p.duty.on_duty(c, at("2026-03-13 18:00")) == ("oncall",)
    assert p.duty.on_duty(c, at("2026-03-14 08:59")) == ("oncall",)  # Saturday: Friday's night
    assert p.duty.on_duty(c, at("2026-03-14 09:00")) == ()  # nobody: the default is []
    assert p.duty.on_duty(c, at("2026-03-15 09:00")) == ("oncall", "supervisor")  # Sunday
    assert p.duty.on_duty(c, at("2026-03-16 08:59")) == ("oncall", "supervisor")  # its 24 h
    assert p.duty.on_duty(c, at("2026-03-16 09:00")) == ()  # Monday's working day


def test_instants_are_read_on_the_desk_s_clock() -> None:
    p = with_duty(NIGHTS)
    utc = datetime.fromisoformat("2026-03-13T10:30:00+00:00")  # 18:30 in Shanghai
    assert p.duty.on_duty(cal(p), utc) == ("oncall",)


def test_a_holiday_follows_the_statutory_calendar() -> None:
    p = with_duty(NIGHTS)
    c = cal(p)
    # 国庆 2026-10-01 is a Thursday off: the holiday shift, not the workday one.
    assert p.duty.on_duty(c, at("2026-10-01 12:00")) == ("oncall", "supervisor")
    # 2026-09-30 (Wednesday) is a workday: its night shift runs into the holiday morning, and
    # the holiday's 24 h shift has not started yet.
    assert p.duty.on_duty(c, at("2026-10-01 08:00")) == ("oncall",)


def test_a_tiaoxiu_weekend_day_worked_counts_as_a_workday() -> None:
    p = with_duty(NIGHTS)
    c = cal(p)
    saturday_worked = at("2026-10-10 12:00")  # 调休: Saturday worked after 国庆
    assert c.is_workday(saturday_worked.date())
    assert p.duty.on_duty(c, saturday_worked) == ()  # working hours: no weekend shift
    assert p.duty.on_duty(c, at("2026-10-10 20:00")) == ("oncall",)  # the workday night
    # An ordinary Saturday is a weekend day.
    assert p.duty.on_duty(c, at("2026-10-17 12:00")) == ("oncall", "supervisor")


def test_weekday_names_match_whatever_the_kind_of_day() -> None:
    """Named weekdays are plain weekdays (a holiday Thursday is still a Thursday): desks that
    want holidays apart write workday / weekend / holiday instead."""
    p = with_duty('[duty]\ndefault = "agent"\n[[duty.shift]]\ndays = ["thu"]\nwho = "lead"\n')
    assert p.duty.on_duty(cal(p), at("2026-10-01 12:00")) == ("lead",)
    assert p.duty.on_duty(cal(p), at("2026-10-02 12:00")) == ("agent",)  # a string is a list


def test_shifts_covering_one_instant_add_up_each_person_once() -> None:
    p = with_duty(
        NIGHTS
        + '[[duty.shift]]\ndays = ["sat"]\nfrom = "08:00"\nto = "20:00"\n'
        + 'who = ["supervisor", "U0LEAD"]\n'
    )
    assert p.duty.on_duty(cal(p), at("2026-03-14 12:00")) == ("oncall", "supervisor", "U0LEAD")


def test_without_a_duty_table_the_front_line_is_on_duty() -> None:
    p = parse_policy(DEFAULT.split("[duty]")[0])
    assert p.duty.default == ["agent"]
    assert p.duty_gap() is None


# -- gaps -------------------------------------------------------------------------------------


def test_a_full_rota_has_no_gap() -> None:
    assert with_duty(NIGHTS).duty_gap() is None


def test_the_first_gap_of_the_ordinary_week_is_named() -> None:
    p = with_duty(
        """
[duty]
default = []
[[duty.shift]]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
from = "18:00"
to = "02:00"
who = "oncall"
[[duty.shift]]
days = ["mon", "tue", "wed", "thu", "fri"]
from = "00:00"
to = "09:00"
who = "oncall"
"""
    )
    gap = p.duty_gap()
    assert gap is not None
    assert gap.startswith("duty: Saturday 02:00–18:00 nobody on duty, but A first response 1 h")


def test_a_holiday_gap_is_found_after_the_ordinary_week() -> None:
    p = with_duty(NIGHTS.replace('days = ["weekend", "holiday"]', 'days = ["weekend"]'))
    gap = p.duty_gap()
    assert gap is not None
    assert "A holiday Monday 09:00–24:00 nobody on duty" in gap


def test_the_morning_after_a_tiaoxiu_sunday_is_checked() -> None:
    """A Sunday worked (调休) is a workday, not a weekend day: its weekend shift is off, and
    the night shift of the weekdays named does not start on it."""
    p = with_duty(
        NIGHTS.replace('days = ["workday"]', 'days = ["mon", "tue", "wed", "thu", "fri"]')
    )
    gap = p.duty_gap()
    assert gap is not None
    assert "Monday after a Sunday worked (调休) 00:00–09:00 nobody on duty" in gap


def test_a_desk_on_plain_weekends_is_not_asked_for_holidays() -> None:
    weekends_only = NIGHTS.replace('days = ["weekend", "holiday"]', 'days = ["weekend"]')
    plain = DEFAULT.split("[duty]")[0].replace("statutory = true", "statutory = false")
    assert with_duty(weekends_only).duty_gap() is not None
    assert parse_policy(plain + weekends_only).duty_gap() is None


def test_no_calendar_clock_target_needs_nobody_on_duty() -> None:
    business = (
        DEFAULT.split("[duty]")[0]
        .replace(
            'first_response = { hours = 1, clock = "calendar" }', "first_response = { hours = 1 }"
        )
        .replace('resolution = { hours = 4, clock = "calendar" }', "resolution = { hours = 4 }")
    )
    p = parse_policy(business + "[duty]\ndefault = []\n")
    assert p.duty_gap() is None
    assert parse_policy(DEFAULT.split("[duty]")[0] + "[duty]\ndefault = []\n").duty_gap() == (
        "duty: Monday 00:00–09:00 nobody on duty, but A first response 1 h (calendar) runs on "
        "the calendar clock (at any hour); add a [[duty.shift]] for it or a [duty] default"
    )


# -- mistakes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duty", "expected"),
    [
        ("[duty]\n", "duty.default: Field required"),
        ("[duty]\ndefault = []\n[[duty.shift]]\ndays = []\nwho = 'x'\n", "'days' is empty"),
        (
            "[duty]\ndefault = []\n[[duty.shift]]\ndays = ['moon']\nwho = 'x'\n",
            "unknown day 'moon'",
        ),
        ("[duty]\ndefault = []\n[[duty.shift]]\ndays = ['mon', 'mon']\nwho = 'x'\n", "day twice"),
        (
            "[duty]\ndefault = []\n[[duty.shift]]\ndays = ['mon']\nfrom = '18:00'\nwho = 'x'\n",
            "give both 'from' and 'to'",
        ),
        (
            "[duty]\ndefault = []\n[[duty.shift]]\ndays = ['mon']\nfrom = '25:00'\nto = '09:00'\n"
            "who = 'x'\n",
            "'from' '25:00' is not a time like 09:00",
        ),
        (
            "[duty]\ndefault = []\n[[duty.shift]]\ndays = ['mon']\nfrom = '18:00:30'\n"
            "to = '09:00'\nwho = 'x'\n",
            "hours and minutes only",
        ),
        ("[duty]\ndefault = []\n[[duty.shift]]\ndays = ['mon']\nwho = []\n", "at least one"),
        ("[duty]\ndefault = ['a', 'a']\n", "named twice"),
        ("[duty]\ndefault = ['two words']\n", "'two words' is not a role"),
        (
            "[duty]\ndefault = []\n[[duty.shift]]\ndays = ['mon']\nwho = 'x'\nat = 1\n",
            "duty.shift.0.at: Extra inputs",
        ),
    ],
)
def test_duty_mistakes_are_named(duty: str, expected: str) -> None:
    with pytest.raises(DomainError, match=expected.replace("(", r"\(")) as err:
        with_duty(duty)
    assert str(err.value).startswith("desk.toml: duty")
