"""The intake dialogue (投诉受理): the customer's words, a confirmed category, the details, a
restatement to confirm (复述并请客户确认), then a case number and the promised response time.
See intake.md for the diagram. Every step re-asks with a hint on input it cannot use."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

import phonenumbers

from bot.domain.cases import Priority, Risk
from bot.flows.base import FlowContext, Turn
from bot.flows.texts import LANGUAGES, convert, text
from bot.messages import Attachment, Button, OutgoingMessage
from bot.nlp.analyse import analyse
from bot.nlp.signals import Signals
from bot.services import NewComplaint

log = logging.getLogger(__name__)

NAME = "intake"
MAX_CONTENT_CHARS = 20_000  # the whole description; Telegram sends at most 4096 per message
MAX_PARTS = 30
MAX_FIELD_CHARS = 200  # party, reference
OUTCOMES = ("refund", "repair", "apology", "explanation", "other")
EDITABLE = ("content", "category", "party", "reference", "contact", "outcome")
SUMMARY_CHARS = 600  # of the description, in the restatement (the case keeps all of it)
# On Telegram the contact question is a reply keyboard: its keys come back as plain text.
_CHAT_ONLY = {text(lang, "btn_chat_only") for lang in LANGUAGES}


def start(ctx: FlowContext, *, greet: bool = True) -> Turn:
    """Greet (with the privacy notice) and ask for the complaint in the customer's words."""
    ctx.data.clear()
    ctx.data["started_at"] = ctx.now.isoformat()  # 受理时间: when the customer began
    ask = ctx.say("ask_content")
    return Turn([with_greeting(ctx, ask) if greet else ask], "content")


def with_greeting(ctx: FlowContext, message: OutgoingMessage) -> OutgoingMessage:
    """The greeting and privacy notice in the same message as the first question: one
    message, not two, for every new customer (Telegram allows one a second per chat)."""
    return replace(message, text=f"{ctx.t('greeting')}\n\n{message.text}")


def step(state: str, ctx: FlowContext) -> Turn:
    """Run the step for ``state``; unknown states (an old deployment's) restart politely."""
    handler = _STEPS.get(state)
    if handler is None:
        log.warning("intake: unknown state %r, starting again", state)
        return start(ctx)
    if ctx.msg.attachments and state != "content":
        # Evidence sent while answering another question is kept, not dropped.
        ctx.data.setdefault("attachments", []).extend(a.to_json() for a in ctx.msg.attachments)
        return Turn([ctx.say("attachment_added"), *prompt(state, ctx)], state)
    return handler(ctx)


def prompt(state: str, ctx: FlowContext) -> list[OutgoingMessage]:
    """The question of ``state`` again (after /start, /help or a language switch)."""
    match state:
        case "content":
            if ctx.data.get("parts") or ctx.data.get("attachments"):
                return [_more(ctx)]
            return [ctx.say("ask_content")]
        case "category":
            return [_category_question(ctx)]
        case "party":
            return [ctx.say("ask_party", [("btn_skip", "i:skip")])]
        case "reference":
            return [ctx.say("ask_reference", [("btn_skip", "i:skip")])]
        case "contact":
            return [_contact_question(ctx)]
        case "outcome":
            return [_outcome_question(ctx)]
        case "confirm":
            return [_summary(ctx)]
        case "edit":
            return [_edit_question(ctx)]
    return [ctx.say("ask_content")]


# -- steps ------------------------------------------------------------------------------------


def content(ctx: FlowContext) -> Turn:
    """Collect the description, verbatim, over as many messages and photos as it takes."""
    msg = ctx.msg
    parts: list[str] = ctx.data.setdefault("parts", [])
    files: list[dict[str, object]] = ctx.data.setdefault("attachments", [])
    if msg.callback == "i:done":
        if not parts:
            return Turn([ctx.say("content_hint")], "content")
        return _to_category(ctx)
    if msg.callback is not None:
        return Turn([ctx.say("button_expired"), *prompt("content", ctx)], "content")
    words = msg.text.strip()
    if not words and not msg.attachments:
        return Turn([ctx.say("content_hint")], "content")
    if words:
        parts.append(msg.text)
    files.extend(a.to_json() for a in msg.attachments)
    if sum(len(p) for p in parts) >= MAX_CONTENT_CHARS or len(parts) >= MAX_PARTS:
        turn = _to_category(ctx)
        turn.replies.insert(0, ctx.say("content_full"))
        return turn
    return Turn([_more(ctx)], "content")


def category(ctx: FlowContext) -> Turn:
    """是 keeps the suggestion; 否 shows every category; a category button picks it."""
    choice = ctx.msg.callback or ""
    if choice == "i:cat:yes" and ctx.data.get("suggested"):
        ctx.data["category"] = ctx.data["suggested"]
        return _next_after(ctx, "party")
    if choice == "i:cat:no":
        ctx.data["suggested"] = None
        return Turn([_category_question(ctx)], "category")
    if choice.startswith("i:cat:"):
        picked = choice.removeprefix("i:cat:")
        if picked in ctx.deps.classifier.taxonomy.ids:
            ctx.data["category"] = picked
            return _next_after(ctx, "party")
    return Turn([ctx.say("category_hint"), _category_question(ctx)], "category")


def party(ctx: FlowContext) -> Turn:
    return _free_text(ctx, "party", "reference")


def reference(ctx: FlowContext) -> Turn:
    return _free_text(ctx, "reference", "contact")


def contact(ctx: FlowContext) -> Turn:
    """A shared contact or a typed number, checked for mainland and international formats."""
    msg = ctx.msg
    if msg.callback == "i:chat" or msg.text.strip() in _CHAT_ONLY:
        ctx.data["contact"] = None
    else:
        raw = msg.contact_phone or msg.text.strip()
        number = _phone(raw) if raw and msg.callback is None else None
        if number is None:
            return Turn([ctx.say("contact_invalid"), _contact_question(ctx)], "contact")
        ctx.data["contact"] = number
    turn = _next_after(ctx, "outcome")
    # The phone question came with a reply keyboard; only a message without buttons can take
    # it away again, so the acknowledgement does that before the next question.
    saved = OutgoingMessage(ctx.t("contact_saved"), remove_keyboard=True)
    return Turn([saved, *turn.replies], turn.state)


def outcome(ctx: FlowContext) -> Turn:
    choice = (ctx.msg.callback or "").removeprefix("i:out:")
    if choice not in OUTCOMES:
        return Turn([_outcome_question(ctx)], "outcome")
    ctx.data["outcome"] = choice
    return Turn([_summary(ctx)], "confirm")


def confirm(ctx: FlowContext) -> Turn:
    """Only an explicit 确认提交 opens the case; 修改 lets the customer pick what to change."""
    if ctx.msg.callback == "i:edit":
        return Turn([_edit_question(ctx)], "edit")
    if ctx.msg.callback != "i:submit":
        return Turn([_summary(ctx)], "confirm")
    return Turn([], None)  # the dispatcher opens the case: see submit()


def edit(ctx: FlowContext) -> Turn:
    field = (ctx.msg.callback or "").removeprefix("i:edit:")
    if field not in EDITABLE:
        return Turn([_edit_question(ctx)], "edit")
    ctx.data["editing"] = True
    if field == "content":
        ctx.data["parts"], ctx.data["attachments"] = [], []
        return Turn([ctx.say("ask_content_again")], "content")
    if field == "category":
        ctx.data["suggested"] = None
    return Turn(prompt(field, ctx), field)


_STEPS = {
    "content": content,
    "category": category,
    "party": party,
    "reference": reference,
    "contact": contact,
    "outcome": outcome,
    "confirm": confirm,
    "edit": edit,
}


async def submit(ctx: FlowContext) -> Turn:
    """Open the case in the dialogue's transaction and tell the customer its number and when
    they will hear from us. Internal flags (priority, severity, signals) are never shown."""
    words = "\n".join(ctx.data.get("parts") or [])
    analysis = analyse(ctx.deps.classifier, words)
    sig = analysis.signals
    category_id = ctx.data.get("category") or analysis.suggestion.category
    subject = "、".join([k.word for k in analysis.suggestion.keywords if k.weight > 0][:3])
    case = await ctx.deps.cases.open_case(
        NewComplaint(
            channel=ctx.msg.channel,
            channel_user_id=ctx.msg.user_id,
            content=words,
            subject=subject or _category_name(ctx, category_id),
            category=category_id,
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
        ),
        attachments=[Attachment.from_json(a) for a in ctx.data.get("attachments") or []],
        tx=ctx.tx,
    )
    first_response, _ = ctx.deps.sla.targets(case.priority)
    if first_response.working_days is not None:
        within = ctx.t("working_days", n=first_response.working_days)
    else:
        # "4 小时内(明天 13:00 前)" would read as a contradiction at night: say working hours.
        unit = "working_hours" if first_response.clock == "business" else "hours"
        within = ctx.t(unit, n=f"{first_response.hours:g}")
    deadline = _when(ctx, case.first_response_due)
    ctx.data.clear()
    return Turn(
        [
            OutgoingMessage(
                ctx.t("submitted", number=case.number, within=within, deadline=deadline),
                remove_keyboard=True,
            )
        ],
        None,
    )


# -- helpers ----------------------------------------------------------------------------------


def _more(ctx: FlowContext) -> OutgoingMessage:
    return ctx.say("content_more", [("btn_done", "i:done")])


def _to_category(ctx: FlowContext) -> Turn:
    if ctx.data.get("editing") and ctx.data.get("category"):
        return _next_after(ctx, "category")
    suggestion = ctx.deps.classifier.classify("\n".join(ctx.data["parts"]))
    ctx.data["suggested"] = suggestion.category if suggestion.confident else None
    ctx.data["alternatives"] = [a.category for a in suggestion.alternatives][:3]
    return Turn([_category_question(ctx)], "category")


def _category_question(ctx: FlowContext) -> OutgoingMessage:
    suggested = ctx.data.get("suggested")
    if suggested:
        return ctx.say(
            "category_suggest",
            [("btn_yes", "i:cat:yes"), ("btn_no", "i:cat:no")],
            category=_category_name(ctx, suggested),
        )
    ids = ctx.deps.classifier.taxonomy.ids
    ranked = [c for c in ctx.data.get("alternatives") or [] if c in ids]
    ordered = ranked + [c for c in ids if c not in ranked]
    rows = tuple((Button(_category_name(ctx, c), f"i:cat:{c}"),) for c in ordered)
    return OutgoingMessage(ctx.t("category_pick"), buttons=rows)


def _category_name(ctx: FlowContext, category_id: str) -> str:
    try:
        cat = ctx.deps.classifier.taxonomy.get(category_id)
    except KeyError:
        return category_id
    return convert(ctx.lang, cat.name_zh, cat.name_en)


def _free_text(ctx: FlowContext, field: str, following: str) -> Turn:
    msg = ctx.msg
    question = prompt(field, ctx)
    if msg.callback == "i:skip":
        ctx.data[field] = None
        return _next_after(ctx, following)
    if msg.callback is not None or not msg.text.strip():
        return Turn(question, field)
    value = msg.text.strip()
    if len(value) > MAX_FIELD_CHARS:
        return Turn([ctx.say("text_too_long", limit=MAX_FIELD_CHARS), *question], field)
    ctx.data[field] = value
    return _next_after(ctx, following)


def _next_after(ctx: FlowContext, following: str) -> Turn:
    """The next question, or straight back to the restatement when correcting one field."""
    if ctx.data.pop("editing", False):
        return Turn([_summary(ctx)], "confirm")
    return Turn(prompt(following, ctx), following)


def _contact_question(ctx: FlowContext) -> OutgoingMessage:
    return OutgoingMessage(
        ctx.t("ask_contact"),
        buttons=((Button(ctx.t("btn_chat_only"), "i:chat"),),),
        request_contact=ctx.t("btn_share_contact"),
    )


def _outcome_question(ctx: FlowContext) -> OutgoingMessage:
    rows = tuple((Button(ctx.t(f"outcome_{o}"), f"i:out:{o}"),) for o in OUTCOMES)
    return OutgoingMessage(ctx.t("ask_outcome"), buttons=rows, remove_keyboard=True)


def _edit_question(ctx: FlowContext) -> OutgoingMessage:
    rows = tuple((Button(ctx.t(f"field_{f}"), f"i:edit:{f}"),) for f in EDITABLE)
    return OutgoingMessage(ctx.t("edit_which"), buttons=rows)


def _summary(ctx: FlowContext) -> OutgoingMessage:
    d = ctx.data
    words = "\n".join(d.get("parts") or [])
    if len(words) > SUMMARY_CHARS:
        words = f"{words[:SUMMARY_CHARS]}…({len(words)})"
    files = d.get("attachments") or []
    missing = ctx.t("not_provided")
    return ctx.say(
        "confirm",
        [("btn_submit", "i:submit"), ("btn_edit", "i:edit")],
        content=words or missing,
        attachments=ctx.t("attachments_count", n=len(files)) if files else missing,
        category=_category_name(ctx, d.get("category") or "other"),
        party=d.get("party") or missing,
        reference=d.get("reference") or missing,
        contact=d.get("contact") or ctx.t("via_chat"),
        outcome=ctx.t(f"outcome_{d.get('outcome') or 'other'}"),
    )


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
    """When the complaint began: the first message of the dialogue (受理时间)."""
    started = ctx.data.get("started_at")
    return datetime.fromisoformat(started) if started else ctx.now


def _when(ctx: FlowContext, instant: datetime) -> str:
    local = instant.astimezone(ctx.deps.tz)
    today = ctx.now.astimezone(ctx.deps.tz).date()
    clock = f"{local:%H:%M}"
    if local.date() == today:
        return ctx.t("today", time=clock)
    if local.date() == today + timedelta(days=1):
        return ctx.t("tomorrow", time=clock)
    return ctx.t("date", month=local.month, day=local.day, time=clock)
