"""The Slack emulator speaks to the real slack_sdk and slack_bolt, over real HTTP on 127.0.0.1.

If these pass, a channel test that fails against the fake fails because of the bot, not
because the fake answers something Slack never would.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientSession, web
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import BOT_ID, FakeSlack, Message, text_of

TS = re.compile(r"^\d{10}\.\d{6}$")
CLAIM_BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "新客诉 #1"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*外卖洒了*"},
     "fields": [{"type": "mrkdwn", "text": "SLA: 4 小时"}]},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "来自 Telegram"}]},
    {"type": "actions", "block_id": "case-1",
     "elements": [{"type": "button", "action_id": "claim", "value": "case-1",
                   "text": {"type": "plain_text", "text": "认领"}, "style": "primary"}]},
]  # fmt: skip
REPORT_MODAL: dict[str, Any] = {
    "type": "modal", "callback_id": "report_form", "private_metadata": "case-1",
    "title": {"type": "plain_text", "text": "补充信息"},
    "submit": {"type": "plain_text", "text": "提交"},
    "blocks": [
        {"type": "input", "block_id": "amount", "label": {"type": "plain_text", "text": "金额"},
         "element": {"type": "plain_text_input", "action_id": "amount"}},
        {"type": "input", "block_id": "note", "optional": True,
         "label": {"type": "plain_text", "text": "备注"},
         "element": {"type": "plain_text_input", "action_id": "note"}},
    ],
}  # fmt: skip


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_user("U1", "alice", "王爱丽")
        slack.add_user("U2", "bob")
        slack.add_channel("C1", "kesu-cases", ["U1", "U2"])
        yield slack


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


async def _post_claimable(client: AsyncWebClient, fake: FakeSlack) -> Message:
    sent = await client.chat_postMessage(channel="C1", text="新客诉 #1", blocks=CLAIM_BLOCKS)
    return fake.message("C1", sent["ts"])


# -- the Web API through AsyncWebClient ------------------------------------------------------


async def test_post_by_name_answers_with_the_id_and_a_slack_ts(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="#kesu-cases", text="你好")
    second = await client.chat_postMessage(channel="kesu-cases", text="再见", unfurl_links=False)
    assert first["channel"] == second["channel"] == "C1"
    assert TS.match(first["ts"])
    assert second["ts"] > first["ts"]
    assert first["message"]["bot_id"] == BOT_ID
    assert first["message"]["text"] == "你好"
    assert [m.text for m in fake.top_level("C1")] == ["你好", "再见"]
    # chat.* go as JSON; JSON keeps booleans, a form would have said "0".
    assert fake.calls_to("chat.postMessage")[1].params["unfurl_links"] is False


async def test_thread_update_ephemeral_and_permalink(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = await _post_claimable(client, fake)
    assert parent.blocks is not None
    assert parent.blocks[0]["block_id"]
    reply = await client.chat_postMessage(channel="C1", thread_ts=parent.ts, text="处理中")
    await client.chat_update(channel="C1", ts=parent.ts, text="已认领", blocks=[])
    eph = await client.chat_postEphemeral(channel="C1", user="U2", text="只有你能看到")
    link = await client.chat_getPermalink(channel="C1", message_ts=reply["ts"])

    assert [m.text for m in fake.thread("C1", parent.ts)] == ["处理中"]
    assert fake.top_level("C1") == [parent]
    assert parent.text == "已认领"
    assert parent.blocks == []
    assert len(parent.edits) == 1
    assert parent.params["blocks"][0]["type"] == "header"  # the original stays in params
    assert TS.match(eph["message_ts"])
    assert fake.ephemerals("U2")[0].text == "只有你能看到"
    assert link["permalink"].endswith(f"?thread_ts={parent.ts}&cid=C1")


async def test_what_real_slack_refuses(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("C2", "no-bot", ["U1"], bot_member=False)
    parent = await client.chat_postMessage(channel="C1", text="x")
    too_long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "长" * 3001}}]
    attempts: dict[str, Callable[[], Awaitable[Any]]] = {
        "channel_not_found": lambda: client.chat_postMessage(channel="#nowhere", text="x"),
        "not_in_channel": lambda: client.chat_postMessage(channel="C2", text="x"),
        # chat_postMessage() without text warns (an error here), so the raw call:
        "no_text": lambda: client.api_call("chat.postMessage", json={"channel": "C1"}),
        "msg_too_long": lambda: client.chat_postMessage(channel="C1", text="长" * 40_001),
        "message_not_found": lambda: client.chat_update(channel="C1", ts="1.000001", text="x"),
        "user_not_in_channel": lambda: client.chat_postEphemeral(channel="C1", user="U9", text="x"),
        "user_not_found": lambda: client.users_info(user="U9"),
        "invalid_blocks": lambda: client.chat_postMessage(
            channel="C1", text="x", blocks=too_long_section
        ),
    }
    for error, attempt in attempts.items():
        with pytest.raises(SlackApiError) as caught:
            await attempt()
        assert caught.value.response["error"] == error
    with pytest.raises(SlackApiError, match="channel_not_found"):  # chat.update needs the id
        await client.chat_update(channel="#kesu-cases", ts=parent["ts"], text="y")


async def test_a_bad_token_is_invalid_auth(fake: FakeSlack) -> None:
    wrong = AsyncWebClient(token=fake.bot_token + "-revoked", base_url=fake.api_url)
    missing = AsyncWebClient(base_url=fake.api_url)
    with pytest.raises(SlackApiError) as bad:
        await wrong.auth_test()
    with pytest.raises(SlackApiError) as none:
        await missing.chat_postMessage(channel="C1", text="x")
    assert bad.value.response.status_code == 200
    assert bad.value.response["error"] == "invalid_auth"
    assert none.value.response["error"] == "not_authed"
    assert fake.messages() == []


async def test_views_open_push_update_publish(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError, match="invalid_trigger_id"):
        await client.views_open(trigger_id="", view=REPORT_MODAL)
    trigger = fake.new_trigger("U1")
    opened = (await client.views_open(trigger_id=trigger, view=REPORT_MODAL))["view"]
    with pytest.raises(SlackApiError, match="exchanged_trigger_id"):  # single use
        await client.views_open(trigger_id=trigger, view=REPORT_MODAL)
    assert opened["id"].startswith("V")
    assert opened["state"] == {"values": {}}
    assert opened["callback_id"] == "report_form"
    assert opened["private_metadata"] == "case-1"

    pushed = await client.views_push(trigger_id=fake.new_trigger("U1"), view=REPORT_MODAL)
    assert pushed["view"]["root_view_id"] == opened["id"]
    with pytest.raises(SlackApiError, match="hash_conflict"):
        await client.views_update(view_id=opened["id"], hash="stale", view=REPORT_MODAL)
    thanks = {"type": "section", "text": {"type": "plain_text", "text": "谢谢"}}
    done = {**REPORT_MODAL, "blocks": [thanks]}
    await client.views_update(view_id=opened["id"], hash=opened["hash"], view=done)
    view = fake.view(opened["id"])
    assert text_of(view) == "补充信息\n谢谢"
    assert len(view.history) == 1
    assert [v.method for v in fake.views_opened] == ["views.open", "views.push"]

    too_long = {**REPORT_MODAL, "title": {"type": "plain_text", "text": "这" * 25}}
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        await client.views_open(trigger_id=fake.new_trigger("U1"), view=too_long)

    count = {"type": "section", "text": {"type": "mrkdwn", "text": "我的客诉: 3"}}
    home = {"type": "home", "blocks": [count]}
    await client.views_publish(user_id="U1", view=home)
    await client.views_publish(user_id="U1", view=home)
    assert "我的客诉: 3" in text_of(fake.published["U1"])
    assert len(fake.published["U1"].history) == 1  # one Home per user, updated in place


async def test_trigger_ids_expire(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert fake.trigger_ttl == 3.0  # Slack's
    fake.trigger_ttl = 0.05
    trigger = fake.new_trigger("U1")
    await asyncio.sleep(0.06)
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        await client.views_open(trigger_id=trigger, view=REPORT_MODAL)


async def test_conversations_members_pages_with_a_cursor(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    everyone = [f"U{n:04d}" for n in range(230)]
    fake.add_channel("C9", "big", everyone)
    seen: list[str] = []
    async for page in await client.conversations_members(channel="C9", limit=100):
        seen += page["members"]
    assert seen == [*everyone, fake.bot_user_id]
    cursors = [c.params.get("cursor") for c in fake.calls_to("conversations.members")]
    assert len(cursors) == 3
    assert cursors[0] is None
    assert all(cursors[1:])
    with pytest.raises(SlackApiError, match="invalid_cursor"):
        await client.conversations_members(channel="C9", cursor="garbage!")


async def test_joining_and_leaving_change_the_members_and_say_so(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.add_channel("G7", "desk", ["U1"], private=True)
    joined = fake.join("G7", "U2")
    assert (joined["type"], joined["user"], joined["channel"]) == (
        "member_joined_channel",
        "U2",
        "G7",
    )
    assert joined["channel_type"] == "G"
    assert sorted((await client.conversations_members(channel="G7"))["members"]) == sorted(
        ["U1", "U2", fake.bot_user_id]
    )
    left = fake.leave("G7", "U1")
    assert left["type"] == "member_left_channel"
    assert "U1" not in (await client.conversations_members(channel="G7"))["members"]


async def test_users_usergroups_and_conversations_info(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.usergroups["S1"] = ["U1", "U2"]
    user = (await client.users_info(user="U1"))["user"]
    assert user["real_name"] == "王爱丽"
    assert user["profile"]["display_name"] == "alice"
    assert user["tz"] == "Asia/Shanghai"
    assert user["is_bot"] is False
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    info = (await client.conversations_info(channel="C1"))["channel"]
    assert info["name"] == "kesu-cases"
    assert info["is_member"] is True


async def test_files_upload_v2_into_a_thread(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C1", text="客诉 #7")
    photo = b"\xff\xd8\xff\xe0 not really a jpeg"
    done = await client.files_upload_v2(
        channel="C1", thread_ts=parent["ts"], file=photo, filename="photo.jpg",
        title="顾客照片", initial_comment="顾客发来的照片",
    )  # fmt: skip
    [file] = fake.files
    assert done["file"]["id"] == file.id
    assert file.data == photo
    assert (file.channel, file.thread_ts, file.title) == ("C1", parent["ts"], "顾客照片")
    [share] = fake.thread("C1", parent["ts"])
    assert share.files == [file.id]
    assert share.text == "顾客发来的照片"
    assert [c.method for c in fake.calls][-3:] == [
        "files.getUploadURLExternal", "upload", "files.completeUploadExternal",
    ]  # fmt: skip

    info = (await client.files_info(file=file.id))["file"]
    async with ClientSession() as http:
        anonymous = await (await http.get(info["url_private"])).text()
        headers = {"Authorization": f"Bearer {fake.bot_token}"}
        download = await (await http.get(info["url_private"], headers=headers)).read()
    assert "Sign in" in anonymous
    assert download == photo


async def test_429_is_retried_after_retry_after(fake: FakeSlack) -> None:
    handler = AsyncRateLimitErrorRetryHandler(max_retry_count=1)
    patient = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[handler])
    fake.fail("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    sent = await patient.chat_postMessage(channel="C1", text="稍后")
    assert sent["ok"]
    assert time.monotonic() - started >= 1.0
    assert [c.outcome for c in fake.calls_to("chat.postMessage")] == ["http 429", "ok"]
    assert fake.refused == 1
    assert len(fake.top_level("C1")) == 1


async def test_5xx_ok_false_outage_and_unknown_methods(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C1", text="x")
    assert limited.value.response["error"] == "ratelimited"
    assert limited.value.response.headers["Retry-After"] == "7"

    fake.fail("*", status=500)
    with pytest.raises(SlackApiError) as failed:
        await client.chat_postMessage(channel="C1", text="x")
    assert failed.value.response.status_code == 500

    fake.fail("views.publish", error="internal_error", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError, match="internal_error"):
            await client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    await client.views_publish(user_id="U1", view={"type": "home", "blocks": []})

    fake.down = True
    with pytest.raises(SlackApiError) as outage:
        await client.auth_test()
    assert outage.value.response.status_code == 503
    fake.down = False

    with pytest.raises(SlackApiError, match="unknown_method"):
        await client.api_call("kesu.nothing", json={"a": 1})
    assert fake.refused == 5
    assert fake.calls_to("kesu.nothing")[0].params == {"a": 1}
    assert fake.messages() == []


async def test_form_encoded_calls_and_delays(fake: FakeSlack, client: AsyncWebClient) -> None:
    blocks = json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "[紧急] 表单"}}])
    await client.api_call("chat.postMessage", data={"channel": "C1", "text": "[紧急]",
                                                    "blocks": blocks})  # fmt: skip
    [message] = fake.top_level("C1")
    assert message.text == "[紧急]"
    assert message.blocks
    assert message.blocks[0]["type"] == "section"
    fake.delays["auth.test"] = 0.2
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started >= 0.2


def test_text_of_reads_what_people_see() -> None:
    seen = text_of({"text": "新客诉 #1", "blocks": CLAIM_BLOCKS})
    for piece in ("新客诉 #1", "*外卖洒了*", "SLA: 4 小时", "来自 Telegram", "认领"):
        assert piece in seen
    assert "case-1" not in seen  # values and ids are not text


# -- the workspace calling a bolt app --------------------------------------------------------


@pytest.fixture
async def bolt(fake: FakeSlack) -> AsyncIterator[dict[str, list[Any]]]:
    """A minimal bolt AsyncApp in HTTP mode, wired to the fake both ways."""
    app = AsyncApp(
        signing_secret=fake.signing_secret,
        client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
    )
    seen: dict[str, list[Any]] = defaultdict(list)

    @app.action("claim")
    async def claim(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        seen["claim"].append(body)
        await client.chat_postMessage(channel=body["channel"]["id"], text="已认领",
                                      thread_ts=body["container"]["message_ts"])  # fmt: skip

    @app.action("refresh")
    async def refresh(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        seen["refresh"].append(body["view"]["id"])

    @app.event("message")
    async def message(body: dict[str, Any]) -> None:
        seen["events"].append(body["event_id"])

    @app.command("/kesu")
    async def kesu(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack("收到")
        await respond(f"查询 {command['text']}")

    @app.shortcut("report")
    async def report(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=shortcut["trigger_id"], view=REPORT_MODAL)

    @app.view("report_form")
    async def submitted(ack: AsyncAck, view: dict[str, Any]) -> None:
        amount = view["state"]["values"]["amount"]["amount"]["value"]
        if not amount.isdigit():
            await ack(response_action="errors", errors={"amount": "请输入数字"})
            return
        await ack()
        seen["amounts"].append(amount)

    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.app_events_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    yield seen
    await runner.cleanup()


async def test_a_signed_click_reaches_the_handler(
    fake: FakeSlack, client: AsyncWebClient, bolt: dict[str, list[Any]]
) -> None:
    case = await _post_claimable(client, fake)
    reply = await fake.click("U1", "claim", message=case)
    assert reply.status == 200
    assert reply.body == ""
    said = await fake.wait_for_message("C1", "已认领", thread_ts=case.ts, within=3)
    assert said.is_reply
    [body] = bolt["claim"]
    assert body["actions"][0]["value"] == "case-1"
    assert body["actions"][0]["block_id"] == "case-1"
    assert body["message"]["ts"] == case.ts
    assert body["user"]["name"] == "alice"
    await fake.click("U2", "claim", message=case)
    await fake.wait_for(lambda: len(bolt["claim"]) == 2, within=3)
    assert len(fake.calls_to("auth.test")) == 1  # bolt verifies the token once, lazily
    with pytest.raises(AssertionError, match="no button 'close'"):
        await fake.click("U1", "close", message=case)


async def test_forged_and_stale_signatures_get_401(
    fake: FakeSlack, bolt: dict[str, list[Any]]
) -> None:
    body = json.dumps({"type": "event_callback", "event_id": "Ev1", "team_id": fake.team_id,
                       "event": fake.message_event("C1", "U1", "hi")}).encode()  # fmt: skip
    json_type = {"Content-Type": "application/json"}
    forged = await fake.send_raw(
        body, {**json_type, **fake.signed_headers(body, secret=fake.signing_secret[::-1])}
    )
    stale = await fake.send_raw(
        body, {**json_type, **fake.signed_headers(body, ts=int(time.time()) - 301)}
    )
    unsigned = await fake.send_raw(body, json_type)
    for reply in (forged, stale, unsigned):
        assert reply.status == 401
        assert reply.json == {"error": "invalid request"}
    assert bolt["events"] == []
    assert fake.calls_to("auth.test") == []


async def test_a_retried_event_reaches_bolt_twice(
    fake: FakeSlack, bolt: dict[str, list[Any]]
) -> None:
    first = await fake.send_event(fake.message_event("C1", "U1", "我的外卖洒了"))
    again = await fake.retry_event(first)
    assert first.status == again.status == 200
    await fake.wait_for(lambda: len(bolt["events"]) == 2, within=3)
    assert bolt["events"][0] == bolt["events"][1] == first.request["event_id"]
    # The bot's own messages come back as events; bolt drops them after auth.test.
    mine = await fake.send_event(fake.message_event("C1", fake.bot_user_id, "x", bot_id=BOT_ID))
    assert mine.status == 200
    assert len(bolt["events"]) == 2


async def test_slash_command_acks_and_responds(fake: FakeSlack, bolt: dict[str, list[Any]]) -> None:
    reply = await fake.command("U1", "#7", channel="C1")
    assert reply.status == 200
    assert reply.body == "收到"
    assert reply.json is None
    await fake.wait_for(lambda: fake.responses, within=3)
    assert fake.responses[0].body["text"] == "查询 #7"
    assert [e.text for e in fake.ephemerals("U1")] == ["查询 #7"]


async def test_a_click_s_response_url_answers_the_clicker_five_times_while_it_lives(
    fake: FakeSlack, client: AsyncWebClient, bolt: dict[str, list[Any]]
) -> None:
    """bolt's ``respond()`` after a button: an ephemeral for the person who clicked, where
    they clicked; Slack takes five answers within 30 minutes and refuses the rest (404)."""
    case = await _post_claimable(client, fake)
    await fake.click("U1", "claim", message=case)
    await fake.wait_for(lambda: bolt["claim"], within=3)
    respond = AsyncRespond(response_url=bolt["claim"][0]["response_url"])
    first = await respond(text="已由 <@U2> 认领", response_type="ephemeral")
    assert first.status_code == 200
    [told] = fake.ephemerals("U1")
    assert (told.channel, told.text, told.via) == ("C1", "已由 <@U2> 认领", "response_url")
    assert (fake.responses[0].user, fake.responses[0].channel) == ("U1", "C1")
    assert fake.message("C1", case.ts).text == "新客诉 #1"  # the card itself is untouched
    for _ in range(4):
        assert (await respond(text="again")).status_code == 200
    sixth = await respond(text="sixth")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert len(fake.ephemerals("U1")) == 5

    fake.response_url_ttl = 0.0  # every URL has lapsed, as after 30 minutes
    await fake.click("U2", "claim", message=case)
    await fake.wait_for(lambda: len(bolt["claim"]) == 2, within=3)
    late = await AsyncRespond(response_url=bolt["claim"][1]["response_url"])(text="late")
    assert (late.status_code, late.body) == (404, "expired_url")
    assert fake.ephemerals("U2") == []


async def test_shortcut_modal_and_submission_errors(
    fake: FakeSlack, client: AsyncWebClient, bolt: dict[str, list[Any]]
) -> None:
    case = await _post_claimable(client, fake)
    assert (await fake.shortcut("U1", "report", case)).status == 200
    await fake.wait_for(lambda: fake.views_opened, within=3)
    [modal] = fake.views_opened
    assert modal.user == "U1"
    assert modal.private_metadata == "case-1"

    wrong = await fake.submit_view("U1", modal, {"amount": {"amount": fake.input_value("abc")}})
    assert wrong.json == {"response_action": "errors", "errors": {"amount": "请输入数字"}}
    assert not modal.closed
    right = await fake.submit_view("U1", modal, {"amount": {"amount": fake.input_value("42")}})
    assert right.status == 200
    assert right.body == ""
    assert modal.closed
    await fake.wait_for(lambda: bolt["amounts"] == ["42"], within=3)
    with pytest.raises(AssertionError, match="without 'amount'"):
        await fake.submit_view("U1", modal, {"note": {"note": fake.input_value("x")}})


async def test_buttons_in_the_app_home(
    fake: FakeSlack, client: AsyncWebClient, bolt: dict[str, list[Any]]
) -> None:
    button = {"type": "button", "action_id": "refresh", "text": {"type": "plain_text",
                                                                 "text": "刷新"}}  # fmt: skip
    home = {"type": "home", "blocks": [{"type": "actions", "elements": [button]}]}
    await client.views_publish(user_id="U1", view=home)
    view = fake.published["U1"]
    assert (await fake.click_in_view("U1", "refresh", None, view)).status == 200
    await fake.wait_for(lambda: bolt["refresh"] == [view.id], within=3)
    assert fake.app_home_opened("U1")["view"]["id"] == view.id
