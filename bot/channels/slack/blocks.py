"""Block Kit for what the staff channel shows: case cards, thread lines, /kesu lists, App Home.

Pure functions from the desk's plain data to Slack JSON (no SDK import, so they test alone);
the forms behind the buttons are in ``forms.py``. What a customer wrote goes through
``text.py`` first: escaped, and cut to each block's budget with a visible mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from bot.channels.slack.text import actor_label, cut, desk_text, esc, mention, quote
from bot.domain.survey import LABELS as SURVEY_LABELS

SECTION_LIMIT = 3000  # characters in a section's text

# action_id → what the button or menu entry does; the listeners are registered on these.
CLAIM, REPLY, DETAILS, MORE = "kesu_claim", "kesu_reply", "kesu_details", "kesu_more"
#: "更多操作" menu entries: (value prefix, label, case actions that must be allowed)
MORE_ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("escalate", "⏫ 升级 Escalate", "escalate"),
    ("resolve", "✅ 解决 Resolve", "resolve"),
    ("invalid", "🚫 无效投诉 Invalid", "mark_invalid"),
    ("priority", "🔺 改优先级 Priority", "correct"),
    ("category", "🏷️ 改类别 Category", "correct"),
    ("severity", "⚠️ 严重程度/人数 Severity", "correct"),
    ("approve", "👍 审核通过 Approve", "approve"),
    ("send_back", "↩️ 退回 Send back", "send_back"),
    ("assign", "👉 转派 Assign", "assign"),
    ("release", "↩️ 释放 Release", "release"),
)
PRIORITY_LABELS = {"A": "A 紧急 Urgent", "B": "B 高 High", "C": "C 普通 Normal"}
STATUS_ICON = {
    "new": "🆕",
    "claimed": "✋",
    "in_progress": "🛠️",
    "resolved": "✅",
    "reviewing": "🔍",
    "closed": "🏁",
    "reopened": "🔁",
    "invalid": "🚫",
}


def countdown(due: datetime, now: datetime) -> str:
    """还剩 3小时20分 (3h20m left) / 已超时 25分 (25m overdue), as of ``now``."""
    seconds = int((due - now).total_seconds())
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    zh = (f"{days}天" if days else "") + (f"{hours}小时" if hours else "") + f"{mins}分"
    en = (f"{days}d" if days else "") + (f"{hours}h" if hours else "") + f"{mins}m"
    return f"还剩 {zh} ({en} left)" if seconds >= 0 else f"⚠️ 已超时 {zh} ({en} overdue)"


def local(iso: str, tz: tzinfo) -> str:
    return f"{datetime.fromisoformat(iso).astimezone(tz):%m-%d %H:%M}"


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object; callers budget their parts (``quote``), this is the last guard."""
    return {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT, mrkdwn=True)}


def plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit, ""), "emoji": True}


def button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(label),
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def option(label: str, value: str) -> dict[str, Any]:
    return {"text": plain(label), "value": value}


def deadline_line(card: dict[str, Any], now: datetime, tz: tzinfo) -> str:
    if card["status"] in {"closed", "invalid"}:
        return "🏁 已结案 closed"
    if card["status"] == "resolved":
        return f"✅ 已解决,待客户确认 resolved {local(card['resolved_at'], tz)}"
    if card["status"] == "reviewing":
        return (
            f"🔍 已解决,待主管审核 resolved {local(card['resolved_at'], tz)}, "
            "awaiting a supervisor's review "
            "(审核通过后才请客户确认 the customer is asked once approved)"
        )
    paused = " ⏸️ 计时暂停 clock paused" if card["paused"] else ""
    resolution = datetime.fromisoformat(card["resolution_due"])
    if card["first_responded_at"] is None:
        first = datetime.fromisoformat(card["first_response_due"])
        head = (
            f"⏰ 首次响应截止 first response by *{local(card['first_response_due'], tz)}* "
            f"{countdown(first, now)}"
        )
    else:
        head = f"💬 已首次响应 first response {local(card['first_responded_at'], tz)}"
    return (
        f"{head} · 解决截止 resolve by {local(card['resolution_due'], tz)} "
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
            "text": plain(f"{STATUS_ICON[card['status']]} {number} · {card['status_zh']}", 150),
        },
        {
            "type": "section",
            "text": mrkdwn(
                f"类别 Category: {category}" + (f"  关键词 {keywords}" if keywords else "")
            ),
        },
        {"type": "section", "fields": [mrkdwn(f) for f in fields[:10]]},
        {
            "type": "section",
            "text": mrkdwn(f"*客户原话 Customer's words*\n{quote(card['content'])}"),
        },
    ]
    if card.get("resolution"):
        outcome = card.get("outcome_zh") or ""
        resolution = f"*处理结果 Resolution* {outcome}\n{quote(card['resolution'], 1500)}"
        blocks.append({"type": "section", "text": mrkdwn(resolution)})
    blocks.append({"type": "context", "elements": [mrkdwn(deadline_line(card, now, tz))]})
    if card.get("survey"):
        blocks.append({"type": "context", "elements": [mrkdwn(survey_line(card))]})
    blocks.append(_card_actions(number, set(card["actions"])))
    return blocks


SURVEY_STATES = {
    "due": "待发送 to be sent",
    "sent": "已发送,待回答 sent, awaiting answers",
    "answered": "已完成 answered",
    "reopened": "客户不满意,已重新处理 not satisfied: reopened",
    "expired": "已过期未完成 expired unanswered",
    "unreachable": "无法联系客户,未发送 unreachable: not sent (not counted in the response rate)",
}


def survey_line(card: dict[str, Any]) -> str:
    """📋 回访: its state and the answers so far (a comment cut to stay one line's worth)."""
    state = SURVEY_STATES.get(str(card["survey"]), esc(str(card["survey"])))
    answers = card.get("survey_answers") or {}
    shown = []
    for question, value in answers.items():
        words = {"y": "是 yes", "n": "否 no"}.get(value, value)
        shown.append(f"{SURVEY_LABELS.get(question, esc(question))}: {esc(cut(words, 300, ''))}")
    return "📋 回访 survey: " + state + ("\n" + " · ".join(shown) if shown else "")


def _card_actions(number: str, actions: set[str]) -> dict[str, Any]:
    """The buttons the rules allow now; a stale card's button still reaches the rules."""
    elements: list[dict[str, Any]] = []
    if "claim" in actions:
        elements.append(button("✋ 认领 Claim", CLAIM, number, "primary"))
    if "reply" in actions:
        elements.append(button("📤 回复客户 Reply", REPLY, number))
    elements.append(button("🔎 详情 Details", DETAILS, number))
    more = [
        option(label, f"{key}|{number}") for key, label, need in MORE_ACTIONS if need in actions
    ]
    if more:
        elements.append(
            {
                "type": "static_select",
                "action_id": MORE,
                "placeholder": plain("更多操作 More…"),
                "options": more,
            }
        )
    return {"type": "actions", "block_id": f"case:{number}", "elements": elements}


def line_text(card: dict[str, Any]) -> str:
    """A thread line: who did what, the words (quoted), and for messages to the customer
    whether they arrived."""
    parts = [f"{card['icon']} {actor_label(card['actor'])} {desk_text(card['what'])}"]
    if card.get("assignee"):
        parts[0] += f" → {actor_label(card['assignee'])}"
    if card.get("ping"):  # the level's people (KESU_SLACK_ROLES): Slack notifies them
        parts[0] += " " + " ".join(mention(p) for p in card["ping"])
    elif card.get("role"):
        parts[0] += f" ({esc(card['role'])}: 未在 KESU_SLACK_ROLES 中配置人员 nobody listed)"
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
    if card["status"] == "resolved":
        clock = "待客户确认 awaiting the customer"
    elif card["status"] == "reviewing":
        clock = "待主管审核 awaiting review"
    elif card["first_responded_at"] is None:
        due = datetime.fromisoformat(card["first_response_due"])
        clock = f"首次响应 {countdown(due, now)}"
    else:
        due = datetime.fromisoformat(card["resolution_due"])
        clock = f"解决 {countdown(due, now)}"
    return (
        f"{STATUS_ICON[card['status']]} *{card['number']}* {card['status_zh']} · "
        f"{card['priority']} · {esc(card['category_zh'])} · {actor_label(card['assignee'])} · "
        f"{clock} · {local(card['received_at'], tz)}"
    )


def list_text(title: str, cards: Sequence[dict[str, Any]], now: datetime, tz: tzinfo) -> str:
    if not cards:
        return f"*{title}*\n没有案件 nothing here."
    return "\n".join([f"*{title}*", *(case_line(c, now, tz) for c in cards)])


AWAITING = "待审核/待客户确认 Awaiting review or the customer"


def awaiting_text(cards: Sequence[dict[str, Any]], now: datetime, tz: tzinfo) -> str:
    """Resolved cases, apart from the work list: a supervisor's review (待审核) or the
    customer's answer (待客户确认) comes next, not the handler's work."""
    if not cards:
        return ""
    return "\n\n" + list_text(AWAITING, cards, now, tz)


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
    awaiting: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """App Home "我的案件 My cases": the person's cases to work on, the unclaimed queue, and
    apart, their resolved cases waiting for the customer (待客户确认)."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": plain("我的案件 My cases", 150)}]
    blocks.extend(_home_rows(mine, now, tz, "你没有未结案件 You own no open case."))
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": plain("待认领 Waiting for an owner", 150)})
    blocks.extend(_home_rows(unclaimed, now, tz, "没有待认领的案件 Nothing unclaimed."))
    if awaiting:
        blocks.append({"type": "divider"})
        blocks.append({"type": "header", "text": plain(AWAITING, 150)})
        blocks.extend(_home_rows(awaiting, now, tz, "")[:20])
    updated = f"更新于 updated {now.astimezone(tz):%m-%d %H:%M}"
    blocks.append({"type": "context", "elements": [mrkdwn(updated)]})
    return {"type": "home", "blocks": blocks[:100]}


def _home_rows(
    cards: Iterable[dict[str, Any]], now: datetime, tz: tzinfo, empty: str
) -> list[dict[str, Any]]:
    rows = [
        {
            "type": "section",
            "text": mrkdwn(case_line(c, now, tz)),
            "accessory": button("详情 Details", DETAILS, c["number"]),
        }
        for c in cards
    ]
    return rows[:40] or [{"type": "section", "text": mrkdwn(empty)}]


def home_closed() -> dict[str, Any]:
    """App Home for someone outside the desk: no case is shown (DOMAIN.md §8)."""
    text = "只有客服成员可以查看案件 Only desk members see cases."
    return {"type": "home", "blocks": [{"type": "section", "text": mrkdwn(text)}]}
