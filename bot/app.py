"""Composition root: the only place that wires storage, policy, clock and services together.

No module-level singletons: whoever needs a kesu builds one here and closes it when done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.clock import Clock, SystemClock
from bot.config import Settings, calendar_warnings, load_policy
from bot.domain.cases import DomainError
from bot.domain.sla import Sla
from bot.services import CaseService
from storage import migrate
from storage.db import Store

log = logging.getLogger(__name__)


@dataclass
class Kesu:
    settings: Settings
    store: Store
    sla: Sla
    cases: CaseService
    clock: Clock

    async def close(self) -> None:
        await self.store.close()


class SchemaOutOfDate(DomainError):
    pass


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    upgrade: bool = False,
) -> Kesu:
    """Wire a kesu.

    ``upgrade`` is the bot's start: it applies migrations and warns the operators about
    missing holiday data. Without it (inspection commands) a schema that is not at the current
    revision is refused with the command that fixes it.
    """
    clock = clock or SystemClock()
    policy = load_policy(settings.policy_file)
    calendar = policy.calendar.build(settings.tz)
    if upgrade:
        for warning in calendar_warnings(calendar, clock.now()):
            log.warning("%s", warning)
    store = Store.connect(settings.database_url)
    try:
        if upgrade:
            await migrate.upgrade(store)
        else:
            current, head = await migrate.current_revision(store), migrate.head_revision()
            if current != head:
                raise SchemaOutOfDate(
                    f"database schema is at {current or 'nothing'}, this kesu needs {head}: "
                    "run `kesu db upgrade` first"
                )
    except BaseException:
        await store.close()
        raise
    sla = Sla(policy, calendar)
    cases = CaseService(store, sla, clock, settings.tz, prefix=settings.case_prefix)
    return Kesu(settings=settings, store=store, sla=sla, cases=cases, clock=clock)
