"""What goes wrong on the way: restarts, redeliveries, odd input, and a Bot API that answers
429, 500 or 403 — each with a clear result, nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest

from bot.app import build_runtime
from bot.channels.base import ChannelError
from bot.channels.telegram import TelegramChannel
from bot.config import Settings
from bot.messages import OutgoingMessage
from tests.channels.conftest import Bot
from tests.channels.test_telegram_intake import file_complaint, through_to_summary
from tests.fakes.telegram import Failure, FakeTelegram
from tests.queries import pending_count


async def test_kill_in_the_middle_of_a_dialogue_resumes_where_it_was(
    bot: Bot, tg: FakeTelegram
) -> None:
    alice = tg.user(3001, "Alice")
    await alice.says("加油站员工态度恶劣")
    await alice.hears()
    await alice.taps("说完了 ✅")
    await alice.hears()
    await alice.taps("是")
    assert "被投诉的网点" in await alice.hears()
    await bot.kill()
    await bot.start()
    await alice.says("第三加油站")
    assert "订单号" in await alice.hears()  # the next question: nothing forgotten
    await alice.taps("跳过")
    await alice.hears()
    await alice.shares_contact("13800138000")
    await alice.hears(2)
    await alice.taps("道歉")
    assert "第三加油站" in await alice.hears()


async def test_a_redelivered_update_is_handled_once(bot: Bot, tg: FakeTelegram) -> None:
    """kesu stored and answered an update but died before getUpdates confirmed it: the next
    start fetches it again (no offset is kept), and the inbox recognises it."""
    alice = tg.user(3002, "Alice")
    for _ in range(50):  # every getUpdates after the one that fetches it: not confirmed
        tg.failures["getUpdates"].append(Failure(502, "Bad Gateway"))
    update_id = await alice.says("快递三天了还没派送")
    await alice.hears()
    await bot.kill()
    tg.failures["getUpdates"].clear()
    assert tg.confirmed_offset <= update_id  # Telegram still holds it
    await bot.start()
    await tg.wait_for(lambda: tg.confirmed_offset > update_id)
    await alice.hears_nothing_more(1.5)
    async with bot.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
        conversation = await tx.conversations.get("telegram", "3002")
    assert conversation is not None
    assert conversation["data"]["parts"] == ["快递三天了还没派送"]  # not twice


async def test_odd_input_gets_a_clear_answer(bot: Bot, tg: FakeTelegram) -> None:
    alice = tg.user(3003, "Alice")
    await alice.sends_sticker()
    assert "请发送文字、照片或文件" in await alice.hears()
    await alice.says("😡😡😡")
    await alice.hears()
    await alice.sends_sticker()  # in the middle of describing: a hint, the dialogue goes on
    assert "请用文字描述" in await alice.hears()
    await alice.says("/cancel")
    await alice.hears()

    bob = tg.user(3004, "Bob")
    await bob.sends_photo()  # a photo and no words: kept, but words are still needed
    assert "还有要补充的吗" in await bob.hears()
    await bob.says("/nonsense")
    assert "/status" in await bob.hears(2)  # an unknown command gets the help

    carol = tg.user(3005, "Carol")
    huge = "快递没有派送," + "我等了很久" * 817  # 4,092 characters: Telegram's largest text
    assert len(huge) <= 4096
    summary = await through_to_summary(carol, huge)
    assert "…(4092)" in summary  # the restatement shortens, the record does not
    await carol.taps("确认提交")
    done = await carol.hears()
    number = done.split("编号是 ")[1].split("。")[0]
    case = await bot.runtime.kesu.cases.get(number)  # type: ignore[union-attr]
    assert case.content == huge


async def test_markup_and_emoji_are_kept_verbatim(bot: Bot, tg: FakeTelegram) -> None:
    alice = tg.user(3006, "Alice")
    words = "<b>快递</b> & 员工 <!channel> 态度恶劣 😡👎 ＊全角＊"
    number = await file_complaint(alice, words)
    case = await bot.runtime.kesu.cases.get(number)  # type: ignore[union-attr]
    assert case.content == words


async def test_429_is_waited_out_and_nothing_is_lost_or_doubled(bot: Bot, tg: FakeTelegram) -> None:
    tg.failures["sendMessage"].append(Failure(429, "Too Many Requests: retry after 1", 1))
    alice = tg.user(3007, "Alice")
    started = time.monotonic()
    await alice.says("快递三天了还没派送")
    assert "您好" in await alice.hears(within=20)
    assert time.monotonic() - started >= 0.9  # Telegram's retry_after was honoured
    await alice.hears_nothing_more(0.5)
    assert bot.runtime.worker.retried == 1  # type: ignore[union-attr]


async def test_500_and_timeouts_are_retried(bot: Bot, tg: FakeTelegram) -> None:
    for _ in range(2):
        tg.failures["sendMessage"].append(Failure(500, "Internal Server Error"))
    alice = tg.user(3008, "Alice")
    await alice.says("快递三天了还没派送")
    assert "您好" in await alice.hears(within=30)
    await alice.hears_nothing_more(0.5)


async def test_a_customer_who_blocked_the_bot_is_recorded_not_retried(
    bot: Bot, tg: FakeTelegram
) -> None:
    tg.failures["sendMessage"].append(Failure(403, "Forbidden: bot was blocked by the user"))
    alice = tg.user(3009, "Alice")
    await alice.says("快递三天了还没派送")
    runtime = bot.runtime
    assert runtime is not None
    await tg.wait_for(lambda: runtime.worker.failed == 1)
    async with runtime.kesu.store.read() as tx:
        customer = await tx.customers.find("telegram", "3009")
        pending = await pending_count(tx)
    assert customer is not None
    assert customer["blocked_at"] is not None
    assert pending == 0
    await asyncio.sleep(0.5)
    assert runtime.worker.failed == 1  # not retried
    assert len(tg.method_calls("sendMessage")) == 1


async def test_a_burst_of_200_customers_within_telegrams_limits(bot: Bot, tg: FakeTelegram) -> None:
    await bot.stop()
    tg.enforce_limits = True  # the emulator answers 429 as Telegram would if we went too fast
    await bot.start(limits=TelegramChannel.limits)  # Telegram's real limits
    users = [tg.user(40_000 + i, f"U{i}") for i in range(200)]
    await asyncio.gather(*(u.says("快递三天了还没派送,客服电话打不通") for u in users))
    for u in users:
        assert "还有要补充的吗" in await u.hears(within=60)
    assert (tg.too_fast, tg.too_fast_chat) == (0, 0)
    assert len(tg.sent) == 200  # one reply each, none doubled
    store = bot.runtime.kesu.store  # type: ignore[union-attr]
    for _ in range(50):  # the last "sent" marks may still be committing
        async with store.read() as tx:
            if await pending_count(tx) == 0:
                break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("messages left pending")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_mode_checks_the_secret(bot: Bot, tg: FakeTelegram) -> None:
    await bot.stop()
    port = _free_port()
    bot.settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{
            **bot.settings.model_dump(),
            "telegram_webhook_url": "https://desk.example/telegram",
            "telegram_webhook_secret": "s3cret-token",
            "telegram_webhook_listen": "127.0.0.1",
            "telegram_webhook_port": port,
        },
    )
    await bot.start()
    await tg.wait_for(lambda: tg.webhook_url == "https://desk.example/telegram")
    alice = tg.user(3010, "Alice")
    update = {
        "update_id": 555,
        "message": {
            "message_id": 5, "date": int(time.time()),
            "chat": {"id": 3010, "type": "private"}, "from": alice.json, "text": "/start",
        },
    }  # fmt: skip
    url = f"http://127.0.0.1:{port}/telegram"
    async with aiohttp.ClientSession() as http:
        forged = await http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "x"})
        assert forged.status == 403
        missing = await http.post(url, json=update)
        assert missing.status == 403
        await alice.hears_nothing_more(0.5)
        good = await http.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
        )
        assert good.status == 200
    assert "您好" in await alice.hears()


async def test_a_slow_bot_api_delays_but_loses_nothing(bot: Bot, tg: FakeTelegram) -> None:
    tg.delays["sendMessage"] = 1.5
    alice = tg.user(3011, "Alice")
    await alice.says("快递三天了还没派送")
    assert "还有要补充的吗" in await alice.hears(within=20)
    await alice.taps("说完了 ✅")
    assert "对吗" in await alice.hears(within=20)
    await alice.hears_nothing_more(2.0)


async def test_a_refused_token_stops_the_start_with_a_clear_message(
    bot: Bot, tg: FakeTelegram
) -> None:
    await bot.stop()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{**bot.settings.model_dump(), "telegram_token": "123456789:" + "B" * 35},
    )
    runtime = await build_runtime(settings, clock=bot.clock, classifier=bot.classifier)
    with pytest.raises(ChannelError, match="Telegram refused the bot token"):
        await runtime.serve(asyncio.Event())


async def test_a_poison_update_parks_the_customer_is_told_and_the_chat_flows(
    bot: Bot, tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """An update kesu cannot read (here a date that is not a number) fails every attempt: it
    is parked, logged with its id and the command to retry it, the customer is told once, a
    note goes on their open case — and their next message is processed as usual."""
    alice = tg.user(3012, "Alice")
    number = await file_complaint(alice, "快递三天了还没派送,电话也打不通")
    poison = {
        "message": {
            "message_id": 4242, "date": "yesterday",
            "chat": {"id": 3012, "type": "private"}, "from": alice.json, "text": "还有一件事",
        },
    }  # fmt: skip
    update_id = await tg.push(poison)
    told = await alice.hears(within=10)
    assert "未能处理" in told
    assert f"telegram update {update_id}" in caplog.text
    assert "parked after 5 attempts" in caplog.text
    assert "13800138000" not in caplog.text  # no payload in the logs
    await alice.hears_nothing_more(0.5)  # told once
    history = await bot.runtime.kesu.cases.history(number)  # type: ignore[union-attr]
    notes = [e.note or "" for e in history if e.action == "note"]
    assert any(f"update {update_id}" in n and "kesu inbox list --failed" in n for n in notes)
    await alice.says("电话也打不通,请尽快处理")
    assert number in await alice.hears()  # the chat flows again: added to the case
    async with bot.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
        (parked,) = await tx.inbox.listing(["parked"])
    assert parked["update_id"] == str(update_id)
    assert parked["attempts"] == 5


async def test_a_long_text_of_emoji_reaches_the_customer_whole(bot: Bot, tg: FakeTelegram) -> None:
    """3,000 emoji are 6,000 UTF-16 code units, which is how Telegram counts its 4,096: two
    messages, neither refused as too long, together the whole text."""
    channel = next(c for c in bot.runtime.channels if isinstance(c, TelegramChannel))  # type: ignore[union-attr]
    result = await channel.send("3013", OutgoingMessage("😡" * 3000))
    assert result.ok
    assert [len(s.text) for s in tg.to(3013)] == [2048, 952]
    assert "".join(s.text for s in tg.to(3013)) == "😡" * 3000
