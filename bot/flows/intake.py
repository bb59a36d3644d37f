"""The intake dialogue (投诉受理): the customer's words, a confirmed category, the details, a
restatement to confirm (复述并请客户确认), then a case number and the promised response time.
See intake.md for the diagram; the table is :data:`FLOW` at the end. Every step re-asks with a
hint on input it cannot use; the questions and the restatement are in ``intake_questions``."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from enum import StrEnum
from typing import Any

from bot.domain.words import blank
from bot.flows import acks
from bot.flows import intake_open as opening
from bot.flows import intake_questions as ask
from bot.flows.base import Flow, FlowContext, Step, Turn
from bot.flows.texts import LANGUAGES, text
from bot.messages import OutgoingMessage
from bot.nlp.press import press_enquiry
from bot.nlp.text import normalise

log = logging.getLogger(__name__)


class Intake(StrEnum):
    """The intake's states. The values are stored in conversation rows: never rename one."""

    CONTENT = "content"
    CATEGORY = "category"
    PARTY = "party"
    REFERENCE = "reference"
    CONTACT = "contact"
    OUTCOME = "outcome"
    CONFIRM = "confirm"
    EDIT = "edit"
    PRESS = "press"  # the words read like a journalist's: asked whether they are


MAX_CONTENT_CHARS = 20_000  # the whole description; Telegram sends at most 4096 per message
MAX_PARTS = 30
MAX_FIELD_CHARS = 200  # party, reference
# On Telegram the contact question is a reply keyboard: its keys come back as plain text.
_CHAT_ONLY = {text(lang, "btn_chat_only") for lang in LANGUAGES}


# -- ways in ----------------------------------------------------------------------------------


async def start(ctx: FlowContext) -> Turn:
    """Greet (with the privacy notice) and ask for the complaint in the customer's words."""
    await acks.drop(ctx)  # /new in the middle of a description: its 已记录 is not for this one
    return _begin(ctx, greet=True)


async def first_words(ctx: FlowContext) -> Turn:
    """A customer with no open case writes outside a dialogue: that begins a complaint, and
    whatever shows (or a file) is already its first words, verbatim — 乱收费, and a bare 你好
    too: no list of greetings decides which words count, and the restatement shows the
    customer every word before anything is filed."""
    msg = ctx.msg
    turn = _begin(ctx, greet=False)
    if not blank(msg.text) or msg.attachments:
        turn = await content(ctx)
    first, *rest = turn.replies
    return Turn([with_greeting(ctx, first), *rest], turn.state)


def with_words(
    ctx: FlowContext, words: str, files: list[dict[str, Any]], sent_at: str | None = None
) -> Turn:
    """Begin with the words and files a customer sent before saying this is a new complaint
    (no greeting: they have been talking to us); ``sent_at`` is when they sent them."""
    turn = _begin(ctx, greet=False)
    ctx.data["parts"] = [] if blank(words) else [words]
    ctx.data["attachments"] = files
    if sent_at and (ctx.data["parts"] or files):
        ctx.data["first_at"] = sent_at
    asked = _asked_if_press(ctx, words) if ctx.data["parts"] else None
    if asked is not None:
        return asked
    if ctx.data["parts"] or files:
        acks.mark(ctx)
        return Turn([ask.more(ctx)], Intake.CONTENT)
    return turn


def with_greeting(ctx: FlowContext, message: OutgoingMessage) -> OutgoingMessage:
    """The greeting and privacy notice in the same message as the first question: one
    message, not two, for every new customer (Telegram allows one a second per chat)."""
    return replace(message, text=f"{ctx.t('greeting')}\n\n{message.text}")


def _begin(ctx: FlowContext, *, greet: bool) -> Turn:
    ctx.data.clear()
    ctx.data["started_at"] = ctx.now.isoformat()  # 受理时间: when the customer began
    question = ctx.say("ask_content")
    return Turn([with_greeting(ctx, question) if greet else question], Intake.CONTENT)


# -- steps ------------------------------------------------------------------------------------


async def content(ctx: FlowContext) -> Turn:
    """Collect the description, verbatim, over as many messages and photos as it takes."""
    msg = ctx.msg
    parts: list[str] = ctx.data.setdefault("parts", [])
    files: list[dict[str, object]] = ctx.data.setdefault("attachments", [])
    if msg.callback == "i:done":
        await acks.drop(ctx)  # whatever comes next, a held-back 已记录…说完了 would be stale
        if parts:
            return _to_category(ctx)
        if files:  # photos only: a case needs words, and only the customer's own will do
            ctx.data["describe"] = True
            return Turn([ask.describe(ctx)], Intake.CONTENT)
        return Turn([ctx.say("content_hint")], Intake.CONTENT)
    if msg.callback is not None:
        return Turn([ctx.say("button_expired"), ask.content(ctx)], Intake.CONTENT)
    if blank(msg.text) and not msg.attachments:
        hint = ask.describe(ctx) if ctx.data.get("describe") else ctx.say("content_hint")
        return Turn([hint], Intake.CONTENT)
    if not parts and not files:  # 受理时间: when the customer sent the first of their words
        ctx.data["first_at"] = ctx.sent_at.isoformat()
    files.extend(a.to_json() for a in msg.attachments)
    if ctx.data.get("describe"):  # the sentence about the photos, asked for after 说完了
        if blank(msg.text):
            return Turn([ctx.say("attachment_added"), ask.describe(ctx)], Intake.CONTENT)
        parts.append(msg.text)
        del ctx.data["describe"]
        asked = _asked_if_press(ctx, msg.text)
        if asked is not None:
            ctx.data["press_described"] = True
            return asked
        return _to_category(ctx)
    if not blank(msg.text):
        parts.append(msg.text)
        asked = _asked_if_press(ctx, msg.text)
        if asked is not None:
            await acks.drop(ctx)
            return asked
    if sum(len(p) for p in parts) >= MAX_CONTENT_CHARS or len(parts) >= MAX_PARTS:
        await acks.drop(ctx)
        turn = _to_category(ctx)
        turn.replies.insert(0, ctx.say("content_full"))
        return turn
    return Turn(await acks.acknowledge(ctx), Intake.CONTENT)  # 已记录, or one for several later


async def press(ctx: FlowContext) -> Turn:
    """是: a press enquiry, opened at once with no answer of substance; 不是: the complaint
    goes on (to the category when the description was finished) and is not asked again. A
    typed 是 / 不是 answers too; other words are kept with the rest, and the question stands."""
    msg = ctx.msg
    typed = normalise(msg.text).strip() if msg.callback is None else ""
    choice = msg.callback or _TYPED_PRESS.get(_END_MARKS.sub("", typed))
    if choice == "i:press:yes" and ctx.data.get("press"):
        return await opening.press_enquiry(ctx, str(ctx.data.pop("press")))
    if choice == "i:press:no":
        ctx.data.pop("press", None)
        ctx.data["not_press"] = True
        if ctx.data.pop("press_described", False):  # asked after 说完了: on to the category
            return _to_category(ctx)
        return Turn([ask.more(ctx)], Intake.CONTENT)
    parts: list[str] = ctx.data.setdefault("parts", [])
    room = sum(len(p) for p in parts) < MAX_CONTENT_CHARS and len(parts) < MAX_PARTS
    if msg.callback is None and not blank(msg.text) and room:
        parts.append(msg.text)
        return Turn([ctx.say("press_words_kept"), ask.press(ctx)], Intake.PRESS)
    return Turn([ask.press(ctx)], Intake.PRESS)


_END_MARKS = re.compile(r"[。.!?\s]+$")
#: A typed answer to the press question, as normalised text.
_TYPED_PRESS = {
    **dict.fromkeys(("是", "是的", "对", "对的", "yes", "y", "是,媒体问询"), "i:press:yes"),
    **dict.fromkeys(
        ("不是", "否", "不", "no", "n", "不是,我要投诉", "我不是记者", "投诉"), "i:press:no"
    ),
}


async def category(ctx: FlowContext) -> Turn:
    """是 keeps the suggestion; 否 shows every category; a category button picks it."""
    choice = ctx.msg.callback or ""
    if choice == "i:cat:yes" and ctx.data.get("suggested"):
        ctx.data["category"] = ctx.data["suggested"]
        return _next_after(ctx, Intake.PARTY)
    if choice == "i:cat:no":
        ctx.data["suggested"] = None
        return Turn([ask.category(ctx)], Intake.CATEGORY)
    if choice.startswith("i:cat:"):
        picked = choice.removeprefix("i:cat:")
        if picked in ctx.deps.classifier.taxonomy.ids:
            ctx.data["category"] = picked
            return _next_after(ctx, Intake.PARTY)
    return Turn([ctx.say("category_hint"), ask.category(ctx)], Intake.CATEGORY)


async def party(ctx: FlowContext) -> Turn:
    """Who or where the complaint is about: a few words, or skipped."""
    return _free_text(ctx, Intake.PARTY, Intake.REFERENCE)


async def reference(ctx: FlowContext) -> Turn:
    """An order, waybill or receipt number: a few words, or skipped."""
    return _free_text(ctx, Intake.REFERENCE, Intake.CONTACT)


async def contact(ctx: FlowContext) -> Turn:
    """The customer's own shared contact or a typed number, checked for mainland and
    international formats. A card of someone else (another user's, or a phone-book entry)
    is not the customer's number: refused, though the same number may be typed."""
    msg = ctx.msg
    if msg.callback == "i:chat" or msg.text.strip() in _CHAT_ONLY:
        ctx.data["contact"] = None
    elif msg.contact_phone is not None and msg.contact_user_id != msg.user_id:
        return Turn([ctx.say("contact_not_yours"), ask.contact(ctx)], Intake.CONTACT)
    else:
        raw = msg.contact_phone or msg.text.strip()
        number = opening.phone(raw) if raw and msg.callback is None else None
        if number is None:
            return Turn([ctx.say("contact_invalid"), ask.contact(ctx)], Intake.CONTACT)
        ctx.data["contact"] = number
    turn = _next_after(ctx, Intake.OUTCOME)
    # The phone question came with a reply keyboard; only a message without buttons can take
    # it away again, so the acknowledgement does that before the next question.
    saved = OutgoingMessage(ctx.t("contact_saved"), remove_keyboard=True)
    return Turn([saved, *turn.replies], turn.state)


async def outcome(ctx: FlowContext) -> Turn:
    """What the customer would like done; then the restatement to confirm."""
    choice = (ctx.msg.callback or "").removeprefix("i:out:")
    if choice not in ask.OUTCOMES:
        return Turn([ask.outcome(ctx)], Intake.OUTCOME)
    ctx.data["outcome"] = choice
    return Turn([ask.summary(ctx)], Intake.CONFIRM)


async def confirm(ctx: FlowContext) -> Turn:
    """Only an explicit 确认提交 opens the case; 修改 lets the customer pick what to change."""
    if ctx.msg.callback == "i:edit":
        return Turn([ask.edit(ctx)], Intake.EDIT)
    if ctx.msg.callback != "i:submit":
        return Turn([ask.summary(ctx)], Intake.CONFIRM)
    return await opening.complaint(ctx)


async def edit(ctx: FlowContext) -> Turn:
    """The one field asked again; its answer leads straight back to the restatement."""
    field = (ctx.msg.callback or "").removeprefix("i:edit:")
    if field not in ask.EDITABLE:
        return Turn([ask.edit(ctx)], Intake.EDIT)
    ctx.data["editing"] = True
    if field == "content":
        ctx.data["parts"], ctx.data["attachments"] = [], []
        return Turn([ctx.say("ask_content_again")], Intake.CONTENT)
    if field == "category":
        ctx.data["suggested"] = None
    return Turn([_question(Intake(field), ctx)], Intake(field))


def _keeping_evidence(state: Intake, step: Step, *, takes_words: bool) -> Step:
    """Evidence sent while another question is open is kept, not dropped, and so are its
    caption's words: the answer to a question that ``takes_words``; else, since a button
    question has no place for them, part of the description (the restatement shows them)."""

    async def run(ctx: FlowContext) -> Turn:
        msg = ctx.msg
        if not msg.attachments:
            return await step(ctx)
        ctx.data.setdefault("attachments", []).extend(a.to_json() for a in msg.attachments)
        if blank(msg.text):
            return Turn([ctx.say("attachment_added"), _question(state, ctx)], state)
        if takes_words:
            ctx.msg = replace(msg, attachments=())
            turn = await step(ctx)
            return Turn([ctx.say("attachment_added"), *turn.replies], turn.state)
        ctx.data.setdefault("parts", []).append(msg.text)
        return Turn([ctx.say("attachment_words_added"), _question(state, ctx)], state)

    return run


def _asked_if_press(ctx: FlowContext, words: str) -> Turn | None:
    """Words that read like a journalist's (bot/nlp/press.py) are asked about once: a
    customer taken for press would lose the complaint's intake. None: go on as a complaint
    — also while correcting the description after the restatement (a complainant by then)."""
    if ctx.data.get("not_press") or ctx.data.get("editing"):
        return None
    found = press_enquiry(words)
    if found is None:
        return None
    ctx.data["press"] = found
    return Turn([ask.press(ctx)], Intake.PRESS)


# -- helpers ----------------------------------------------------------------------------------


def _question(state: Intake, ctx: FlowContext) -> OutgoingMessage:
    return FLOW.questions[state](ctx)


def _to_category(ctx: FlowContext) -> Turn:
    if ctx.data.get("editing") and ctx.data.get("category"):
        return _next_after(ctx, Intake.CATEGORY)
    suggestion = ctx.deps.classifier.classify("\n".join(ctx.data["parts"]))
    ctx.data["suggested"] = suggestion.category if suggestion.confident else None
    ctx.data["alternatives"] = [a.category for a in suggestion.alternatives][:3]
    return Turn([ask.category(ctx)], Intake.CATEGORY)


def _free_text(ctx: FlowContext, field: Intake, following: Intake) -> Turn:
    msg = ctx.msg
    question = _question(field, ctx)
    if msg.callback == "i:skip":
        ctx.data[field.value] = None
        return _next_after(ctx, following)
    if msg.callback is not None or blank(msg.text):
        return Turn([question], field)
    value = msg.text.strip()
    if len(value) > MAX_FIELD_CHARS:
        return Turn([ctx.say("text_too_long", limit=MAX_FIELD_CHARS), question], field)
    ctx.data[field.value] = value
    return _next_after(ctx, following)


def _next_after(ctx: FlowContext, following: Intake) -> Turn:
    """The next question, or straight back to the restatement when correcting one field."""
    if ctx.data.pop("editing", False):
        return Turn([ask.summary(ctx)], Intake.CONFIRM)
    return Turn([_question(following, ctx)], following)


def _holds_answers(data: Mapping[str, Any]) -> bool:
    """Words, files or any answer given: what /new would throw away, so it asks first."""
    return any(data.get(key) for key in ("parts", "attachments", *ask.EDITABLE))


# -- the table: each state's step and the question it asks again after a fallback -------------

FLOW = Flow(
    name="intake",
    states=Intake,
    entry=start,
    steps={
        Intake.CONTENT: content,  # a photo here is part of the description
        Intake.CATEGORY: _keeping_evidence(Intake.CATEGORY, category, takes_words=False),
        Intake.PARTY: _keeping_evidence(Intake.PARTY, party, takes_words=True),
        Intake.REFERENCE: _keeping_evidence(Intake.REFERENCE, reference, takes_words=True),
        Intake.CONTACT: _keeping_evidence(Intake.CONTACT, contact, takes_words=True),
        Intake.OUTCOME: _keeping_evidence(Intake.OUTCOME, outcome, takes_words=False),
        Intake.CONFIRM: _keeping_evidence(Intake.CONFIRM, confirm, takes_words=False),
        Intake.EDIT: _keeping_evidence(Intake.EDIT, edit, takes_words=False),
        Intake.PRESS: _keeping_evidence(Intake.PRESS, press, takes_words=False),
    },
    questions={
        Intake.CONTENT: ask.content,
        Intake.CATEGORY: ask.category,
        Intake.PARTY: ask.party,
        Intake.REFERENCE: ask.reference,
        Intake.CONTACT: ask.contact,
        Intake.OUTCOME: ask.outcome,
        Intake.CONFIRM: ask.summary,
        Intake.EDIT: ask.edit,
        Intake.PRESS: ask.press,
    },
    holds_answers=_holds_answers,
)
