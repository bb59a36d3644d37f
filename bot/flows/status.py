"""The /status answer (查询进度): the customer's own cases, newest first, each with its state
in words a customer reads (not the desk's), its category and the day it was received.

One answer, no dialogue: the dispatcher gives it in any state, and the dialogue's question
follows it.
"""

from __future__ import annotations

from bot.domain.cases import Case
from bot.flows.base import FlowContext
from bot.flows.texts import convert
from bot.messages import OutgoingMessage

#: Typed words that ask for it, as customers write them (简体 and 繁體).
WORDS = frozenset({"查询进度", "查詢進度", "进度", "進度"})
MAX_LINES = 10


async def answer(ctx: FlowContext) -> OutgoingMessage:
    msg = ctx.msg
    cases = await ctx.deps.cases.customer_cases(
        msg.channel, msg.user_id, customer_id=ctx.customer_id, tx=ctx.tx
    )
    if not cases:
        return ctx.say("status_none")
    lines = [ctx.t("status_header")]
    lines.extend(_line(ctx, c) for c in cases[:MAX_LINES])
    return OutgoingMessage("\n".join(lines))


def _line(ctx: FlowContext, case: Case) -> str:
    try:
        cat = ctx.deps.classifier.taxonomy.get(case.category)
        category = convert(ctx.lang, cat.name_zh, cat.name_en)
    except KeyError:  # a category the taxonomy no longer has
        category = case.category
    local = case.received_at.astimezone(ctx.deps.tz)
    return ctx.t(
        "status_line",
        number=case.number,
        status=ctx.t(f"status_{case.status.value}"),
        category=category,
        date=f"{local:%Y-%m-%d}",
    )
