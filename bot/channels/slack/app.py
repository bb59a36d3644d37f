"""The bolt app: each request from Slack passes bolt's own checks, then three middlewares,
then reaches its listener (``handlers.py``); whatever fails on the way goes to one error
handler.

1. bolt's checks: the request's signature (HTTP mode), the bot's identity.
2. the inbox (``inbox.py``), for the requests that change the record: stored, then
   acknowledged; nothing else is done for them before Slack has its answer.
3. ``ack_at_once``: every other click, shortcut and /kesu is acknowledged here, before any
   work, since its answer never rides on the acknowledgement: it goes to the request's
   response_url (``respond()``). A form's errors do ride on it, so a form's listener
   acknowledges with its answer; bolt acknowledges events by itself. Done
   here rather than in each listener, it is also out of reach of a bolt quirk: a listener
   failing within 10 ms of its ``ack()`` has that acknowledgement undone (slack_bolt's
   asyncio runner hands the error handler ``response=None`` and then stores that None as the
   answer), and Slack gets a 404 after 3 s.
4. ``resolve_staff``: who is acting, as a ``Staff`` in bolt's ``context["staff"]`` (a
   listener takes it as its ``staff`` argument), read from ``roles.py``'s lists. Someone
   outside the desk is refused here, on every interactive request and on /kesu, so no
   listener checks it again.

``on_error`` replaces a try/except in every listener: the error is logged with its trace and
the person hears that it failed; a form stays open, the error under its first field.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.forms import ANSWER_FIELD, first_input
from bot.channels.slack.roles import Roles
from bot.channels.slack.tell import Teller
from bot.desk import Outcome
from bot.desk.wording import NOT_STAFF
from bot.logsafe import log_failure

log = logging.getLogger(__name__)

INTERNAL_ERROR = "出错了,已记录,请稍后再试 (an internal error was logged; please try again)"
REFUSAL = NOT_STAFF  # the desk's own words: one refusal, whether Slack or the desk says it
COMMAND_REFUSAL = "你不是客服成员 (only desk members can use /kesu)"
#: Clicks on buttons and menus, and shortcuts: acknowledged at once, with nothing (as is
#: /kesu, which is no interactive payload but a slash command).
CLICKS = frozenset({"block_actions", "message_action", "shortcut"})
#: Payloads of someone acting on the desk: the clicks, and forms submitted.
INTERACTIVE = CLICKS | {"view_submission"}
#: Events whose user acts (not someone joining or leaving: that changes the roles instead).
ACTING_EVENTS = frozenset({"message", "app_home_opened"})

Middleware = Callable[..., Awaitable[BoltResponse | None]]


def build_app(
    client: AsyncWebClient,
    *,
    signing_secret: str | None,
    verify: bool,
    roles: Roles,
    teller: Teller,
    store_first: Middleware | None = None,
) -> AsyncApp:
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=verify,
        logger=logging.getLogger("kesu.slack_bolt"),
    )
    if store_first is not None:  # after bolt's own checks: a forged request is never stored
        app.middleware(store_first)
    app.middleware(ack_at_once)
    app.middleware(resolve_staff(roles, teller))
    app.error(on_error(teller))
    return app


def acting_user(body: dict[str, Any], staff_channel: str) -> str | None:
    """Who acts in this request; interactive payloads, events and /kesu each say it apart.
    None for talk that is no action (top-level, or in another channel): nobody's role is
    looked up for it, so it never waits on Slack."""
    if "command" in body:
        return str(body["user_id"]) if body.get("user_id") else None
    if body.get("type") == "event_callback":
        event = body.get("event") or {}
        on_a_case = event.get("type") != "message" or (
            event.get("thread_ts") and event.get("channel") == staff_channel
        )
        user = event.get("user") if event.get("type") in ACTING_EVENTS and on_a_case else None
    else:
        user = body.get("user")
    if isinstance(user, dict):
        user = user.get("id")
    return str(user) if user else None


async def ack_at_once(
    body: dict[str, Any], ack: AsyncAck, next: Callable[[], Awaitable[None]]
) -> BoltResponse | None:
    """Clicks, shortcuts and /kesu: Slack hears at once that they arrived (the module's 3.)."""
    if body.get("type") in CLICKS or "command" in body:
        await ack()
    await next()
    return None


def resolve_staff(roles: Roles, teller: Teller) -> Middleware:
    async def resolve_staff(
        body: dict[str, Any],
        context: AsyncBoltContext,
        ack: AsyncAck,
        respond: AsyncRespond,
        next: Callable[[], Awaitable[None]],
    ) -> BoltResponse | None:
        """The acting person's role into the context; someone outside the desk stops here."""
        user = acting_user(body, roles.staff_channel)
        staff = context["staff"] = None if user is None else await roles.of(user)
        if staff is None:
            await next()
            return None
        interactive = body.get("type") in INTERACTIVE or "command" in body
        if staff.is_staff or not interactive:
            await next()
            return None
        log.warning("slack user %s is not staff: refused", staff.user_id)
        if "command" in body:  # acknowledged already: told at the response_url
            refusal = Outcome(False, COMMAND_REFUSAL)
            teller.after_ack(teller.answer(staff.user_id, refusal, respond))
            return ack.response
        if body.get("type") == "view_submission":
            view = body.get("view") or {}
            field = ANSWER_FIELD.get(view.get("callback_id", "")) or first_input(view)
            if field:
                return await ack(response_action="errors", errors={field: REFUSAL})
        teller.after_ack(teller.tell(staff.user_id, Outcome(False, REFUSAL)))
        return ack.response or await ack()  # a click was acknowledged by ack_at_once

    return resolve_staff


def _what(body: dict[str, Any]) -> str:
    """The request, in a few words for the log."""
    if "command" in body:
        return str(body["command"])
    kind = str(body.get("type") or "request")
    if kind == "event_callback":
        return f"event {(body.get('event') or {}).get('type')}"
    if kind == "view_submission":
        return f"{kind} {(body.get('view') or {}).get('callback_id')}"
    actions = body.get("actions") or [{}]
    return f"{kind} {actions[0].get('action_id') or body.get('callback_id') or ''}".strip()


def on_error(teller: Teller) -> Callable[..., Awaitable[BoltResponse | None]]:
    async def report(
        error: Exception,
        body: dict[str, Any],
        response: BoltResponse | None,
        respond: AsyncRespond,
    ) -> BoltResponse | None:
        """Logged with its trace; the person is told; Slack gets its acknowledgement (a form
        stays open, saying so under its first field). ``response`` is None once acked."""
        log_failure(log, logging.ERROR, "slack: %s failed", _what(body), exc=error)
        user = acting_user(body, teller.staff_channel)
        if user and body.get("type") != "event_callback":
            teller.after_ack(teller.answer(user, Outcome(False, INTERNAL_ERROR), respond))
        if response is None:
            return None
        form = body.get("view") if body.get("type") == "view_submission" else None
        field = first_input(form or {})
        if field:
            errors = {field: INTERNAL_ERROR}
            return BoltResponse(status=200, body={"response_action": "errors", "errors": errors})
        return BoltResponse(status=200, body="")

    return report
