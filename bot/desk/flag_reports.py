"""Reporting to the supervisors (投诉事件通报 and 预警, DOMAIN.md §5; issue 15 item 4).

- Raised flags: a 热点 case within one working day (kesu: when it is flagged), a 重大 one at
  once and then weekly while it is open. Each report is a step of the clock (``report@hot``,
  ``report@major``, ``report@week<k>``), so it is made once on any number of instances.
- Burst alerts (bot/services/bursts.py): when a category's intake bursts, and when it is over.

Both are messages in the supervisors' channel (the staff channel unless a report channel is
set), not in a case's thread, with their role mentioned (``supervisor``): for a flag, the case
number, what it is about, why it is flagged (the note of the change that raised it), where it
stands and who has it. Channel-neutral: people are named ``{slack:U…}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.desk.projection import REVIEWER, Projection
from bot.domain.cases import SEVERITY_ZH, STATUS_ZH, Case
from bot.domain.steps import Step
from bot.logsafe import log_failure
from bot.messages import OutgoingMessage
from bot.outgoing import TextLimits, enqueue
from bot.services.bursts import Alert
from storage.repositories import Tx
from storage.repositories.base import Conflict

log = logging.getLogger(__name__)

KIND = "flag_report"  # the card kind: the desk's own words
ALERT = "alert"


class FlagReports:
    def __init__(
        self,
        projection: Projection,
        now: Callable[[], datetime],
        *,
        channel: str,
        report_channel: str,
        text_limits: TextLimits | None = None,
    ) -> None:
        self.projection = projection
        self.now = now
        self.channel = channel
        self.report_channel = report_channel
        self.text_limits = text_limits or TextLimits()

    async def report(self, tx: Tx, case: Case, step: Step) -> str:
        """The sweep's handler for a report step, in its transaction. A failure costs only the
        message (logged): the step stays recorded."""
        try:
            async with tx.savepoint():
                await self._post(tx, case, step, await self._reason(tx, case))
        except Conflict:
            raise
        except Exception as exc:
            log_failure(log, logging.ERROR, "case %s: the %s report could not be queued",
                        case.number, step.key, exc=exc)  # fmt: skip
            return "not reported"
        return "reported"

    async def _reason(self, tx: Tx, case: Case) -> str:
        """Why the case carries its flag: the note of the last change that set it."""
        for row in reversed(await tx.events.for_case(case.id)):
            if "severity" in (row["changes"] or {}) and row["note"]:
                return str(row["note"])
        return "受理时判定 flagged at intake"

    async def _post(self, tx: Tx, case: Case, step: Step, reason: str) -> None:
        flag = SEVERITY_ZH[case.severity]
        if step.key.startswith("report@week"):
            week = step.key.removeprefix("report@week")
            head = f"{flag}投诉第 {week} 周跟进 weekly report on a {case.severity.value} case"
        else:
            head = f"{flag}投诉通报 {case.severity.value} case reported"
        people = self._supervisors()
        owner = f"{{{case.assignee}}}" if case.assignee else "未认领 unclaimed"
        lines = [
            f"⚠️ {head} · {case.number} {people}".rstrip(),
            f"类别 {case.category} · 对象 {_words(case.party or '—')} · "
            f"{STATUS_ZH[case.status]} · 负责人 {owner} · 层级 {case.escalation_level}",
            f"原因 why: {_words(reason)}",
        ]
        message = OutgoingMessage("\n".join(lines), card={"kind": KIND})
        await enqueue(
            tx, self.text_limits, channel=self.channel, recipient=self.report_channel,
            message=message, now=self.now(),
            dedupe_key=f"{self.channel}:report:{case.id}:dv{case.deadline_version}:{step.key}",
        )  # fmt: skip
        log.info("case %s: %s (%s)", case.number, head, step.key)

    async def alert(self, tx: Tx, alert: Alert) -> None:
        """A burst alert raised or ended (the check's announcer): queued in its transaction,
        so the alert row and its message commit together; once per alert and edge."""
        intake, category = alert.intake, _words(alert.category)
        if len(intake.history) == alert.weeks:
            usual = (
                f"往常同一时段 {intake.usual:.1f} 件(前 {alert.weeks} 周均值) · "
                f"usually {intake.usual:.1f} (mean of the same hour, {alert.weeks} weeks)"
            )
        elif intake.history:
            weeks = len(intake.history)
            usual = (
                f"往常同一时段 {intake.usual:.1f} 件(仅 {weeks} 周记录) · "
                f"usually {intake.usual:.1f} (only {weeks} weeks of history)"
            )
        else:
            usual = "尚无往周记录 no earlier weeks yet"
        now = f"最近一小时 {intake.last_hour} 件 last hour {intake.last_hour}"
        if alert.ended_at is None:
            head = f"🚨 投诉突增预警 burst of complaints · 类别 {category} {self._supervisors()}"
            lines = [head.rstrip(), f"{now} · {usual}"]
            edge = "start"
        else:
            minutes = max(1, round((alert.ended_at - alert.started_at).total_seconds() / 60))
            lines = [f"✅ 投诉突增已回落 burst over · 类别 {category}",
                     f"{now} · {usual}",
                     f"持续 {minutes} 分钟,最高每小时 {alert.peak} 件 · "
                     f"lasted {minutes} min, peak {alert.peak} an hour"]  # fmt: skip
            edge = "end"
        message = OutgoingMessage("\n".join(lines), card={"kind": ALERT})
        await enqueue(
            tx, self.text_limits, channel=self.channel, recipient=self.report_channel,
            message=message, now=self.now(), dedupe_key=f"{self.channel}:burst:{alert.id}:{edge}",
        )  # fmt: skip

    def _supervisors(self) -> str:
        return " ".join(f"{{{self.channel}:{p}}}" for p in self.projection.people(REVIEWER))


def _words(text: str) -> str:
    """Someone's words inside the desk's own: braces would read as a ``{channel:id}`` mention."""
    return text.replace("{", "(").replace("}", ")")
