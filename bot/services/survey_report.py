"""The revisit survey's figures (回访, DOMAIN.md §6: satisfaction ≥ 90 % for A/B, ≥ 85 % for C;
response rate ≥ 15 %), for the closures in a period: how many were drawn, and what came of
each — still waiting to be sent, sent and open, answered, reopened by a bad answer, expired,
or unreachable.

Read from the audit trail, not from ``cases.survey`` (which holds the latest closure's survey
only): each closure's draw is an event setting ``survey`` to ``due``, and that survey's outcome
is its case's last ``survey`` change before the next draw. So a case closed twice in a month
counts twice, each survey with its own answers (``survey_answers`` by closure round).

A survey the channel would not let us send (the customer blocked the bot, or a window channel
outside its window) is **unreachable**: counted apart and left out of the response rate, as
is one not sent yet. A closure staff undo (a reopening) withdraws its survey: one already
sent counts as expired (sent, never answered), one not sent yet is not counted at all.
Response rate = (answered + reopened) / (sent: open + answered + reopened + expired);
satisfaction = solution scores of 4 or 5 among the surveys with a score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.domain.cases import Priority
from bot.domain.survey import SCORES, YES, Question, SurveyState
from storage.db import Store
from storage.repositories import Tx
from storage.schema import Row

#: DOMAIN.md §6's groups and their satisfaction targets.
TARGETS = {"A/B": 0.90, "C": 0.85}
RESPONSE_TARGET = 0.15
SATISFIED = SCORES[3:]  # 4, 5


@dataclass
class Figures:
    drawn: int = 0
    waiting: int = 0  # drawn, not sent yet
    open: int = 0  # sent, no complete answer yet
    answered: int = 0
    reopened: int = 0
    expired: int = 0
    unreachable: int = 0  # never sent: counted apart, not in the response rate
    scored: int = 0  # surveys with a solution score
    satisfied: int = 0  # of which 4 or 5
    asked_solved: int = 0  # surveys with an answer to 问题是否得到解决
    solved: int = 0  # of which 是

    def add(self, state: str, answers: dict[str, str]) -> None:
        self.drawn += 1
        field = {SurveyState.DUE: "waiting", SurveyState.SENT: "open"}.get(
            SurveyState(state), state
        )
        setattr(self, field, getattr(self, field) + 1)
        if Question.SOLUTION in answers:
            self.scored += 1
            self.satisfied += answers[Question.SOLUTION] in SATISFIED
        if Question.SOLVED in answers:
            self.asked_solved += 1
            self.solved += answers[Question.SOLVED] == YES

    @property
    def sent(self) -> int:
        return self.open + self.answered + self.reopened + self.expired

    @property
    def response_rate(self) -> float | None:
        return (self.answered + self.reopened) / self.sent if self.sent else None

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.scored if self.scored else None

    @property
    def solved_rate(self) -> float | None:
        return self.solved / self.asked_solved if self.asked_solved else None

    def as_dict(self) -> dict[str, Any]:
        rates = {"sent": self.sent, "response_rate": self.response_rate,
                 "satisfaction": self.satisfaction, "solved_rate": self.solved_rate}  # fmt: skip
        return asdict(self) | rates


async def survey_report(store: Store, since: datetime, until: datetime) -> dict[str, Figures]:
    """Figures per group ("A/B", "C") and for "all", for the closures drawn in the period."""
    found = {group: Figures() for group in (*TARGETS, "all")}
    async with store.read() as tx:
        draws = [e for e in await tx.events.between(since, until) if _survey_set(e) == "due"]
        for draw in draws:
            state, answers, priority = await _outcome(tx, draw)
            if state is None:
                continue  # withdrawn before it was sent
            group = "A/B" if priority in (Priority.A, Priority.B) else "C"
            found[group].add(state, answers)
            found["all"].add(state, answers)
    return found


async def _outcome(tx: Tx, draw: Row) -> tuple[str | None, dict[str, str], Priority]:
    """The drawn survey's last state, its answers and the case's priority."""
    events = await tx.events.for_case(draw["case_id"])
    before = [e for e in events if e["id"] < draw["id"]]
    round_ = sum(1 for e in before if "reopen_count" in (e["changes"] or {}))
    state: str | None = "due"
    for event in (e for e in events if e["id"] > draw["id"]):
        if "survey" not in (event["changes"] or {}):
            continue
        new = _survey_set(event)
        if new == "due":
            break  # the next closure's survey
        if new is None:  # withdrawn by a reopening: sent and unanswered, or never sent
            state = SurveyState.EXPIRED if state == SurveyState.SENT else None
            break
        state = new
    case = await tx.cases.get(draw["case_id"])
    return state, await tx.surveys.of(draw["case_id"], round_), Priority(case["priority"])


def _survey_set(event: Row) -> str | None:
    """The survey state an event set, if it set one."""
    change = (event["changes"] or {}).get("survey")
    return None if change is None else change[1]
