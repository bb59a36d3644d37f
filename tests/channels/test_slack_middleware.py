"""What the bolt app does around the listeners: who is staff (looked up once per request, kept
current by membership events), answers at the request's response_url, and one error handler
for whatever a listener raises."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from bot.channels.slack.app import INTERNAL_ERROR, REFUSAL
from bot.channels.slack.inbox import SlackProcessor
from tests.channels.conftest import AGENT, COLLEAGUE, OUTSIDER, STAFF_CHANNEL, Bot
from tests.channels.test_slack_desk import card_of, card_shows, claimed_case, opened_view
from tests.channels.test_telegram_intake import file_complaint
from tests.fakes.slack import FakeSlack, input_value
from tests.fakes.telegram import FakeTelegram


async def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("database is locked")


async def members_read(slack: FakeSlack, before: int) -> None:
    """The desk asked Slack for the channel's members again (after a membership event)."""
    await slack.wait_for(
        lambda: len(slack.calls_to("conversations.members")) > before, what="members read"
    )


async def test_a_refusal_comes_back_where_the_person_clicked_while_slack_takes_it_there(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, _, _ = await claimed_case(tg, slack, 5401)
    await slack.click(COLLEAGUE, "kesu_claim", number, channel=STAFF_CHANNEL)  # a stale card
    await slack.wait_for(lambda: slack.ephemerals(COLLEAGUE), what="the explanation")
    told = slack.ephemerals(COLLEAGUE)[-1]
    assert (told.via, told.channel) == ("response_url", STAFF_CHANNEL)
    assert f"已由 <@{AGENT}> 认领" in told.text
    # Slack takes no more answers there (30 minutes on): an ephemeral message instead.
    slack.response_url_ttl = 0.0
    await slack.click(COLLEAGUE, "kesu_claim", number, channel=STAFF_CHANNEL)
    await slack.wait_for(lambda: len(slack.ephemerals(COLLEAGUE)) == 2, what="told again")
    again = slack.ephemerals(COLLEAGUE)[-1]
    assert (again.via, again.channel) == ("chat.postEphemeral", STAFF_CHANNEL)
    assert f"已由 <@{AGENT}> 认领" in again.text


async def test_a_stored_click_processed_after_its_response_url_lapsed_is_told_directly(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, _, _ = await claimed_case(tg, slack, 5402)
    click = await slack.click(COLLEAGUE, "kesu_claim", number, channel=STAFF_CHANNEL)
    await slack.wait_for(lambda: slack.ephemerals(COLLEAGUE), what="the explanation")
    answered_there = len(slack.responses)
    late = {
        "payload": click.request,
        "update_id": "action:late:1",
        "chat": COLLEAGUE,
        "received_at": desk.clock.now() - timedelta(minutes=31),
    }
    await SlackProcessor(desk.desk_channel.handlers, desk.clock).process_apart(late)
    assert len(slack.responses) == answered_there  # not even tried at the lapsed URL
    told = slack.ephemerals(COLLEAGUE)[-1]
    assert (told.via, len(slack.ephemerals(COLLEAGUE))) == ("chat.postEphemeral", 2)


async def test_someone_who_joins_the_desk_channel_may_act_at_once(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number = await file_complaint(tg.user(5403, "Customer"), "快递员把包裹扔在门口就走了")
    card = await card_of(slack, number)
    before = len(slack.calls_to("conversations.members"))
    await slack.send_event(slack.join(STAFF_CHANNEL, OUTSIDER))
    await members_read(slack, before)
    await slack.click(OUTSIDER, "kesu_claim", number, message=card)
    await card_shows(slack, card, f"<@{OUTSIDER}>")


async def test_when_slack_cannot_say_who_is_staff_the_last_known_lists_stay(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number = await file_complaint(tg.user(5406, "Customer"), "网点柜员态度很差")
    card = await card_of(slack, number)
    before = len(slack.calls_to("conversations.members"))
    slack.fail("conversations.members", status=500, times=3)
    await slack.send_event(slack.join(STAFF_CHANNEL, OUTSIDER))
    await members_read(slack, before)
    assert slack.calls_to("conversations.members")[-1].outcome == "http 500"
    await slack.click(AGENT, "kesu_claim", number, message=card)
    await card_shows(slack, card, f"<@{AGENT}>")  # still a member, as Slack last said


async def test_someone_who_left_the_desk_channel_is_refused_even_in_an_open_form(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack
) -> None:
    number, card, customer = await claimed_case(tg, slack, 5404)
    await slack.click(COLLEAGUE, "kesu_reply", number, message=card)
    form = await opened_view(slack, "kesu_reply")
    before = len(slack.calls_to("conversations.members"))
    await slack.send_event(slack.leave(STAFF_CHANNEL, COLLEAGUE))
    await members_read(slack, before)
    refused = await slack.submit_view(COLLEAGUE, form, {"text": {"value": input_value("您好")}})
    assert refused.json == {"response_action": "errors", "errors": {"text": REFUSAL}}
    assert not form.closed
    await slack.click(COLLEAGUE, "kesu_details", number, message=card)
    dm = slack.dm(COLLEAGUE)  # no longer in the channel: told in the app's direct messages
    await slack.wait_for(lambda: slack.messages(dm), what="a refusal")
    assert slack.messages(dm)[-1].text == REFUSAL
    assert len(slack.views_opened) == 1
    await customer.hears_nothing_more(0.3)


async def test_a_failing_listener_is_logged_and_the_person_told(
    desk: Bot, tg: FakeTelegram, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.channels.slack.app")
    number, card, customer = await claimed_case(tg, slack, 5405)
    await slack.click(AGENT, "kesu_reply", number, message=card)
    form = await opened_view(slack, "kesu_reply")
    the_desk = desk.desk_channel.desk
    the_desk.queries.details = broken  # type: ignore[method-assign]
    the_desk.actions.reply = broken  # type: ignore[method-assign]
    the_desk.queries.mine = broken  # type: ignore[method-assign]

    # A button: acknowledged, then the person hears it failed, where they clicked.
    click = await slack.click(AGENT, "kesu_details", number, message=card)
    assert click.ok
    await slack.wait_for(lambda: slack.ephemerals(AGENT), what="told of the failure")
    told = slack.ephemerals(AGENT)[-1]
    assert (told.text, told.via) == (INTERNAL_ERROR, "response_url")
    # Above DEBUG the error's type and where (its message may quote what it choked on: a
    # customer's words); the message and the traceback at DEBUG (issue 13).
    failed = [r for r in caplog.records if "block_actions kesu_details failed" in r.getMessage()]
    assert [r.levelno for r in failed] == [logging.ERROR, logging.DEBUG]
    error, debug = (logging.Formatter().format(r) for r in failed)
    assert "failed: RuntimeError at channels/test_slack_middleware.py:" in error
    assert "database is locked" not in error
    assert "Traceback" in debug
    assert "RuntimeError: database is locked" in debug

    # A form stays open, the error under its first field; the person is told as well.
    answer = await slack.submit_view(AGENT, form, {"text": {"value": input_value("您好")}})
    assert answer.json == {"response_action": "errors", "errors": {"text": INTERNAL_ERROR}}
    assert not form.closed
    await slack.wait_for(lambda: len(slack.ephemerals(AGENT)) == 2, what="told of the form")
    assert slack.ephemerals(AGENT)[-1].text == INTERNAL_ERROR

    # /kesu: acknowledged without a list, then told.
    listed = await slack.command(AGENT, "mine")
    assert (listed.status, listed.body) == (200, "")
    await slack.wait_for(lambda: len(slack.ephemerals(AGENT)) == 3, what="told of /kesu")
    assert slack.ephemerals(AGENT)[-1].text == INTERNAL_ERROR
    await customer.hears_nothing_more(0.3)
