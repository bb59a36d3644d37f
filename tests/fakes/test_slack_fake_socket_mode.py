"""The Slack emulator in Socket Mode, against slack_sdk's SocketModeClient and bolt's
AsyncSocketModeHandler, and byte by byte against a bare WebSocket client.

The same helpers (``click``, ``send_event``, ``command``, ``submit_view``…) that POST to an
app in HTTP mode push envelopes over the app's socket once it has connected.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import APP_ID, FakeSlack

REPORT_MODAL: dict[str, Any] = {
    "type": "modal", "callback_id": "report_form", "private_metadata": "case-1",
    "title": {"type": "plain_text", "text": "补充信息"},
    "submit": {"type": "plain_text", "text": "提交"},
    "blocks": [
        {"type": "input", "block_id": "amount", "label": {"type": "plain_text", "text": "金额"},
         "element": {"type": "plain_text_input", "action_id": "amount"}},
    ],
}  # fmt: skip


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_user("U1", "alice", "王爱丽")
        slack.add_channel("C1", "kesu-cases", ["U1"])
        yield slack


@pytest.fixture
async def app(fake: FakeSlack) -> AsyncIterator[dict[str, list[Any]]]:
    """A minimal bolt AsyncApp connected to the fake over Socket Mode, as kesu connects."""
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    bolt = AsyncApp(client=client, request_verification_enabled=False)
    seen: dict[str, list[Any]] = defaultdict(list)

    @bolt.action("claim")
    async def claim(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        seen["claim"].append(body)

    @bolt.event("message")
    async def message(body: dict[str, Any], request: AsyncBoltRequest) -> None:
        seen["events"].append((body["event_id"], request.headers.get("x-slack-retry-num")))

    @bolt.command("/kesu")
    async def kesu(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack("收到")
        await respond(f"查询 {command['text']}")

    @bolt.shortcut("report")
    async def report(ack: AsyncAck, shortcut: dict[str, Any]) -> None:
        await ack()
        await client.views_open(trigger_id=shortcut["trigger_id"], view=REPORT_MODAL)

    @bolt.view("report_form")
    async def submitted(ack: AsyncAck, view: dict[str, Any]) -> None:
        amount = view["state"]["values"]["amount"]["amount"]["value"]
        if not amount.isdigit():
            await ack(response_action="errors", errors={"amount": "请输入数字"})
            return
        await ack()
        seen["amounts"].append(amount)

    handler = AsyncSocketModeHandler(bolt, fake.app_token, web_client=client)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    await fake.wait_for_socket(within=3)
    yield seen
    await handler.close_async()  # type: ignore[no-untyped-call]


# -- the handshake -----------------------------------------------------------------------------


async def test_apps_connections_open_takes_the_app_token_and_nothing_else(
    fake: FakeSlack,
) -> None:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    opened = await client.apps_connections_open(app_token=fake.app_token)
    assert opened["url"].startswith(fake.api_url.replace("http", "ws").removesuffix("api/"))
    assert "/link/?ticket=" in opened["url"]
    for token, error in ((fake.bot_token, "not_allowed_token_type"), ("xapp-1-x", "invalid_auth")):
        with pytest.raises(SlackApiError) as refused:
            await client.apps_connections_open(app_token=token)
        assert refused.value.response["error"] == error
    app_level = AsyncWebClient(token=fake.app_token, base_url=fake.api_url)
    with pytest.raises(SlackApiError) as wrong_type:
        await app_level.auth_test()
    assert wrong_type.value.response["error"] == "not_allowed_token_type"
    outcomes = [c.outcome for c in fake.calls_to("apps.connections.open")]
    assert outcomes == ["ok", "not_allowed_token_type", "invalid_auth"]


async def test_hello_envelopes_and_acks_on_a_bare_websocket(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    url = (await client.apps_connections_open(app_token=fake.app_token))["url"]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url.replace("ticket=", "ticket=forged"))
        async with session.ws_connect(url) as ws:
            hello = await ws.receive_json(timeout=2)
            assert hello["type"] == "hello"
            assert hello["num_connections"] == 1
            assert hello["connection_info"] == {"app_id": APP_ID}
            assert set(hello["debug_info"]) >= {"host", "approximate_connection_time"}
            await fake.wait_for_socket(within=2)
            assert fake.socket_connected

            # A view submission accepts a payload in the ack; it comes back as the Reply.
            fake.transport = "socket"
            view = fake.view(
                (await client.views_open(trigger_id=fake.new_trigger("U1"), view=REPORT_MODAL))[
                    "view"
                ]["id"]
            )
            submitting = asyncio.create_task(
                fake.submit_view("U1", view, {"amount": {"amount": fake.input_value("x")}})
            )
            envelope = await ws.receive_json(timeout=2)
            assert envelope["type"] == "interactive"
            assert envelope["accepts_response_payload"] is True
            assert envelope["payload"]["type"] == "view_submission"
            assert "retry_attempt" not in envelope
            errors = {"response_action": "errors", "errors": {"amount": "请输入数字"}}
            await ws.send_str(json.dumps({"envelope_id": envelope["envelope_id"],
                                          "payload": errors}))  # fmt: skip
            reply = await submitting
            assert (reply.status, reply.json, reply.via) == (200, errors, "socket")
            assert reply.envelope_id == envelope["envelope_id"]
            assert not view.closed

            # Events carry the retry fields and accept no payload; an ack-less envelope times out.
            fake.app_timeout = 0.2
            sending = asyncio.create_task(
                fake.send_event(fake.message_event("C1", "U1", "hi"), retry_num=2)
            )
            event = await ws.receive_json(timeout=2)
            assert event["type"] == "events_api"
            assert event["accepts_response_payload"] is False
            assert (event["retry_attempt"], event["retry_reason"]) == (2, "http_timeout")
            assert event["payload"]["event"]["text"] == "hi"
            assert (await sending).timed_out

            # Slack asks the app to reconnect; the app closes the old socket.
            disconnecting = asyncio.create_task(fake.disconnect_socket(grace=2))
            assert await ws.receive_json(timeout=2) == {
                "type": "disconnect", "reason": "refresh_requested",
                "debug_info": {"host": "applink-kesu-fake"},
            }  # fmt: skip
            await ws.close()
            await disconnecting
    assert not fake.socket_connected
    assert fake.acks == [{"envelope_id": envelope["envelope_id"], "payload": errors}]


async def test_without_a_connected_app_socket_delivery_fails_clearly(fake: FakeSlack) -> None:
    fake.transport = "socket"
    fake.app_timeout = 0.1
    with pytest.raises(AssertionError, match="no app connected over Socket Mode"):
        await fake.click("U1", "claim", "x", channel="C1")
    fake.transport = "auto"  # never connected: HTTP, and no URL for it
    with pytest.raises(AssertionError, match="app_events_url"):
        await fake.click("U1", "claim", "x", channel="C1")
    fake.transport = "carrier pigeon"
    with pytest.raises(AssertionError, match="transport"):
        await fake.click("U1", "claim", "x", channel="C1")


# -- bolt over Socket Mode ---------------------------------------------------------------------


async def test_the_helpers_drive_bolt_over_the_socket(
    fake: FakeSlack, app: dict[str, list[Any]]
) -> None:
    click = await fake.click("U1", "claim", "case-1", channel="C1")
    assert (click.status, click.body, click.json, click.via) == (200, "", None, "socket")
    assert app["claim"][0]["actions"][0]["value"] == "case-1"

    first = await fake.send_event(fake.message_event("C1", "U1", "我的外卖洒了"))
    again = await fake.retry_event(first)
    assert (first.status, again.status) == (200, 200)
    await fake.wait_for(lambda: len(app["events"]) == 2, within=3)
    event_id = first.request["event_id"]
    # bolt turns the envelope's retry_attempt into the header HTTP mode would have had
    assert app["events"] == [(event_id, ["0"]), (event_id, ["1"])]

    command = await fake.command("U1", "#7", channel="C1")
    assert command.json == {"text": "收到"}  # Socket Mode acks text as a payload
    assert command.text == "收到"  # what HTTP mode answers as its body
    await fake.wait_for(lambda: fake.responses, within=3)
    assert [e.text for e in fake.ephemerals("U1")] == ["查询 #7"]

    await fake.shortcut("U1", "report", {"ts": "1700000000.000100", "text": "x"}, channel="C1")
    await fake.wait_for(lambda: fake.views_opened, within=3)
    [modal] = fake.views_opened
    wrong = await fake.submit_view("U1", modal, {"amount": {"amount": fake.input_value("abc")}})
    assert wrong.json == {"response_action": "errors", "errors": {"amount": "请输入数字"}}
    assert not modal.closed
    right = await fake.submit_view("U1", modal, {"amount": {"amount": fake.input_value("42")}})
    assert (right.status, right.body) == (200, "")
    assert modal.closed
    await fake.wait_for(lambda: app["amounts"] == ["42"], within=3)
    assert len(fake.acks) == len(fake.delivered) == 7
    assert fake.app_events_url is None  # nothing went over HTTP


async def test_the_client_reconnects_when_asked_or_dropped(
    fake: FakeSlack, app: dict[str, list[Any]]
) -> None:
    await fake.disconnect_socket()
    await fake.wait_for_socket(within=3)
    assert fake.sockets_opened == 2
    assert [c.outcome for c in fake.calls_to("apps.connections.open")] == ["ok", "ok"]
    assert (await fake.click("U1", "claim", "after-refresh", channel="C1")).ok

    await fake.disconnect_socket(None)  # the line drops without a word
    await fake.wait_for_socket(within=3)
    assert fake.sockets_opened == 3
    assert (await fake.click("U1", "claim", "after-drop", channel="C1")).ok
    values = [body["actions"][0]["value"] for body in app["claim"]]
    assert values == ["after-refresh", "after-drop"]
