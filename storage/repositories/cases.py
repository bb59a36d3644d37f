"""Cases, and the daily sequence their numbers are drawn from."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Select, bindparam, case, func, select, update
from sqlalchemy.sql import Executable

from storage.repositories.base import (
    NotFound,
    Repo,
    StaleRow,
    StorageError,
    insert_for,
    per_dialect,
)
from storage.schema import Row, case_sequences, cases


@per_dialect
def _next_sequence(dialect: str) -> Executable:
    ins = insert_for(dialect, case_sequences)
    return ins.on_conflict_do_update(
        index_elements=[case_sequences.c.prefix, case_sequences.c.day],
        set_={"last": case_sequences.c.last + 1},
    ).returning(case_sequences.c.last)


_INSERT = cases.insert().returning(*cases.c)
_BY_ID = select(cases).where(cases.c.id == bindparam("id"))
_BY_ID_LOCKED = _BY_ID.with_for_update()
_BY_NUMBER = select(cases).where(cases.c.number == bindparam("number"))
_BY_NUMBER_LOCKED = _BY_NUMBER.with_for_update()
_ABOVE_LEVEL = (
    select(cases.c.number, cases.c.escalation_level)
    .where(
        cases.c.escalation_level > bindparam("level"),
        cases.c.status.in_(bindparam("statuses", expanding=True)),
    )
    .order_by(cases.c.id)
    .limit(bindparam("limit"))
)
_SAME_PARTY = (
    select(
        cases.c.id,
        cases.c.number,
        cases.c.customer_id,
        cases.c.status,
        cases.c.severity,
        cases.c.received_at,
    )
    .where(
        cases.c.category == bindparam("category"),
        cases.c.party_key == bindparam("party_key"),
        cases.c.received_at >= bindparam("since", type_=cases.c.received_at.type),
        cases.c.received_at <= bindparam("until", type_=cases.c.received_at.type),
    )
    .order_by(cases.c.received_at.desc(), cases.c.id.desc())
    .limit(bindparam("limit"))
)
_LOCK_PARTY = select(func.pg_advisory_xact_lock(func.hashtext(bindparam("key"))))
_WITHOUT_KEYWORDS = (
    select(cases.c.id, cases.c.content, cases.c.category)
    .where(cases.c.keywords.is_(None), cases.c.id > bindparam("after"))
    .order_by(cases.c.id)
    .limit(bindparam("limit"))
)
_SET_KEYWORDS = (
    update(cases)
    .where(cases.c.id == bindparam("b_id"), cases.c.keywords.is_(None))
    .values(keywords=bindparam("keywords"))
)
_UPDATE = (
    update(cases)
    .where(cases.c.id == bindparam("b_id"), cases.c.version == bindparam("b_version"))
    .returning(*cases.c)
)


@functools.cache
def _search(
    *,
    order: Literal["newest", "due"],
    statuses: bool,
    customer: bool,
    since: bool,
    assignee: bool,
    contact: bool,
) -> Select[Any]:
    """One statement per combination of filters, built on first use."""
    if order == "due":
        # The deadline that matters now: first response until it is given, then resolution.
        due = case(
            (cases.c.first_responded_at.is_(None), cases.c.first_response_due),
            else_=cases.c.resolution_due,
        )
        stmt = select(cases).order_by(due, cases.c.id)
    else:
        stmt = select(cases).order_by(cases.c.received_at.desc(), cases.c.id.desc())
    if since:
        stmt = stmt.where(cases.c.received_at >= bindparam("since", type_=cases.c.received_at.type))
    if statuses:
        stmt = stmt.where(cases.c.status.in_(bindparam("statuses", expanding=True)))
    if customer:
        stmt = stmt.where(cases.c.customer_id == bindparam("customer_id"))
    if assignee:
        stmt = stmt.where(cases.c.assignee == bindparam("assignee"))
    if contact:
        stmt = stmt.where(
            cases.c.contact.contains(bindparam("contact", type_=cases.c.contact.type))
        )
    return stmt.limit(bindparam("limit")).offset(bindparam("offset"))


class Cases(Repo):
    async def next_sequence(self, prefix: str, day: date) -> int:
        """Next number of the day for ``prefix``; part of the caller's transaction.

        One upsert statement: concurrent openers queue on the row (PostgreSQL) or on the
        single writer (SQLite), and a rolled-back opening gives its number back, so the daily
        sequence has no gaps and no repeats.
        """
        params = {"prefix": prefix, "day": day, "last": 1}
        result = await self.session.execute(_next_sequence(self.session.dialect), params)
        return int(result.scalar_one())

    async def insert(self, values: Mapping[str, Any]) -> Row:
        return (await self.session.execute(_INSERT, {**values, "version": 1})).one()

    async def get(self, case_id: int, *, for_update: bool = False) -> Row:
        stmt = _BY_ID_LOCKED if for_update else _BY_ID
        row = (await self.session.execute(stmt, {"id": case_id})).first()
        if row is None:
            raise NotFound(f"no case with id {case_id}")
        return row

    async def by_number(self, number: str, *, for_update: bool = False) -> Row | None:
        """``for_update`` locks the row on PostgreSQL; SQLite's single writer already does."""
        stmt = _BY_NUMBER_LOCKED if for_update else _BY_NUMBER
        return (await self.session.execute(stmt, {"number": number})).first()

    async def above_level(self, level: int, statuses: Iterable[str], limit: int = 20) -> list[Row]:
        """Cases in ``statuses`` stored at an escalation level above ``level``."""
        params = {"level": level, "statuses": list(statuses), "limit": limit}
        return (await self.session.execute(_ABOVE_LEVEL, params)).rows

    async def same_party(
        self, category: str, party_key: str, since: datetime, until: datetime, limit: int = 500
    ) -> list[Row]:
        """Cases in ``category`` about the party ``party_key`` received in [since, until],
        oldest first (id, number, customer_id, status, severity, received_at): 热点 counts
        them. Past ``limit`` the newest are kept (a complaint just opened is among them)."""
        params = {"category": category, "party_key": party_key, "since": since,
                  "until": until, "limit": limit}  # fmt: skip
        return list(reversed((await self.session.execute(_SAME_PARTY, params)).rows))

    async def lock_party(self, category: str, party_key: str) -> None:
        """Serialise the 热点 counts of one (category, party) until the transaction ends: two
        complaints about one party at once must not each count before the other. PostgreSQL:
        a transaction-level advisory lock; SQLite: its single writer already serialises."""
        if self.session.dialect == "postgresql":
            await self.session.execute(_LOCK_PARTY, {"key": f"party:{category}:{party_key}"})

    async def without_keywords(self, after: int, limit: int) -> list[Row]:
        """Cases from before keywords were stored (id, content, category), oldest first."""
        return (
            await self.session.execute(_WITHOUT_KEYWORDS, {"after": after, "limit": limit})
        ).rows

    async def set_keywords(self, case_id: int, keywords: list[str]) -> None:
        """A derived field filled in once: it changes nothing a person did, so no version."""
        await self.session.execute(_SET_KEYWORDS, {"b_id": case_id, "keywords": keywords})

    async def update(self, case_id: int, expected_version: int, values: Mapping[str, Any]) -> Row:
        """Write ``values`` if nobody changed the case since ``expected_version`` was read."""
        params = {
            **values,
            "version": expected_version + 1,
            "b_id": case_id,
            "b_version": expected_version,
        }
        row = (await self.session.execute(_UPDATE, params)).first()
        if row is None:
            raise StaleRow(
                f"case {case_id} changed meanwhile (expected version {expected_version})"
            )
        return row

    async def search(
        self,
        *,
        statuses: Iterable[str] | None = None,
        customer_id: int | None = None,
        since: datetime | None = None,
        assignee: str | None = None,
        contact_digits: str | None = None,
        order: Literal["newest", "due"] = "newest",
        limit: int = 50,
        offset: int = 0,
    ) -> list[Row]:
        """Newest first; ``statuses`` filters by status values, ``since`` by receipt time,
        ``contact_digits`` (digits only) by part of the contact given for the case.
        ``order="due"``: the deadline that matters now first (first response until it is
        given, then resolution), for work lists."""
        if contact_digits is not None and not contact_digits.isdigit():
            raise StorageError("contact_digits takes digits only")
        stmt = _search(
            order=order,
            statuses=statuses is not None,
            customer=customer_id is not None,
            since=since is not None,
            assignee=assignee is not None,
            contact=contact_digits is not None,
        )
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if statuses is not None:
            params["statuses"] = list(statuses)
        if customer_id is not None:
            params["customer_id"] = customer_id
        if since is not None:
            params["since"] = since
        if assignee is not None:
            params["assignee"] = assignee
        if contact_digits is not None:
            params["contact"] = contact_digits
        return (await self.session.execute(stmt, params)).rows
