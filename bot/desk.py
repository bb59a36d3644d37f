"""The staff desk: what staff see of cases and what they may do, whatever the staff channel.

Channel-neutral like the flows: the desk never calls an SDK. As a listener of
:class:`CaseService` it queues, in the transaction of every change, the case card (posted once,
then edited in place so the channel always shows the truth), a line in the case's thread, and
the message the customer must get (a reply, the resolution, the invalid-complaint explanation,
the escalation notice). Staff actions arrive here from the channel adapter with the acting
person's role already looked up; refusals come back as a sentence for that person alone.

Texts for staff may name people as ``{slack:U123}`` (an actor in braces); the channel turns
that into a mention after escaping everything else.

Over ~400 lines, mixing projection, actions, queries and wording: its split into
``desk/actions.py``, ``projection.py``, ``queries.py`` and ``wording.py`` is issue 12's
restructuring, kept apart so it is reviewed on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers

from bot.domain.cases import (
    SEVERITY_ZH,
    STATUS_ZH,
    Action,
    Case,
    DomainError,
    IllegalTransition,
    Priority,
    Status,
    allowed_actions,
)
from bot.domain.numbers import parse_case_number
from bot.flows.texts import convert, pick_language, text
from bot.messages import FollowUp, OutgoingMessage
from bot.nlp.classifier import Classifier
from bot.outgoing import TextLimits, enqueue
from bot.services import OUTCOMES, CaseEvent, CaseNotFound, CaseService, Change
from storage.db import Store
from storage.repositories import StaleRow, Tx

log = logging.getLogger(__name__)

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
}
OUTCOME_ZH = {
    "resolved": "已解决",
    "partial": "部分解决",
    "explained": "已解释说明",
    "compensated": "已补偿",
    "declined": "诉求未予支持",
}
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
    }
)
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
}
#: Longest reply staff may send: Slack's text inputs take at most 3,000 characters, and
#: Telegram's 4,096 leave room for the case-number header.
REPLY_LIMIT = 3_000
KEYWORD_SPAN = 2_000  # characters of the complaint searched for the card's keywords
#: Field names staff may change from the desk, with the words the desk uses for them.
DESK_CORRECTABLE = {"priority": "优先级", "category": "类别", "severity": "严重程度"}


@dataclass(frozen=True, slots=True)
class Staff:
    """The person acting, with the role the channel looked up (channel members, supervisors)."""

    platform: str
    user_id: str
    is_staff: bool
    is_supervisor: bool = False

    @property
    def actor(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the acting person is told. ``ok`` with an empty message: the card says it all."""

    ok: bool
    message: str = ""
    case: Case | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Details:
    case: Case
    card: dict[str, Any]
    history: list[CaseEvent]
    attachments: int


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


class Desk:
    def __init__(
        self,
        cases: CaseService,
        classifier: Classifier,
        *,
        channel: str,
        staff_channel: str,
        default_language: str = "zh-hans",
        on_enqueued: Callable[[], None] | None = None,
        text_limits: TextLimits | None = None,
    ) -> None:
        self.cases = cases
        self.store: Store = cases.store
        self.classifier = classifier
        self.channel = channel  # the staff platform, e.g. "slack"
        self.staff_channel = staff_channel  # where cards go, e.g. a Slack channel id
        self.default_language = default_language
        self.on_enqueued = on_enqueued or (lambda: None)
        # Each channel's longest text: a longer message is queued as several.
        self.text_limits = text_limits or TextLimits()
        cases.listeners.append(self.on_change)

    # -- what staff see: queued in the transaction of each change --------------------------

    async def on_change(self, tx: Tx, change: Change) -> None:
        """Card, thread line and customer message for one change, all in its transaction."""
        case = change.case
        key = f"{self.channel}:case:{case.id}:v{case.version}"
        if change.action is Action.OPEN:
            card = await self.card(tx, case)
            await self._staff(tx, f"{self.channel}:card:{case.id}", self._card_message(case, card))
            if change.attachments:
                files = self._line(change, "📎", "客户提供的附件 evidence from the customer")
                await self._staff(tx, f"{key}:files", files)
            return
        if CARD_FIELDS.intersection(change.changes):
            try:  # a card that cannot be drawn must not cost the customer their message
                async with tx.savepoint():
                    await self._edit_card(tx, case, key)
            except Exception:
                log.exception("case %s: the card could not be updated", case.number)
        if change.echo:
            customer_message = await self._customer_message(tx, change)
            line: OutgoingMessage | None = self._thread_line(change)
            if line is not None and customer_message is not None:
                line, customer_message = self._with_receipt(case, line, customer_message)
            if line is not None:
                await self._staff(tx, f"{key}:line", line)
            if customer_message is not None:
                channel, recipient, message = customer_message
                await enqueue(
                    tx,
                    self.text_limits,
                    channel=channel,
                    recipient=recipient,
                    message=message,
                    now=change.at,
                    # One message per change, whichever staff desks listen (not per desk).
                    dedupe_key=f"case:{case.id}:v{case.version}:customer",
                )

    async def _edit_card(self, tx: Tx, case: Case, key: str) -> None:
        card = await self.card(tx, case)
        message = self._card_message(case, card)
        # An older edit still waiting (Slack slow or down) would only show a past state.
        await tx.outbox.supersede(
            self.channel, self.staff_channel, f"{self.channel}:case:{case.id}:v%:card"
        )
        await self._staff(tx, f"{key}:card", OutgoingMessage(**_edit_of(message)))

    async def _staff(self, tx: Tx, dedupe_key: str, message: OutgoingMessage) -> None:
        await enqueue(
            tx,
            self.text_limits,
            channel=self.channel,
            recipient=self.staff_channel,
            message=message,
            now=self.cases.clock.now(),
            dedupe_key=dedupe_key,
        )

    def _card_message(self, case: Case, card: dict[str, Any]) -> OutgoingMessage:
        summary = f"{case.number} {STATUS_ZH[case.status]} · {card['category_zh']}"
        return OutgoingMessage(summary, ref=f"card:{case.id}", card=card)

    async def card(self, tx: Tx, case: Case) -> dict[str, Any]:
        """Everything the card shows, as plain data; the channel decides how it looks."""
        # The words that made the category; the opening words say it, and this runs inside
        # the change's transaction, so a 20,000-character complaint is not segmented whole.
        suggestion = self.classifier.classify(case.content[:KEYWORD_SPAN])
        if suggestion.category == case.category:
            keywords = [k.word for k in suggestion.keywords]
        else:
            alt = [a for a in suggestion.alternatives if a.category == case.category]
            keywords = [k.word for k in alt[0].keywords] if alt else []
        try:
            category = self.classifier.taxonomy.get(case.category)
            category_zh, category_en = category.name_zh, category.name_en
        except KeyError:
            category_zh = category_en = case.category
        customer = await tx.customers.get(case.customer_id)
        chain = self.cases.sla.policy.escalation
        level = chain[min(case.escalation_level, len(chain) - 1)]
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
            "keywords": keywords[:5],
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
        }

    def _line(
        self,
        change: Change,
        icon: str,
        what: str,
        quote: str | None = None,
        **extra: Any,
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
            step = self.cases.sla.policy.escalation[case.escalation_level]
            what = f"升级至 escalated to {step.name_zh} {step.name_en}"
        elif action is Action.RESOLVE:
            what = f"已解决 resolved {OUTCOME_ZH.get(case.outcome or '', '')}".rstrip()
        elif action is Action.CORRECT:
            fields = (f"{k}: {v[0]} → {v[1]}" for k, v in change.changes.items() if k != "status")
            what = f"更正 corrected {', '.join(fields)}"
        elif action in THREAD_LINES:
            what = THREAD_LINES[action][1]
            if action is Action.ASSIGN:
                extra["assignee"] = case.assignee or ""
        else:
            return None
        icon = THREAD_LINES.get(action, ("📝", ""))[0]
        return self._line(change, icon, what, change.note, **extra)

    async def _customer_message(
        self, tx: Tx, change: Change
    ) -> tuple[str, str, OutgoingMessage] | None:
        """What the customer is told about this change, in their language, or None."""
        case = change.case
        if change.action not in {
            Action.REPLY,
            Action.RESOLVE,
            Action.MARK_INVALID,
            Action.ESCALATE,
        }:
            return None
        customer = await tx.customers.get(case.customer_id)
        # The customer's own choice (/language) first, then the language of the complaint.
        lang = pick_language(customer["language"] or case.language, self.default_language)
        note = change.note or ""
        match change.action:
            case Action.REPLY:
                body = text(lang, "desk_reply", number=case.number, text=note)
            case Action.RESOLVE:
                body = text(lang, "desk_resolved", number=case.number, resolution=note)
            case Action.MARK_INVALID:
                body = text(lang, "desk_invalid", number=case.number, explanation=note)
            case _:
                step = self.cases.sla.policy.escalation[case.escalation_level]
                due = self.cases.escalation_promise(case, change.at).astimezone(self.cases.tz)
                body = text(
                    lang,
                    "desk_escalated",
                    number=case.number,
                    level=convert(lang, step.name_zh, step.name_en),
                    due=f"{due:%Y-%m-%d %H:%M}",
                )
        return customer["channel"], customer["channel_user_id"], OutgoingMessage(body)

    def _with_receipt(
        self,
        case: Case,
        line: OutgoingMessage,
        customer: tuple[str, str, OutgoingMessage],
    ) -> tuple[OutgoingMessage, tuple[str, str, OutgoingMessage]]:
        """The thread line shows what the customer was sent, and then when it arrived (or
        why it did not)."""
        name = f"sent:{case.id}:{case.version}"
        assert line.card is not None  # noqa: S101 (every thread line carries its card)
        sending = {**line.card, "delivery": "sending", "sent_text": customer[2].text}
        line = OutgoingMessage(
            line.text, ref=name, thread=line.thread, card=sending, files=line.files,
            files_from=line.files_from,
        )  # fmt: skip
        receipt = {**sending, "delivery": "delivered", "at": "{at}"}
        failure = {**sending, "delivery": "failed", "error": "{error}"}
        follow = (self.channel, self.staff_channel)
        message = OutgoingMessage(
            customer[2].text,
            on_sent=FollowUp(
                *follow, OutgoingMessage(line.text, edit=name, thread=line.thread, card=receipt)
            ),
            on_failed=FollowUp(
                *follow, OutgoingMessage(line.text, edit=name, thread=line.thread, card=failure)
            ),
        )
        return line, (customer[0], customer[1], message)

    # -- what staff do ----------------------------------------------------------------------

    async def claim(self, number: str, staff: Staff, update_id: str | None = None) -> Outcome:
        async def act(tx: Tx, case: Case) -> Case:
            if case.assignee == staff.actor:
                raise _Refused(f"{case.number} 已经由你负责 (you already have it)")
            if case.assignee is not None:
                raise _Refused(f"{case.number} 已由 {{{case.assignee}}} 认领 (already claimed)")
            return await self.cases.claim(number, staff.actor, tx=tx)

        return await self._act(number, staff, act, owner_only=False, update_id=update_id)

    async def release(self, number: str, staff: Staff, update_id: str | None = None) -> Outcome:
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.release(number, staff.actor, tx=tx),
            update_id=update_id,
        )

    async def assign(
        self,
        number: str,
        staff: Staff,
        to: Staff,
        note: str | None,
        *,
        update_id: str | None = None,
    ) -> Outcome:
        if not to.is_staff:
            return Outcome(False, f"{{{to.actor}}} 不是客服成员 (not a member of the desk)")
        if to.actor != staff.actor and not staff.is_supervisor:
            return Outcome(False, "只有主管可以转派 (only supervisors reassign cases)")
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.assign(number, staff.actor, to.actor, note, tx=tx),
            update_id=update_id,
        )

    async def reply(
        self, number: str, staff: Staff, message: str, *, update_id: str | None = None
    ) -> Outcome:
        body = message.strip()
        if not body:
            return Outcome(False, "回复内容不能为空 (the reply is empty)")
        if len(body) > REPLY_LIMIT:
            return Outcome(
                False,
                f"回复太长:{len(body)} 字,最多 {REPLY_LIMIT} 字 (too long for the customer's chat)",
            )
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.reply(number, staff.actor, body, tx=tx),
            update_id=update_id,
        )

    async def note(
        self, number: str, staff: Staff, message: str, *, update_id: str | None = None
    ) -> Outcome:
        """An internal thread message, kept in the case history; never sent to the customer."""
        if not message.strip():
            return Outcome(True)
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.add_note(number, staff.actor, message, echo=False, tx=tx),
            owner_only=False,
            update_id=update_id,
        )

    async def escalate(
        self, number: str, staff: Staff, note: str, *, update_id: str | None = None
    ) -> Outcome:
        """Anyone on the desk may raise a case they see stuck (the monitor's role, §4)."""
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.escalate(number, staff.actor, note, tx=tx),
            owner_only=False,
            update_id=update_id,
        )

    async def resolve(
        self,
        number: str,
        staff: Staff,
        resolution: str,
        outcome: str,
        *,
        update_id: str | None = None,
    ) -> Outcome:
        if outcome not in OUTCOMES:
            return Outcome(False, f"unknown outcome {outcome!r}")
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.resolve(number, staff.actor, resolution, outcome, tx=tx),
            update_id=update_id,
        )

    async def mark_invalid(
        self, number: str, staff: Staff, explanation: str, *, update_id: str | None = None
    ) -> Outcome:
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.mark_invalid(number, staff.actor, explanation, tx=tx),
            update_id=update_id,
        )

    async def correct(
        self,
        number: str,
        staff: Staff,
        field_name: str,
        value: Any,
        reason: str,
        *,
        update_id: str | None = None,
    ) -> Outcome:
        if field_name == "category" and value not in self.classifier.taxonomy.ids:
            return Outcome(False, f"没有这个类别 (no category {value!r})")
        return await self._act(
            number,
            staff,
            lambda tx, case: self.cases.correct(
                number, staff.actor, field_name, value, reason, tx=tx
            ),
            update_id=update_id,
        )

    async def set_severity(
        self,
        number: str,
        staff: Staff,
        severity: str | None,
        headcount: int | None,
        reason: str,
        *,
        update_id: str | None = None,
    ) -> Outcome:
        """The severity form: the flag and the collective complaint's headcount, both or
        neither (one transaction); the headcount first, as it may raise the flag itself."""

        async def act(tx: Tx, case: Case) -> Case:
            changed = case
            if headcount is not None and headcount != case.headcount:
                changed = await self.cases.correct(
                    number, staff.actor, "headcount", headcount, reason, tx=tx
                )
            if severity and severity != case.severity.value:  # the person changed the flag
                changed = await self.cases.correct(
                    number, staff.actor, "severity", severity, reason, tx=tx
                )
            return changed

        return await self._act(number, staff, act, update_id=update_id)

    async def _act(
        self,
        number: str,
        staff: Staff,
        act: Callable[[Tx, Case], Any],
        *,
        owner_only: bool = True,
        update_id: str | None = None,
    ) -> Outcome:
        """Run one staff action in one transaction; every refusal becomes a sentence."""
        if not staff.is_staff:
            log.warning("%s is not staff: %s refused", staff.actor, number)
            return Outcome(
                False, "你不是客服成员,不能处理案件 (only desk members can act on cases)"
            )

        async def work(tx: Tx) -> Case | None:
            if update_id and not await tx.inbound.first_time(
                self.channel, update_id, self.cases.clock.now()
            ):
                return None
            case = await self._case(tx, number)
            if owner_only and not self._may_handle(case, staff):
                raise _Refused(
                    f"{case.number} 由 {{{case.assignee}}} 负责;只有负责人或主管可以这样做 "
                    "(only the owner or a supervisor can)"
                )
            changed: Case = await act(tx, case)
            return changed

        try:
            changed = await self.store.write(work)
        except _Refused as exc:
            return Outcome(False, str(exc))
        except IllegalTransition as exc:
            return Outcome(False, self._explain(exc))
        except StaleRow:
            return Outcome(
                False, f"{number} 刚被别人修改,请再试一次 (changed meanwhile; try again)"
            )
        except DomainError as exc:
            return Outcome(False, str(exc))
        if changed is None:
            log.info("%s %s seen before: ignored", self.channel, update_id)
            return Outcome(True, duplicate=True)
        self.on_enqueued()
        return Outcome(True, case=changed)

    @staticmethod
    def _may_handle(case: Case, staff: Staff) -> bool:
        return staff.is_supervisor or case.assignee in (None, staff.actor)

    @staticmethod
    def _explain(exc: IllegalTransition) -> str:
        hints = {
            Action.RESOLVE: "请先认领 (claim it first)",
            Action.CLAIM: "已结案或已有人负责 (closed, or someone has it)",
        }
        allowed = "、".join(ACTION_ZH[a] for a in allowed_actions(exc.status)) or "无"
        hint = hints.get(exc.action, "")
        return (
            f"{exc.number} 当前「{STATUS_ZH[exc.status]}」,不能{ACTION_ZH[exc.action]}。"
            f"{hint} 现在可以:{allowed}"
        ).strip()

    @staticmethod
    async def _case(tx: Tx, number: str) -> Case:
        try:
            canonical = str(parse_case_number(number))
        except DomainError:
            raise _Refused(f"{number!r} 不是案件编号 (not a case number)") from None
        row = await tx.cases.by_number(canonical, for_update=True)
        if row is None:
            raise CaseNotFound(f"没有案件 {canonical} (no such case)")
        return Case.from_row(row)

    def categories(self) -> dict[str, str]:
        """Category id → "中文 English", for the form that changes a case's category."""
        return {c.id: f"{c.name_zh} {c.name_en}" for c in self.classifier.taxonomy.category}

    # -- finding work --------------------------------------------------------------------------

    async def case_of_thread(self, platform_message_id: str) -> str | None:
        """The case whose card is this message, or None (a thread that is not a case's)."""
        async with self.store.read() as tx:
            ref = await tx.refs.ref_of(self.channel, platform_message_id, "card:")
            if ref is None:
                return None
            row = await tx.cases.get(int(ref.removeprefix("card:")))
        return str(row["number"])

    async def details(self, number: str) -> Details | None:
        async with self.store.read() as tx:
            try:
                case = await self._case(tx, number)
            except (CaseNotFound, _Refused):
                return None
            card = await self.card(tx, case)
            history = [CaseEvent.from_row(r) for r in await tx.events.for_case(case.id)]
            files = len(await tx.attachments.for_case(case.id))
        return Details(case, card, history, files)

    async def cards(self, cases: list[Case]) -> list[dict[str, Any]]:
        async with self.store.read() as tx:
            return [await self.card(tx, c) for c in cases]

    async def mine(self, staff: Staff, limit: int = 20) -> list[Case]:
        async with self.store.read() as tx:
            rows = await tx.cases.search(
                statuses=[s.value for s in Status if s.is_open],
                assignee=staff.actor,
                order="due",
                limit=limit,
            )
        return [Case.from_row(r) for r in rows]

    async def open_cases(self, limit: int = 20, *, unclaimed: bool = False) -> list[Case]:
        """Open cases, the most urgent deadline first (the oldest overdue ones never drop off
        the end of the list)."""
        statuses = [Status.NEW, Status.REOPENED] if unclaimed else [s for s in Status if s.is_open]
        async with self.store.read() as tx:
            rows = await tx.cases.search(
                statuses=[s.value for s in statuses], order="due", limit=limit
            )
        return [Case.from_row(r) for r in rows]

    async def find(self, query: str, limit: int = 20) -> list[Case]:
        """A case number, or a phone number (any format) of the customer's contact."""
        query = query.strip()
        if not query:
            return []
        async with self.store.read() as tx:
            try:
                row = await tx.cases.by_number(str(parse_case_number(query)))
            except DomainError:
                row = None
            if row is not None:
                return [Case.from_row(row)]
            digits = "".join(ch for ch in query if ch.isdigit())
            if len(digits) < 7:
                return []
            rows = await tx.cases.search(contact_digits=digits[-11:], limit=limit)
        return [Case.from_row(r) for r in rows]


class _Refused(DomainError):
    """A desk rule (not a lifecycle rule) said no."""


def _edit_of(message: OutgoingMessage) -> dict[str, Any]:
    return {"text": message.text, "ref": message.ref, "edit": message.ref, "card": message.card}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
