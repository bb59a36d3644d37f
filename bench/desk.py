"""What the Slack staff desk costs each case change, measured side by side.

The desk queues its card, thread line and customer message inside the transaction of every
change (so none is lost); this prints, as JSON, the median per-operation time of opening and
claiming cases with and without the desk listener on SQLite (rounds interleaved on one
machine), the ratio, and how fast one desk queue drains to the Slack Web API emulator when
Slack's 1 msg/s per-channel pacing is lifted. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import FrozenClock
from bot.config import load_policy
from bot.delivery import Limits
from bot.desk import Desk
from bot.domain.sla import Sla
from bot.nlp.classifier import Classifier
from bot.outbox import OutboxWorker
from bot.services import CaseService, NewComplaint
from bot.web import WebServer
from storage import migrate
from storage.db import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fakes.slack import FakeSlack  # the emulator lives with the tests
from tests.queries import pending_count

TZ = ZoneInfo("Asia/Shanghai")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CASES = int(os.environ.get("BENCH_CASES", "200"))
TEXT = "加油站员工态度恶劣,多收了我二十元,要求退款并道歉。昨天下午三点在中山路加油站。"


async def one_round(directory: str, n: int, with_desk: bool, classifier: Classifier) -> dict:
    store = Store.connect(f"sqlite:///{directory}/r{n}-{with_desk}.db")
    await migrate.upgrade(store)
    policy = load_policy(None)
    clock = FrozenClock(datetime(2026, 11, 17, 6, tzinfo=UTC) + timedelta(days=n))
    service = CaseService(store, Sla(policy, policy.calendar.build(TZ)), clock, TZ)
    if with_desk:
        desk = Desk(service, classifier, channel="slack", staff_channel="CDESK0001")
        service.listeners.append(desk.projection.on_change)
    t0 = time.perf_counter()
    numbers = [
        (
            await service.open_case(
                NewComplaint("telegram", str(i), TEXT, category="staff_attitude")
            )
        ).number
        for i in range(CASES)
    ]
    opened = time.perf_counter() - t0
    t0 = time.perf_counter()
    for number in numbers:
        await service.claim(number, "slack:UAGENT001")
    claimed = time.perf_counter() - t0
    async with store.read() as tx:
        queued = await pending_count(tx)
    await store.close()
    return {"open_ms": opened / CASES * 1000, "claim_ms": claimed / CASES * 1000, "queued": queued}


async def drain(directory: str, classifier: Classifier) -> dict:
    """Cards and thread lines for CASES opened-and-claimed cases, sent to the emulator."""
    from bot.channels.slack import SlackChannel  # noqa: PLC0415

    slack = FakeSlack()
    await slack.start()
    slack.add_channel("CDESK0001", "desk", ["UAGENT001"], private=True)
    store = Store.connect(f"sqlite:///{directory}/drain.db")
    await migrate.upgrade(store)
    policy = load_policy(None)
    clock = FrozenClock(datetime(2026, 11, 17, 6, tzinfo=UTC))
    service = CaseService(store, Sla(policy, policy.calendar.build(TZ)), clock, TZ)
    desk = Desk(service, classifier, channel="slack", staff_channel="CDESK0001")
    service.listeners.append(desk.projection.on_change)
    for i in range(CASES):
        case = await service.open_case(NewComplaint("telegram", str(i), TEXT))
        await service.claim(case.number, "slack:UAGENT001")
    channel = SlackChannel(desk, bot_token=slack.bot_token, staff_channel="CDESK0001",
                           clock=clock, tz=TZ, mode="http", signing_secret="unused",  # noqa: S106
                           api_url=slack.api_url, limits=Limits(1000.0, 0.0),
                           web_server=WebServer())  # never started: sending only  # fmt: skip
    channel.ready = True  # sending only: the start checks (and bolt's server) are not measured
    worker = OutboxWorker(store, {"slack": channel}, clock, tz=TZ)
    stop = asyncio.Event()
    t0 = time.perf_counter()
    task = asyncio.create_task(worker.run(stop))
    messages = CASES * 3  # card, its edit, the claim's thread line
    async with asyncio.timeout(300):  # a stuck queue ends the benchmark instead of hanging it
        while worker.sent < messages:  # noqa: ASYNC110 (polling the worker's counter is the point)
            await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    await store.close()
    await slack.stop()
    return {"messages": messages, "per_s": messages / elapsed, "failed": worker.failed}


async def main() -> None:
    classifier = Classifier.load("default")
    with tempfile.TemporaryDirectory() as directory:
        rounds: dict[bool, list[dict]] = {False: [], True: []}
        for n in range(ROUNDS):
            for with_desk in (False, True):
                rounds[with_desk].append(await one_round(directory, n, with_desk, classifier))
        result = {}
        for with_desk, label in ((False, "without_desk"), (True, "with_desk")):
            result[label] = {
                k: statistics.median(r[k] for r in rounds[with_desk])
                for k in ("open_ms", "claim_ms", "queued")
            }
        for op in ("open_ms", "claim_ms"):
            result[f"{op}_ratio"] = result["with_desk"][op] / result["without_desk"][op]
        result["drain_to_emulator"] = await drain(directory, classifier)
    print(json.dumps({"cases": CASES, "rounds": ROUNDS, **result}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
