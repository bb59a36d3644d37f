"""Intake through the real Telegram adapter against the in-process Bot API emulator.

Prints JSON:
1. throughput: 1,000 messages (500 customers: a first message, then a second one) through
   kesu (PTB, dispatcher, intake flow, SQLite, outbox) until every reply reached the
   emulator, and on PostgreSQL too when KESU_TEST_POSTGRES_URL is set; the same 1,000 updates
   through a bare python-telegram-bot echo bot against the same emulator, in the same run;
   messages/s and the ratio (goal: kesu >= 0.5 x echo). The outbox rate limit is lifted here
   so both measure processing, not Telegram's limits.
2. latency: p50/p99 from the update entering the adapter to its reply being queued.
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

from bot.app import Runtime, build_runtime  # noqa: E402
from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.clock import TickingClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.nlp.classifier import Classifier  # noqa: E402
from bot.outbox import Limits  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
COMPLAINTS = [
    "快递三天了还没派送,客服电话一直打不通",
    "加油站员工态度恶劣,还骂人",
    "物业费乱收费,每个月都多收我们二十元",
    "买的手机屏幕有质量问题,刚用两天就坏了",
]


async def push_round(tg: FakeTelegram, users: list[Any], texts: list[str]) -> None:
    await asyncio.gather(*(u.says(texts[i % len(texts)]) for i, u in enumerate(users)))


async def two_rounds(tg: FakeTelegram, n_users: int) -> float:
    """Every customer writes twice; seconds until every reply reached the emulator."""
    users = [tg.user(10_000 + i, f"U{i}") for i in range(n_users)]
    start = time.perf_counter()
    await push_round(tg, users, COMPLAINTS)
    await tg.wait_for(lambda: len(tg.sent) >= n_users, 300)
    await push_round(tg, users, ["补充一句:这已经是第二次了"])
    await tg.wait_for(lambda: len(tg.sent) >= 2 * n_users, 300)
    return time.perf_counter() - start


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
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.serve(stop))
    await tg.wait_for(lambda: bool(tg.method_calls("getUpdates")))
    return runtime, stop, task


async def kesu_throughput(
    classifier: Classifier, n_users: int, database_url: str
) -> tuple[float, list[float]]:
    tg = FakeTelegram()
    await tg.start()
    runtime, stop, task = await start_kesu(
        tg, classifier, database_url, limits=Limits(100_000.0, 0.0)
    )
    latencies: list[float] = []
    handle = runtime.dispatcher.handle

    async def timed(msg: Any) -> Any:
        start = time.perf_counter()
        result = await handle(msg)
        latencies.append(time.perf_counter() - start)
        return result

    runtime.dispatcher.handle = timed  # type: ignore[method-assign]
    elapsed = await two_rounds(tg, n_users)
    stop.set()
    await task
    await tg.stop()
    return 2 * n_users / elapsed, latencies


async def on_scratch_database(url: str, classifier: Classifier) -> float:
    """kesu's throughput with its store on PostgreSQL, in a database made for the run."""
    name = f"kesu_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        rate, _ = await kesu_throughput(classifier, 500, url.rsplit("/", 1)[0] + f"/{name}")
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
    return rate


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


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    classifier = Classifier.load("default")
    pg_rate: float | None = None
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'throughput.db'}"
        kesu_rate, latencies = await kesu_throughput(classifier, 500, sqlite_url)
        echo_rate = await echo_throughput(500)
        pg = os.environ.get("KESU_TEST_POSTGRES_URL")
        if pg:
            pg_rate = await on_scratch_database(pg, classifier)
        burst_result = await burst(classifier, 1000, Path(tmp))
    latencies.sort()
    result = {
        "benchmark": "intake",
        "throughput": {
            "messages": 1000,
            "kesu_msgs_per_s": round(kesu_rate, 1),
            "echo_bot_msgs_per_s": round(echo_rate, 1),
            "kesu_over_echo": round(kesu_rate / echo_rate, 3),
            "kesu_on_postgresql_msgs_per_s": None if pg_rate is None else round(pg_rate, 1),
            "kesu_on_postgresql_over_echo": None
            if pg_rate is None
            else round(pg_rate / echo_rate, 3),
        },
        "latency_update_to_reply_queued_ms": {
            "p50": round(statistics.median(latencies) * 1000, 2),
            "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        },
        "burst": burst_result,
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    asyncio.run(main())
