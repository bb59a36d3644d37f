"""The dispatcher and intake flow without any channel: messages in, replies out (and queued)."""

from __future__ import annotations

import itertools
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import bot.channels.telegram as telegram_channel
from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from bot.domain.sla import Sla
from bot.flows.base import FlowDeps
from bot.messages import IncomingMessage
from bot.nlp.classifier import Classifier
from bot.services import CaseService
from storage.db import Store
from tests.conftest import SHANGHAI
from tests.queries import case_count, pending

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def classifier(cache_dir: Path) -> Classifier:
    return Classifier.load("default", cache_dir)


@pytest.fixture
def dispatcher(
    store: Store, service: CaseService, sla: Sla, clock: FrozenClock, classifier: Classifier
) -> Dispatcher:
    return Dispatcher(store, FlowDeps(service, classifier, sla, SHANGHAI), clock)


def msg(user: str = "42", text: str = "", **kw: object) -> IncomingMessage:
    return IncomingMessage(
        "telegram",
        user,
        user,
        str(next(_ids)),
        text=text,
        **kw,  # type: ignore[arg-type]
    )


async def say(d: Dispatcher, *args: object, **kw: object) -> str:
    replies = await d.handle(msg(*args, **kw))  # type: ignore[arg-type]
    assert replies is not None
    return "\n".join(r.text for r in replies)


async def test_language_choice_is_remembered(dispatcher: Dispatcher) -> None:
    assert "请选择语言" in await say(dispatcher, command="language")
    assert "Switched to English" in await say(dispatcher, callback="lang:en")
    assert "Hello" in await say(dispatcher, text="my parcel is late")
    assert "已切換為繁體中文" in await say(dispatcher, callback="lang:zh-hant")
    assert "還有要補充的嗎" in await say(dispatcher, text="還有一件事")


async def test_replies_are_queued_with_the_state(dispatcher: Dispatcher, store: Store) -> None:
    await say(dispatcher, text="快递三天了还没派送")
    async with store.read() as tx:
        queued = await pending(tx, dispatcher.clock.now())
        conversation = await tx.conversations.get("telegram", "42")
    assert len(queued) == 1
    assert queued[0]["payload"]["buttons"][0][0]["data"] == "i:done"
    assert conversation is not None
    assert (conversation["flow"], conversation["state"]) == ("intake", "content")


async def test_an_unknown_state_from_an_older_version_starts_over(
    dispatcher: Dispatcher, store: Store
) -> None:
    await store.write(
        lambda tx: tx.conversations.put(
            "telegram", "42", flow="intake", state="retired_step", data={},
            now=dispatcher.clock.now(),
        )
    )  # fmt: skip
    assert "请用文字描述" in await say(dispatcher, text="hello")


async def test_cancel_at_the_restatement_opens_nothing(
    dispatcher: Dispatcher, store: Store
) -> None:
    await say(dispatcher, text="加油站员工态度恶劣")
    await say(dispatcher, callback="i:done")
    await say(dispatcher, callback="i:cat:yes")
    await say(dispatcher, callback="i:skip")
    await say(dispatcher, callback="i:skip")
    await say(dispatcher, contact_phone="13800138000")
    assert "请核对" in await say(dispatcher, callback="i:out:apology")
    assert "已取消" in await say(dispatcher, text="取消")
    async with store.read() as tx:
        assert await case_count(tx) == 0
        assert await tx.conversations.get("telegram", "42") is None


async def test_a_duplicate_update_returns_none(dispatcher: Dispatcher) -> None:
    first = msg(text="快递三天了还没派送")
    assert await dispatcher.handle(first) is not None
    assert await dispatcher.handle(first) is None


async def test_a_dialogue_abandoned_for_a_day_starts_afresh(
    dispatcher: Dispatcher, clock: FrozenClock
) -> None:
    await say(dispatcher, text="加油站员工态度恶劣")
    await say(dispatcher, callback="i:done")
    assert "被投诉的网点" in await say(dispatcher, callback="i:cat:yes")
    clock.advance(timedelta(days=7))
    # A week later this is a new complaint, not the answer to "which branch?".
    reply = await say(dispatcher, text="快递三天了还没派送")
    assert "您好" in reply
    assert "还有要补充的吗" in reply


def test_the_token_never_reaches_the_logs() -> None:
    """httpx logs request URLs at INFO and Bot API URLs carry the token."""
    assert telegram_channel.CHANNEL == "telegram"
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


async def test_the_promise_names_working_hours_for_a_business_clock(
    dispatcher: Dispatcher, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 17, 22, 0, tzinfo=SHANGHAI))  # Tuesday night
    await say(dispatcher, text="请马上处理,快递员把我的包裹弄丢了")  # urgent: priority B
    await say(dispatcher, callback="i:done")
    await say(dispatcher, callback="i:cat:process")
    await say(dispatcher, callback="i:skip")
    await say(dispatcher, callback="i:skip")
    await say(dispatcher, callback="i:chat")
    await say(dispatcher, callback="i:out:other")
    done = await say(dispatcher, callback="i:submit")
    assert "4 个工作小时内(明天 13:00前)" in done


async def test_two_messages_of_one_customer_at_once_are_taken_one_after_the_other(
    dispatcher: Dispatcher, store: Store
) -> None:
    """The dialogue state is locked on the customer row (it always exists; the conversation
    row may not yet): two instances taking one customer's messages at once lose neither."""
    import asyncio  # noqa: PLC0415

    other = Dispatcher(store, dispatcher.deps, dispatcher.clock)  # another instance's
    people = [str(9000 + n) for n in range(12)]
    await asyncio.gather(
        *(
            instance.handle(msg(user, text=f"{user} 第{part}句"))
            for user in people
            for part, instance in ((1, dispatcher), (2, other))
        )
    )
    async with store.read() as tx:
        for user in people:
            conversation = await tx.conversations.get("telegram", user)
            assert conversation is not None
            assert sorted(conversation["data"]["parts"]) == [f"{user} 第1句", f"{user} 第2句"]
