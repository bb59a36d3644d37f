"""What staff see of cases: the card (posted once, then edited in place so the channel always
shows the truth), a line in the case's thread for every change, and a receipt on that line
for the customer's message (sending → delivered at … / failed because …).

A listener of :class:`~bot.services.CaseService`, wired in ``app.py``: it runs inside the
change's transaction in a savepoint of its own, so its rows commit with the change (a crash
never leaves a case without its card) and a failure costs only them — logged, never the
change or the customer's message, which the use case queues itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import phonenumbers

from bot.desk.wording import OUTCOME_ZH, PRIORITY_ZH, THREAD_LINES
from bot.domain.cases import (
    MEDIA,
    MEDIA_EN,
    MEDIA_ZH,
    SEVERITY_ZH,
    STATUS_ZH,
    Action,
    Case,
    Status,
    allowed_actions,
)
from bot.domain.sla import Sla
from bot.logsafe import log_failure
from bot.messages import FollowUp, OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.outgoing import TextLimits, enqueue
from bot.services import Change, Receipt
from bot.services.model import SYSTEM
from storage.repositories import Tx

log = logging.getLogger(__name__)

#: The role that reviews resolutions when the policy asks (``review_before_confirm``): the
#: desk's supervisors, who may also act on anyone's case.
REVIEWER = "supervisor"

#: Fields the card shows: a change to any of them edits the card.
CARD_FIELDS = frozenset(
    {
        "status",
        "assignee",
        "priority",
        "severity",
        "risk",
        "category",
        "subject",
        "party",
        "reference",
        "contact",
        "desired_outcome",
        "headcount",
        "escalation_level",
        "first_response_due",
        "resolution_due",
        "first_responded_at",
        "clock_paused_at",
        "outcome",
        "resolution",
        "survey",
    }
)


def mask_contact(contact: str | None) -> str | None:
    """138****5678: enough for staff to recognise a caller, not enough to leak a number."""
    if not contact:
        return None
    try:
        parsed = phonenumbers.parse(contact, "CN")
        digits = phonenumbers.national_significant_number(parsed)
    except phonenumbers.NumberParseException:
        digits = "".join(ch for ch in contact if ch.isdigit())
    if len(digits) >= 11:  # a mainland mobile: the familiar 138****5678
        return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"
    if len(digits) >= 6:  # shorter numbers (Hong Kong 8 digits): 91****67
        return f"{digits[:2]}{'*' * (len(digits) - 4)}{digits[-2:]}"
    return "*" * len(digits) if digits else "****"


class Projection:
    def __init__(
        self,
        sla: Sla,
        classifier: Classifier,
        now: Callable[[], datetime],
        *,
        channel: str,
        staff_channel: str,
        text_limits: TextLimits | None = None,
    ) -> None:
        self.sla = sla
        self.classifier = classifier
        self.now = now
        self.channel = channel  # the staff platform, e.g. "slack"
        self.staff_channel = staff_channel  # where cards go, e.g. a Slack channel id
        self.text_limits = text_limits or TextLimits()
        #: Role → the people the staff channel mentions for it (its own ids: Slack U…/S…);
        #: the channel fills it (KESU_SLACK_ROLES), so the desk stays channel-neutral.
        self.people: Callable[[str], tuple[str, ...]] = lambda role: ()

    async def on_change(self, tx: Tx, change: Change) -> Receipt | None:
        """Card and thread line for one change; the receipt the customer's message carries."""
        case = change.case
        key = f"{self.channel}:case:{case.id}:v{case.version}"
        if change.action is Action.OPEN:
            card = await self.card(tx, case)
            await self._staff(tx, f"{self.channel}:card:{case.id}", self._card_message(case, card))
            if change.attachments:
                files = self._line(change, "📎", "客户提供的附件 evidence from the customer")
                await self._staff(tx, f"{key}:files", files)
            if case.category == MEDIA:  # routed to the press owner (DOMAIN.md §5)
                await self._staff(tx, f"{key}:media", self._media_line(change))
            return None
        # A survey's step redraws the card even without a field changed: its answers show.
        if CARD_FIELDS.intersection(change.changes) or change.action is Action.SURVEY:
            try:  # a card that cannot be drawn must not cost the thread its line
                async with tx.savepoint():
                    await self._edit_card(tx, case, key)
            except Exception as exc:
                log_failure(log, logging.ERROR, "case %s: the card could not be updated",
                            case.number, exc=exc)  # fmt: skip
        if not change.echo:
            return None
        line = self._thread_line(change)
        if line is None:
            return None
        receipt = None
        if change.to_customer is not None:
            line, receipt = self._with_receipt(case, line, change.to_customer.text)
        await self._staff(tx, f"{key}:line", line)
        return receipt

    async def redraw(self, tx: Tx, case: Case, why: str) -> None:
        """The card again with its countdown as of now (a reminder point, a breach: nothing
        on the case changed, so ``why`` keys the edit)."""
        await self._edit_card(tx, case, f"{self.channel}:case:{case.id}:v{case.version}:{why}")

    async def _edit_card(self, tx: Tx, case: Case, key: str) -> None:
        card = await self.card(tx, case)
        message = self._card_message(case, card)
        # An older edit still waiting (Slack slow or down) would only show a past state.
        await tx.outbox.supersede(
            self.channel, self.staff_channel, f"{self.channel}:case:{case.id}:v%:card"
        )
        edit = OutgoingMessage(message.text, ref=message.ref, edit=message.ref, card=message.card)
        await self._staff(tx, f"{key}:card", edit)

    async def _staff(self, tx: Tx, dedupe_key: str, message: OutgoingMessage) -> None:
        await enqueue(
            tx,
            self.text_limits,
            channel=self.channel,
            recipient=self.staff_channel,
            message=message,
            now=self.now(),
            dedupe_key=dedupe_key,
        )

    @staticmethod
    def _card_message(case: Case, card: dict[str, Any]) -> OutgoingMessage:
        summary = f"{case.number} {STATUS_ZH[case.status]} · {card['category_zh']}"
        return OutgoingMessage(summary, ref=f"card:{case.id}", card=card)

    async def card(self, tx: Tx, case: Case) -> dict[str, Any]:
        """Everything the card shows, as plain data; the channel decides how it looks."""
        try:
            category = self.classifier.taxonomy.get(case.category)
            category_zh, category_en = category.name_zh, category.name_en
        except KeyError:
            category_zh, category_en = (
                (MEDIA_ZH, MEDIA_EN) if case.category == MEDIA else (case.category,) * 2
            )
        customer = await tx.customers.get(case.customer_id)
        level = self.sla.policy.level(case.escalation_level)
        repeat = await tx.cases.get(case.repeat_of) if case.repeat_of is not None else None
        return {
            "kind": "card",
            "number": case.number,
            "status": case.status.value,
            "status_zh": STATUS_ZH[case.status],
            "priority": case.priority.value,
            "priority_zh": PRIORITY_ZH[case.priority],
            "severity": case.severity.value,
            "severity_zh": SEVERITY_ZH[case.severity],
            "risk": case.risk.value,
            "headcount": case.headcount,
            "category": case.category,
            "category_zh": category_zh,
            "category_en": category_en,
            "keywords": (case.keywords or [])[:5],
            "subject": case.subject,
            "content": case.content,
            "party": case.party,
            "reference": case.reference,
            "desired_outcome": case.desired_outcome,
            "channel": case.channel,
            "customer_name": customer["display_name"],
            "contact": mask_contact(case.contact),
            "assignee": case.assignee,
            "escalation_level": case.escalation_level,
            "escalation_zh": level.name_zh,
            "escalation_en": level.name_en,
            "received_at": case.received_at.isoformat(),
            "first_response_due": case.first_response_due.isoformat(),
            "resolution_due": case.resolution_due.isoformat(),
            "first_responded_at": _iso(case.first_responded_at),
            "resolved_at": _iso(case.resolved_at),
            "paused": case.clock_paused_at is not None,
            "repeat_of": repeat["number"] if repeat else None,
            "reopen_count": case.reopen_count,
            "resolution": case.resolution,
            "outcome": case.outcome,
            "outcome_zh": OUTCOME_ZH.get(case.outcome or ""),
            "actions": [a.value for a in allowed_actions(case.status)],
            "survey": case.survey,
            "survey_answers": (
                await tx.surveys.of(case.id, _survey_round(case)) if case.survey else {}
            ),
        }

    @staticmethod
    def _line(
        change: Change, icon: str, what: str, quote: str | None = None, **extra: Any
    ) -> OutgoingMessage:
        card = {"kind": "line", "icon": icon, "actor": change.actor, "what": what, "quote": quote}
        card.update(extra)
        plain = f"{icon} {change.case.number} {what}" + (f"\n{quote}" if quote else "")
        return OutgoingMessage(
            plain,
            thread=f"card:{change.case.id}",
            card=card,
            files=change.attachments,
            files_from=change.case.channel if change.attachments else None,
        )

    def _thread_line(self, change: Change) -> OutgoingMessage | None:
        """The thread's record of a change; internal notes written in the thread are not
        echoed (``echo=False`` never reaches here)."""
        case, action = change.case, change.action
        what: str
        extra: dict[str, Any] = {}
        if action is Action.ESCALATE:
            step = self.sla.policy.level(case.escalation_level)
            what = f"升级至 escalated to {step.name_zh} {step.name_en}"
            extra = self._ping(case)
        elif action is Action.RESOLVE:
            what = f"已解决 resolved {OUTCOME_ZH.get(case.outcome or '', '')}".rstrip()
            if case.status is Status.REVIEWING:  # review_before_confirm: the supervisors' turn
                what += " · 待主管审核 awaiting a supervisor's review"
                extra = {"role": REVIEWER, "ping": list(self.people(REVIEWER))}
        elif action is Action.CORRECT:
            fields = (
                f"{k}: {v[0]} → {v[1]}"
                for k, v in change.changes.items()
                if k not in {"status", "party_key"}  # derived: the party line says it
            )
            what = f"更正 corrected {', '.join(fields)}"
        elif action in THREAD_LINES:
            what = THREAD_LINES[action][1]
            if action is Action.ASSIGN:
                extra["assignee"] = case.assignee or ""
            if action is Action.NOTE and change.actor == SYSTEM:  # the clock re-notifies the level
                extra = self._ping(case)
            if action is Action.REOPEN:  # one level up: that level's people hear of it
                extra = self._ping(case)
            if action is Action.SEND_BACK and case.assignee:  # the handler works on
                extra["ping"] = [case.assignee.removeprefix(f"{self.channel}:")]
        else:
            return None
        icon = THREAD_LINES.get(action, ("📝", ""))[0]
        return self._line(change, icon, what, change.note, **extra)

    def _media_line(self, change: Change) -> OutgoingMessage:
        """A press enquiry's first thread line: whose it is, and the rule, mentioning them."""
        media = self.sla.policy.media
        what = (
            f"媒体问询,交{media.title_zh}答复,前台不作实质答复 · press enquiry for the "
            f"{media.title_en}; the front line answers nothing of substance"
        )
        people = list(self.people(media.owner))
        line = self._line(change, "📰", what, None, role=media.owner, ping=people)
        return replace(line, files=(), files_from=None)  # the evidence line carries them

    def _ping(self, case: Case) -> dict[str, Any]:
        """Whom the line mentions: the people of the case's level's role (none listed: the
        line names the role, so staff see whom to list)."""
        role = self.sla.policy.level(case.escalation_level).role
        return {"role": role, "ping": list(self.people(role))}

    def _with_receipt(
        self, case: Case, line: OutgoingMessage, sent_text: str
    ) -> tuple[OutgoingMessage, Receipt]:
        """The thread line shows what the customer was sent, and then when it arrived (or
        why it did not)."""
        name = f"sent:{case.id}:{case.version}"
        assert line.card is not None  # noqa: S101 (every thread line carries its card)
        sending = {**line.card, "delivery": "sending", "sent_text": sent_text}
        line = OutgoingMessage(
            line.text, ref=name, thread=line.thread, card=sending, files=line.files,
            files_from=line.files_from,
        )  # fmt: skip
        delivered = {**sending, "delivery": "delivered", "at": "{at}"}
        failed = {**sending, "delivery": "failed", "error": "{error}"}
        here = (self.channel, self.staff_channel)
        receipt = Receipt(
            FollowUp(*here, OutgoingMessage(line.text, edit=name, thread=line.thread,
                                            card=delivered)),
            FollowUp(*here, OutgoingMessage(line.text, edit=name, thread=line.thread,
                                            card=failed)),
        )  # fmt: skip
        return line, receipt


def _survey_round(case: Case) -> int:
    """The round the card's survey answers belong to: a survey that reopened the case
    answered the closure before the reopening."""
    return case.reopen_count - 1 if case.survey == "reopened" else case.reopen_count


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
