"""The Slack desk's inbound requests that change the record go through kesu's inbox: a thread
message (a note, or a reply to the customer), a claim, a release. One bolt middleware stores
the request's payload and id, and only then answers Slack; a request that cannot be stored is
not acknowledged (HTTP 503; no Socket Mode ack), so Slack sends it again. They are processed
from the inbox, each person's in Slack's order.

Not stored: a form submitted (``view_submission``: a refusal is shown under the field, in the
acknowledgement itself, within Slack's 3 seconds), ``/kesu`` (it changes nothing: a list), and
the buttons and shortcut that open a form or the details (``views.open`` needs the request's
``trigger_id``, valid 3 s). Nothing is lost there:
they change nothing but what the person sees, except a form, and a form that kesu did not
answer stays open in Slack with what was typed, saying it failed; pressed again it is applied
once (its view id is recorded with the change).

A stored request is processed by the same listener code as a live one, with the person's role
looked up and someone outside the desk refused as the live middleware does; it is answered at
its ``response_url`` while Slack still takes answers there (30 minutes), else as an ephemeral.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse

from bot.channels.slack.app import REFUSAL, acting_user
from bot.channels.slack.blocks import CLAIM, MORE
from bot.channels.slack.handlers import INBOX_ID, Handlers
from bot.channels.slack.tell import RESPONSE_URL_LIFETIME
from bot.clock import Clock
from bot.desk import Outcome
from bot.inbox import After, Inbound, Inbox
from storage.repositories import Tx
from storage.schema import Row

log = logging.getLogger(__name__)

CHANNEL = "slack"
FAILED = "你的操作未能完成,已记录,请稍后再试 (your action could not be completed; it was logged)"


def inbound(body: dict[str, Any], staff_channel: str) -> Inbound | None:
    """The request as an inbox row, or None when it is not one the inbox takes."""
    try:
        if body.get("type") == "event_callback":
            event = body.get("event") or {}
            if (
                event.get("type") != "message"
                or event.get("channel") != staff_channel
                or not event.get("thread_ts")
                or event.get("bot_id")
                or not event.get("user")
            ):
                return None
            ts = str(event["ts"])
            update_id = str(body.get("event_id") or f"msg:{staff_channel}:{ts}")
            return Inbound(CHANNEL, update_id, str(event["user"]), f"ts:{ts}", _micros(ts), body)
        if body.get("type") == "block_actions":
            action = (body.get("actions") or [{}])[0]
            if not _stored_action(action):
                return None
            ts = str(action["action_ts"])
            user = str(body["user"]["id"])
            update_id = f"action:{user}:{ts}"
            return Inbound(CHANNEL, update_id, user, f"action:{ts}", _micros(ts), body)
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("slack: a request of an unexpected shape is handled without the inbox")
    return None


def _stored_action(action: dict[str, Any]) -> bool:
    if action.get("action_id") == CLAIM:
        return True
    if action.get("action_id") == MORE:
        value = str((action.get("selected_option") or {}).get("value") or "")
        return value.startswith("release|")
    return False


def _micros(ts: str) -> int:
    """Slack's timestamps ("1700000000.000100") as an integer order."""
    seconds, _, fraction = ts.partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def middleware(staff_channel: str, inbox: Inbox) -> Callable[..., Awaitable[Any]]:
    """Store, then acknowledge; bolt's own checks (the request's signature) run before."""

    async def store_then_ack(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        item = inbound(body, staff_channel)
        if item is None:
            await next()
            return None
        try:
            await inbox.receive([item])
        except Exception as exc:
            log.error(
                "slack: %s could not be stored (%s: %s); not acknowledged, so Slack sends it "
                "again", item.update_id, type(exc).__name__, exc,
            )  # fmt: skip
            log.debug("store failure", exc_info=True)
            return BoltResponse(status=503, body="")
        return BoltResponse(status=200, body="")

    return store_then_ack


class SlackProcessor:
    """A stored desk request, processed by the listeners' own code; the desk records the
    row's id with the change in its own transaction (so this is an apart handler)."""

    def __init__(self, handlers: Handlers, clock: Clock) -> None:
        self.handlers = handlers
        self.clock = clock

    async def process_apart(self, row: Row) -> After | None:
        body = {**row["payload"], INBOX_ID: row["update_id"]}
        user = acting_user(body, self.handlers.staff_channel)
        staff = None if user is None else await self.handlers.roles.of(user)
        if body.get("type") == "event_callback":
            await self.handlers.thread_message(body, body["event"], staff)
            return None
        if staff is None or not staff.is_staff:  # as the live middleware refuses
            log.warning("slack user %s is not staff: refused", user)
            await self.handlers.teller.tell(str(user or row["chat"]), Outcome(False, REFUSAL))
            return None
        action = body["actions"][0]
        respond = self._respond(row)
        if action.get("action_id") == CLAIM:
            await self.handlers.claim(body, action, staff, respond)
        else:
            await self.handlers.more(body, action, staff, respond)
        return None

    async def parked(self, tx: Tx, row: Row, reason: str) -> After | None:
        user, respond, teller = str(row["chat"]), self._respond(row), self.handlers.teller

        async def tell() -> None:
            await teller.answer(user, Outcome(False, FAILED), respond)

        return tell

    def _respond(self, row: Row) -> AsyncRespond | None:
        """Where the person acted, while Slack still takes answers there."""
        url = (row.get("payload") or {}).get("response_url")
        received = row.get("received_at")
        if not url or (received and self.clock.now() - received >= RESPONSE_URL_LIFETIME):
            return None
        return AsyncRespond(response_url=str(url))
