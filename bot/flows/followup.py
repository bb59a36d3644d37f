"""A customer writes outside any dialogue (补充): their words go to their open case; with
several open cases, or one resolved and awaiting their confirmation, they are asked which
(or "这是新的投诉"); "没解决" about the one case awaiting them reopens it (closure.py); with
none, the words begin an intake. See followup.md for the diagram; the table is :data:`FLOW`
at the end."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from bot.domain.cases import MEDIA, Case, DomainError
from bot.domain.words import blank
from bot.flows import closure, intake
from bot.flows.base import Flow, FlowContext, Turn
from bot.messages import Attachment, Button, OutgoingMessage

log = logging.getLogger(__name__)

MAX_CHOICES = 10  # cases offered as buttons, newest first


class Followup(StrEnum):
    """The follow-up's states. The values are stored in conversation rows: never rename one."""

    CHOOSE = "choose"


async def fresh(ctx: FlowContext) -> Turn:
    """A message with no dialogue going on: add it to the one open case, ask which of several,
    or begin an intake with it."""
    msg = ctx.msg
    if msg.callback:
        return Turn([ctx.say("button_expired"), ctx.say("help")], None)
    if blank(msg.text) and not msg.attachments:
        return Turn([ctx.say("unsupported")], None)
    open_cases = await _open_cases(ctx)
    resolved = closure.awaiting(open_cases)
    if len(resolved) == 1 and not msg.attachments and closure.says_not_solved(msg.text):
        return Turn([await closure.not_solved(ctx, resolved[0], msg.text)], None)
    if len(open_cases) == 1 and not resolved:
        return Turn([await _append(ctx, open_cases[0])], None)
    # Several cases, or one awaiting the customer's confirmation: about that one, or new?
    if open_cases:
        ctx.data.clear()
        ctx.data["pending_text"] = msg.text
        ctx.data["pending_attachments"] = [a.to_json() for a in msg.attachments]
        ctx.data["pending_at"] = ctx.sent_at.isoformat()  # a new complaint is received then
        return Turn([_which_case(ctx, open_cases)], Followup.CHOOSE)
    return await intake.first_words(ctx)


async def choose(ctx: FlowContext) -> Turn:
    """A case button adds what was kept to that case (if it is still theirs and open); "new"
    begins an intake with it; more words are kept too, and the question asked again. Only
    the question's own buttons answer it: any other keeps the words and asks again."""
    msg = ctx.msg
    if not msg.callback:
        if not blank(msg.text):
            ctx.data["pending_text"] = "\n".join(
                t for t in (ctx.data.get("pending_text"), msg.text) if t
            )
        ctx.data.setdefault("pending_attachments", []).extend(a.to_json() for a in msg.attachments)
        return Turn([_which_case(ctx, await _open_cases(ctx))], Followup.CHOOSE)
    if not msg.callback.startswith("f:"):
        # A button of an earlier message (a stale 确认提交, a category): not an answer.
        expired = ctx.say("button_expired")
        return Turn([expired, _which_case(ctx, await _open_cases(ctx))], Followup.CHOOSE)
    choice = msg.callback.removeprefix("f:")
    if choice == "new":
        return await as_new(ctx)
    open_cases = await _open_cases(ctx)
    if choice not in {c.number for c in open_cases}:
        # A forged or stale button: someone else's case, or one closed since. The words
        # stay, to go to a case that can still take them.
        log.warning("%s user %s chose case %r not theirs/open", msg.channel, msg.user_id, choice)
        return Turn([ctx.say("case_not_found"), _which_case(ctx, open_cases)], Followup.CHOOSE)
    kept = [Attachment.from_json(a) for a in ctx.data.get("pending_attachments") or []]
    words = ctx.data.get("pending_text") or ""
    case = next(c for c in open_cases if c.number == choice)
    if case in closure.awaiting(open_cases) and closure.says_not_solved(words):
        return Turn([await closure.not_solved(ctx, case, words, kept)], None)
    return Turn([await _append(ctx, case, words, kept)], None)


def _which_case(ctx: FlowContext, open_cases: list[Case]) -> OutgoingMessage:
    """Resolved cases waiting for the customer's answer are marked (已处理)."""
    resolved = {c.number for c in closure.awaiting(open_cases)}
    label = ctx.t("label_resolved")
    rows = tuple(
        (Button(f"{c.number} ({label})" if c.number in resolved else c.number, f"f:{c.number}"),)
        for c in open_cases[:MAX_CHOICES]
    )
    rows += ((Button(ctx.t("btn_new_case"), "f:new"),),)
    question = "followup_which_resolved" if resolved else "followup_which"
    return OutgoingMessage(ctx.t(question), buttons=rows)


async def _open_cases(ctx: FlowContext) -> list[Case]:
    msg = ctx.msg
    return await ctx.deps.cases.customer_cases(
        msg.channel, msg.user_id, open_only=True, customer_id=ctx.customer_id, tx=ctx.tx
    )


async def _append(
    ctx: FlowContext,
    case: Case,
    words: str | None = None,
    files: list[Attachment] | None = None,
) -> OutgoingMessage:
    """Words and files to the case, seen by whoever handles it; by default this message's."""
    msg = ctx.msg
    number = case.number
    try:
        await ctx.deps.cases.add_customer_message(
            number,
            f"customer:{msg.channel}:{msg.user_id}",
            msg.text if words is None else words,
            list(msg.attachments) if files is None else files,
            tx=ctx.tx,
        )
    except DomainError as exc:
        log.warning("follow-up for %s refused: %s", number, exc)
        return ctx.say("case_not_found")
    return ctx.say("media_added" if case.category == MEDIA else "followup_added", number=number)


# The which-case question is not asked again after /help or a language switch: its buttons
# are still on the screen and still answer it, so CHOOSE declares no question.
async def as_new(ctx: FlowContext) -> Turn:
    """[这是新的投诉], or /new typed instead: the words waiting here begin the complaint."""
    words = ctx.data.get("pending_text") or ""
    files: list[dict[str, Any]] = ctx.data.get("pending_attachments") or []
    return intake.with_words(ctx, words, files, ctx.data.get("pending_at"))


FLOW = Flow(
    name="followup",
    states=Followup,
    entry=fresh,
    steps={Followup.CHOOSE: choose},
    renew=as_new,
)
