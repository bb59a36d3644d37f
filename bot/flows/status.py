"""The /status answer (查询进度): the customer's own cases, newest first, each with its state
in words a customer reads (not the desk's), its category and the day it was received; or,
asked about case numbers (「查询进度 TS20261201001」, "status of TS…"), just those.

One answer, no dialogue: the dispatcher gives it in any state, and the dialogue's question
follows it.

A number is answered only when it is one of the asker's own cases. Numbers are guessable
(prefix, date, daily sequence), so someone else's case and a number never given get the very
same answer, worded as "not among yours", and nothing is looked up but the asker's own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.domain.cases import MEDIA, MEDIA_EN, MEDIA_ZH, Case, DomainError, Status
from bot.domain.numbers import parse_case_number
from bot.flows.base import FlowContext
from bot.flows.texts import convert
from bot.messages import OutgoingMessage

#: Typed words that ask for it, as customers write them (简体 and 繁體).
WORDS = frozenset({"查询进度", "查詢進度", "查进度", "查進度", "进度", "進度"})
MAX_LINES = 10

# Words that, with nothing but case numbers beside them, ask about those cases. Compared
# after NFKC and lower-casing, with spaces and punctuation gone, so "What's the status of"
# reads "whatsthestatusof" and is covered word by word.
_ASKING = (
    "查询进度", "查詢進度", "查进度", "查進度", "查询", "查詢", "查一下", "查", "进度", "進度",
    "进展", "進展", "状态", "狀態", "怎么样了", "怎麼樣了", "怎么样", "怎麼樣", "如何了",
    "到哪了", "到哪一步了",
    "status", "progress", "update", "updates", "check", "news",
)  # fmt: skip
_FILLER = (
    "请问", "請問", "请", "請", "帮我", "幫我", "麻烦", "麻煩", "一下", "我的", "我", "的",
    "投诉", "投訴", "编号", "編號", "案件", "号", "號", "现在", "現在", "目前", "处理", "處理",
    "得", "了", "吗", "嗎", "呢", "啊", "呀", "您好", "你好", "谢谢", "謝謝",
    "what", "whats", "is", "the", "of", "on", "for", "about", "my", "case", "complaint",
    "number", "no", "please", "pls", "any", "hi", "hello", "thanks", "can", "you",
)  # fmt: skip


def _alternatives(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_ONLY_ASKING = re.compile(f"(?:{_alternatives(_ASKING + _FILLER)})*")
_ASKS = re.compile(_alternatives(_ASKING))
# <PREFIX><YYYYMMDD><NNN> as typed: upper-cased NFKC text, spaces or dashes anywhere, the
# sequence of three digits or more; not part of a longer run of letters or digits.
_NUMBER = re.compile(
    r"(?<![A-Z0-9])(?P<prefix>[A-Z]{1,8})(?P<gap>[\s-]*)"
    r"(?P<digits>[0-9](?:[\s-]*[0-9]){10,12})(?![\s-]*[0-9])"
)
_GONE = frozenset("PSZC")  # punctuation, symbols, separators, controls: not words


@dataclass(frozen=True)
class Query:
    """Case numbers a message asks about, as a customer reads them (``TS20261201001``)."""

    numbers: tuple[str, ...]
    explicit: bool  # words asking (查询进度, status …), not the numbers alone


def query(text: str) -> Query | None:
    """The numbers of a message that holds only case numbers and words asking about them;
    None for anything else — a complaint that mentions a number stays a complaint."""
    folded = unicodedata.normalize("NFKC", text).upper()
    numbers: list[str] = []
    rest: list[str] = []
    at = 0
    for m in _NUMBER.finditer(folded):
        if m["gap"] and m["prefix"].lower() in _ASKING + _FILLER:
            continue  # "status 20261201001": a word and a number without its prefix
        numbers.append(_canonical(m["prefix"] + re.sub(r"[\s-]", "", m["digits"])))
        rest.append(folded[at : m.start()])
        at = m.end()
    if not numbers:
        return None
    rest.append(folded[at:])
    words = "".join(c for c in "".join(rest).lower() if unicodedata.category(c)[0] not in _GONE)
    if not _ONLY_ASKING.fullmatch(words):
        return None
    return Query(tuple(dict.fromkeys(numbers)), explicit=_ASKS.search(words) is not None)


def _canonical(typed: str) -> str:
    """``TS202612010001`` reads ``TS20261201001``; what is no case number stays as typed."""
    try:
        return str(parse_case_number(typed))
    except DomainError:
        return typed


def is_ours(number: str, prefix: str) -> bool:
    """A well-formed number of this desk's: a bare one is a question about it, while a bare
    number of another company (a waybill ``SF…``) is just words."""
    try:
        return parse_case_number(number).prefix == prefix
    except DomainError:
        return False


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


async def about(ctx: FlowContext, numbers: tuple[str, ...]) -> OutgoingMessage:
    """The cases of ``numbers`` that are the asker's; each other one gets the same line."""
    found: list[Case] = []
    unknown: list[str] = []
    for number in numbers[:MAX_LINES]:
        case = await _own_case(ctx, number)
        if case is None:
            unknown.append(number)
        else:
            found.append(case)
    lines = [ctx.t("status_header"), *(_line(ctx, c) for c in found)] if found else []
    lines.extend(ctx.t("status_not_yours", number=n) for n in unknown)
    return OutgoingMessage("\n".join(lines))


async def _own_case(ctx: FlowContext, number: str) -> Case | None:
    customer_id = ctx.customer_id
    if customer_id is None:
        customer = await ctx.tx.customers.find(ctx.msg.channel, ctx.msg.user_id)
        if customer is None:
            return None
        customer_id = int(customer["id"])
    row = await ctx.tx.cases.by_number(number)
    if row is None or int(row["customer_id"]) != customer_id:
        return None  # never a different answer for someone else's case
    return Case.from_row(row)


def _line(ctx: FlowContext, case: Case) -> str:
    status = f"status_{case.status.value}"
    if case.category == MEDIA:  # 媒体问询: no taxonomy's; answered, nothing to confirm
        category = convert(ctx.lang, MEDIA_ZH, MEDIA_EN)
        status = "media_status_resolved" if case.status is Status.RESOLVED else status
    else:
        try:
            cat = ctx.deps.classifier.taxonomy.get(case.category)
            category = convert(ctx.lang, cat.name_zh, cat.name_en)
        except KeyError:  # a category the taxonomy no longer has
            category = case.category
    local = case.received_at.astimezone(ctx.deps.tz)
    return ctx.t(
        "status_line",
        number=case.number,
        status=ctx.t(status),
        category=category,
        date=f"{local:%Y-%m-%d}",
    )
