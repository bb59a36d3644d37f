"""Finding work: the case behind a thread, a case's details, the work lists and search. Read
transactions only; nothing here changes a case."""

from __future__ import annotations

from typing import Any

from bot.desk.model import Details, Refused, Staff, load_case
from bot.desk.projection import Projection
from bot.domain.cases import MEDIA, MEDIA_EN, MEDIA_ZH, Case, DomainError, Status
from bot.domain.numbers import parse_case_number
from bot.services import CaseEvent, CaseNotFound
from storage.db import Store

#: Resolved cases: a supervisor's review (待审核) or the customer's answer (待客户确认) is next.
AWAITING = [Status.REVIEWING, Status.RESOLVED]
#: The work lists: open cases but the resolved ones, listed apart.
ACTIVE = [s for s in Status if s.is_open and s not in AWAITING]


class Queries:
    def __init__(self, store: Store, projection: Projection) -> None:
        self.store = store
        self.projection = projection
        self.channel = projection.channel

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
                case = await load_case(tx, number)
            except (CaseNotFound, Refused):
                return None
            card = await self.projection.card(tx, case)
            history = [CaseEvent.from_row(r) for r in await tx.events.for_case(case.id)]
            files = len(await tx.attachments.for_case(case.id))
        return Details(case, card, history, files)

    async def cards(self, cases: list[Case]) -> list[dict[str, Any]]:
        async with self.store.read() as tx:
            return [await self.projection.card(tx, c) for c in cases]

    def categories(self) -> dict[str, str]:
        """Category id → "中文 English", for the form that changes a case's category."""
        taxonomy = self.projection.classifier.taxonomy
        found = {c.id: f"{c.name_zh} {c.name_en}" for c in taxonomy.category}
        return found | {MEDIA: f"{MEDIA_ZH} {MEDIA_EN}"}  # a press enquiry intake missed

    async def mine(self, staff: Staff, limit: int = 20) -> list[Case]:
        """The person's cases still to work on; resolved ones wait for the customer and are
        listed apart (:meth:`awaiting_customer`)."""
        async with self.store.read() as tx:
            rows = await tx.cases.search(
                statuses=[s.value for s in ACTIVE],
                assignee=staff.actor,
                order="due",
                limit=limit,
            )
        return [Case.from_row(r) for r in rows]

    async def awaiting_customer(self, staff: Staff | None = None, limit: int = 20) -> list[Case]:
        """Resolved cases waiting for a supervisor's review (待审核) or the customer's 已解决 /
        未解决 (待客户确认), newest first; only the person's own with ``staff``."""
        async with self.store.read() as tx:
            rows = await tx.cases.search(
                statuses=[s.value for s in AWAITING],
                assignee=None if staff is None else staff.actor,
                limit=limit,
            )
        return [Case.from_row(r) for r in rows]

    async def open_cases(self, limit: int = 20, *, unclaimed: bool = False) -> list[Case]:
        """Cases to work on, the most urgent deadline first (the oldest overdue ones never
        drop off the end of the list); resolved ones are the customer's turn."""
        statuses = [Status.NEW, Status.REOPENED] if unclaimed else ACTIVE
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
