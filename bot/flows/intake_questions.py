"""What the intake asks, and how it restates a complaint before the customer confirms it.

Kept apart from the steps (``intake.py``) so the dialogue's logic reads without its wording.
Fields are named as the dialogue's data keys; their button data (``i:…``) is what stored
conversations and messages already on customers' screens answer with: never changed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.targets import Target
from bot.flows.base import FlowContext
from bot.flows.texts import convert
from bot.messages import Button, OutgoingMessage

OUTCOMES = ("refund", "repair", "apology", "explanation", "other")
EDITABLE = ("content", "category", "party", "reference", "contact", "outcome")
SUMMARY_CHARS = 600  # of the description, in the restatement (the case keeps all of it)


def content(ctx: FlowContext) -> OutgoingMessage:
    """The description so far has something: ask for more; else ask for it. Files alone,
    and the customer said they are done: one sentence about them."""
    if ctx.data.get("describe"):
        return describe(ctx)
    if ctx.data.get("parts") or ctx.data.get("attachments"):
        return more(ctx)
    return ctx.say("ask_content")


def more(ctx: FlowContext, count: int = 1) -> OutgoingMessage:
    """已记录 for one message; 已记录 3 条 for several acknowledged together (``acks``)."""
    if count > 1:
        return ctx.say("content_more_n", [("btn_done", "i:done")], n=count)
    return ctx.say("content_more", [("btn_done", "i:done")])


def press(ctx: FlowContext) -> OutgoingMessage:
    """The words read like a journalist's: are they? (bot/nlp/press.py only guesses.)"""
    return ctx.say("ask_press", [("btn_press_yes", "i:press:yes")],
                   [("btn_press_no", "i:press:no")])  # fmt: skip


def describe(ctx: FlowContext) -> OutgoingMessage:
    """No 说完了 button: the customer said so already; their next words end the description."""
    return ctx.say("content_describe")


def category(ctx: FlowContext) -> OutgoingMessage:
    """The classifier's suggestion to confirm, or every category, its likeliest first."""
    suggested = ctx.data.get("suggested")
    if suggested:
        return ctx.say(
            "category_suggest",
            [("btn_yes", "i:cat:yes"), ("btn_no", "i:cat:no")],
            category=category_name(ctx, suggested),
        )
    ids = ctx.deps.classifier.taxonomy.ids
    ranked = [c for c in ctx.data.get("alternatives") or [] if c in ids]
    ordered = ranked + [c for c in ids if c not in ranked]
    rows = tuple((Button(category_name(ctx, c), f"i:cat:{c}"),) for c in ordered)
    return OutgoingMessage(ctx.t("category_pick"), buttons=rows)


def category_name(ctx: FlowContext, category_id: str) -> str:
    """In the customer's language; a category the taxonomy lost since shows its id."""
    try:
        cat = ctx.deps.classifier.taxonomy.get(category_id)
    except KeyError:
        return category_id
    return convert(ctx.lang, cat.name_zh, cat.name_en)


def party(ctx: FlowContext) -> OutgoingMessage:
    return ctx.say("ask_party", [("btn_skip", "i:skip")])


def reference(ctx: FlowContext) -> OutgoingMessage:
    return ctx.say("ask_reference", [("btn_skip", "i:skip")])


def contact(ctx: FlowContext) -> OutgoingMessage:
    """Telegram shows this as a reply keyboard: share-my-number and chat-only keys."""
    return OutgoingMessage(
        ctx.t("ask_contact"),
        buttons=((Button(ctx.t("btn_chat_only"), "i:chat"),),),
        request_contact=ctx.t("btn_share_contact"),
    )


def outcome(ctx: FlowContext) -> OutgoingMessage:
    """Takes away the contact keyboard, which may still be showing."""
    rows = tuple((Button(ctx.t(f"outcome_{o}"), f"i:out:{o}"),) for o in OUTCOMES)
    return OutgoingMessage(ctx.t("ask_outcome"), buttons=rows, remove_keyboard=True)


def edit(ctx: FlowContext) -> OutgoingMessage:
    rows = tuple((Button(ctx.t(f"field_{f}"), f"i:edit:{f}"),) for f in EDITABLE)
    return OutgoingMessage(ctx.t("edit_which"), buttons=rows)


def summary(ctx: FlowContext) -> OutgoingMessage:
    """The restatement (复述): everything the case will say, for the customer to confirm."""
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
        category=category_name(ctx, d.get("category") or "other"),
        party=d.get("party") or missing,
        reference=d.get("reference") or missing,
        contact=d.get("contact") or ctx.t("via_chat"),
        outcome=ctx.t(f"outcome_{d.get('outcome') or 'other'}"),
    )


def when(ctx: FlowContext, instant: datetime) -> str:
    """A promised time as the customer reads it: today, tomorrow or a date, local time."""
    local = instant.astimezone(ctx.deps.tz)
    today = ctx.now.astimezone(ctx.deps.tz).date()
    clock = f"{local:%H:%M}"
    if local.date() == today:
        return ctx.t("today", time=clock)
    if local.date() == today + timedelta(days=1):
        return ctx.t("tomorrow", time=clock)
    return ctx.t("date", month=local.month, day=local.day, time=clock)


def within(ctx: FlowContext, target: Target) -> str:
    """How long the customer waits, in their words. On the business clock say so: "4 小时内
    (明天 13:00 前)" would read as a contradiction at night."""
    if target.working_days is not None:
        return ctx.t("working_days", n=target.working_days)
    work = "working_" if target.clock == "business" else ""
    if target.minutes is not None:
        return ctx.t(f"{work}minutes", n=target.minutes)
    return ctx.t(f"{work}hours", n=f"{target.hours:g}")
