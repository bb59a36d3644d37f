"""The desk's record-changing requests (thread messages, claims, releases) are stored before
Slack hears they arrived, over HTTP and Socket Mode: a request kesu could not store is not
acknowledged, so Slack's redelivery brings it; a request processed twice changes once."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.channels.slack.inbox import SlackProcessor
from bot.inbox import Inbox
from storage.repositories.base import DatabaseError
from tests.channels.conftest import AGENT, STAFF_CHANNEL, Bot
from tests.channels.test_slack_desk import card_of, card_shows, claimed_case
from tests.channels.test_slack_socket_mode import socket_desk  # noqa: F401 (fixture)
from tests.channels.test_telegram_intake import file_complaint
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram


def store_fails(inbox: Inbox, times: int) -> list[int]:
    """The next ``times`` stores fail as a database gone away would; returns their count."""
    real = inbox.receive
    failed: list[int] = []

    async def receive(updates: Any) -> Any:
        if len(failed) < times:
            failed.append(1)
            raise DatabaseError("connection refused")
        return await real(updates)

    inbox.receive = receive  # type: ignore[method-assign]
    return failed


async def notes(desk: Bot, number: str) -> list[str | None]:
    history = await desk.runtime.kesu.cases.history(number)  # type: ignore[union-attr]
    return [e.note for e in history if e.action == "note"]


async def slack_rows(desk: Bot) -> dict[str, int]:
    async with desk.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
        rows = await tx.inbox.listing(["pending", "done", "parked"], 1000)
    counts: dict[str, int] = {}
    for row in rows:
        if row["channel"] == "slack":
            counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


async def test_a_thread_message_not_stored_is_not_acknowledged_and_its_retry_is_recorded_once(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    number, card, _ = await claimed_case(tg, slack, 5301)
    assert desk.runtime is not None
    store_fails(desk.runtime.inbox, 1)
    event = slack.message_event(STAFF_CHANNEL, AGENT, "已联系网点,明天答复", thread_ts=card.ts)
    first = await slack.send_event(event, event_id="Ev0INBOX01")
    assert first.status == 503  # Slack will send it again
    assert "Ev0INBOX01 could not be stored" in caplog.text
    assert await notes(desk, number) == []
    again = await slack.retry_event(first, num=1)
    assert again.ok
    third = await slack.retry_event(first, num=2)  # a retry of a stored event: ignored
    assert third.ok
    await asyncio.sleep(0.5)
    assert await notes(desk, number) == ["已联系网点,明天答复"]


async def test_a_forged_request_is_never_stored(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number = await file_complaint(tg.user(5302, "Customer"), "加油站多收了我二十块钱")
    await card_of(slack, number)
    payload = {
        "type": "block_actions",
        "user": {"id": AGENT, "username": "wang", "team_id": slack.team_id},
        "team": {"id": slack.team_id},
        "actions": [{"action_id": "kesu_claim", "value": number, "action_ts": "1.2"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    forged = await slack.send_raw(body, slack.signed_headers(body, secret="a guess"))
    assert forged.status == 401
    assert await slack_rows(desk) == {}  # bolt's signature check runs before the inbox


async def test_a_claim_processed_again_after_a_crash_changes_the_case_once(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    """kesu died after the claim was applied but before its inbox row was marked done: the
    row is processed again, and the desk recognises its update id."""
    customer = tg.user(5303, "Customer")
    number = await file_complaint(customer, "快递三天了还没派送")
    card = await card_of(slack, number)
    click = await slack.click(AGENT, "kesu_claim", number, message=card)
    assert click.ok
    await card_shows(slack, card, f"<@{AGENT}>")
    assert await slack_rows(desk) == {"done": 1}
    async with desk.runtime.kesu.store.read() as tx:  # type: ignore[union-attr]
        (row,) = [r for r in await tx.inbox.listing(["done"], 10) if r["channel"] == "slack"]
    told = len(slack.ephemerals(AGENT))
    processor = SlackProcessor(desk.desk_channel.handlers, desk.clock)
    await processor.process_apart({**row, "payload": click.request})
    history = await desk.runtime.kesu.cases.history(number)  # type: ignore[union-attr]
    assert [e.action for e in history].count("claim") == 1
    assert len(slack.ephemerals(AGENT)) == told  # nobody told "you already have it"


async def test_over_socket_mode_a_request_not_stored_is_not_acked(
    socket_desk: Bot,  # noqa: F811 (fixture)
    tg: FakeTelegram,
    slack: FakeSlack,
) -> None:
    customer = tg.user(5304, "Customer")
    number = await file_complaint(customer, "物业费乱收费")
    card = await card_of(slack, number)
    assert socket_desk.runtime is not None
    store_fails(socket_desk.runtime.inbox, 1)
    slack.app_timeout = 1.0
    lost = await slack.click(AGENT, "kesu_claim", number, message=card)
    assert lost.timed_out  # no ack: Slack shows the person an error; nothing was changed
    case = await socket_desk.runtime.kesu.cases.get(number)
    assert case.assignee is None
    again = await slack.click(AGENT, "kesu_claim", number, message=card)
    assert again.ok
    await card_shows(slack, card, f"<@{AGENT}>")
