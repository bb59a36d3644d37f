"""The clock's steps as data: each point on its target's own clock, the breach, the
confirmation window, and which steps act after downtime."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from bot.config import load_policy
from bot.domain.cases import Case, Priority, Risk, Severity, Status
from bot.domain.policy import Policy
from bot.domain.sla import Sla
from bot.domain.steps import CONFIRM_TIMEOUT, FLAG, SILENCE, next_due, passed, steps
from bot.domain.targets import Target
from tests.conftest import SHANGHAI

POLICY = load_policy(None)
CALENDAR = POLICY.calendar.build(SHANGHAI)
SLA = Sla(POLICY, CALENDAR)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def case(priority: Priority, start: datetime, **fields: object) -> Case:
    due = SLA.deadlines(priority, start)
    base = Case(
        id=1, number="TS20261117001", customer_id=1, channel="telegram", status=Status.NEW,
        priority=priority, severity=Severity.GENERAL, risk=Risk.NONE, category="other",
        subject="", content="x", party=None, reference=None, desired_outcome=None,
        contact=None, assignee=None, escalation_level=0, reopen_count=0, repeat_of=None,
        resolution=None, outcome=None, headcount=None, language=None, received_at=start,
        sla_started_at=start, paused_seconds=0, paused_business_seconds=0, keywords=[],
        first_response_due=due.first_response, resolution_due=due.resolution,
        first_responded_at=None, resolved_at=None, closed_at=None, clock_paused_at=None,
        version=1, created_at=start, updated_at=start,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def table(c: Case, policy: Policy = POLICY, *, every: bool = False) -> list[tuple[str, str]]:
    """The case's steps; the silence reminder and the flags only when asked (most tests are
    about the points)."""
    return [
        (s.key, s.at.astimezone(SHANGHAI).isoformat())
        for s in steps(c, policy, CALENDAR)
        if every or s.deadline not in {SILENCE, FLAG}
    ]


def test_calendar_clock_points_fall_at_any_hour() -> None:
    """A (1 h / 4 h on the calendar clock) received at 23:00: points at night too."""
    assert table(case(Priority.A, local("2026-11-17T23:00"))) == [
        ("first_response@50", "2026-11-17T23:30:00+08:00"),
        ("first_response@80", "2026-11-17T23:48:00+08:00"),
        ("first_response@100", "2026-11-18T00:00:00+08:00"),
        ("resolution@50", "2026-11-18T01:00:00+08:00"),
        ("resolution@80", "2026-11-18T02:12:00+08:00"),
        ("resolution@100", "2026-11-18T03:00:00+08:00"),
    ]


def test_business_clock_points_fall_in_working_time_only() -> None:
    """B (4 working hours; 1 working day) received Tuesday 16:00: 50% of the first response
    is 18:00 sharp ("by the end of today"), 80% waits for Wednesday morning, never the night."""
    assert table(case(Priority.B, local("2026-11-17T16:00"))) == [
        ("first_response@50", "2026-11-17T18:00:00+08:00"),
        ("first_response@80", "2026-11-18T10:12:00+08:00"),
        ("first_response@100", "2026-11-18T11:00:00+08:00"),
        ("resolution@50", "2026-11-18T11:30:00+08:00"),  # 4.5 of 9 working hours left
        ("resolution@80", "2026-11-18T14:12:00+08:00"),
        ("resolution@100", "2026-11-18T16:00:00+08:00"),
    ]


def test_working_day_targets_skip_the_weekend() -> None:
    """C received Friday 17:00: 1 and 3 working days, measured Monday to Wednesday."""
    assert table(case(Priority.C, local("2026-11-20T17:00"))) == [
        ("first_response@50", "2026-11-23T12:30:00+08:00"),
        ("first_response@80", "2026-11-23T15:12:00+08:00"),
        ("first_response@100", "2026-11-23T17:00:00+08:00"),
        ("resolution@50", "2026-11-24T12:30:00+08:00"),
        ("resolution@80", "2026-11-25T11:36:00+08:00"),  # 5.4 of 27 working hours left
        ("resolution@100", "2026-11-25T17:00:00+08:00"),
    ]


def test_points_follow_the_policy_and_the_pause_credit() -> None:
    policy = POLICY.model_copy(update={"reminders": POLICY.Reminders(points=[25])})
    start = local("2026-11-17T23:00")
    moved = case(Priority.A, start, first_response_due=start + timedelta(hours=2))
    found = [(s.key, s.at - start) for s in steps(moved, policy, CALENDAR)]
    assert ("silence@100", timedelta(days=2, hours=16)) in found  # 24 working hours: Fri 15:00
    assert [f for f in found if f[0].startswith("first")] == [
        ("first_response@25", timedelta(hours=1, minutes=15)),  # 45 of 60 min left
        ("first_response@100", timedelta(hours=2)),
    ]


def test_answered_paused_resolved_and_closed_cases() -> None:
    start = local("2026-11-17T14:30")
    answered = case(Priority.C, start, first_responded_at=start, status=Status.IN_PROGRESS)
    assert [k for k, _ in table(answered)] == ["resolution@50", "resolution@80", "resolution@100"]
    assert table(case(Priority.C, start, clock_paused_at=start)) == []
    assert table(case(Priority.C, start, status=Status.CLOSED, closed_at=start)) == []
    resolved = case(Priority.C, start, status=Status.RESOLVED, resolved_at=start)
    assert table(resolved, every=True) == [(CONFIRM_TIMEOUT, "2026-11-20T14:30:00+08:00")]
    # Asked later (a supervisor approved the resolution first): the window runs from then.
    asked = dataclasses.replace(resolved, confirm_asked_at=start + timedelta(days=1))
    assert table(asked) == [(CONFIRM_TIMEOUT, "2026-11-23T14:30:00+08:00")]


def test_an_open_case_whose_customer_heard_nothing_reminds_once_per_silence() -> None:
    """定期更新进展: 24 working hours after the desk last wrote to the customer (Tuesday
    14:30 → Friday 11:30 on 9-hour days); a paused case (the customer's turn) has none; the
    policy may turn it off or shorten it."""
    start = local("2026-11-17T14:30")
    answered = case(Priority.C, start, first_responded_at=start, status=Status.IN_PROGRESS)
    assert ("silence@100", "2026-11-20T11:30:00+08:00") in table(answered, every=True)
    later = dataclasses.replace(answered, customer_heard_at=start + timedelta(days=1))
    assert ("silence@100", "2026-11-23T11:30:00+08:00") in table(later, every=True)
    paused = dataclasses.replace(answered, clock_paused_at=start)
    assert table(paused, every=True) == []
    off = POLICY.model_copy(update={"reminders": POLICY.Reminders(silence=False)})
    assert all(k != "silence@100" for k, _ in table(answered, off, every=True))
    hour = POLICY.model_copy(update={"reminders": POLICY.Reminders(silence=Target(hours=1))})
    assert ("silence@100", "2026-11-17T15:30:00+08:00") in table(answered, hour, every=True)


def test_next_due_and_after_downtime_only_the_latest_point_acts() -> None:
    start = local("2026-11-17T23:00")
    all_steps = steps(case(Priority.A, start), POLICY, CALENDAR)
    assert next_due(all_steps, set()) == start + timedelta(minutes=30)
    assert next_due(all_steps, {"first_response@50"}) == start + timedelta(minutes=48)
    assert next_due(all_steps, {s.key for s in all_steps}) is None
    acting, skipped = passed(
        all_steps, {"first_response@50"}, start + timedelta(hours=2, minutes=30)
    )
    assert [s.key for s in acting] == ["first_response@100", "resolution@50"]
    assert [s.key for s in skipped] == ["first_response@80"]
    assert passed(all_steps, set(), start) == ([], [])


def test_unresolved_cases_are_flagged_hot_at_7_days_and_major_at_30_without_pauses() -> None:
    start = local("2026-11-17T14:30")
    working = case(Priority.C, start, first_responded_at=start, status=Status.IN_PROGRESS)
    flags = [(k, t) for k, t in table(working, every=True) if k.startswith("flag")]
    assert flags == [
        ("flag@hot", "2026-11-24T14:30:00+08:00"),
        ("flag@major", "2026-12-17T14:30:00+08:00"),
    ]
    waited = dataclasses.replace(working, paused_seconds=2 * 86400)  # 2 days for the customer
    assert ("flag@hot", "2026-11-26T14:30:00+08:00") in table(waited, every=True)
    hot = dataclasses.replace(working, severity=Severity.HOT)
    assert [k for k, _ in table(hot, every=True) if k.startswith("flag")] == ["flag@major"]
    resolved = dataclasses.replace(working, status=Status.RESOLVED, resolved_at=start)
    assert all(not k.startswith("flag") for k, _ in table(resolved, every=True))
