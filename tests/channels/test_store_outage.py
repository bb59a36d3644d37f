"""The database goes away for 30 seconds while customers write: nothing is lost. Updates that
could not be stored were never acknowledged, so Telegram still has them (polling: the offset
did not move; webhook: kesu answered 503 and Telegram delivers again), and once the database
is back every message is processed once and answered once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from bot.clock import TickingClock
from bot.config import Settings
from bot.nlp.classifier import Classifier
from tests.channels.conftest import Bot
from tests.conftest import POSTGRES_URL, SHANGHAI
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.telegram import FakeTelegram

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not POSTGRES_URL, reason="needs KESU_TEST_POSTGRES_URL"),
]
OUTAGE = 30.0  # seconds


@pytest.fixture
async def scratch_database() -> AsyncIterator[tuple[str, int, str]]:
    """A database of its own on the test server: (host, port, name)."""
    assert POSTGRES_URL is not None
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    name = f"kesu_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        params = admin._addr  # (host, port) of the server it reached
        yield str(params[0]), int(params[1]), name
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_30_second_database_outage_loses_no_message(  # noqa: PLR0917 (fixtures)
    mode: str,
    tg: FakeTelegram,
    bot_settings: Settings,
    shared_classifier: Classifier,
    scratch_database: tuple[str, int, str],
    unused_tcp_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    host, port, name = scratch_database
    proxy = TcpProxy(host, port)
    await proxy.start()
    values: dict[str, Any] = {
        "database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{name}"
    }
    if mode == "webhook":
        values |= {
            "telegram_webhook_url": f"http://127.0.0.1:{unused_tcp_port}/telegram",
            "telegram_webhook_secret": SecretStr("s3cret-token"),
            "telegram_webhook_listen": "127.0.0.1",
            "telegram_webhook_port": unused_tcp_port,
        }
    settings = bot_settings.model_copy(update=values)
    clock = TickingClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))
    bot = Bot(tg, settings, clock, shared_classifier)
    await bot.start()
    try:
        customers = [tg.user(7000 + i, f"C{i}") for i in range(8)]
        before = customers[0]
        await before.says("快递三天了还没派送")
        assert "已记录" in await before.hears()

        proxy.cut()
        for i, customer in enumerate(customers):
            await customer.says(f"第{i}位客户:加油站多收了我二十块钱")
        await asyncio.sleep(OUTAGE)
        assert all(not tg.to(c.id)[c.read :] for c in customers)  # nothing processed yet
        proxy.restore()

        for customer in customers:
            assert "已记录" in await customer.hears(within=60)
        for customer in customers:
            await customer.hears_nothing_more(0.5)  # answered once
        async with bot.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
            for i, customer in enumerate(customers):
                conversation = await tx.conversations.get("telegram", str(customer.id))
                assert conversation is not None
                words = f"第{i}位客户:加油站多收了我二十块钱"
                expected = ["快递三天了还没派送", words] if i == 0 else [words]
                assert conversation["data"]["parts"] == expected  # each processed once
        refused = "could not be stored" in caplog.text
        assert refused  # every refusal is logged (at ERROR, with the update id)
    finally:
        await bot.stop()
        await proxy.stop()
