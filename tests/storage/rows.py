"""Rows of an older schema, written as a release before a migration would have: for the tests
that upgrade a populated database. Only the columns given are written (an older schema lacks
the newer ones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from storage.schema import cases, customers


def customer(sync: Connection, at: datetime, user: str = "42") -> int:
    return int(
        sync.execute(
            insert(customers)
            .values(channel="telegram", channel_user_id=user, created_at=at, updated_at=at)
            .returning(customers.c.id)
        ).scalar_one()
    )


def case(sync: Connection, customer_id: int, at: datetime, n: int, **values: Any) -> int:
    """Case ``TS2026111700<n>`` received at ``at``: claimed, C, every deadline at ``at``."""
    row: dict[str, Any] = {
        "number": f"TS2026111700{n}", "customer_id": customer_id, "channel": "telegram",
        "status": "claimed", "priority": "C", "severity": "general", "risk": "none",
        "category": "other", "subject": "x", "content": "态度差", "escalation_level": 0,
        "reopen_count": 0, "received_at": at, "sla_started_at": at, "first_response_due": at,
        "resolution_due": at, "version": 1, "created_at": at, "updated_at": at,
    }  # fmt: skip
    return int(sync.execute(insert(cases).values(row | values).returning(cases.c.id)).scalar_one())
