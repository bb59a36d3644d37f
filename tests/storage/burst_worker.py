"""Opens cases as fast as it can until killed; used by test_crash.py (not a test itself).

usage: python burst_worker.py DATABASE_URL [POSTGRES_SCHEMA]
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import FrozenClock
from bot.config import load_policy
from bot.domain.sla import Sla
from bot.services import CaseService, NewComplaint
from storage.db import Store

TZ = ZoneInfo("Asia/Shanghai")


async def main(url: str, schema: str | None) -> None:
    options: dict[str, Any] = {}
    if schema:
        options["connect_args"] = {"server_settings": {"search_path": schema}}
    store = Store.connect(url, **options)
    policy = load_policy(None)
    clock = FrozenClock(datetime(2026, 11, 17, 10, tzinfo=TZ))
    service = CaseService(store, Sla(policy, policy.calendar.build(TZ)), clock, TZ)
    counter = 0

    async def opener(worker: int) -> None:
        nonlocal counter
        while True:
            counter += 1
            text = f"第{counter}位客户:快递三天没有派送,电话也打不通 {'😡' * (counter % 5)}"
            await service.open_case(NewComplaint("telegram", f"{worker}-{counter}", text))

    print("ready", flush=True)
    await asyncio.gather(*(opener(w) for w in range(20)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
