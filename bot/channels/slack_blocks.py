"""Block Kit for the staff channel: case cards, thread lines, modals, App Home, /kesu answers.

Pure functions from the desk's plain data to Slack JSON (no SDK import, so they test alone).
Everything a customer wrote is escaped (``&``, ``<``, ``>``): a complaint reading
``<!channel>`` or ``<@U123>`` or ``<https://evil|bank>`` shows as those characters, it never
pings the channel, mentions anyone or hides a link. Only the desk's own ``{slack:U…}`` tokens
become mentions, and only in the desk's own words.

Over ~400 lines, but one concern (pure Block Kit builders); issue 12 moves it into the
Slack package as ``blocks.py`` and splits it if the card and the forms part ways.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

SECTION_LIMIT = 3000  # characters in a section's text
INPUT_LIMIT = 3000  # the most a plain_text_input's max_length may be
CONTENT_SHOWN = 2500  # of the customer's words on the card; Details shows them all
_ACTOR = re.compile(r"\{(slack:[UW][A-Z0-9]+|customer:[^{}]+|[a-z]+:[^{}]*)\}")

# action_id → what the button or menu entry does; the adapter routes on these.
CLAIM, REPLY, DETAILS, MORE = "kesu_claim", "kesu_reply", "kesu_details", "kesu_more"
#: "更多操作" menu entries: (value prefix, label, case actions that must be allowed)
MORE_ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("escalate", "⏫ 升级 Escalate", "escalate"),
    ("resolve", "✅ 解决 Resolve", "resolve"),
    ("invalid", "🚫 无效投诉 Invalid", "mark_invalid"),
    ("priority", "🔺 改优先级 Priority", "correct"),
    ("category", "🏷️ 改类别 Category", "correct"),
    ("severity", "⚠️ 严重程度/人数 Severity", "correct"),
    ("assign", "👉 转派 Assign", "assign"),
    ("release", "↩️ 释放 Release", "release"),
)
#: The forms behind the menu entries (release acts at once, without a form).
FORMS = frozenset(key for key, _, _ in MORE_ACTIONS) - {"release"}
OUTCOME_LABELS = {
    "resolved": "已解决 Resolved",
    "partial": "部分解决 Partly resolved",
    "explained": "已解释说明 Explained",
    "compensated": "已补偿 Compensated",
    "declined": "诉求未予支持 Declined",
}
SEVERITY_LABELS = {
    "general": "一般 General",
    "important": "重要 Important",
    "hot": "热点 Hot",
    "major": "重大 Major",
}
PRIORITY_LABELS = {"A": "A 紧急 Urgent", "B": "B 高 High", "C": "C 普通 Normal"}
STATUS_ICON = {
    "new": "🆕",
    "claimed": "✋",
    "in_progress": "🛠️",
    "resolved": "✅",
    "closed": "🏁",
    "reopened": "🔁",
    "invalid": "🚫",
}


def esc(text: str) -> str:
    """Slack's three control characters, as its docs ask; the rest shows as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def actor_label(actor: str | None) -> str:
    """``slack:U1`` → a mention; customers and programs → words (already escaped)."""
    if not actor:
        return "未认领 unclaimed"
    if actor.startswith("slack:"):
        return f"<@{actor.removeprefix('slack:')}>"
    if actor.startswith("customer:"):
        return "客户 customer"
    return esc(actor)


def desk_text(text: str) -> str:
    """The desk's own words: escaped, then its ``{actor}`` tokens become mentions."""
    return _ACTOR.sub(lambda m: actor_label(m.group(1)), esc(text))


def quote(text: str, limit: int = CONTENT_SHOWN) -> str:
    """Customer or staff words as a Slack quote, escaped and cut with a visible mark.

    ``limit`` counts what Slack receives (``&lt;`` is four characters, every line's ``>`` one),
    so a complaint of 3,000 ``<`` still fits its block and still says how much was cut."""
    budget, used, kept = limit - 16, 0, 0  # room for the "… (+N 字)" mark
    for ch in text:
        cost = len(esc(ch)) + (1 if ch == "\n" else 0)
        if used + cost > budget:
            break
        used += cost
        kept += 1
    body = text if kept == len(text) else text[:kept] + f"… (+{len(text) - kept} 字)"
    return "\n".join(f">{esc(line)}" if line else ">" for line in body.split("\n"))


def countdown(due: datetime, now: datetime) -> str:
    """还剩 3小时20分 (3h20m left) / 已超时 25分 (25m overdue), as of ``now``."""
    seconds = int((due - now).total_seconds())
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    zh = (f"{days}天" if days else "") + (f"{hours}小时" if hours else "") + f"{mins}分"
    en = (f"{days}d" if days else "") + (f"{hours}h" if hours else "") + f"{mins}m"
    return f"还剩 {zh} ({en} left)" if seconds >= 0 else f"⚠️ 已超时 {zh} ({en} overdue)"


def _local(iso: str, tz: tzinfo) -> str:
    return f"{datetime.fromisoformat(iso).astimezone(tz):%m-%d %H:%M}"


def _text(text: str) -> dict[str, Any]:
    """A mrkdwn text object; callers budget their parts (``quote``), this is the last guard."""
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1].rsplit("&", 1)[0] if "&" in text[-6:] else text
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "mrkdwn", "text": text}


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(label),
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _plain(label), "value": value}


def deadline_line(card: dict[str, Any], now: datetime, tz: tzinfo) -> str:
    if card["status"] in {"closed", "invalid"}:
        return "🏁 已结案 closed"
    if card["status"] == "resolved":
        return f"✅ 已解决,待客户确认 resolved {_local(card['resolved_at'], tz)}"
    paused = " ⏸️ 计时暂停 clock paused" if card["paused"] else ""
    resolution = datetime.fromisoformat(card["resolution_due"])
    if card["first_responded_at"] is None:
        first = datetime.fromisoformat(card["first_response_due"])
        head = (
            f"⏰ 首次响应截止 first response by *{_local(card['first_response_due'], tz)}* "
            f"{countdown(first, now)}"
        )
    else:
        head = f"💬 已首次响应 first response {_local(card['first_responded_at'], tz)}"
    return (
        f"{head} · 解决截止 resolve by {_local(card['resolution_due'], tz)} "
        f"{countdown(resolution, now)}{paused} · 截至 as of {now.astimezone(tz):%H:%M}"
    )


def card_blocks(card: dict[str, Any], now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    """The case card: what it is, whose it is, how long is left, and what to do next."""
    number = card["number"]
    flags = [f"{card['severity_zh']}"]
    if card.get("repeat_of"):
        flags.append(f"重复投诉 repeat of {card['repeat_of']}")
    if card.get("headcount"):
        flags.append(f"集体投诉 {card['headcount']} 人")
    if card.get("reopen_count"):
        flags.append(f"重开 {card['reopen_count']} 次")
    keywords = " ".join(f"`{esc(k)}`" for k in card.get("keywords") or [])
    category = f"*{esc(card['category_zh'])}* {esc(card['category_en'])}"
    fields = [
        f"*优先级 Priority*\n{PRIORITY_LABELS[card['priority']]}",
        f"*严重程度 Severity*\n{esc(' · '.join(flags))}",
        f"*负责人 Owner*\n{actor_label(card['assignee'])}",
        f"*处理层级 Level*\n{esc(card['escalation_zh'])} {esc(card['escalation_en'])}",
        f"*渠道 Channel*\n{esc(card['channel'])}"
        + (f" · {esc(card['customer_name'])}" if card.get("customer_name") else ""),
        f"*联系方式 Contact*\n{esc(card['contact'] or '通过对话 via chat')}",
    ]
    if card.get("party"):
        fields.append(f"*被投诉对象 About*\n{esc(card['party'])}")
    if card.get("reference"):
        fields.append(f"*单号 Reference*\n{esc(card['reference'])}")
    if card.get("desired_outcome"):
        fields.append(f"*诉求 Wants*\n{esc(card['desired_outcome'])}")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": _plain(f"{STATUS_ICON[card['status']]} {number} · {card['status_zh']}", 150),
        },
        {
            "type": "section",
            "text": _text(
                f"类别 Category: {category}" + (f"  关键词 {keywords}" if keywords else "")
            ),
        },
        {"type": "section", "fields": [_text(f) for f in fields[:10]]},
        {
            "type": "section",
            "text": _text(f"*客户原话 Customer's words*\n{quote(card['content'])}"),
        },
    ]
    if card.get("resolution"):
        outcome = card.get("outcome_zh") or ""
        resolution = f"*处理结果 Resolution* {outcome}\n{quote(card['resolution'], 1500)}"
        blocks.append({"type": "section", "text": _text(resolution)})
    blocks.append({"type": "context", "elements": [_text(deadline_line(card, now, tz))]})
    actions = set(card["actions"])
    elements: list[dict[str, Any]] = []
    if "claim" in actions:
        elements.append(_button("✋ 认领 Claim", CLAIM, number, "primary"))
    if "reply" in actions:
        elements.append(_button("📤 回复客户 Reply", REPLY, number))
    elements.append(_button("🔎 详情 Details", DETAILS, number))
    more = [
        _option(label, f"{key}|{number}") for key, label, need in MORE_ACTIONS if need in actions
    ]
    if more:
        elements.append(
            {
                "type": "static_select",
                "action_id": MORE,
                "placeholder": _plain("更多操作 More…"),
                "options": more,
            }
        )
    blocks.append({"type": "actions", "block_id": f"case:{number}", "elements": elements})
    return blocks


def line_text(card: dict[str, Any]) -> str:
    """A thread line: who did what, the words (quoted), and for messages to the customer
    whether they arrived."""
    parts = [f"{card['icon']} {actor_label(card['actor'])} {desk_text(card['what'])}"]
    if card.get("assignee"):
        parts[0] += f" → {actor_label(card['assignee'])}"
    if card.get("quote"):
        parts.append(quote(card["quote"], 3000))
    delivery = card.get("delivery")
    if delivery == "sending":
        parts.append("⏳ 发送给客户中 sending to the customer…")
    elif delivery == "delivered":
        parts.append(f"✅ 已送达客户 delivered {esc(str(card.get('at', '')))}")
    elif delivery == "failed":
        parts.append(f"❌ 未能送达 not delivered: {esc(str(card.get('error', '')))}")
    if delivery and card.get("sent_text"):
        parts.append("客户收到的全文 what the customer got:\n" + quote(card["sent_text"], 3500))
    return "\n".join(parts)


def case_line(card: dict[str, Any], now: datetime, tz: tzinfo) -> str:
    """One case in a list (/kesu, App Home)."""
    if card["first_responded_at"] is None:
        due = datetime.fromisoformat(card["first_response_due"])
        clock = f"首次响应 {countdown(due, now)}"
    else:
        due = datetime.fromisoformat(card["resolution_due"])
        clock = f"解决 {countdown(due, now)}"
    return (
        f"{STATUS_ICON[card['status']]} *{card['number']}* {card['status_zh']} · "
        f"{card['priority']} · {esc(card['category_zh'])} · {actor_label(card['assignee'])} · "
        f"{clock} · {_local(card['received_at'], tz)}"
    )


def list_text(title: str, cards: Sequence[dict[str, Any]], now: datetime, tz: tzinfo) -> str:
    if not cards:
        return f"*{title}*\n没有案件 nothing here."
    return "\n".join([f"*{title}*", *(case_line(c, now, tz) for c in cards)])


HELP = (
    "*/kesu* — 客诉工作台 complaint desk\n"
    "• `/kesu mine` 我的案件 cases you own, most urgent first\n"
    "• `/kesu open` 所有未结案件 every open case\n"
    "• `/kesu find TS20261122001` 按编号查 by case number\n"
    "• `/kesu find 13800138000` 按客户电话查 by the customer's phone\n"
    "• `/kesu help` 本说明 this help\n"
    "案件卡片上的按钮 On each card: ✋ 认领 Claim · 📤 回复客户 Reply (the only way a message "
    "reaches the customer) · 🔎 详情 Details · 更多操作 escalate, resolve, invalid, priority, "
    "category, severity, assign, release. 在案件串里的讨论只在内部 Thread talk stays internal."
)


def home_view(
    mine: Sequence[dict[str, Any]],
    unclaimed: Sequence[dict[str, Any]],
    now: datetime,
    tz: tzinfo,
) -> dict[str, Any]:
    """App Home "我的案件 My cases": the person's open cases and the unclaimed queue."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain("我的案件 My cases", 150)}]
    blocks.extend(_home_rows(mine, now, tz, "你没有未结案件 You own no open case."))
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": _plain("待认领 Waiting for an owner", 150)})
    blocks.extend(_home_rows(unclaimed, now, tz, "没有待认领的案件 Nothing unclaimed."))
    blocks.append(
        {"type": "context", "elements": [_text(f"更新于 updated {now.astimezone(tz):%m-%d %H:%M}")]}
    )
    return {"type": "home", "blocks": blocks[:100]}


def _home_rows(
    cards: Iterable[dict[str, Any]], now: datetime, tz: tzinfo, empty: str
) -> list[dict[str, Any]]:
    rows = [
        {
            "type": "section",
            "text": _text(case_line(c, now, tz)),
            "accessory": _button("详情 Details", DETAILS, c["number"]),
        }
        for c in cards
    ]
    return rows[:40] or [{"type": "section", "text": _text(empty)}]


def home_closed() -> dict[str, Any]:
    """App Home for someone outside the desk: no case is shown (DOMAIN.md §8)."""
    text = "只有客服成员可以查看案件 Only desk members see cases."
    return {"type": "home", "blocks": [{"type": "section", "text": _text(text)}]}


# -- modals ------------------------------------------------------------------------------------


def _modal(
    callback_id: str, title: str, number: str, blocks: list[dict[str, Any]], submit: str | None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title, 24),
        "close": _plain("取消 Cancel", 24),
        "private_metadata": number,
        "blocks": blocks,
    }
    if submit:
        view["submit"] = _plain(submit, 24)
    return view


def _input(
    block_id: str,
    label: str,
    *,
    multiline: bool = True,
    initial: str | None = None,
    max_length: int = 3000,
    optional: bool = False,
    hint: str | None = None,
) -> dict[str, Any]:
    max_length = min(max_length, INPUT_LIMIT)
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = _plain(hint, 2000)
    return block


def _select(
    block_id: str, label: str, options: dict[str, str], initial: str | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": "value",
        "options": [_option(text, value) for value, text in options.items()][:100],
    }
    if initial in options:
        element["initial_option"] = _option(options[initial], initial)
        if initial not in list(options)[:100]:  # Slack shows 100 options; keep the current one
            element["options"] = [*element["options"][:99], element["initial_option"]]
    return {"type": "input", "block_id": block_id, "label": _plain(label, 2000), "element": element}


def _about(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "section",
        "text": _text(
            f"*{card['number']}* {card['status_zh']} · {esc(card['category_zh'])}\n"
            f"{quote(card['content'], 600)}"
        ),
    }


def reply_modal(card: dict[str, Any], draft: str | None, limit: int) -> dict[str, Any]:
    blocks = [
        _about(card),
        _input(
            "text",
            "发给客户的内容 Message to the customer",
            initial=draft,
            max_length=limit,
            hint="客户会原样收到这段文字(前面加上案件编号)。The customer receives exactly this.",
        ),
    ]
    return _modal("kesu_reply", "回复客户 Reply", card["number"], blocks, "发送 Send")


def action_modal(
    kind: str,
    card: dict[str, Any],
    categories: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The form behind a "更多操作" entry."""
    number = card["number"]
    about = _about(card)
    match kind:
        case "escalate":
            blocks = [about, _input("reason", "升级说明 Why, and what was tried")]
            return _modal("kesu_escalate", "升级 Escalate", number, blocks, "升级 Escalate")
        case "resolve":
            blocks = [
                about,
                _select("outcome", "结果 Outcome", OUTCOME_LABELS, "resolved"),
                _input(
                    "reason",
                    "处理结果(客户会收到)Resolution (sent to the customer)",
                    hint="客户会收到这段说明,并被请求确认。Sent; they are asked to confirm.",
                ),
            ]
            return _modal("kesu_resolve", "解决 Resolve", number, blocks, "解决 Resolve")
        case "invalid":
            blocks = [
                about,
                _input(
                    "reason",
                    "给客户的说明 Explanation for the customer",
                    hint="客户会收到这段说明;案件结案但保留记录。Sent; the case stays on record.",
                ),
            ]
            return _modal("kesu_invalid", "无效投诉 Invalid", number, blocks, "确认 Confirm")
        case "priority":
            blocks = [
                about,
                _select("value", "优先级 Priority", PRIORITY_LABELS, card["priority"]),
                _input("reason", "原因 Reason", multiline=False, max_length=500),
            ]
            return _modal("kesu_priority", "改优先级 Priority", number, blocks, "保存 Save")
        case "category":
            blocks = [
                about,
                _select("value", "类别 Category", categories or {}, card["category"]),
                _input("reason", "原因 Reason", multiline=False, max_length=500),
            ]
            return _modal("kesu_category", "改类别 Category", number, blocks, "保存 Save")
        case "severity":
            blocks = [
                about,
                _select("value", "严重程度 Severity", SEVERITY_LABELS, card["severity"]),
                _input(
                    "headcount",
                    "集体投诉人数 People (collective complaint)",
                    multiline=False,
                    max_length=7,
                    optional=True,
                    initial=str(card["headcount"]) if card.get("headcount") else None,
                    hint="≥3 人为热点,≥10 人为重大。3+ people: hot; 10+: major.",
                ),
                _input("reason", "原因 Reason", multiline=False, max_length=500),
            ]
            return _modal("kesu_severity", "严重程度 Severity", number, blocks, "保存 Save")
        case "assign":
            blocks = [
                about,
                {
                    "type": "input",
                    "block_id": "user",
                    "label": _plain("转派给 Assign to"),
                    "element": {"type": "users_select", "action_id": "value"},
                },
                _input("reason", "备注 Note", multiline=False, max_length=500, optional=True),
            ]
            return _modal("kesu_assign", "转派 Assign", number, blocks, "转派 Assign")
    raise ValueError(f"no form for {kind!r}")


def details_modal(
    card: dict[str, Any],
    history: Sequence[tuple[datetime, str, str, str | None]],
    attachments: int,
    now: datetime,
    tz: tzinfo,
) -> dict[str, Any]:
    """The whole record: every field, the customer's full words, and the history."""
    blocks = card_blocks(card, now, tz)[:-1]  # the same picture as the card, without buttons
    words = f"*客户原话 Customer's words*\n{quote(card['content'], 2900)}"
    blocks[3] = {"type": "section", "text": _text(words)}
    blocks.append({"type": "section", "text": _text(f"附件 Attachments: {attachments}")})
    blocks.append({"type": "header", "text": _plain("处理记录 History", 150)})
    for at, actor, what, note in history[-40:]:
        line = f"`{at.astimezone(tz):%m-%d %H:%M}` {actor_label(actor)} {esc(what)}"
        if note:
            line += "\n" + quote(note, 500)
        blocks.append({"type": "context", "elements": [_text(line)]})
    return _modal("kesu_details", card["number"], card["number"], blocks[:100], None)
