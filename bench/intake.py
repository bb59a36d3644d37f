"""Intake through the real Telegram adapter against the in-process Bot API emulator.

Prints JSON:
1. throughput: 1,000 messages (500 customers: a first message, then a second one; each half
   arrives as one 500-message burst) through kesu (PTB, dispatcher, intake flow, store,
   outbox) until every reply reached the emulator — on SQLite, and on PostgreSQL when
   KESU_TEST_POSTGRES_URL is set — and the same 1,000 updates through a bare
   python-telegram-bot echo bot against the same emulator. Rounds are interleaved (echo,
   SQLite, PostgreSQL; BENCH_ROUNDS, default 3) so the noise of a shared machine falls on
   all alike; medians of messages/s and of each round's ratio (goal: kesu >= 0.5 x echo).
   The outbox rate limit is lifted so both measure processing, not Telegram's limits.
2. latency: p50/p99 from an update's arrival at kesu (the inbox storing it) to its reply
   being queued (durable in the outbox, the update marked processed) under those bursts, per
   backend, median over rounds; and, on SQLite, how many transactions one COMMIT made
   durable on average (group commit).
3. burst: 1,000 new customers each send one message with Telegram's real limits in force and
   the emulator answering 429 to anything faster: every reply delivered?, 429s caused, total
   time against the theoretical minimum (1,000 replies at 30 msg/s = 33.3 s).
Nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.app import Runtime, build_runtime, freeze_startup_objects  # noqa: E402
from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.clock import TickingClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.delivery import Limits  # noqa: E402
from bot.nlp.classifier import Classifier  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
COMPLAINTS = [
    "快递三天了还没派送,客服电话一直打不通",
    "加油站员工态度恶劣,还骂人",
    "物业费乱收费,每个月都多收我们二十元",
    "买的手机屏幕有质量问题,刚用两天就坏了",
]


async def push_round(tg: FakeTelegram, users: list[Any], texts: list[str]) -> None:
    await asyncio.gather(*(u.says(texts[i % len(texts)]) for i, u in enumerate(users)))


#: A message within 10 s of the last 已记录 is acknowledged later, counted with the others: the
#: second round waits that long (untimed), so it measures processing, not that quiet period.
ACK_QUIET = 10.5


async def two_rounds(tg: FakeTelegram, n_users: int) -> float:
    """Every customer writes twice; seconds until every reply reached the emulator, the
    pause between the rounds not counted."""
    users = [tg.user(10_000 + i, f"U{i}") for i in range(n_users)]
    start = time.perf_counter()
    await push_round(tg, users, COMPLAINTS)
    await tg.wait_for(lambda: len(tg.sent) >= n_users, 300)
    first = time.perf_counter() - start
    await asyncio.sleep(ACK_QUIET)
    start = time.perf_counter()
    await push_round(tg, users, ["补充一句:这已经是第二次了"])
    await tg.wait_for(lambda: len(tg.sent) >= 2 * n_users, 300)
    return first + time.perf_counter() - start


async def start_kesu(
    tg: FakeTelegram, classifier: Classifier, database_url: str, **telegram_options: Any
) -> tuple[Runtime, asyncio.Event, asyncio.Task[None]]:
    """A running kesu against the emulator, polling already."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        telegram_token=tg.token,
        telegram_base_url=tg.url,
    )
    runtime = await build_runtime(
        settings,
        clock=TickingClock(datetime(2026, 11, 17, 14, 30, tzinfo=TZ)),
        classifier=classifier,
        telegram_options={"poll_timeout": 1.0, **telegram_options},
    )
    freeze_startup_objects()  # as `kesu run` does
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.serve(stop))
    await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")))
    return runtime, stop, task


async def kesu_throughput(
    classifier: Classifier, n_users: int, database_url: str
) -> dict[str, Any]:
    tg = FakeTelegram()
    await tg.start()
    runtime, stop, task = await start_kesu(
        tg, classifier, database_url, limits=Limits(100_000.0, 0.0)
    )
    latencies: list[float] = []
    arrived: dict[str, float] = {}
    inbox = runtime.inbox
    receive, report = inbox.receive, inbox._report

    async def received(updates: Any) -> Any:  # an update's arrival at kesu
        start = time.perf_counter()
        for update in updates:
            arrived.setdefault(update.update_id, start)
        return await receive(updates)

    def processed(channel: str, chat: str, step: Any) -> None:  # its step is durable
        if step.row is not None and step.row["update_id"] in arrived:
            latencies.append(time.perf_counter() - arrived.pop(step.row["update_id"]))
        report(channel, chat, step)

    inbox.receive = received  # type: ignore[method-assign]
    inbox._report = processed  # type: ignore[method-assign]
    store = runtime.kesu.store
    stats = getattr(store, "stats", None)
    before = (stats.groups, stats.units) if stats is not None else None
    elapsed = await two_rounds(tg, n_users)
    group = None
    if stats is not None and before is not None and stats.groups > before[0]:
        group = (stats.units - before[1]) / (stats.groups - before[0])
    stop.set()
    await task
    await tg.stop()
    latencies.sort()
    return {
        "rate": 2 * n_users / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "units_per_commit": group,
    }


async def on_scratch_database(url: str, classifier: Classifier) -> dict[str, Any]:
    """kesu's throughput with its store on PostgreSQL, in a database made for the run."""
    name = f"kesu_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return await kesu_throughput(classifier, 500, url.rsplit("/", 1)[0] + f"/{name}")
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def echo_throughput(n_users: int) -> float:
    tg = FakeTelegram()
    await tg.start()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        assert update.effective_message is not None
        await context.bot.send_message(
            update.effective_chat.id, update.effective_message.text or ""
        )

    app = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(f"{tg.url}/bot")
        .request(HTTPXRequest(connection_pool_size=40))
        .get_updates_request(HTTPXRequest(connection_pool_size=2, read_timeout=11))
        .concurrent_updates(32)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(timeout=1)
    elapsed = await two_rounds(tg, n_users)
    await app.updater.stop()
    await app.stop()
    await app.shutdown()
    await tg.stop()
    return 2 * n_users / elapsed


async def burst(classifier: Classifier, n_users: int, tmp: Path) -> dict[str, Any]:
    tg = FakeTelegram(enforce_limits=True)
    await tg.start()
    _, stop, task = await start_kesu(tg, classifier, f"sqlite:///{tmp / 'burst.db'}")
    users = [tg.user(50_000 + i, f"B{i}") for i in range(n_users)]
    start = time.perf_counter()
    await push_round(tg, users, COMPLAINTS)
    await tg.wait_for(lambda: len(tg.sent) >= n_users, 600)
    elapsed = time.perf_counter() - start
    await asyncio.sleep(1.0)  # anything doubled would arrive now
    stop.set()
    await task
    await tg.stop()
    delivered = {s.chat_id for s in tg.sent}
    minimum = n_users / 30.0
    return {
        "customers": n_users,
        "replies_sent": len(tg.sent),
        "every_customer_answered": len(delivered) == n_users,
        "too_fast_429s": tg.too_fast,
        "outbox_rate_per_s": TelegramChannel.limits.per_second,
        "total_s": round(elapsed, 2),
        "theoretical_min_s_at_30_per_s": round(minimum, 2),
        "ratio_to_min": round(elapsed / minimum, 3),
    }


def summary(runs: list[dict[str, Any]], echo: list[float]) -> dict[str, Any]:
    """Medians over rounds; the ratio is each round's own, kesu and echo side by side."""
    groups = [r["units_per_commit"] for r in runs if r["units_per_commit"] is not None]
    return {
        "msgs_per_s": round(statistics.median(r["rate"] for r in runs), 1),
        "over_echo": round(
            statistics.median(r["rate"] / e for r, e in zip(runs, echo, strict=True)), 3
        ),
        "over_echo_each_round": [round(r["rate"] / e, 3) for r, e in zip(runs, echo, strict=True)],
        "latency_update_to_reply_queued_ms": {
            "p50": round(statistics.median(r["p50_ms"] for r in runs), 2),
            "p99": round(statistics.median(r["p99_ms"] for r in runs), 2),
        },
        "transactions_per_commit": round(statistics.median(groups), 1) if groups else None,
    }


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    classifier = Classifier.load("default")
    pg = os.environ.get("KESU_TEST_POSTGRES_URL")
    echo: list[float] = []
    on_sqlite: list[dict[str, Any]] = []
    on_postgresql: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(ROUNDS):  # interleaved: the machine's noise falls on every contender
            echo.append(await echo_throughput(500))
            url = f"sqlite:///{Path(tmp) / f'throughput-{n}.db'}"
            on_sqlite.append(await kesu_throughput(classifier, 500, url))
            if pg:
                on_postgresql.append(await on_scratch_database(pg, classifier))
        burst_result = await burst(classifier, 1000, Path(tmp))
    result = {
        "benchmark": "intake",
        "messages": 1000,
        "rounds": ROUNDS,
        "echo_bot_msgs_per_s": round(statistics.median(echo), 1),
        "echo_bot_each_round": [round(e, 1) for e in echo],
        "kesu_on_sqlite": summary(on_sqlite, echo),
        "kesu_on_postgresql": summary(on_postgresql, echo) if on_postgresql else None,
        "burst": burst_result,
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    asyncio.run(main())
