"""The forms (Slack modals) behind a card's buttons, and reading what was submitted in them.

A refused form stays open with the reason under one of its fields (Slack's own way), so each
form says which field answers for it (``ANSWER_FIELD``). Pure functions, like ``blocks.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from bot.channels.slack.blocks import (
    MORE_ACTIONS,
    PRIORITY_LABELS,
    card_blocks,
    mrkdwn,
    option,
    plain,
)
from bot.channels.slack.text import actor_label, cut, esc, quote

INPUT_LIMIT = 3000  # the most a plain_text_input's max_length may be
#: The forms behind the menu entries (release acts at once, without a form).
FORMS = frozenset(key for key, _, _ in MORE_ACTIONS) - {"release"}
#: callback_id → the field a refusal is shown under.
ANSWER_FIELD = {
    "kesu_reply": "text",
    "kesu_assign": "user",
    "kesu_escalate": "reason",
    "kesu_resolve": "reason",
    "kesu_invalid": "reason",
    "kesu_priority": "value",
    "kesu_category": "value",
    "kesu_severity": "value",
    "kesu_approve": "reason",
    "kesu_send_back": "reason",
}
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


def value(view: dict[str, Any], block_id: str) -> str | None:
    """A submitted field's value, whatever kind of input it was."""
    field = ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get("value") or {}
    if "selected_option" in field:
        chosen = field["selected_option"]
        return None if chosen is None else str(chosen["value"])
    if "selected_user" in field:
        return str(field["selected_user"])
    typed = field.get("value")
    return None if typed is None else str(typed)


def first_input(view: dict[str, Any]) -> str | None:
    """The form's first field: where an error that belongs to no field is shown."""
    for block in view.get("blocks") or []:
        if block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    return None


def _modal(
    callback_id: str, title: str, number: str, blocks: list[dict[str, Any]], submit: str | None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain("取消 Cancel", 24),
        "private_metadata": number,
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain(submit, 24)
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
        element["initial_value"] = cut(initial, max_length, "")
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _select(
    block_id: str, label: str, options: dict[str, str], initial: str | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": "value",
        "options": [option(text, key) for key, text in options.items()][:100],
    }
    if initial in options:
        element["initial_option"] = option(options[initial], initial)
        if initial not in list(options)[:100]:  # Slack shows 100 options; keep the current one
            element["options"] = [*element["options"][:99], element["initial_option"]]
    return {"type": "input", "block_id": block_id, "label": plain(label, 2000), "element": element}


def _about(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "section",
        "text": mrkdwn(
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


def _reason(label: str = "原因 Reason", **options: Any) -> dict[str, Any]:
    return _input("reason", label, multiline=False, max_length=500, **options)


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
                _reason(),
            ]
            return _modal("kesu_priority", "改优先级 Priority", number, blocks, "保存 Save")
        case "category":
            blocks = [
                about,
                _select("value", "类别 Category", categories or {}, card["category"]),
                _reason(),
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
                _reason(),
            ]
            return _modal("kesu_severity", "严重程度 Severity", number, blocks, "保存 Save")
        case "assign":
            blocks = [
                about,
                {
                    "type": "input",
                    "block_id": "user",
                    "label": plain("转派给 Assign to"),
                    "element": {"type": "users_select", "action_id": "value"},
                },
                _reason("备注 Note", optional=True),
            ]
            return _modal("kesu_assign", "转派 Assign", number, blocks, "转派 Assign")
        case "approve" | "send_back":
            return _review_modal(kind, card)
    raise ValueError(f"no form for {kind!r}")


def _review_modal(kind: str, card: dict[str, Any]) -> dict[str, Any]:
    """A supervisor's check of a resolution (review_before_confirm): what the customer would
    receive, and a note — optional to approve, required to send back."""
    outcome = card.get("outcome_zh") or ""
    resolution = {
        "type": "section",
        "text": mrkdwn(
            f"*处理结果 Resolution* {outcome}(通过后发给客户 sent to the customer once approved)"
            f"\n{quote(card.get('resolution') or '', 2000)}"
        ),
    }
    if kind == "approve":
        note = _reason("审核意见 Note (kept in the history)", optional=True)
        blocks = [_about(card), resolution, note]
        return _modal("kesu_approve", "审核通过 Approve", card["number"], blocks, "通过 Approve")
    note = _input(
        "reason",
        "退回说明 What is missing (the handler sees it)",
        max_length=1000,
        hint="客户不会收到这段文字。The customer does not receive it.",
    )
    blocks = [_about(card), resolution, note]
    return _modal("kesu_send_back", "退回 Send back", card["number"], blocks, "退回 Send back")


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
    blocks[3] = {"type": "section", "text": mrkdwn(words)}
    blocks.append({"type": "section", "text": mrkdwn(f"附件 Attachments: {attachments}")})
    blocks.append({"type": "header", "text": plain("处理记录 History", 150)})
    for at, actor, what, note in history[-40:]:
        line = f"`{at.astimezone(tz):%m-%d %H:%M}` {actor_label(actor)} {esc(what)}"
        if note:
            line += "\n" + quote(note, 500)
        blocks.append({"type": "context", "elements": [mrkdwn(line)]})
    return _modal("kesu_details", card["number"], card["number"], blocks[:100], None)


def event_words(action: str, changes: dict[str, Any]) -> str:
    """A history line's what: the action and the fields it changed (old → new)."""
    fields = ", ".join(f"{k} {v[0]} → {v[1]}" for k, v in changes.items() if k != "status")
    return f"{action} {fields}".strip()
