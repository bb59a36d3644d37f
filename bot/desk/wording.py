"""The desk's words for staff: action and state names, thread lines, refusals. Staff read
Chinese first and English after it, in one line (a desk may have staff of either).

Texts for staff may name people as ``{slack:U123}`` (an actor in braces); the channel turns
that into a mention after escaping everything else.
"""

from __future__ import annotations

from bot.domain.cases import (
    STATUS_ZH,
    Action,
    IllegalTransition,
    Priority,
    Status,
    allowed_actions,
)

PRIORITY_ZH = {Priority.A: "紧急", Priority.B: "高", Priority.C: "普通"}
ACTION_ZH = {
    Action.CLAIM: "认领",
    Action.RELEASE: "释放",
    Action.ASSIGN: "转派",
    Action.START: "开始处理",
    Action.RESOLVE: "解决",
    Action.CLOSE: "结案",
    Action.REOPEN: "重新打开",
    Action.MARK_INVALID: "标记无效",
    Action.ESCALATE: "升级",
    Action.CORRECT: "更正",
    Action.PAUSE_CLOCK: "暂停计时",
    Action.RESUME_CLOCK: "恢复计时",
    Action.NOTE: "备注",
    Action.CUSTOMER_MESSAGE: "客户补充",
    Action.REPLY: "回复客户",
    Action.OPEN: "受理",
    Action.APPROVE: "审核通过",
    Action.SEND_BACK: "退回",
    Action.SURVEY: "回访",
}
OUTCOME_ZH = {
    "resolved": "已解决",
    "partial": "部分解决",
    "explained": "已解释说明",
    "compensated": "已补偿",
    "declined": "诉求未予支持",
}
#: The thread's line for each action: icon and words (escalate, resolve, correct say more).
THREAD_LINES = {
    Action.CUSTOMER_MESSAGE: ("💬", "客户补充 the customer wrote"),
    Action.REPLY: ("📤", "回复客户 replied to the customer"),
    Action.CLAIM: ("✋", "认领了本案 claimed the case"),
    Action.RELEASE: ("↩️", "释放了本案 released the case"),
    Action.ASSIGN: ("👉", "转派 assigned the case"),
    Action.ESCALATE: ("⏫", ""),
    Action.RESOLVE: ("✅", ""),
    Action.MARK_INVALID: ("🚫", "标记为无效投诉 marked invalid"),
    Action.CORRECT: ("✏️", ""),
    Action.REOPEN: ("🔁", "重新打开 reopened"),
    Action.CLOSE: ("🏁", "已结案 closed"),
    Action.PAUSE_CLOCK: ("⏸️", "暂停计时 clock paused"),
    Action.RESUME_CLOCK: ("▶️", "恢复计时 clock resumed"),
    Action.START: ("📝", "开始处理 started"),
    Action.NOTE: ("📝", "备注 note"),
    Action.APPROVE: ("👍", "审核通过,已请客户确认 approved; the customer is asked to confirm"),
    Action.SEND_BACK: ("↩️", "退回重新处理 sent back to be worked on"),
    Action.SURVEY: ("📋", "客户回访 revisit survey"),
}
#: What staff can do from the desk (bot/desk/actions.py): a refusal offers only these. Closing
#: is the customer's answer (or the confirmation window's); the customer's words are theirs.
DESK_ACTIONS = frozenset(
    {
        Action.CLAIM,
        Action.RELEASE,
        Action.ASSIGN,
        Action.REPLY,
        Action.NOTE,
        Action.ESCALATE,
        Action.RESOLVE,
        Action.MARK_INVALID,
        Action.CORRECT,
        Action.APPROVE,
        Action.SEND_BACK,
    }
)
NOT_STAFF = "你不是客服成员,不能查看或处理案件 (only desk members can see or act on cases)"
ONLY_SUPERVISORS_ASSIGN = "只有主管可以转派 (only supervisors reassign cases)"
ONLY_SUPERVISORS_REVIEW = (
    "只有主管可以审核处理结果 (only supervisors approve or send back a resolution)"
)
EMPTY_REPLY = "回复内容不能为空 (the reply is empty)"


def already_yours(number: str) -> str:
    return f"{number} 已经由你负责 (you already have it)"


def claimed_by(number: str, assignee: str) -> str:
    return f"{number} 已由 {{{assignee}}} 认领 (already claimed)"


def not_a_member(actor: str) -> str:
    return f"{{{actor}}} 不是客服成员 (not a member of the desk)"


def reply_too_long(length: int, limit: int) -> str:
    return f"回复太长:{length} 字,最多 {limit} 字 (too long for the customer's chat)"


def owner_only(number: str, assignee: str | None) -> str:
    return (
        f"{number} 由 {{{assignee}}} 负责;只有负责人或主管可以这样做 "
        "(only the owner or a supervisor can)"
    )


def changed_meanwhile(number: str) -> str:
    return f"{number} 刚被别人修改,请再试一次 (changed meanwhile; try again)"


def not_a_number(number: str) -> str:
    return f"{number!r} 不是案件编号 (not a case number)"


def no_such_case(number: str) -> str:
    return f"没有案件 {number} (no such case)"


def no_such_category(value: object) -> str:
    return f"没有这个类别 (no category {value!r})"


def explain(exc: IllegalTransition) -> str:
    """What the state allows instead, so a refusal lists only what someone can do."""
    hints = {
        Action.RESOLVE: "请先认领 (claim it first)",
        Action.CLAIM: "已结案或已有人负责 (closed, or someone has it)",
    }
    allowed = (
        "、".join(ACTION_ZH[a] for a in allowed_actions(exc.status) if a in DESK_ACTIONS) or "无"
    )
    hint = hints.get(exc.action, "")
    if exc.status is Status.RESOLVED:  # the customer's turn: 已解决 closes, 未解决 reopens
        hint = "等待客户确认,由客户结案或重新打开 (waiting for the customer to confirm)"
    elif exc.status is Status.REVIEWING:  # the supervisor's turn
        hint = "等待主管审核,由主管通过或退回 (waiting for a supervisor to approve or send back)"
    return (
        f"{exc.number} 当前「{STATUS_ZH[exc.status]}」,不能{ACTION_ZH[exc.action]}。"
        f"{hint} 现在可以:{allowed}"
    ).strip()
