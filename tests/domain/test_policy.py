"""Policy files: the shipped default, and a clear message for every way to get one wrong."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_policy
from bot.domain.cases import DomainError, Priority
from bot.domain.policy import parse_policy
from bot.domain.targets import Target

MINIMAL = """
[sla.A]
name_zh = "紧急"
name_en = "urgent"
first_response = { hours = 1, clock = "calendar" }
resolution = { hours = 4, clock = "calendar" }
[sla.B]
name_zh = "高"
name_en = "high"
first_response = { hours = 4 }
resolution = { hours = 24 }
[sla.C]
name_zh = "普通"
name_en = "normal"
first_response = { working_days = 1 }
resolution = { working_days = 3 }
[[escalation]]
name_zh = "一线客服"
name_en = "front line"
role = "agent"
title_zh = "客服专员"
title_en = "customer service agent"
"""


def test_default_policy_has_the_domain_table() -> None:
    p = load_policy(None)
    assert p.sla[Priority.A].first_response == Target(hours=1, clock="calendar")
    assert p.sla[Priority.B].first_response == Target(hours=4, clock="business")
    # "24 h" is one working day, as for C: both B targets run on the business clock.
    assert p.sla[Priority.B].resolution == Target(working_days=1)
    assert p.sla[Priority.C].resolution == Target(working_days=3)
    chain = [(s.escalate_after, s.review_within) for s in p.escalation]
    assert [a.hours if a else None for a, _ in chain] == [None, 4, 24, None]
    assert chain[1][1] == Target(hours=1, clock="calendar")
    assert p.calendar.hours == [("09:00", "18:00")]


def test_listed_years_reach_the_calendar() -> None:
    text = MINIMAL + "\n[calendar.years.2030]\noff = [2030-01-01]\nworkdays = [2030-01-05]\n"
    cal = parse_policy(text).calendar.build(ZoneInfo("Asia/Shanghai"))
    assert not cal.is_workday(date(2030, 1, 1))
    assert cal.is_workday(date(2030, 1, 5))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("first_response = { working_days = 1 }", "frist_response = { working_days = 1 }"),
            "sla.C.frist_response",
        ),
        (("hours = 1, clock", "hours = -1, clock"), "greater than 0"),
        (("{ hours = 4 }", "{ hours = 4, working_days = 1 }"), "exactly one"),
        (("{ hours = 4 }", "{ }"), "exactly one"),
        (("{ hours = 4 }", '{ hours = 4, clock = "wall" }'), "calendar"),
        (("{ working_days = 3 }", '{ working_days = 3, clock = "calendar" }'), "business"),
        (("[sla.C]", "[sla.D]"), "sla"),
        (
            ("resolution = { hours = 24 }", 'resolution = { hours = 24, clock = "calendar" }'),
            "sla.B: the first response runs on the business clock but the resolution on the",
        ),
        (
            ("resolution = { hours = 24 }", "resolution = { hours = 3 }"),
            r"sla.B: the resolution \(3 h \(business\)\) is shorter than the first response",
        ),
        (
            ("resolution = { working_days = 3 }", "resolution = { hours = 8 }"),
            "sla.C: the resolution .* is shorter than the first response .1 working day",
        ),
        (('[[escalation]]\nname_zh = "一线客服"\nname_en = "front line"\n', ""), "escalation"),
        (('name_zh = "紧急"', 'name_zh = "紧急'), "not valid TOML"),
    ],
)
def test_mistakes_are_named(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(DomainError, match=expected):
        parse_policy(MINIMAL.replace(old, new, 1), "desk.toml")


def test_minimal_file_without_calendar_gets_the_default_hours() -> None:
    p = parse_policy(MINIMAL)
    assert p.calendar.statutory is True
    assert p.calendar.hours == [("09:00", "18:00")]


def test_bad_hours_are_named() -> None:
    with pytest.raises(DomainError, match="end before they start"):
        parse_policy('[calendar]\nhours = [["18:00", "09:00"]]\n' + MINIMAL)
    with pytest.raises(DomainError, match="not a time"):
        parse_policy('[calendar]\nhours = [["9 am", "18:00"]]\n' + MINIMAL)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(DomainError, match="cannot read policy file"):
        load_policy(path)


def test_target_descriptions() -> None:
    assert Target(hours=4, clock="business").describe_zh() == "4 小时(工作时间)"
    assert Target(hours=1, clock="calendar").describe() == "1 h (calendar)"
    assert Target(working_days=3).describe() == "3 working days"
    assert Target(working_days=1).describe_zh() == "1 个工作日"


# -- targets in minutes (recording within 15 min, couriers forward within 5) -----------------


def test_minutes_targets_parse() -> None:
    text = MINIMAL.replace(
        'first_response = { hours = 1, clock = "calendar" }',
        'first_response = { minutes = 15, clock = "calendar" }',
    ).replace("first_response = { hours = 4 }", "first_response = { minutes = 5 }")
    p = parse_policy(text)
    assert p.sla[Priority.A].first_response == Target(minutes=15, clock="calendar")
    assert p.sla[Priority.B].first_response == Target(minutes=5, clock="business")
    step = parse_policy(MINIMAL + SUPERVISOR + "review_within = { minutes = 30 }\n").escalation[1]
    assert step.review_within == Target(minutes=30)


SUPERVISOR = """[[escalation]]
name_zh = "主管"
name_en = "supervisor"
role = "supervisor"
title_zh = "客服主管"
title_en = "customer service supervisor"
"""


@pytest.mark.parametrize(
    ("where", "key", "expected"),
    [
        (0, "escalate_after", "level 0 (front line): the front line's times are the SLA targets"),
        (0, "review_within", "level 0 (front line): the front line's times are the SLA targets"),
        (1, "escalate_after", "level 1 (supervisor) is the top of the chain"),
    ],
)
def test_the_front_lines_times_are_the_sla_and_the_top_has_nowhere_to_go(
    where: int, key: str, expected: str
) -> None:
    line = f'{key} = {{ hours = 2, clock = "calendar" }}\n'
    text = MINIMAL + line + SUPERVISOR if where == 0 else MINIMAL + SUPERVISOR + line
    with pytest.raises(DomainError, match=re.escape(expected)):
        parse_policy(text)
    # review_within at the top is its own time to review: allowed.
    parse_policy(MINIMAL + SUPERVISOR + line.replace("escalate_after", "review_within"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("{ hours = 4 }", "{ minutes = 15, hours = 4 }"), "exactly one of 'hours', 'minutes'"),
        (("{ working_days = 3 }", "{ minutes = 15, working_days = 3 }"), "exactly one"),
        (("{ hours = 4 }", "{ minutes = 0 }"), "greater than or equal to 1"),
        (("{ hours = 4 }", "{ minutes = 7.5 }"), "integer"),
        (
            ("resolution = { hours = 24 }", "resolution = { minutes = 200 }"),
            r"sla.B: the resolution \(200 min \(business\)\) is shorter than the first response",
        ),
        (
            ("resolution = { hours = 24 }", 'resolution = { minutes = 300, clock = "calendar" }'),
            "sla.B: the first response runs on the business clock but the resolution on the",
        ),
    ],
)
def test_minutes_mistakes_are_named(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(DomainError, match=expected):
        parse_policy(MINIMAL.replace(old, new, 1), "desk.toml")


def test_minutes_and_hours_compare_in_the_target_order_check() -> None:
    """240 minutes are the 4 hours of the first response: not shorter, so accepted."""
    p = parse_policy(
        MINIMAL.replace("resolution = { hours = 24 }", "resolution = { minutes = 240 }")
    )
    assert p.sla[Priority.B].resolution == Target(minutes=240)
    # A resolution of 1 working day (9 h) is longer than a 15-minute first response.
    fast = MINIMAL.replace(
        "first_response = { working_days = 1 }", "first_response = { minutes = 15 }"
    )
    assert parse_policy(fast).sla[Priority.C].first_response == Target(minutes=15)


def test_minutes_descriptions() -> None:
    assert Target(minutes=15).describe() == "15 min (business)"
    assert Target(minutes=5, clock="calendar").describe() == "5 min (calendar)"
    assert Target(minutes=15).describe_zh() == "15 分钟(工作时间)"
    assert Target(minutes=5, clock="calendar").describe_zh() == "5 分钟"


def test_closure_keys_default_and_are_checked() -> None:
    default = parse_policy(MINIMAL).closure
    assert default.confirm_within.working_days == 3
    assert default.review_before_confirm is False
    custom = parse_policy(
        MINIMAL + '\n[closure]\nconfirm_within = { hours = 48, clock = "calendar" }\n'
    ).closure
    assert custom.confirm_within.hours == 48
    reviewed = parse_policy(MINIMAL + "\n[closure]\nreview_before_confirm = true\n").closure
    assert reviewed.review_before_confirm is True
    with pytest.raises(DomainError, match=r"closure\.review_before_confirm"):
        parse_policy(MINIMAL + '\n[closure]\nreview_before_confirm = "yes please"\n')
    with pytest.raises(DomainError, match=r"closure\.confirm_withn"):
        parse_policy(MINIMAL + "\n[closure]\nconfirm_withn = { working_days = 3 }\n")
    with pytest.raises(DomainError, match=r"closure\.confirm_within"):
        parse_policy(MINIMAL + "\n[closure]\nconfirm_within = { hours = 0 }\n")


def test_burst_keys_default_and_are_checked() -> None:
    default = parse_policy(MINIMAL).burst
    assert (default.enabled, default.factor, default.minimum, default.weeks) == (True, 2.0, 5, 4)
    custom = parse_policy(MINIMAL + "\n[burst]\nfactor = 3\nminimum = 10\nweeks = 8\n").burst
    assert (custom.factor, custom.minimum, custom.weeks) == (3.0, 10, 8)
    assert parse_policy(MINIMAL + "\n[burst]\nenabled = false\n").burst.enabled is False
    for wrong, key in (("factor = 0.5", "factor"), ("minimum = 0", "minimum"),
                       ("weeks = 0", "weeks"), ("facter = 2", "facter")):  # fmt: skip
        with pytest.raises(DomainError, match=rf"burst\.{key}"):
            parse_policy(MINIMAL + f"\n[burst]\n{wrong}\n")


def test_media_keys_default_and_are_checked() -> None:
    default = parse_policy(MINIMAL).media
    assert (default.owner, default.title_zh, default.reply_within.hours) == ("pr", "公共关系部", 48)
    custom = parse_policy(MINIMAL + '\n[media]\nowner = "press"\ntitle_zh = "品牌部"\n').media
    assert (custom.owner, custom.title_zh) == ("press", "品牌部")
    for wrong, key in (('owner = "PR Team"', "owner"), ('title_zh = ""', "title_zh"),
                       ("reply_within = { hours = 0 }", "reply_within"),
                       ("reply = 48", "reply")):  # fmt: skip
        with pytest.raises(DomainError, match=rf"media\.{key}"):
            parse_policy(MINIMAL + f"\n[media]\n{wrong}\n")


def test_each_default_level_names_a_role_and_a_title_for_the_customer() -> None:
    chain = [(s.role, s.title_zh, s.title_en) for s in load_policy(None).escalation]
    assert chain == [
        ("agent", "客服专员", "customer service agent"),
        ("supervisor", "客服主管", "customer service supervisor"),
        ("manager", "部门经理", "department manager"),
        ("taskforce", "专项处理小组", "dedicated task force"),
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('role = "agent"\n', ""), "escalation.0.role: Field required"),
        (('role = "agent"', 'role = "Front Line"'), "'Front Line' is not a role name"),
        (('title_zh = "客服专员"\n', ""), "escalation.0.title_zh: Field required"),
        (('title_en = "customer service agent"', 'title_en = ""'), "escalation.0.title_en"),
    ],
)
def test_level_role_and_title_mistakes_are_named(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(DomainError, match=expected):
        parse_policy(MINIMAL.replace(old, new, 1), "desk.toml")
