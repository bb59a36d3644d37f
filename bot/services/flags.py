"""Severity flags that rise on their own (投诉事件通报, DOMAIN.md §5; issue 15 item 3): 热点 when
three different customers complain in one category about one party within 30 days, 热点 when
a case stays unresolved 7 days, 重大 after 30 (paused time excluded: steps of the clock).
The collective complaint's headcount (≥3 热点, ≥10 重大) and a repeat after closure (重要)
are rules of the correction and of the opening (``rules.py``, ``opening.py``).

Every rise is a correction by ``system`` with its reason, through the one unit of work — an
event, the card redrawn, the thread told — and never a lowering: a flag already as high or
higher is left alone (staff set flags by hand with their own reason, and may lower them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from bot.domain import steps
from bot.domain.cases import Case, Severity, Status
from bot.domain.steps import Step
from bot.logsafe import log_failure
from bot.services.model import SYSTEM
from storage.repositories import Tx
from storage.repositories.base import Conflict
from storage.schema import Row

log = logging.getLogger(__name__)

HOT_CUSTOMERS = 3  # different customers, one category, one party …
HOT_WINDOW = timedelta(days=30)  # … within this many days
UNRESOLVED = {
    steps.FLAG_HOT: (
        "热点:7 天未解决 hot: unresolved for 7 days (time waiting for the customer excluded)"
    ),
    steps.FLAG_MAJOR: (
        "重大:30 天未解决 major: unresolved for 30 days (time waiting for the customer excluded)"
    ),
}


class CorrectField(Protocol):
    """``CaseService.correct``: a field fixed with its reason, in the caller's transaction."""

    async def __call__(
        self, number: str, actor: str, field_name: str, value: Any, reason: str, *,
        tx: Tx | None = None,
    ) -> Case: ...  # fmt: skip


@dataclass
class Flags:
    correct: CorrectField

    async def check_party(self, tx: Tx, case: Case) -> None:
        """:meth:`after_party` in a savepoint: a failure costs the flag (logged), never the
        complaint or correction it follows; a PostgreSQL conflict reruns the whole."""
        try:
            async with tx.savepoint():
                await self.after_party(tx, case)
        except Conflict:
            raise
        except Exception as exc:
            log_failure(log, logging.ERROR, "case %s: the 热点 check failed; the change is kept",
                        case.number, exc=exc)  # fmt: skip

    async def after_party(self, tx: Tx, case: Case) -> list[str]:
        """After an opening or a correction of the party or category: when three different
        customers complained about the party in the category within some 30 days that include
        this case, the open cases of those days become 热点; the numbers raised. Invalid
        complaints (无效投诉) do not count; closed cases count but keep their flag."""
        if not case.party_key:
            return []
        await tx.cases.lock_party(case.category, case.party_key)
        rows = [
            r
            for r in await tx.cases.same_party(
                case.category, case.party_key, case.received_at - HOT_WINDOW,
                case.received_at + HOT_WINDOW,
            )
            if r["status"] != Status.INVALID.value
        ]  # fmt: skip
        group = _hot_group(rows, case.id)
        if not group:
            return []
        customers = len({int(r["customer_id"]) for r in group})
        numbers = [str(r["number"]) for r in group]
        shown = "、".join(numbers[:10]) + (" …" if len(numbers) > 10 else "")
        reason = (
            f"热点:30 天内 {customers} 位客户投诉同一对象「{case.party}」({shown}) "
            f"hot: {customers} customers about one party within 30 days"
        )
        raised = []
        for row in group:
            locked = await tx.cases.get(int(row["id"]), for_update=True)
            if not Status(locked["status"]).is_open:
                continue
            if Severity(locked["severity"]).rank >= Severity.HOT.rank:
                continue  # as high already (by hand, or another check a moment ago)
            await self.correct(str(row["number"]), SYSTEM, "severity", Severity.HOT.value,
                               reason, tx=tx)  # fmt: skip
            raised.append(str(row["number"]))
        if raised:
            log.info("热点: %s raised (%d customers about one party)", ", ".join(raised),
                     customers)  # fmt: skip
        return raised

    async def on_step(self, tx: Tx, case: Case, step: Step) -> str:
        """A sweep handler: unresolved 7 days → 热点, 30 days → 重大."""
        target = Severity.MAJOR if step.key == steps.FLAG_MAJOR else Severity.HOT
        if case.severity.rank >= target.rank:
            return "flagged already"
        await self.correct(case.number, SYSTEM, "severity", target.value, UNRESOLVED[step.key],
                           tx=tx)  # fmt: skip
        return f"flagged {target.value}"


def _hot_group(rows: list[Row], case_id: int) -> list[Row]:
    """The cases of every 30-day span that holds the case and three different customers
    (oldest first, no repeats); empty when there is none."""
    found: dict[int, Row] = {}
    for i, first in enumerate(rows):
        span = [r for r in rows[i:] if r["received_at"] - first["received_at"] <= HOT_WINDOW]
        ids = {int(r["id"]) for r in span}
        if case_id in ids and len({r["customer_id"] for r in span}) >= HOT_CUSTOMERS:
            found.update((int(r["id"]), r) for r in span)
    return sorted(found.values(), key=lambda r: (r["received_at"], r["id"]))
