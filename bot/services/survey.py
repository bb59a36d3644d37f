"""The revisit survey (回访, DOMAIN.md §6; issue 15 item 1): drawn at closure, sent by the
clock's sweep after the policy's delay, reminded once, expired; answered question by question
in the customer's chat. "Not solved" or a score of 2 or less reopens the case one level up.

Every change of its state is a case event (``survey``, or ``reopen``) through the one unit of
work, so the card and the thread follow; the customer's questions are outbox rows queued in
the same transaction, keyed by (case, round, what), so a rerun sends nothing twice. The
answers are rows keyed by (case, round, question): the first answer to a question stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain import steps
from bot.domain import survey as rules
from bot.domain.cases import Action, Case, DomainError, Status
from bot.domain.sla import Sla
from bot.domain.steps import Step
from bot.domain.survey import LABELS, Question, Reach, SurveyState
from bot.flows.texts import pick_language, text
from bot.messages import Button, OutgoingMessage
from bot.outgoing import TextLimits, enqueue
from bot.services.changes import Changes
from bot.services.model import SYSTEM
from bot.services.rules import reopened
from storage.repositories import Tx
from storage.schema import Row

log = logging.getLogger(__name__)

#: The survey's buttons: ``v:<number>:<round>:<question>:<value>``.
SURVEY_BUTTON = "v:"
SKIP = "-"  # the comment's 跳过
SENT = "回访已发送 survey sent"
REMINDED = "回访提醒已发送 survey reminder sent"
EXPIRED = "回访过期未完成 survey expired unanswered"
UNREACHABLE = "无法联系客户,回访未发送 the channel no longer lets us write: survey not sent"
#: How long before the customer's recorded words a message still counts as sent after them.
REPLY_GRACE = timedelta(minutes=1)
NOT_REMINDED = "无法联系客户,回访提醒未发送 the channel no longer lets us write: no reminder"
ANSWERED = "客户完成回访 survey answered"
REOPENED = "回访:客户不满意,重新处理 survey: the customer is not satisfied, handling restarts"


class SurveyOver(DomainError):
    """The survey asked about is not open (answered, expired, another round, never sent)."""


def drawn(sla: Sla, case: Case) -> dict[str, Any]:
    """What a closure writes: whether this closure is revisited (the closing event's diff
    records the draw)."""
    due = rules.drawn(case, sla.policy.survey.sample_rate)
    return {"survey": SurveyState.DUE.value if due else None}


def answers_note(answers: dict[str, str]) -> str:
    """The answers as the thread and the history show them."""
    return "; ".join(f"{LABELS[q]}: {v}" for q, v in answers.items())


@dataclass
class Surveys:
    sla: Sla
    changes: Changes
    text_limits: TextLimits = field(default_factory=TextLimits)
    default_language: str = "zh-hans"
    #: Each customer channel's rule for writing first (``Reach``); unknown channels: none.
    reach: Callable[[str], Reach] = lambda channel: Reach()

    # -- the clock's steps (a sweep handler) ----------------------------------------------

    async def on_step(self, tx: Tx, case: Case, step: Step) -> str:
        """Sending, the reminder, the expiry (a sweep handler); what it did, logged."""
        outcome = await self._step(tx, case, step)
        log.info("case %s: survey %s (%s)", case.number, outcome, step.key)
        return outcome

    async def _step(self, tx: Tx, case: Case, step: Step) -> str:
        """A reminder of a survey never sent (after downtime) sends it instead; an expiry
        ends it either way. Only a survey never sent is unreachable: one the customer has
        (and may be answering) stays sent when its reminder cannot go, until it expires."""
        if step.key == steps.SURVEY_EXPIRE:
            await self._set(tx, case, SurveyState.EXPIRED, EXPIRED)
            return "expired"
        customer = await tx.customers.get(case.customer_id)
        reachable = await self._reachable(tx, case, customer)
        if case.survey == SurveyState.SENT and step.key == steps.SURVEY_REMIND:
            answered = {Question(q) for q in await tx.surveys.of(case.id, case.reopen_count)}
            question = rules.next_question(answered)
            if question is None:
                return "answered"
            if not reachable:
                await self._event(tx, case, NOT_REMINDED)
                return "not reminded"
            await self._ask(tx, case, customer, question, lead="survey_reminder", what="remind")
            await self._event(tx, case, REMINDED)
            return "reminded"
        if not reachable:
            await self._set(tx, case, SurveyState.UNREACHABLE, UNREACHABLE)
            return "unreachable"
        await self._ask(tx, case, customer, Question.SOLVED, lead="survey_intro", what="send")
        await self._set(tx, case, SurveyState.SENT, SENT)
        return "sent"

    async def _reachable(self, tx: Tx, case: Case, customer: Row) -> bool:
        last = max(
            (r["at"] for r in await tx.events.for_case(case.id)
             if r["actor"] == f"customer:{customer['channel']}:{customer['channel_user_id']}"),
            default=case.received_at,
        )  # fmt: skip
        channel, reach = str(customer["channel"]), self.reach(str(customer["channel"]))
        sent = 0
        if reach.cap is not None:  # a capped window counts what went since their last words:
            # from a minute before them, so the turn's answer (queued at the turn's start,
            # a moment before the words' event) is in the count; it errs toward the cap
            since = last - REPLY_GRACE
            sent = await tx.surveys.sent_since(channel, str(customer["channel_user_id"]), since)
        return reach.may_write(
            blocked=customer["blocked_at"] is not None, last_heard_from=last, now=self._now(),
            sent=sent,
        )  # fmt: skip

    # -- the customer's answers (flows/survey.py) -----------------------------------------

    async def answer(
        self,
        tx: Tx,
        number: str,
        customer: tuple[int, str],
        answer: tuple[int, Question, str],
    ) -> tuple[Case, Question | None, bool]:
        """Record one answer: (the case, the next question or None, whether the case
        reopened). Refused for another's case, an unknown question or a survey not open.
        ``customer``: (customer id, actor); ``answer``: (round, question, value)."""
        customer_id, actor = customer
        round_, question, value = answer
        case = await self.changes.load(tx, number, for_update=True)
        if case.customer_id != customer_id or not rules.valid(question, value):
            raise SurveyOver(f"no open survey {number}:{round_}")
        if round_ != case.reopen_count or case.survey != SurveyState.SENT:
            raise SurveyOver(f"the survey of {number} round {round_} is not open")
        now = self._now()
        await tx.surveys.add(case.id, round_, question.value, value, now)
        answers = await tx.surveys.of(case.id, round_)
        if any(rules.bad(Question(q), v) for q, v in answers.items()):
            after = await self._reopen(tx, case, actor, answers)
            return after, None, True
        following = rules.next_question({Question(q) for q in answers})
        if following is None:
            await self._set(tx, case, SurveyState.ANSWERED, f"{ANSWERED}: {answers_note(answers)}")
        return case, following, False

    async def comment(self, tx: Tx, number: str, customer: tuple[int, str], words: str) -> bool:
        """The optional last words, after the questions: kept, shown in the thread once."""
        customer_id, actor = customer
        case = await self.changes.load(tx, number, for_update=True)
        if case.customer_id != customer_id or case.status is not Status.CLOSED:
            return False
        if not await tx.surveys.add(
            case.id, case.reopen_count, Question.COMMENT.value, words, self._now()
        ):
            return False
        note = f"{LABELS[Question.COMMENT.value]}: {words}"
        await self.changes.change(case.number, Action.SURVEY, actor, note, lambda c, now: {},
                                  tx=tx)  # fmt: skip
        return True

    def question(self, lang: str, case: Case, question: Question) -> OutgoingMessage:
        """A question with its buttons, in the customer's language."""
        data = f"{SURVEY_BUTTON}{case.number}:{case.reopen_count}:{question.value}:"
        if question is Question.COMMENT:
            skip = Button(text(lang, "btn_survey_skip"), data + SKIP)
            return OutgoingMessage(text(lang, "survey_q_comment"), buttons=((skip,),))
        row: tuple[Button, ...]
        if question is Question.SOLVED:
            row = (
                Button(text(lang, "btn_survey_yes"), data + rules.YES),
                Button(text(lang, "btn_survey_no"), data + rules.NO),
            )
        else:
            row = tuple(Button(s, data + s) for s in rules.SCORES)
        return OutgoingMessage(text(lang, f"survey_q_{question.value}"), buttons=(row,))

    def language(self, customer: Row, case: Case) -> str:
        return pick_language(customer["language"] or case.language, self.default_language)

    # -- changes ---------------------------------------------------------------------------

    async def _ask(
        self, tx: Tx, case: Case, customer: Row, question: Question, *, lead: str, what: str
    ) -> None:
        lang = self.language(customer, case)
        asked = self.question(lang, case, question)
        intro = text(lang, lead, number=case.number)
        message = OutgoingMessage(f"{intro}\n{asked.text}", buttons=asked.buttons)
        await enqueue(
            tx, self.text_limits, channel=str(customer["channel"]),
            recipient=str(customer["channel_user_id"]), message=message, now=self._now(),
            dedupe_key=f"case:{case.id}:survey:{case.reopen_count}:{what}",
        )  # fmt: skip

    async def _set(self, tx: Tx, case: Case, state: SurveyState, note: str) -> None:
        await self.changes.change(
            case.number, Action.SURVEY, SYSTEM, note, lambda c, now: {"survey": state.value},
            tx=tx,
        )  # fmt: skip

    async def _event(self, tx: Tx, case: Case, note: str) -> None:
        await self.changes.change(case.number, Action.SURVEY, SYSTEM, note, lambda c, now: {},
                                  tx=tx)  # fmt: skip

    async def _reopen(self, tx: Tx, case: Case, actor: str, answers: dict[str, str]) -> Case:
        """Not solved or a low score: handling restarts one level up (DOMAIN.md §6), with the
        answers in the thread."""

        def changes(c: Case, now: datetime) -> dict[str, Any]:
            return reopened(self.sla, c, now) | {"survey": SurveyState.REOPENED.value}

        note = f"{REOPENED}: {answers_note(answers)}"
        return await self.changes.change(case.number, Action.REOPEN, actor, note, changes, tx=tx)

    def _now(self) -> datetime:
        return self.changes.clock.now()
