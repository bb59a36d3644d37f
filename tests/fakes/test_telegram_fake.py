"""The Telegram emulator's webhook delivery and getUpdates conflicts behave as Telegram's do.

A bot that survives these only against a kinder fake would break in production: Telegram
retries a failed webhook POST until it gets a 2xx, POSTs up to max_connections updates at once
(so out of order), and answers 409 to a second poller or to getUpdates under a webhook.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientSession, web
from telegram import Bot
from telegram.error import Conflict

from tests.fakes.telegram import (
    CONFLICT_POLLER,
    CONFLICT_SET_WEBHOOK,
    CONFLICT_WEBHOOK,
    SECRET_HEADER,
    FakeTelegram,
)


class Receiver:
    """The bot's end of a webhook: a tiny aiohttp server that answers as each test scripts."""

    def __init__(self) -> None:
        self.url = ""
        self.got: list[tuple[int, str | None]] = []  # (update_id, secret header) per POST
        self.bodies: dict[int, dict[str, Any]] = {}
        self.ok: list[int] = []  # update_ids answered 200, in the order they were
        self.statuses: dict[int, deque[int]] = defaultdict(deque)  # scripted non-200 answers
        self.slow: dict[int, deque[float]] = defaultdict(deque)  # scripted delays
        self.failing = False  # answer 500 to everything
        self.hold: asyncio.Event | None = None  # set: POSTs wait for it
        self.in_flight = 0
        self.most_in_flight = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        uid = int(update["update_id"])
        self.got.append((uid, request.headers.get(SECRET_HEADER)))
        self.bodies[uid] = update
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.slow[uid]:
                await asyncio.sleep(self.slow[uid].popleft())
        finally:
            self.in_flight -= 1
        status = self.statuses[uid].popleft() if self.statuses[uid] else 200
        if self.failing:
            status = 500
        if status == 200:
            self.ok.append(uid)
        return web.Response(status=status)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(webhook_retry_delay=0.05)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def call(tg: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    """One Bot API call as plain JSON over HTTP: (status, body)."""
    async with (
        ClientSession() as session,
        session.post(f"{tg.url}/bot{tg.token}/{method}", json=params) as response,
    ):
        return response.status, await response.json()


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """For state the emulator does not announce (the receiver's, or a poll's registration)."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "waited in vain"
        await asyncio.sleep(0.01)


def attempts(tg: FakeTelegram, update_id: int) -> list[int | str]:
    return [outcome for uid, outcome in tg.webhook_deliveries if uid == update_id]


# -- webhook delivery ------------------------------------------------------------------------


async def test_webhook_posts_every_update_with_the_secret_header(
    tg: FakeTelegram, receiver: Receiver
) -> None:
    alice = tg.user(1, "Alice")
    queued = await alice.says("快递丢了")  # waiting before the webhook is set: delivered too
    status, body = await call(
        tg, "setWebhook", url=receiver.url, secret_token="s3cret", allowed_updates=["message"]
    )
    assert (status, body) == (200, {"ok": True, "result": True})
    later = await alice.says("/start")
    await tg.wait_for(lambda: not tg.updates)

    assert sorted(receiver.got) == [(queued, "s3cret"), (later, "s3cret")]
    assert receiver.bodies[later]["message"]["text"] == "/start"
    assert sorted(tg.webhook_deliveries) == [(queued, 200), (later, 200)]
    assert (tg.secret_token, tg.max_connections, tg.allowed_updates) == ("s3cret", 40, ["message"])
    _, info = await call(tg, "getWebhookInfo")
    assert info["result"] == {
        "url": receiver.url,
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 40,
        "allowed_updates": ["message"],
    }

    await call(tg, "setWebhook", url=receiver.url)  # no secret now: no header either
    plain = await alice.says("你好")
    await tg.wait_for(lambda: not tg.updates)
    assert receiver.got[-1] == (plain, None)


async def test_a_failing_webhook_is_retried_until_2xx_and_nothing_is_lost(
    tg: FakeTelegram, receiver: Receiver
) -> None:
    await call(tg, "setWebhook", url=receiver.url)
    alice = tg.user(1, "Alice")
    receiver.hold = asyncio.Event()  # both in flight before either is answered
    first = await alice.says("第一句")
    second = await alice.says("第二句")
    receiver.statuses[first].extend([500, 502, 429])
    await eventually(lambda: receiver.in_flight == 2)
    receiver.hold.set()
    await tg.wait_for(lambda: not tg.updates)

    assert attempts(tg, first) == [500, 502, 429, 200]
    assert attempts(tg, second) == [200]
    assert receiver.ok == [second, first]  # one chat, out of order: as Telegram may do
    _, info = await call(tg, "getWebhookInfo")
    assert info["result"]["last_error_message"] == (
        "Wrong response from the webhook: 429 Too Many Requests"
    )


async def test_refused_and_timed_out_posts_are_retried_too(
    tg: FakeTelegram, receiver: Receiver
) -> None:
    nobody = Receiver()
    await nobody.start()
    closed_url = nobody.url
    await nobody.stop()  # its port now refuses connections
    await call(tg, "setWebhook", url=closed_url)
    update = await tg.user(1).says("有人吗")
    await tg.wait_for(lambda: len(attempts(tg, update)) >= 2)
    assert set(attempts(tg, update)) == {"ClientConnectorError"}
    assert tg.updates  # still queued
    _, info = await call(tg, "getWebhookInfo")
    assert info["result"]["pending_update_count"] == 1
    assert info["result"]["last_error_message"] == "Connection refused"

    tg.webhook_timeout = 0.2
    receiver.slow[update].append(1.0)  # the first POST that gets through is not answered in time
    await call(tg, "setWebhook", url=receiver.url)
    await tg.wait_for(lambda: not tg.updates)
    outcomes = attempts(tg, update)
    assert outcomes[-1] == 200
    timed_out = outcomes[-2]
    assert isinstance(timed_out, str)
    assert "Timeout" in timed_out
    assert receiver.ok == [update]


async def test_at_most_max_connections_posts_at_once(tg: FakeTelegram, receiver: Receiver) -> None:
    await call(tg, "setWebhook", url=receiver.url, max_connections=3)
    receiver.hold = asyncio.Event()
    alice = tg.user(1)
    ids = [await alice.says(f"第{n}句") for n in range(8)]
    await eventually(lambda: receiver.in_flight == 3)
    await asyncio.sleep(0.2)  # time enough for a fourth, were it allowed
    assert len(receiver.got) == 3
    receiver.hold.set()
    await tg.wait_for(lambda: not tg.updates)

    assert receiver.most_in_flight == 3
    assert sorted(receiver.ok) == ids  # every update, each once
    assert len(receiver.got) == 8


async def test_delete_webhook_stops_delivery_and_polling_takes_over(
    tg: FakeTelegram, receiver: Receiver
) -> None:
    receiver.failing = True
    await call(tg, "setWebhook", url=receiver.url)
    update = await tg.user(1).says("还在吗")
    await tg.wait_for(lambda: len(attempts(tg, update)) >= 2)
    status, _ = await call(tg, "deleteWebhook")
    assert status == 200
    await asyncio.sleep(0.2)  # an attempt in flight at the delete may still finish
    settled = len(tg.webhook_deliveries)
    await asyncio.sleep(0.3)  # six retry delays
    assert len(tg.webhook_deliveries) == settled

    status, body = await call(tg, "getUpdates", timeout=0)
    assert status == 200
    assert [u["update_id"] for u in body["result"]] == [update]
    _, info = await call(tg, "getWebhookInfo")
    assert info["result"] == {"url": "", "has_custom_certificate": False, "pending_update_count": 1}

    await call(tg, "deleteWebhook", drop_pending_updates=True)
    assert (await call(tg, "getUpdates", timeout=0))[1]["result"] == []


async def test_stop_ends_delivery_with_posts_in_flight(receiver: Receiver) -> None:
    fake = FakeTelegram()
    await fake.start()
    receiver.hold = asyncio.Event()
    await call(fake, "setWebhook", url=receiver.url)
    await fake.user(1).says("在吗")
    await eventually(lambda: receiver.in_flight == 1)
    started = time.monotonic()
    await fake.stop()
    assert time.monotonic() - started < 1.0
    assert fake.updates  # not delivered, so still queued


# -- getUpdates conflicts --------------------------------------------------------------------


async def test_get_updates_under_a_webhook_is_a_409(tg: FakeTelegram, receiver: Receiver) -> None:
    waiting = asyncio.create_task(call(tg, "getUpdates", timeout=5))
    await eventually(lambda: tg._poll is not None)
    receiver.failing = True  # keeps the update queued: the 409 is not for want of updates
    await call(tg, "setWebhook", url=receiver.url)
    assert await asyncio.wait_for(waiting, 1) == (
        409,
        {"ok": False, "error_code": 409, "description": CONFLICT_SET_WEBHOOK},
    )
    await tg.user(1).says("你好")

    assert await call(tg, "getUpdates", timeout=1) == (
        409,
        {"ok": False, "error_code": 409, "description": CONFLICT_WEBHOOK},
    )
    async with Bot(tg.token, base_url=f"{tg.url}/bot") as bot:  # what kesu's PTB makes of it
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook"):
            await bot.get_updates(timeout=0)


async def test_a_second_poller_ends_the_waiting_one_with_409(tg: FakeTelegram) -> None:
    older = asyncio.create_task(call(tg, "getUpdates", timeout=5))
    await eventually(lambda: tg._poll is not None)
    newer = asyncio.create_task(call(tg, "getUpdates", timeout=5))
    assert await asyncio.wait_for(older, 1) == (
        409,
        {"ok": False, "error_code": 409, "description": CONFLICT_POLLER},
    )
    assert not newer.done()  # the newer one is still long-polling, as usual
    update = await tg.user(1).says("你好")
    status, body = await asyncio.wait_for(newer, 1)
    assert status == 200
    assert [u["update_id"] for u in body["result"]] == [update]


async def test_a_second_ptb_poller_sees_a_conflict(tg: FakeTelegram) -> None:
    async with (
        Bot(tg.token, base_url=f"{tg.url}/bot") as first,
        Bot(tg.token, base_url=f"{tg.url}/bot") as second,
    ):
        older = asyncio.create_task(first.get_updates(timeout=5))
        await eventually(lambda: tg._poll is not None)
        newer = asyncio.create_task(second.get_updates(timeout=timedelta(seconds=0.5)))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(older, 1)
        assert await newer == ()


async def test_an_ordinary_poll_loop_never_meets_a_conflict(tg: FakeTelegram) -> None:
    alice = tg.user(1)
    pushed: list[int] = []
    received: list[int] = []
    answers: list[int] = []
    empty = 0

    async def poll_loop() -> None:
        nonlocal empty
        offset = 0
        while len(received) < 20:
            status, body = await call(tg, "getUpdates", offset=offset, timeout=0.2, limit=3)
            answers.append(status)
            empty += not body.get("result")
            for update in body.get("result", []):
                received.append(update["update_id"])
                offset = update["update_id"] + 1

    loop = asyncio.create_task(poll_loop())
    for n in range(20):
        pushed.append(await alice.says(f"第{n}句"))
        await asyncio.sleep((0.0, 0.01, 0.05, 0.3)[n % 4])  # during waits, answers and timeouts
    await asyncio.wait_for(loop, 5)

    assert set(answers) == {200}
    assert received == pushed  # each once, in order, by the offset's confirmation
    assert empty >= 3  # some polls timed out empty, and the next one was no conflict either
