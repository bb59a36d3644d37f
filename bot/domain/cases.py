"""Case lifecycle (投诉处理流程): states, actions and the rules between them.

Pure: no I/O, no clock. Services ask this module whether an action is allowed and what the
case becomes; storage then writes the new row and its event in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Where a case stands. Values are stored in the database, so never rename one."""

    NEW = "new"  # 新建: recorded, nobody owns it yet
    CLAIMED = "claimed"  # 已认领: an owner is named
    IN_PROGRESS = "in_progress"  # 处理中: the customer has had a first response
    RESOLVED = "resolved"  # 已解决: staff say done, waiting for the customer to confirm
    # 待审核: staff say done and the policy has a supervisor check it before the customer is
    # asked (``[closure] review_before_confirm``); the customer has not been told yet.
    REVIEWING = "reviewing"
    CLOSED = "closed"  # 已结案: the customer confirmed (or the confirmation window passed)
    REOPENED = "reopened"  # 重新打开: bad revisit or repeat complaint; handling restarts
    INVALID = "invalid"  # 无效投诉: answered with an explanation and closed, still recorded

    @property
    def is_open(self) -> bool:
        """Open cases are on the SLA clock and count as the customer's current cases."""
        return self not in (Status.CLOSED, Status.INVALID)


class Action(StrEnum):
    """What somebody does to a case; each is one kind of case event."""

    OPEN = "open"
    CLAIM = "claim"
    RELEASE = "release"
    ASSIGN = "assign"
    START = "start"  # first response sent to the customer
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    MARK_INVALID = "mark_invalid"
    ESCALATE = "escalate"
    CORRECT = "correct"  # a recorded field fixed, with the reason (更正)
    PAUSE_CLOCK = "pause_clock"  # waiting for the customer (等待客户回复)
    RESUME_CLOCK = "resume_clock"
    NOTE = "note"
    CUSTOMER_MESSAGE = "customer_message"  # the customer added words or evidence (补充)
    REPLY = "reply"  # staff wrote to the customer (the first one is the first response)
    APPROVE = "approve"  # a supervisor passed the resolution: now the customer is asked
    SEND_BACK = "send_back"  # 退回: a supervisor returned the resolution with a note
    SURVEY = "survey"  # 回访: the revisit after closure sent, answered, expired …


class Priority(StrEnum):
    """优先级: A 紧急, B 高, C 普通 (DOMAIN.md §3)."""

    A = "A"
    B = "B"
    C = "C"


class Severity(StrEnum):
    """投诉事件通报 level (DOMAIN.md §5), ordered from least to most serious."""

    GENERAL = "general"  # 一般
    IMPORTANT = "important"  # 重要
    HOT = "hot"  # 热点
    MAJOR = "major"  # 重大

    @property
    def rank(self) -> int:
        """Lets code pick the more serious of two flags without a lookup table elsewhere."""
        return list(Severity).index(self)


class Risk(StrEnum):
    """风险等级 of the initial judgement (初步判断)."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


#: 媒体问询: the category of a press enquiry (DOMAIN.md §5; bot/nlp/press.py finds them). Not
#: in any taxonomy: the policy's [media] section sets its owner and reply time.
MEDIA = "media"
MEDIA_ZH, MEDIA_EN = "媒体问询", "media enquiry"

SEVERITY_ZH = {
    Severity.GENERAL: "一般",
    Severity.IMPORTANT: "重要",
    Severity.HOT: "热点",
    Severity.MAJOR: "重大",
}
STATUS_ZH = {
    Status.NEW: "新建",
    Status.CLAIMED: "已认领",
    Status.IN_PROGRESS: "处理中",
    Status.RESOLVED: "已解决",
    Status.REVIEWING: "待审核",
    Status.CLOSED: "已结案",
    Status.REOPENED: "重新打开",
    Status.INVALID: "无效投诉",
}

_WORKING = frozenset({Status.CLAIMED, Status.IN_PROGRESS})
_UNOWNED = frozenset({Status.NEW, Status.REOPENED})
_OPEN = frozenset(s for s in Status if s.is_open)
#: Staff say it is done: the customer's turn, or the supervisor's first.
_DONE = frozenset({Status.RESOLVED, Status.REVIEWING})

# action -> (states it is allowed in, resulting state or None for "unchanged")
_RULES: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.CLAIM: (_UNOWNED, Status.CLAIMED),
    Action.RELEASE: (frozenset({Status.CLAIMED}), Status.NEW),
    Action.ASSIGN: (_UNOWNED | _WORKING, None),  # from unowned it becomes claimed, see below
    Action.START: (frozenset({Status.CLAIMED}), Status.IN_PROGRESS),
    Action.RESOLVE: (_WORKING, Status.RESOLVED),
    Action.CLOSE: (frozenset({Status.RESOLVED}), Status.CLOSED),
    Action.REOPEN: (frozenset({Status.RESOLVED, Status.CLOSED}), Status.REOPENED),
    Action.MARK_INVALID: (_OPEN - _DONE, Status.INVALID),
    Action.ESCALATE: (_OPEN - _DONE, None),
    Action.CORRECT: (frozenset(Status), None),
    Action.PAUSE_CLOCK: (_OPEN - _DONE, None),
    Action.RESUME_CLOCK: (_OPEN - _DONE, None),
    Action.NOTE: (frozenset(Status), None),
    Action.CUSTOMER_MESSAGE: (_OPEN, None),
    Action.REPLY: (_OPEN, None),  # from unowned or claimed it becomes in progress, see below
    Action.APPROVE: (frozenset({Status.REVIEWING}), Status.RESOLVED),
    Action.SEND_BACK: (frozenset({Status.REVIEWING}), Status.IN_PROGRESS),
    Action.SURVEY: (frozenset({Status.CLOSED}), None),
}


class DomainError(Exception):
    """A rule of the complaint procedure forbids what was asked; the message says which."""


class IllegalTransition(DomainError):
    """The action is not allowed in the case's current state."""

    def __init__(self, status: Status, action: Action, number: str | None = None) -> None:
        self.status = status
        self.action = action
        self.number = number
        allowed = ", ".join(_who(a) for a in allowed_actions(status)) or "none"
        where = f"case {number} is" if number else "a case is"
        super().__init__(
            f"cannot {action.value} when {where} {status.value} ({STATUS_ZH[status]}); "
            f"allowed now: {allowed}"
        )


#: Actions staff never take: only the customer answers a resolution (or the confirmation
#: window closes it), only the customer adds their own words.
NOT_BY_STAFF: dict[Action, str] = {
    Action.CLOSE: "the customer or the system",
    Action.SURVEY: "the customer or the system",
    Action.CUSTOMER_MESSAGE: "the customer",
}


def _who(action: Action) -> str:
    """An allowed action as a refusal names it: with who takes it when staff cannot."""
    by = NOT_BY_STAFF.get(action)
    return f"{action.value} (by {by})" if by else action.value


def allowed_actions(status: Status) -> list[Action]:
    """Actions a person may take now; used for error messages and for which buttons to show."""
    return [a for a, (states, _) in _RULES.items() if status in states]


def transition(
    status: Status, action: Action, number: str | None = None, *, review: bool = False
) -> Status:
    """The state after ``action``; raises IllegalTransition naming state and action.
    ``review``: the policy has a supervisor check a resolution before the customer is asked
    (DOMAIN.md §6: staff resolve, the monitor checks, the customer confirms)."""
    if action is Action.OPEN:
        raise IllegalTransition(status, action, number)  # a case is opened exactly once
    states, target = _RULES[action]
    if status not in states:
        raise IllegalTransition(status, action, number)
    if action is Action.ASSIGN and status in _UNOWNED:
        return Status.CLAIMED
    if action is Action.REPLY and status in _UNOWNED | {Status.CLAIMED}:
        return Status.IN_PROGRESS  # answering the customer is working on the case
    if action is Action.RESOLVE and review:
        return Status.REVIEWING
    return status if target is None else target


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    """One rung of the chain (一线 → 主管 → 部门经理 → 专项小组)."""

    level: int
    name_zh: str
    name_en: str


def next_escalation_level(current: int, chain_length: int, number: str | None = None) -> int:
    """The level an escalation moves to; at the top of the chain there is nowhere to go."""
    if current + 1 >= chain_length:
        where = f"case {number}" if number else "the case"
        raise DomainError(
            f"{where} is already at the top of the escalation chain (level {current})"
        )
    return current + 1


@dataclass(frozen=True, slots=True)
class Case:
    """One complaint record (客户投诉受理单) as the rules see it."""

    id: int
    number: str
    customer_id: int
    channel: str
    status: Status
    priority: Priority
    severity: Severity
    risk: Risk
    category: str
    subject: str
    content: str
    party: str | None
    reference: str | None
    desired_outcome: str | None
    contact: str | None
    assignee: str | None
    escalation_level: int
    reopen_count: int
    repeat_of: int | None
    resolution: str | None
    outcome: str | None
    headcount: int | None
    language: str | None
    received_at: datetime
    sla_started_at: datetime
    paused_seconds: int
    paused_business_seconds: int
    keywords: list[str] | None
    first_response_due: datetime
    resolution_due: datetime
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    clock_paused_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    # Which set of deadlines is current (bot/domain/steps.py) and the earliest step not done.
    deadline_version: int = 1
    next_due: datetime | None = None
    # Since when the case is at ``escalation_level`` (its review deadline runs from it).
    level_since: datetime | None = None
    # When the desk last wrote to the customer about it; when they were asked to confirm.
    customer_heard_at: datetime | None = None
    confirm_asked_at: datetime | None = None
    # The revisit survey of the latest closure (bot/domain/survey.py), None when not drawn.
    survey: str | None = None
    # The party normalised (bot/nlp/text.py party_key): cases about one party count together.
    party_key: str | None = None
    # When the severity flag last rose: the flag's reports count from it.
    severity_since: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Case:
        values = {f: row[f] for f in cls.__slots__}
        values["status"] = Status(row["status"])
        values["priority"] = Priority(row["priority"])
        values["severity"] = Severity(row["severity"])
        values["risk"] = Risk(row["risk"])
        return cls(**values)


#: Fields a person may correct (更正) after intake. The customer's own words (content) and the
#: receipt time are evidence and are never rewritten.
CORRECTABLE_FIELDS = frozenset(
    {
        "category",
        "priority",
        "severity",
        "risk",
        "subject",
        "party",
        "reference",
        "desired_outcome",
        "contact",
        "headcount",
    }
)
