"""The revisit survey's rules as data: who is surveyed, what is a bad answer, when a channel
still lets the desk write first."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from bot.domain import survey as rules
from bot.domain.cases import Priority, Severity
from bot.domain.survey import Question, Reach
from tests.domain.test_steps import case as make_case
from tests.domain.test_steps import local


def test_the_c_draw_is_stable_and_near_the_rate() -> None:
    """The draw is a hash of (number, round): the same on any instance and any rerun."""
    base = make_case(Priority.C, local("2026-11-17T14:30"))
    drawn = [
        rules.drawn(dataclasses.replace(base, number=f"TS20261117{n:03d}"), 0.3)
        for n in range(1000)
    ]
    assert drawn == [
        rules.drawn(dataclasses.replace(base, number=f"TS20261117{n:03d}"), 0.3)
        for n in range(1000)
    ]
    assert 250 <= sum(drawn) <= 350
    assert rules.drawn(base, 1.0)
    assert not rules.drawn(base, 0.0)
    assert rules.drawn(dataclasses.replace(base, priority=Priority.A), 0.0)  # mandatory


def test_flagged_cases_are_always_surveyed_and_bad_answers_are_said_so() -> None:
    base = make_case(Priority.C, local("2026-11-17T14:30"))
    assert rules.drawn(dataclasses.replace(base, severity=Severity.HOT), 0.0)
    assert rules.bad(Question.SOLVED, "n")
    assert not rules.bad(Question.SOLVED, "y")
    assert [rules.bad(Question.SERVICE, s) for s in rules.SCORES] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert not rules.valid(Question.SOLUTION, "6")
    assert not rules.valid(Question.COMMENT, "5")  # the comment is words, not a button


def test_a_channel_with_a_window_lets_the_desk_write_only_within_it() -> None:
    now = local("2026-11-20T10:00")
    wechat = Reach(window=timedelta(hours=48))
    assert wechat.may_write(blocked=False, last_heard_from=now - timedelta(hours=47), now=now)
    assert not wechat.may_write(blocked=False, last_heard_from=now - timedelta(hours=49), now=now)
    assert not wechat.may_write(blocked=False, last_heard_from=None, now=now)
    assert Reach().may_write(blocked=False, last_heard_from=None, now=now)  # Telegram
    assert not Reach().may_write(blocked=True, last_heard_from=now, now=now)


def test_a_capped_window_allows_so_many_messages_since_the_customer_s_last() -> None:
    now = local("2026-11-20T10:00")
    wechat = Reach(window=timedelta(hours=48), cap=5)
    heard = now - timedelta(hours=1)
    assert wechat.may_write(blocked=False, last_heard_from=heard, now=now, sent=4)
    assert not wechat.may_write(blocked=False, last_heard_from=heard, now=now, sent=5)
