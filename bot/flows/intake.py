"""The intake dialogue (投诉受理): the customer's words, a confirmed category, the details, a
restatement to confirm (复述并请客户确认), then a case number and the promised response time.
See intake.md for the diagram; the table is :data:`FLOW` at the end. Every step re-asks with a
hint on input it cannot use; the questions and the restatement are in ``intake_questions``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import phonenumbers

from bot.domain.cases import MEDIA, MEDIA_ZH, Priority, Risk, Severity
from bot.domain.words import blank
from bot.flows import acks
from bot.flows import intake_questions as ask
from bot.flows.base import Flow, FlowContext, Step, Turn
from bot.flows.texts import LANGUAGES, convert, text
from bot.messages import Attachment, OutgoingMessage
from bot.nlp.analyse import analyse
from bot.nlp.press import press_enquiry
from bot.nlp.signals import Signals
from bot.services import NewComplaint

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
        return _asked_if_press(ctx, msg.text) or _to_category(ctx)
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
    goes on and is not asked again. Words typed instead are kept, and the question stands."""
    choice = ctx.msg.callback
    if choice == "i:press:yes" and ctx.data.get("press"):
        return await _media(ctx, str(ctx.data.pop("press")))
    if choice == "i:press:no":
        ctx.data.pop("press", None)
        ctx.data["not_press"] = True
        return Turn([ask.more(ctx)], Intake.CONTENT)
    if choice is None and not blank(ctx.msg.text):
        ctx.data.setdefault("parts", []).append(ctx.msg.text)
        return Turn([ctx.say("press_words_kept"), ask.press(ctx)], Intake.PRESS)
    return Turn([ask.press(ctx)], Intake.PRESS)


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
        number = _phone(raw) if raw and msg.callback is None else None
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
    return await _submit(ctx)


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


async def _submit(ctx: FlowContext) -> Turn:
    """Open the case in the dialogue's transaction and tell the customer its number and when
    they will hear from us. Internal flags (priority, severity, signals) are never shown."""
    words = "\n".join(ctx.data.get("parts") or [])
    analysis = analyse(ctx.deps.classifier, words)
    sig = analysis.signals
    category_id = ctx.data.get("category") or analysis.suggestion.category
    keywords = analysis.suggestion.explaining(category_id)  # once: the card and reports read them
    subject = "、".join(keywords[:3])
    case = await ctx.deps.cases.open_case(
        NewComplaint(
            channel=ctx.msg.channel,
            channel_user_id=ctx.msg.user_id,
            content=words,
            subject=subject or ask.category_name(ctx, category_id),
            category=category_id,
            keywords=keywords,
            priority=sig.priority,
            severity=sig.severity,
            risk=_risk(sig),
            party=ctx.data.get("party"),
            reference=ctx.data.get("reference"),
            desired_outcome=ctx.data.get("outcome"),
            contact=ctx.data.get("contact"),
            display_name=ctx.msg.display_name,
            language=ctx.lang,
            received_at=_received_at(ctx),
            sla_started_at=ctx.sent_at,  # the submitting update: the SLA clock starts here
        ),
        attachments=[Attachment.from_json(a) for a in ctx.data.get("attachments") or []],
        tx=ctx.tx,
    )
    first_response, _ = ctx.deps.sla.targets(case.priority, case.category)
    within = ask.within(ctx, first_response)
    deadline = ask.when(ctx, case.first_response_due)
    ctx.data.clear()
    done = ctx.t("submitted", number=case.number, within=within, deadline=deadline)
    return Turn([OutgoingMessage(done, remove_keyboard=True)], None)


def _asked_if_press(ctx: FlowContext, words: str) -> Turn | None:
    """Words that read like a journalist's (bot/nlp/press.py) are asked about once: a
    customer taken for press would lose the complaint's intake. None: go on as a complaint."""
    if ctx.data.get("not_press"):
        return None
    found = press_enquiry(words)
    if found is None:
        return None
    ctx.data["press"] = found
    return Turn([ask.press(ctx)], Intake.PRESS)


async def _media(ctx: FlowContext, press: str) -> Turn:
    """A press enquiry (媒体问询, DOMAIN.md §5): the words so far are the enquiry, recorded at
    once for the press owner (policy [media]) with nothing more asked; the reply says only
    who answers and by when. Flagged 热点 at least (may lead to exposure), so the supervisors
    hear of it too. The words that showed it is press explain the category."""
    words = "\n".join(ctx.data.get("parts") or [])
    sig = analyse(ctx.deps.classifier, words).signals
    case = await ctx.deps.cases.open_case(
        NewComplaint(
            channel=ctx.msg.channel,
            channel_user_id=ctx.msg.user_id,
            content=words,
            subject=MEDIA_ZH,
            category=MEDIA,
            keywords=(press,),
            priority=Priority.A if sig.priority is Priority.A else Priority.B,
            severity=max(sig.severity, Severity.HOT, key=lambda s: s.rank),
            risk=Risk.HIGH if _risk(sig) is Risk.HIGH else Risk.MEDIUM,
            display_name=ctx.msg.display_name,
            language=ctx.lang,
            received_at=_received_at(ctx),
            sla_started_at=ctx.sent_at,
        ),
        attachments=[Attachment.from_json(a) for a in ctx.data.get("attachments") or []],
        tx=ctx.tx,
    )
    media = ctx.deps.sla.policy.media
    log.info("case %s: a press enquiry (%r), for role %s", case.number, press, media.owner)
    reply = ctx.t(
        "media_received",
        number=case.number,
        department=convert(ctx.lang, media.title_zh, media.title_en),
        within=ask.within(ctx, media.reply_within),
        deadline=ask.when(ctx, case.first_response_due),
    )
    ctx.data.clear()
    return Turn([OutgoingMessage(reply, remove_keyboard=True)], None)


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


def _phone(raw: str) -> str | None:
    """E.164 for a valid mainland or international number, else None."""
    try:
        parsed = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _risk(sig: Signals) -> Risk:
    if sig.has("safety") or sig.has("outage"):
        return Risk.HIGH
    if sig.has("media") or sig.has("legal") or sig.has("collective"):
        return Risk.MEDIUM
    if sig.priority is not Priority.C or sig.has("money"):
        return Risk.LOW
    return Risk.NONE


def _received_at(ctx: FlowContext) -> datetime:
    """受理时间: the platform's time of the customer's first complaint message (not when the
    dialogue began, nor when it was processed: a backlog after downtime is not born late)."""
    first = ctx.data.get("first_at") or ctx.data.get("started_at")
    return datetime.fromisoformat(first) if first else ctx.sent_at


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
