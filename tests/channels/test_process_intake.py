"""Issue 13 tried as a new customer would, against a real ``kesu run`` process and the
Telegram emulator: words written while kesu was down are received when they were written,
and a case number asked about is answered for its own customer only."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.db import Store
from tests.channels.kesu_process import KesuProcess, release_long_poll
from tests.fakes.telegram import FakeTelegram

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


async def test_a_backlog_is_received_when_written_and_numbers_answer_their_owner_only(
    tg: FakeTelegram, tmp_path: Path, cache_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'kesu.db'}"
    alice, bob = tg.user(5101, "Alice"), tg.user(5102, "Bob")
    before = int(time.time())
    await alice.says("加油站多收了我二十元油费,还不给退")  # nobody is serving: kesu is down
    after = int(time.time())
    await asyncio.sleep(2.5)
    try:
        async with KesuProcess(tg, url, tmp_path, cache_dir, name="late") as kesu:
            assert "还有要补充的吗" in await alice.hears(within=30), kesu.tail()
            for label, next_question in [
                ("说完了 ✅", "对吗"),
                ("是", "被投诉的网点"),
                ("跳过", "订单号"),
                ("跳过", "联系电话"),
                ("通过本对话联系我", "希望得到怎样的处理"),
                ("退款", "请核对您的投诉"),
            ]:
                await alice.taps(label)
                assert next_question in await alice.hears(
                    count=2 if label == "通过本对话联系我" else 1
                )
            await alice.taps("确认提交")
            done = await alice.hears()
            found = re.search(r"TS\d{11}", done)
            assert found, done
            number = found.group()

            await alice.says(f"查询进度 {number}")
            assert number in await alice.hears(), kesu.tail()
            await bob.says(f"查询进度 {number.lower()}")
            refused = await bob.hears()
            await bob.says("查询进度 TS20991231001")
            unknown = await bob.hears()
            assert "没有找到" in refused
            assert refused.replace(number, "N") == unknown.replace("TS20991231001", "N")
            assert "多收" not in refused
            assert "Traceback" not in kesu.read_log()
    finally:
        await release_long_poll(tg)  # else the emulator's stop waits out kesu's poll

    store = Store.connect(url)
    try:
        async with store.read() as tx:
            case = await tx.cases.by_number(number)
    finally:
        await store.close()
    assert case is not None
    received = case["received_at"].timestamp()
    assert before <= received <= after  # the message's own date, not when kesu read it
    assert case["sla_started_at"] >= datetime.fromtimestamp(after + 2, UTC)
