"""The customer's messages about a change of their case: a staff reply, the resolution, the
invalid-complaint explanation, the escalation notice.

Part of the use case, not a listener: they are drawn and queued in the change's own
transaction, and if they cannot be, the change is refused (:class:`NotDelivered`). A reply
recorded without its message would stop the first-response clock on a silence; with no staff
channel at all (the web board, a script) the customer still hears. Staff channels only add a
receipt to the message, so their thread shows when it arrived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.cases import MEDIA, Action, Case, Status
from bot.domain.sla import Sla
from bot.flows.texts import convert, pick_language, text
from bot.logsafe import log_failure
from bot.messages import Button, OutgoingMessage
from bot.outgoing import TextLimits, enqueue
from bot.services.model import SYSTEM, Change, NotDelivered, Receipt
from storage.repositories import Tx
from storage.schema import Row

log = logging.getLogger(__name__)

#: The changes the customer is told about; the others are the desk's own business.
TOLD = frozenset(
    {Action.REPLY, Action.RESOLVE, Action.APPROVE, Action.MARK_INVALID, Action.ESCALATE}
)


def told(action: Action, actor: str, status: Status) -> bool:
    """Whether the customer hears of this change (``status``: the case's after it): the
    desk's replies and decisions, and a closure the clock made because they did not answer
    (one they confirmed needs no word). A resolution a supervisor reviews first is told when
    approved; one sent back never reaches them."""
    if action is Action.RESOLVE and status is Status.REVIEWING:
        return False
    return action in TOLD or (action is Action.CLOSE and actor == SYSTEM)


#: The resolution's buttons: ``c:ok:<number>:<token>`` (已解决) and ``c:no:…`` (未解决); the
#: token names the resolution (``Closure.token``), so an earlier one's buttons are stale.
CONFIRM_BUTTON = "c:"
SOLVED, NOT_SOLVED = "ok", "no"


def confirm_data(answer: str, case: Case) -> str:
    return f"{CONFIRM_BUTTON}{answer}:{case.number}:{case.reopen_count}"


@dataclass(frozen=True, slots=True)
class Notice:
    """A message for one customer's chat."""

    channel: str
    recipient: str
    message: OutgoingMessage


@dataclass
class Notices:
    sla: Sla
    tz: ZoneInfo
    default_language: str = "zh-hans"
    # Each channel's longest text: a longer message is queued as several.
    text_limits: TextLimits = field(default_factory=TextLimits)

    async def draw(self, tx: Tx, case: Case, action: Action, note: str, at: datetime) -> Notice:
        """The message in the customer's language: their own choice (/language) first, then
        the language of the complaint."""
        customer = await tx.customers.get(case.customer_id)
        lang = pick_language(customer["language"] or case.language, self.default_language)
        if case.category == MEDIA and action is not Action.REPLY:
            body = self._to_press(lang, case, action, note, at)
            return Notice(customer["channel"], customer["channel_user_id"], OutgoingMessage(body))
        match action:
            case Action.REPLY:
                body = text(lang, "desk_reply", number=case.number, text=note)
            case Action.RESOLVE:
                return self._resolved(customer, lang, case, note)
            case Action.APPROVE:  # the resolution the supervisor passed, not their note
                return self._resolved(customer, lang, case, case.resolution or note)
            case Action.MARK_INVALID:
                body = text(lang, "desk_invalid", number=case.number, explanation=note)
            case Action.CLOSE:
                body = text(lang, "desk_closed_unanswered", number=case.number)
            case _:
                body = self._escalated(lang, case, at, "desk_escalated")
        return Notice(customer["channel"], customer["channel_user_id"], OutgoingMessage(body))

    def _escalated(self, lang: str, case: Case, at: datetime, key: str) -> str:
        step = self.sla.policy.level(case.escalation_level)
        due = self.escalation_promise(case, at).astimezone(self.tz)
        level = convert(lang, step.title_zh, step.title_en)
        return text(lang, key, number=case.number, level=level, due=f"{due:%Y-%m-%d %H:%M}")

    def _to_press(self, lang: str, case: Case, action: Action, note: str, at: datetime) -> str:
        """A press enquiry's later messages (媒体问询): 问询, not 投诉; the department's answer
        without 已解决 / 未解决 (nothing for a journalist to confirm: the window only closes
        the record)."""
        match action:
            case Action.RESOLVE | Action.APPROVE:
                answer = case.resolution if action is Action.APPROVE else note
                return text(lang, "media_answered", number=case.number, resolution=answer or note)
            case Action.CLOSE:
                return text(lang, "media_closed", number=case.number)
            case Action.MARK_INVALID:
                return text(lang, "media_invalid", number=case.number, explanation=note)
            case _:
                return self._escalated(lang, case, at, "media_escalated")

    def _resolved(self, customer: Row, lang: str, case: Case, note: str) -> Notice:
        """The result, with 已解决 / 未解决 and the date an unanswered case closes."""
        start = case.confirm_asked_at or case.resolved_at or case.updated_at
        window = self.sla.policy.closure.confirm_within.due(self.sla.calendar, start)
        body = text(
            lang, "desk_resolved", number=case.number, resolution=note,
            due=f"{window.astimezone(self.tz):%Y-%m-%d %H:%M}",
        )  # fmt: skip
        buttons = (
            (
                Button(text(lang, "btn_solved"), confirm_data(SOLVED, case)),
                Button(text(lang, "btn_not_solved"), confirm_data(NOT_SOLVED, case)),
            ),
        )
        message = OutgoingMessage(body, buttons=buttons)
        return Notice(customer["channel"], customer["channel_user_id"], message)

    async def queue(self, tx: Tx, change: Change, notice: Notice, receipt: Receipt | None) -> None:
        """One message per change (the key holds the case's version), whatever listens."""
        message = notice.message
        if receipt is not None:
            message = replace(message, on_sent=receipt.on_sent, on_failed=receipt.on_failed)
        await enqueue(
            tx,
            self.text_limits,
            channel=notice.channel,
            recipient=notice.recipient,
            message=message,
            now=change.at,
            dedupe_key=f"case:{change.case.id}:v{change.case.version}:customer",
        )

    def escalation_promise(self, case: Case, now: datetime) -> datetime:
        """The time the customer is told after an escalation (DOMAIN.md §4: keep them informed
        of the new owner and the expected time): the resolution deadline while it is ahead;
        for a case already late, the new level's own time to review it (主管 1 h …). The
        deadline itself stays: a breach is never erased."""
        if case.resolution_due > now:
            return case.resolution_due
        step = self.sla.policy.level(case.escalation_level)
        own = self.sla.targets(case.priority, case.category)[1]
        target = step.review_within or step.escalate_after or own
        return target.due(self.sla.calendar, now)


def refused(case: Case, action: Action, cause: BaseException) -> NotDelivered:
    """The change is refused because its message to the customer could not be queued."""
    log_failure(log, logging.ERROR, "case %s: the customer's message for %s could not be "
                "queued; the change is refused", case.number, action.value,
                exc=cause)  # fmt: skip
    return NotDelivered(
        f"{case.number}:无法给客户发送消息,操作未执行,请稍后再试 "
        "(the customer's message could not be queued, so nothing was changed; try again)"
    )
