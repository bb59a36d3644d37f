"""The revisit survey in the customer's chat (回访, issue 15): its buttons answer in any dialogue
state (the dispatcher routes them here, like the resolution's), each naming the case, the
closure round and the question, so a button of someone else's case, of an earlier round or of
a finished survey changes nothing. After the three questions an optional comment: the
dialogue waits in COMMENT for the customer's words (or 跳过).

    [survey button] ── answer ──► next question ─ … ─► comment? ──► COMMENT ── words ──► thanks
                        │ not solved / score ≤ 2
                        └──► reopened one level up: who handles it and by when
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.cases import DomainError
from bot.domain.survey import Question
from bot.domain.words import blank
from bot.flows import followup
from bot.flows.base import Flow, FlowContext, Turn
from bot.flows.texts import convert
from bot.messages import OutgoingMessage
from bot.services.survey import SKIP, SURVEY_BUTTON, SurveyOver

log = logging.getLogger(__name__)
_KEY = "survey"  # the dialogue's data: the case whose comment is awaited …
_ASKED = "survey_asked"  # … and since when: a comment is what comes soon after the question
COMMENT_WAIT = timedelta(minutes=30)


class Survey(StrEnum):
    COMMENT = "comment"  # the questions are answered; the customer may add words


def _actor(ctx: FlowContext) -> str:
    return f"customer:{ctx.msg.channel}:{ctx.msg.user_id}"


async def pressed(ctx: FlowContext) -> Turn:
    """One survey button. Returns the replies and COMMENT when the questions are done."""
    parts = (ctx.msg.callback or "").removeprefix(SURVEY_BUTTON).split(":")
    if len(parts) != 4 or not parts[1].isdigit() or ctx.customer_id is None:
        return Turn([ctx.say("case_not_found")])
    number, round_text, question_text, value = parts
    if question_text == Question.COMMENT and value == SKIP:
        return Turn([ctx.say("survey_thanks")])
    try:
        question = Question(question_text)
        case, following, reopened = await ctx.deps.cases.surveys.answer(
            ctx.tx, number, (ctx.customer_id, _actor(ctx)), (int(round_text), question, value)
        )
    except (ValueError, SurveyOver, DomainError):
        log.info("%s user %s: a survey button of no open survey", ctx.msg.channel,
                 ctx.msg.user_id)  # fmt: skip
        return Turn([await _over(ctx, number)])
    if reopened:
        step = ctx.deps.sla.policy.level(case.escalation_level)
        due = case.resolution_due.astimezone(ctx.deps.tz)
        level = convert(ctx.lang, step.title_zh, step.title_en)
        reply = ctx.say(
            "survey_reopened", number=case.number, level=level, due=f"{due:%Y-%m-%d %H:%M}"
        )
        return Turn([reply])
    surveys = ctx.deps.cases.surveys
    if following is not None:
        return Turn([surveys.question(ctx.lang, case, following)])
    ctx.data[_KEY] = case.number
    ctx.data[_ASKED] = ctx.now.isoformat()
    return Turn([surveys.question(ctx.lang, case, Question.COMMENT)], Survey.COMMENT)


def aside(ctx: FlowContext) -> list[OutgoingMessage]:
    """The questions were answered in the middle of another dialogue, which goes on: thanks,
    and no comment is awaited (the dialogue's next words are its own)."""
    ctx.data.pop(_KEY, None)
    return [ctx.say("survey_thanks")]


async def _over(ctx: FlowContext, number: str) -> OutgoingMessage:
    """A press on a survey that is not open: finished (said so) or never this customer's."""
    try:
        case = await ctx.deps.cases.get(number, tx=ctx.tx)
    except DomainError:
        return ctx.say("case_not_found")
    if case.customer_id != ctx.customer_id:
        return ctx.say("case_not_found")  # the same answer as for no case at all
    if case.survey in ("answered", "reopened"):
        return ctx.say("survey_done", number=case.number)
    return ctx.say("survey_closed")


async def comment(ctx: FlowContext) -> Turn:
    """The customer's words after the questions. A photo or a file is not a comment, nor is
    a message more than ``COMMENT_WAIT`` later: they go where any message outside a dialogue
    goes (a follow-up or a new complaint)."""
    number = ctx.data.get(_KEY)
    asked = ctx.data.get(_ASKED)
    late = asked is None or ctx.now - datetime.fromisoformat(asked) > COMMENT_WAIT
    if not number or late or ctx.msg.attachments or ctx.customer_id is None:
        ctx.data.clear()
        return await followup.FLOW.entry(ctx)
    if not blank(ctx.msg.text):
        await ctx.deps.cases.surveys.comment(
            ctx.tx, str(number), (ctx.customer_id, _actor(ctx)), ctx.msg.text.strip()
        )
    return Turn([ctx.say("survey_thanks")])


FLOW = Flow(name="survey", states=Survey, entry=comment, steps={Survey.COMMENT: comment})
