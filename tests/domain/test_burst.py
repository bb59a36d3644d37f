"""The burst rule's arithmetic (bot/domain/burst.py): the sliding hour, the same hour of the
week in earlier weeks, the weeks a young desk does not have, the factor and the minimum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import burst
from bot.domain.policy import Policy

NOW = datetime(2026, 11, 17, 2, 20, tzinfo=UTC)  # Tuesday 10:20 in Beijing


def test_the_windows_are_the_last_hour_and_the_same_hour_each_earlier_week() -> None:
    spans = burst.windows(NOW, 2)
    assert spans == [
        (NOW - timedelta(hours=1), NOW),
        (NOW - timedelta(days=7, hours=1), NOW - timedelta(days=7)),
        (NOW - timedelta(days=14, hours=1), NOW - timedelta(days=14)),
    ]
    assert spans[1][1].weekday() == NOW.weekday()


def test_weeks_before_the_first_complaint_are_left_out_not_counted_as_quiet() -> None:
    spans = burst.windows(NOW, 4)
    first = NOW - timedelta(days=15)  # the desk opened two weeks and a day ago
    intake = burst.intake("billing", [9, 2, 4, 0, 0], spans, first)
    assert intake.history == (2, 4)
    assert intake.usual == 3.0
    assert burst.intake("billing", [9, 0, 0, 0, 0], spans, NOW).history == ()


def test_a_burst_exceeds_the_factor_and_reaches_the_minimum() -> None:
    rule = Policy.Burst(factor=2, minimum=5)
    assert not burst.Intake("x", 4, ()).bursting(rule)  # no history: the minimum decides
    assert burst.Intake("x", 5, ()).bursting(rule)
    assert not burst.Intake("x", 8, (4, 4, 4, 4)).bursting(rule)  # exactly 2 × usual: not above
    assert burst.Intake("x", 9, (4, 4, 4, 4)).bursting(rule)
    assert not burst.Intake("x", 3, (1, 0, 1, 0)).bursting(rule)  # above 2 × 0.5, below 5


def test_a_burst_is_over_halfway_back_to_the_usual_rate_or_under_half_the_minimum() -> None:
    rule = Policy.Burst(factor=2, minimum=5)
    assert not burst.Intake("x", 4, ()).calm(rule)  # under the minimum, not under half of it
    assert burst.Intake("x", 2, ()).calm(rule)
    usual = (4, 4, 4, 4)  # raised above 8; over at 6 (halfway between 4 and 8) or less
    assert not burst.Intake("x", 8, usual).calm(rule)  # no longer above the rule, still high
    assert not burst.Intake("x", 7, usual).calm(rule)
    assert burst.Intake("x", 6, usual).calm(rule)
