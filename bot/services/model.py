"""What the case services take and give: plain values, no storage and no SDK.

Apart from the use cases so that the staff projection, the customer's notices and the flows
can name them without importing the machinery that produces them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.cases import Action, Case, DomainError, Priority, Risk, Severity
from bot.messages import Attachment, FollowUp, OutgoingMessage
from storage.repositories import Tx

#: How a resolved case ended (处理结果类型), shown to staff and counted in reports.
OUTCOMES = ("resolved", "partial", "explained", "compensated", "declined")


class CaseNotFound(DomainError):
    pass


#: The actor of what the clock does by itself (a confirmation window that passed).
SYSTEM = "system"


class NotDelivered(DomainError):
    """The customer's copy of a change could not be queued: the change is refused with it,
    since a reply recorded as given but never sent would stop the clock on a silence."""


@dataclass(frozen=True, slots=True)
class NewComplaint:
    """What intake has gathered; the customer's words go in ``content`` untouched."""

    channel: str
    channel_user_id: str
    content: str
    subject: str = ""
    category: str = "other"
    priority: Priority = Priority.C
    severity: Severity = Severity.GENERAL
    risk: Risk = Risk.NONE
    party: str | None = None
    reference: str | None = None
    desired_outcome: str | None = None
    contact: str | None = None
    display_name: str | None = None
    language: str | None = None
    keywords: tuple[str, ...] | list[str] = ()  # the words that explain the category
    # 受理时间: the platform's time of the customer's first complaint message (defaults to now).
    received_at: datetime | None = None
    # The SLA clock's start: the platform's time of the submitting message where it carries
    # one, else when kesu first stored that update (defaults to now).
    sla_started_at: datetime | None = None
    repeat_of: int | None = None


@dataclass(frozen=True, slots=True)
class CaseEvent:
    id: int
    case_id: int
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    changes: dict[str, list[Any]]
    note: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CaseEvent:
        return cls(**{f: row[f] for f in cls.__slots__})


@dataclass(frozen=True, slots=True)
class Change:
    """One committed-to-be change of a case, as listeners (the staff projection) see it."""

    case: Case  # after the change
    before: Case | None  # None when the case was just opened
    action: Action
    actor: str
    note: str | None
    changes: dict[str, list[Any]]
    at: datetime
    attachments: tuple[Attachment, ...] = ()
    echo: bool = True  # False: written where staff already see it, do not post it back
    #: What the customer is sent about this change (queued by the use case itself), so the
    #: staff thread can show it; None when the change tells the customer nothing.
    to_customer: OutgoingMessage | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a listener wants queued once the customer's message is delivered, or has failed
    for good (the staff thread's line turns into 已送达 or ❌ with the reason)."""

    on_sent: FollowUp
    on_failed: FollowUp


#: Called inside the transaction of every change, in a savepoint of its own: what it writes
#: commits with the change, and a failure undoes only its own rows. It may return the
#: receipt it wants for the customer's message.
CaseListener = Callable[[Tx, Change], Awaitable[Receipt | None]]
