"""Reminders reach people (issue 14 item 3): at each reminder point and at breach, the people
who must act hear of it in the case's thread, the channel gets a short line, and the card's
countdown is redrawn.

Who is pinged: the assignee; the people on duty (policy ``[duty]`` at the step's instant)
while the case is unclaimed, and — for a target on the calendar clock, which runs at any
hour — outside working time even when it is assigned (the assignee has gone home). A
business-clock target's points already fall in working time (``bot/domain/steps.py``).

No floods (Frappe Helpdesk's agents drown when complaints arrive in bulk): time is cut into
windows of ``[reminders] digest_window`` minutes. A person's first reminder in a window goes
at once; the ones after it wait in one digest, posted in the channel at the window's end. As
for the held-back acknowledgements of ``bot/flows/acks.py``, no timer lives in memory: the
digest is an outbox row due at the window's end (``not_before``) that each newer reminder
supersedes with the longer list, in the sweep's transaction. The per-person first message's
unique key says whether the window has begun for that person; two instances adding to one
digest at once meet on the row (the loser's transaction is rerun, ``Conflict``).

Channel-neutral: people are named ``{slack:U…}`` (``{channel:id}``) and the channel renders
the mention; the channel tells the desk who holds each role (:attr:`Reminders.roles`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.desk.projection import Projection
from bot.domain import steps
from bot.domain.cases import MEDIA, Case
from bot.domain.duty import RolePeople, people_of
from bot.domain.sla import Sla
from bot.domain.steps import Step
from bot.domain.targets import Target
from bot.logsafe import log_failure
from bot.messages import OutgoingMessage
from bot.outgoing import TextLimits, enqueue
from storage.repositories import Tx
from storage.repositories.base import Conflict

log = logging.getLogger(__name__)

DEADLINE_WORDS = {
    steps.FIRST_RESPONSE: ("首次响应", "first response"),
    steps.RESOLUTION: ("解决", "resolution"),
}
#: A digest lists this many cases and counts the rest: it stays one readable message.
DIGEST_SHOWN = 30
KIND = "reminder"  # the card kind of reminders and digests: the desk's own words


class _Nobody:
    """Until a staff channel says who holds which role, roles name nobody."""

    def people(self, role: str) -> tuple[str, ...]:
        return ()


def span_words(span: timedelta) -> tuple[str, str]:
    """(中文, English) for a positive span, to the minute: 1 天 2 小时 / 1 d 2 h; under a
    minute (a policy in minutes), to the second: 30 秒 / 30 s."""
    if span < timedelta(minutes=1):
        seconds = max(int(span.total_seconds()), 0)
        return f"{seconds} 秒", f"{seconds} s"
    minutes = max(int(span.total_seconds()) // 60, 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    zh = (f"{days} 天 " if days else "") + (f"{hours} 小时 " if hours else "")
    en = (f"{days} d " if days else "") + (f"{hours} h " if hours else "")
    if mins or not (days or hours):
        zh, en = zh + f"{mins} 分钟", en + f"{mins} min"
    return zh.strip(), en.strip()


def left_words(deadline: str, left: timedelta, *, business: bool) -> str:
    """首次响应还剩 1 小时 (first response due in 1 h), or at breach how late it is."""
    zh_name, en_name = DEADLINE_WORDS[deadline]
    if abs(left) < timedelta(seconds=1):
        return f"{zh_name}已到时限 {en_name} due now"
    zh, en = span_words(abs(left))
    clock = "(工作时间 working time)" if business else ""
    if left > timedelta(0):
        return f"{zh_name}还剩 {zh}{clock} {en_name} due in {en}"
    return f"{zh_name}已超时 {zh}{clock} {en_name} overdue by {en}"


class Reminders:
    def __init__(
        self,
        sla: Sla,
        projection: Projection,
        now: Callable[[], datetime],
        *,
        channel: str,
        staff_channel: str,
        text_limits: TextLimits | None = None,
    ) -> None:
        self.sla = sla
        self.projection = projection
        self.now = now
        self.channel = channel
        self.staff_channel = staff_channel
        self.text_limits = text_limits or TextLimits()
        #: The staff channel's people of each role; it sets this when it is built.
        self.roles: RolePeople = _Nobody()

    async def remind(self, tx: Tx, case: Case, step: Step) -> str:
        """The sweep's handler for a reminder point or a breach, in the sweep's transaction.
        A failure costs only the messages (logged): the step stays recorded."""
        try:
            async with tx.savepoint():
                return await self._remind(tx, case, step)
        except Conflict:
            raise  # another instance added to the same digest: the sweep's unit runs again
        except Exception as exc:
            log_failure(log, logging.ERROR, "case %s: the %s reminder could not be queued",
                        case.number, step.key, exc=exc)  # fmt: skip
            return "not reminded"

    def people(self, case: Case, step: Step, target: Target) -> tuple[str, ...]:
        """Whom the step pings, as ``channel:id`` actors (see the module's docstring)."""
        working = self._working(step.at)
        if case.assignee and (working or not target.on_calendar_clock):
            return (case.assignee,)
        # A press enquiry is the press owner's, at any hour; with nobody in that role, it is
        # whoever is on duty's, like any case (the channel warns of the empty role at start).
        owner = (
            people_of((self.sla.policy.media.owner,), self.roles) if case.category == MEDIA else ()
        )
        if owner:
            return tuple(f"{self.channel}:{p}" for p in owner)
        names = self.sla.policy.duty.on_duty(self.sla.calendar, step.at)
        return tuple(f"{self.channel}:{p}" for p in people_of(names, self.roles))

    def _words(self, case: Case, step: Step, now: datetime) -> tuple[Target, str]:
        """The step's target and what the reminder says of it."""
        silence = self.sla.policy.reminders.silence
        if step.deadline == steps.SILENCE and silence is not False:
            return silence, (
                f"客户已 {silence.describe_zh()}未获进展,请告知处理进展 "
                f"the customer has heard nothing for {silence.describe()}: update them"
            )
        first, resolution = self.sla.targets(case.priority, case.category)
        target, due = (
            (first, case.first_response_due)
            if step.deadline == steps.FIRST_RESPONSE
            else (resolution, case.resolution_due)
        )
        left = self.sla.remaining(target, due, now)
        return target, left_words(step.deadline, left, business=not target.on_calendar_clock)

    async def _remind(self, tx: Tx, case: Case, step: Step) -> str:
        now = self.now()
        target, words = self._words(case, step, now)
        await self.projection.redraw(tx, case, f"dv{case.deadline_version}:{step.key}")
        base = f"{self.channel}:remind:{case.id}:dv{case.deadline_version}:{step.key}"
        people = self.people(case, step, target)
        window = timedelta(minutes=self.sla.policy.reminders.digest_window)
        fresh: list[str] = []
        digested = 0
        for person in people:
            if await self._first(tx, case, person, words=words, now=now, window=window, base=base):
                fresh.append(person)
            else:
                await self._digest(tx, case, person, words=words, now=now, window=window)
                digested += 1
        if not people:
            log.warning("case %s: nobody to remind of %s (no assignee, nobody on duty)",
                        case.number, step.key)  # fmt: skip
            await self._post(tx, base, self._message(f"⏰ {words}", case, thread=True))
        if fresh or not people:
            line = f"⏰ {case.number} {words}"
            await self._post(tx, f"{base}:line", self._message(line, case, thread=False))
        return f"reminded {len(fresh)}" + (f", digest {digested}" if digested else "")

    async def _first(
        self,
        tx: Tx,
        case: Case,
        person: str,
        *,
        words: str,
        now: datetime,
        window: timedelta,
        base: str,
    ) -> bool:
        """The person's reminder in the case's thread, if it is their first in this window
        (its key is the window's): whether it was."""
        if window > timedelta(0):
            key = f"{self.channel}:ping:{person}:{_window(now, window)[0]}"
        else:
            key = f"{base}:ping:{person}"
        text = f"⏰ {{{person}}} {words} · {case.number}"
        return await self._post(tx, key, self._message(text, case, thread=True))

    async def _digest(
        self, tx: Tx, case: Case, person: str, *, words: str, now: datetime, window: timedelta
    ) -> None:
        """Add the case to the person's digest for this window, due at the window's end."""
        number, end = _window(now, window)
        like = f"{self.channel}:digest:{person}:{number}:%"
        waiting = await tx.outbox.waiting(self.channel, self.staff_channel, like)
        items: list[dict[str, Any]] = []
        if waiting is not None:
            items = list((waiting["payload"].get("card") or {}).get("items", []))
            key = str(waiting["dedupe_key"])
            if await tx.outbox.supersede(self.channel, self.staff_channel, key) != 1:
                raise Conflict(f"the digest {key} changed meanwhile")
        items.append({"number": case.number, "words": words})
        message = OutgoingMessage(
            _digest_text(person, items), card={"kind": KIND, "person": person, "items": items}
        )
        queued = await tx.outbox.enqueue(
            channel=self.channel,
            recipient=self.staff_channel,
            payload=message.to_payload(),
            now=now,
            not_before=end,
            dedupe_key=f"{self.channel}:digest:{person}:{number}:{len(items)}",
        )
        if queued is None:
            raise Conflict(f"another instance added to {person}'s digest {number}")

    def _working(self, instant: datetime) -> bool:
        calendar = self.sla.calendar
        local = instant.astimezone(calendar.tz)
        return any(s <= local < e for s, e in calendar.working_intervals(local.date()))

    def _message(self, text: str, case: Case, *, thread: bool) -> OutgoingMessage:
        return OutgoingMessage(
            text, thread=f"card:{case.id}" if thread else None, card={"kind": KIND}
        )

    async def _post(self, tx: Tx, key: str, message: OutgoingMessage) -> bool:
        queued = await enqueue(
            tx,
            self.text_limits,
            channel=self.channel,
            recipient=self.staff_channel,
            message=message,
            now=self.now(),
            dedupe_key=key,
        )
        return queued is not None


def _window(now: datetime, window: timedelta) -> tuple[int, datetime]:
    """The number of the window ``now`` falls in (windows counted from the epoch, the same
    on every instance) and the instant it ends."""
    size = window.total_seconds()
    number = int(now.timestamp() // size)
    return number, datetime.fromtimestamp((number + 1) * size, UTC)


def _digest_text(person: str, items: list[dict[str, Any]]) -> str:
    lines = [f"⏰ {{{person}}} 提醒汇总 reminders: {len(items)} 件 cases"]
    lines += [f"• {item['number']} {item['words']}" for item in items[:DIGEST_SHOWN]]
    if len(items) > DIGEST_SHOWN:
        rest = len(items) - DIGEST_SHOWN
        lines.append(f"… 另 {rest} 件 and {rest} more")
    return "\n".join(lines)
