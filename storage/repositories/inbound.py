"""Inbound update ids already handled (Telegram update_id, Slack event_id): redelivery is
harmless."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.sql import Executable

from storage.repositories.base import Repo, insert_for, per_dialect
from storage.schema import inbound_updates


@per_dialect
def _record(dialect: str) -> Executable:
    return (
        insert_for(dialect, inbound_updates)
        .on_conflict_do_nothing(
            index_elements=[inbound_updates.c.channel, inbound_updates.c.update_id]
        )
        .returning(inbound_updates.c.update_id)
    )


class InboundUpdates(Repo):
    async def first_time(self, channel: str, update_id: str, now: datetime) -> bool:
        """Record an inbound update id; False if it was seen before (a redelivery)."""
        params = {"channel": channel, "update_id": update_id, "received_at": now}
        result = await self.session.execute(_record(self.session.dialect), params)
        return result.first() is not None
