"""What intake files when the customer is done: a complaint (``complaint``, after 确认提交) or
a press enquiry (``press_enquiry``, after 是,媒体问询), each opened in the dialogue's
transaction, with what they share — the 受理时间 and the risk level the words carry. Apart
from ``intake.py`` (the dialogue's states) to keep each file readable."""

from __future__ import annotations

import logging
from datetime import datetime

import phonenumbers

from bot.domain.cases import MEDIA, MEDIA_ZH, Priority, Risk, Severity
from bot.flows import intake_questions as ask
from bot.flows.base import FlowContext, Turn
from bot.flows.texts import convert
from bot.messages import Attachment, OutgoingMessage
from bot.nlp.analyse import analyse
from bot.nlp.signals import Signals
from bot.services import NewComplaint

log = logging.getLogger(__name__)


async def complaint(ctx: FlowContext) -> Turn:
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
            risk=risk(sig),
            party=ctx.data.get("party"),
            reference=ctx.data.get("reference"),
            desired_outcome=ctx.data.get("outcome"),
            contact=ctx.data.get("contact"),
            display_name=ctx.msg.display_name,
            language=ctx.lang,
            received_at=received_at(ctx),
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


async def press_enquiry(ctx: FlowContext, press: str) -> Turn:
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
            risk=Risk.HIGH if risk(sig) is Risk.HIGH else Risk.MEDIUM,
            display_name=ctx.msg.display_name,
            language=ctx.lang,
            received_at=received_at(ctx),
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


def phone(raw: str) -> str | None:
    """E.164 for a valid mainland or international number, else None."""
    try:
        parsed = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def risk(sig: Signals) -> Risk:
    if sig.has("safety") or sig.has("outage"):
        return Risk.HIGH
    if sig.has("media") or sig.has("legal") or sig.has("collective"):
        return Risk.MEDIUM
    if sig.priority is not Priority.C or sig.has("money"):
        return Risk.LOW
    return Risk.NONE


def received_at(ctx: FlowContext) -> datetime:
    """受理时间: the platform's time of the customer's first complaint message (not when the
    dialogue began, nor when it was processed: a backlog after downtime is not born late)."""
    first = ctx.data.get("first_at") or ctx.data.get("started_at")
    return datetime.fromisoformat(first) if first else ctx.sent_at
