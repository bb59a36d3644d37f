"""The revisit survey (回访, DOMAIN.md §6) as data: who is surveyed, the questions, what makes
an answer bad, and whether a channel still lets the desk write to the customer.

Pure. The draw for a C case is a hash of the case number and its closure round, not a random
number: made once at closure (the closing event's diff records it), it comes out the same on
any instance and any rerun of the transaction, so nothing can re-roll it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.cases import MEDIA, Case, Priority, Severity


class SurveyState(StrEnum):
    """``cases.survey`` for the latest closure; stored, so never rename a value."""

    DUE = "due"  # drawn; not sent yet
    SENT = "sent"  # the first question went out
    ANSWERED = "answered"  # every question answered, nothing bad
    REOPENED = "reopened"  # not solved or a score ≤ 2: the case reopened
    EXPIRED = "expired"  # no complete answer in time
    UNREACHABLE = "unreachable"  # the channel no longer lets us write (not sent, counted apart)


class Question(StrEnum):
    SOLVED = "solved"  # 问题是否得到解决? 是 / 否
    SOLUTION = "solution"  # 解决方案是否满意? 1–5
    SERVICE = "service"  # 整体服务体验如何? 1–5
    COMMENT = "comment"  # optional words


#: How the desk names each question (the history, the thread, the card).
LABELS = {
    Question.SOLVED.value: "问题是否解决 solved",
    Question.SOLUTION.value: "方案满意度 solution",
    Question.SERVICE.value: "服务体验 service",
    Question.COMMENT.value: "意见 comment",
}
#: The questions with buttons, in order; the comment is asked after them.
ASKED = (Question.SOLVED, Question.SOLUTION, Question.SERVICE)
YES, NO = "y", "n"
SCORES = ("1", "2", "3", "4", "5")
LOW = 2  # a score at or below reopens the case


def valid(question: Question, value: str) -> bool:
    if question is Question.SOLVED:
        return value in (YES, NO)
    return question in ASKED and value in SCORES


def bad(question: Question, value: str) -> bool:
    """Not solved, or a score of 2 or less: the case reopens (DOMAIN.md §6)."""
    if question is Question.SOLVED:
        return value == NO
    return question in ASKED and value in SCORES and int(value) <= LOW


def next_question(answered: set[Question]) -> Question | None:
    return next((q for q in ASKED if q not in answered), None)


def mandatory(case: Case) -> bool:
    """High priority (A, B) and flagged (severity above 一般) cases are always surveyed."""
    return case.priority in (Priority.A, Priority.B) or case.severity is not Severity.GENERAL


def drawn(case: Case, rate: float) -> bool:
    """Whether this closure of the case is surveyed: always when mandatory, else with
    probability ``rate`` by a stable hash of (number, round). A press enquiry never: the
    department's answer is not a service to rate."""
    if case.category == MEDIA:
        return False
    if mandatory(case):
        return True
    digest = hashlib.sha256(f"{case.number}:{case.reopen_count}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclass(frozen=True, slots=True)
class Reach:
    """Whether a channel still lets the desk write to a customer first: never once they
    blocked the bot; on some channels only within ``window`` after the customer's last
    message, and at most ``cap`` messages in it (WeChat's customer-service messages: 48 h,
    5 messages). None = no window, no cap (Telegram)."""

    window: timedelta | None = None
    cap: int | None = None

    def may_write(
        self, *, blocked: bool, last_heard_from: datetime | None, now: datetime, sent: int = 0
    ) -> bool:
        """``sent``: messages already sent or queued to the customer since their last one."""
        if blocked or (self.cap is not None and sent >= self.cap):
            return False
        return self.window is None or (
            last_heard_from is not None and now - last_heard_from <= self.window
        )
