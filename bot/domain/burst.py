"""When complaints come in a burst (预警机制: 投诉突增, DOMAIN.md §5; issue 15 item 4).

A category bursts when its intake in the last hour exceeds its usual rate — the mean intake
of that category in the same hour of the week over the previous weeks — times the policy's
factor, and reaches the policy's minimum; the burst is over when the hour's intake is back
halfway to the usual rate (or under half the minimum), so an alert does not flap at the
threshold.

The hour slides: the check runs every minute over (now − 1 h, now], and "the same hour" k
weeks back is that window moved by exactly k weeks (7 × 24 h: in a zone with daylight saving
it is an hour off across a change; the desks' zones have none), so a burst at 10:20 is
compared with 10:20 on the same weekday, not with a clock hour it straddles. Pure functions:
the counts come from the database (storage/repositories/bursts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.policy import Policy

HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)


def windows(now: datetime, weeks: int) -> list[tuple[datetime, datetime]]:
    """The last hour, then the same hour of the week 1 … ``weeks`` weeks back: each
    ``(after, until]``."""
    return [(now - k * WEEK - HOUR, now - k * WEEK) for k in range(weeks + 1)]


@dataclass(frozen=True, slots=True)
class Intake:
    """One category's complaints in the last hour and in the same hour of earlier weeks."""

    category: str
    last_hour: int
    #: One count per earlier week that the desk existed in, the most recent first. Weeks
    #: before the first complaint ever received are left out, not counted as quiet: a desk
    #: in its first weeks would otherwise compare a normal hour with a mean of mostly zeros.
    history: tuple[int, ...]

    @property
    def usual(self) -> float:
        return sum(self.history) / len(self.history) if self.history else 0.0

    def bursting(self, rule: Policy.Burst) -> bool:
        return self.last_hour >= rule.minimum and self.last_hour > self.usual * rule.factor

    def calm(self, rule: Policy.Burst) -> bool:
        """Back halfway from the rule to the usual rate (usual × (1 + factor) / 2), or under
        half the minimum: a burst ends only then, not the minute the sliding hour dips under
        the rule that raised it (a steady 5–6 an hour against a minimum of 5 would raise and
        end an alert several times an hour), nor only at the usual rate itself (1.5 × usual
        for hours would keep one alert open and hide the next spike)."""
        halfway = self.usual * (1 + rule.factor) / 2
        return self.last_hour <= halfway or self.last_hour * 2 < rule.minimum


def intake(
    category: str, counts: list[int], spans: list[tuple[datetime, datetime]], first: datetime
) -> Intake:
    """The category's :class:`Intake` from its counts in ``spans`` (as :func:`windows` gives
    them), keeping the earlier weeks that end after the desk's ``first`` complaint."""
    history = tuple(n for n, (_, until) in zip(counts[1:], spans[1:], strict=True) if until > first)
    return Intake(category, counts[0], history)
