"""The customer's answer to a resolution (闭环): the 已解决 / 未解决 buttons of the resolution
notice, pressed in any dialogue state (the dispatcher routes them here like the language
buttons), and "没解决" written while a case awaits their confirmation (the follow-up asks
here). No state of its own: the button names the case and the resolution it answers.

A button answers only its own resolution of the customer's own case, once: someone else's
case and an unknown one get the same answer; a second press or a press after the case moved
on is told it is already recorded, and nothing changes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from bot.domain.cases import MEDIA, Case, DomainError, IllegalTransition, Status
from bot.domain.words import blank
from bot.flows.base import FlowContext
from bot.flows.texts import convert
from bot.messages import Attachment, OutgoingMessage
from bot.services import CaseNotFound
from bot.services.closure import NotAwaiting
from bot.services.notify import CONFIRM_BUTTON, NOT_SOLVED, SOLVED

log = logging.getLogger(__name__)

#: Words that say the problem is not solved, compared without spaces or punctuation.
_NOT_SOLVED_WORDS = (
    "没解决",
    "没有解决",
    "未解决",
    "沒解決",
    "沒有解決",
    "未解決",
    "问题依旧",
    "問題依舊",
    "问题还在",
    "問題還在",
    "notsolved",
    "notresolved",
    "unsolved",
    "notfixed",
    "stillbroken",
    "stillnotworking",
)
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def says_not_solved(words: str | None) -> bool:
    """The customer writes that the problem is not solved (没解决, 问题依旧, not solved …)."""
    if blank(words):
        return False
    said = _NOISE.sub("", (words or "").lower()).replace("isnt", "not").replace("wasnt", "not")
    return any(w in said for w in _NOT_SOLVED_WORDS)


def awaiting(cases: Sequence[Case]) -> list[Case]:
    """The cases resolved and waiting for the customer's answer (待客户确认). A press
    enquiry's answer waits for nothing: words after it are added to it, never a 未解决."""
    return [c for c in cases if c.status is Status.RESOLVED and c.category != MEDIA]


def _actor(ctx: FlowContext) -> str:
    return f"customer:{ctx.msg.channel}:{ctx.msg.user_id}"


async def pressed(ctx: FlowContext) -> list[OutgoingMessage]:
    """已解决 or 未解决 on a resolution notice."""
    answer, _, rest = (ctx.msg.callback or "").removeprefix(CONFIRM_BUTTON).partition(":")
    number, _, token_text = rest.rpartition(":")
    case = await _own_case(ctx, number)
    if case is None or answer not in (SOLVED, NOT_SOLVED) or not token_text.isdigit():
        log.warning("%s user %s pressed a closure button of an unknown case", ctx.msg.channel,
                    ctx.msg.user_id)  # fmt: skip
        return [ctx.say("case_not_found")]
    token = int(token_text)
    if token > case.reopen_count:  # no such resolution was ever sent: forged
        return [ctx.say("case_not_found")]
    closure = ctx.deps.cases.closure
    try:
        if answer == SOLVED:
            await closure.confirmed(case.number, _actor(ctx), token, tx=ctx.tx)
            return [ctx.say("closure_thanks", number=case.number)]
        return [await _reopen(ctx, case.number, token)]
    except (NotAwaiting, IllegalTransition):
        if token < case.reopen_count and case.status is Status.RESOLVED:
            # A button of an earlier resolution; the latest one's buttons still answer.
            return [ctx.say("button_expired")]
        return [ctx.say("closure_recorded", number=case.number)]


async def not_solved(
    ctx: FlowContext, case: Case, words: str, files: Sequence[Attachment] = ()
) -> OutgoingMessage:
    """The customer wrote that it is not solved: as 未解决 for this case, and their words (and
    files) kept on it for whoever handles it next."""
    try:
        reply = await _reopen(ctx, case.number, case.reopen_count)
    except (NotAwaiting, IllegalTransition):
        return ctx.say("closure_recorded", number=case.number)
    if not blank(words) or files:
        await ctx.deps.cases.add_customer_message(
            case.number, _actor(ctx), words, list(files), tx=ctx.tx
        )
    return reply


async def _reopen(ctx: FlowContext, number: str, token: int) -> OutgoingMessage:
    """Reopened one level up; the customer hears who handles it and by when."""
    case = await ctx.deps.cases.closure.not_solved(number, _actor(ctx), token, tx=ctx.tx)
    step = ctx.deps.sla.policy.level(case.escalation_level)
    due = case.resolution_due.astimezone(ctx.deps.tz)
    return ctx.say(
        "closure_reopened",
        number=case.number,
        level=convert(ctx.lang, step.title_zh, step.title_en),
        due=f"{due:%Y-%m-%d %H:%M}",
    )


async def _own_case(ctx: FlowContext, number: str) -> Case | None:
    """The case if it is this customer's; None for someone else's or none at all."""
    try:
        case = await ctx.deps.cases.get(number, tx=ctx.tx)
    except (CaseNotFound, DomainError):
        return None
    return case if case.customer_id == ctx.customer_id else None
