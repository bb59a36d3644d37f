"""The Slack staff channel: with slack_inbox.py, the only modules importing slack_bolt/slack_sdk.

Translation and nothing else. Outbound, the outbox hands it case cards, thread lines and
receipts, drawn here in Block Kit (``slack_blocks``) and sent with a Web API client that never
retries on its own: the outbox owns retries, so a 429's ``Retry-After``, a 5xx or a network
error delays the staff channel's queue instead of losing or doubling a card. Inbound, bolt
(Socket Mode by default, HTTP mode with signature verification by setting) routes clicks,
modal submissions, thread messages, ``/kesu`` and App Home to the desk with the person's role
looked up (staff channel members, configured staff and supervisors). Bolt does not de-duplicate
Slack's retries: the desk records each event id in the same transaction as what it changes.

Over ~400 lines: its split into a package (bolt app and middleware, handlers, sender,
roles) is issue 12's restructuring, kept apart so it is reviewed on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import tzinfo
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels import slack_blocks as kit
from bot.channels import slack_inbox
from bot.channels.base import ChannelError
from bot.clock import Clock
from bot.delivery import Limits, SendResult
from bot.desk import REPLY_LIMIT, Desk, Outcome, Staff
from bot.inbox import Inbox
from bot.messages import Attachment, OutgoingMessage
from bot.outgoing import TextLimit
from bot.web import WebServer

log = logging.getLogger(__name__)

SLACK_API = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
#: Errors that say "try again later", not "this message can never be sent".
RETRYABLE = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
#: Errors an operator fixes (token, scopes, bot not in the channel): keep the cards queued
#: until then, as for an outage; the log says what to fix.
CONFIGURATION = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "is_archived",
        "team_access_not_granted",
    }
)
INTERNAL_ERROR = "出错了,已记录,请稍后再试 (an internal error was logged; please try again)"
RECONNECT_INTERVAL = 30.0  # seconds between attempts when Slack was unreachable at start
API_TIMEOUT = 10  # seconds for one Web API call: a hung call must not hold the outbox
SOCKET_CONNECT_TIMEOUT = 30.0  # seconds for the first Socket Mode connection at start
CONFIGURATION_RETRY = 60.0  # seconds between attempts while the configuration is wrong
_MENTION = re.compile(r"<[@!][^<>]*>\s?")
_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_BARE = re.compile(r"<([^<>]+)>")

FileFetcher = Callable[[str, Attachment], Awaitable[bytes]]


class _Unreachable(Exception):
    """Slack did not answer (network, 5xx): worth trying again later, unlike a refusal."""


def plain_from_slack(text: str) -> str:
    """A Slack message's text as a person typed it, for the customer: mentions of colleagues
    dropped, links to their labels, entities back to characters (no ``&lt;``)."""
    text = _MENTION.sub("", text)  # a colleague's @mention means nothing to the customer
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _BARE.sub(lambda m: m.group(1).lstrip("@#!"), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class SlackChannel:
    channel = "slack"
    # chat.postMessage allows about one message a second per channel; updates and thread
    # lines go to the same channel, so one queue at 1/s keeps the whole desk inside it.
    limits = Limits(per_second=2.0, per_chat_interval=1.0)
    # A post, the edit that falls back to a post, and the files relayed into the thread (each
    # fetched from the customer's channel and uploaded): the outbox leases a recipient longer.
    send_timeout = 90.0
    #: A plain message's text (``_render``: escaped, no blocks) is chat.postMessage's ``text``:
    #: Slack truncates one over 40,000 characters and may break one over 4,000 into several
    #: messages (api.slack.com/changelog/2018-04-truncating-really-long-messages; the method's
    #: page asks for at most 4,000). So 4,000, counted on what Slack receives: ``&`` as
    #: ``&amp;``. Cards and thread lines carry a card and are never cut (bot/outgoing.py):
    #: slack_blocks fits their quoted words to its own budgets.
    text_limit = TextLimit(4_000, "chars", escapes=(("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")))

    def __init__(
        self,
        desk: Desk,
        *,
        bot_token: str,
        staff_channel: str,
        clock: Clock,
        tz: tzinfo,
        mode: str = "socket",
        app_token: str | None = None,
        signing_secret: str | None = None,
        api_url: str = SLACK_API,
        http_listen: str = "0.0.0.0",  # noqa: S104 (HTTP mode listens publicly)
        http_port: int = 3000,
        staff_users: Iterable[str] = (),
        supervisors: Iterable[str] = (),
        supervisor_group: str | None = None,
        reply_prefix: str | None = None,
        fetch_file: FileFetcher | None = None,
        membership_ttl: float = 60.0,
        limits: Limits | None = None,
        reconnect_interval: float = RECONNECT_INTERVAL,
        inbox: Inbox | None = None,
        web_server: WebServer | None = None,
    ) -> None:
        if mode not in {"socket", "http"}:
            raise ChannelError(f"KESU_SLACK_MODE must be socket or http, not {mode!r}")
        if mode == "http" and not signing_secret:
            raise ChannelError("HTTP mode needs KESU_SLACK_SIGNING_SECRET")
        if mode == "socket" and not app_token:
            raise ChannelError("Socket Mode needs KESU_SLACK_APP_TOKEN (xapp-…)")
        if mode == "http" and web_server is None:
            raise ChannelError("Slack's HTTP mode needs kesu's web server")
        self.desk = desk
        self.limits = limits or SlackChannel.limits
        self.staff_channel = staff_channel
        self.clock = clock
        self.tz = tz
        self.mode = mode
        self.app_token = app_token
        self.api_url = api_url
        self.http_listen = http_listen
        self.http_port = http_port
        self.staff_users = frozenset(staff_users)
        self.supervisors = frozenset(supervisors)
        self.supervisor_group = supervisor_group
        self.reply_prefix = reply_prefix or None
        self.fetch_file = fetch_file
        self.membership_ttl = membership_ttl
        self.reconnect_interval = reconnect_interval
        # The outbox's client retries nothing: the outbox decides when to try again.
        self.web = AsyncWebClient(
            token=bot_token, base_url=api_url, timeout=API_TIMEOUT, retry_handlers=[]
        )
        # Bolt's client answers people within Slack's 3 s: one quick retry is worth it there.
        self.client = AsyncWebClient(
            token=bot_token,
            base_url=api_url,
            timeout=API_TIMEOUT,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(),
                AsyncRateLimitErrorRetryHandler(max_retry_count=1),
                AsyncServerErrorRetryHandler(max_retry_count=1),
            ],
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret,
            request_verification_enabled=mode == "http",
            logger=logging.getLogger("kesu.slack_bolt"),
        )
        if inbox is not None:  # after bolt's own checks: a forged request is never stored
            self.app.middleware(slack_inbox.middleware(self, inbox))
            inbox.handlers[self.channel] = slack_inbox.SlackProcessor(self)
        self._register()
        self._members: frozenset[str] = frozenset()
        self._group: frozenset[str] = frozenset()
        self._members_at = float("-inf")
        self._membership_lock = asyncio.Lock()
        self._socket: AsyncSocketModeHandler | None = None
        self._web = web_server
        if mode == "http" and web_server is not None:  # served from kesu's start, checks or not
            web_server.post(http_listen, http_port, EVENTS_PATH, self._on_http)
        self._later: asyncio.Task[None] | None = None
        self.bot_name = "kesu"
        self.on_fatal: Callable[[BaseException], None] = lambda exc: None  # nothing is fatal
        self.ready = False  # the staff channel passed the checks (private, reachable, ours)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Refused credentials, an unknown or public staff channel stop kesu with one line.
        Slack being unreachable does not: customers keep filing, cards wait in the outbox,
        and the desk connects in the background as soon as Slack answers. Until the staff
        channel has passed the checks, nothing is sent to it and nobody acts from Slack."""
        try:
            await self._check()
            await self._listen()
        except _Unreachable as exc:
            log.error(
                "Slack is unreachable (%s): customers are served, cards wait in the outbox; "
                "retrying every %.0f s",
                exc,
                self.reconnect_interval,
            )
            self._later = asyncio.create_task(self._connect_later())

    async def _check(self) -> None:
        try:
            auth = await self.web.auth_test()
            info = await self.web.conversations_info(channel=self.staff_channel)
        except SlackApiError as exc:
            error = _error(exc)
            if exc.response.status_code >= 500 or error in RETRYABLE:
                raise _Unreachable(error) from None
            if error == "channel_not_found":
                raise ChannelError(
                    f"KESU_SLACK_STAFF_CHANNEL {self.staff_channel} not found: use the channel "
                    "id (channel details → About) and invite the bot with /invite @kesu"
                ) from None
            if error == "missing_scope":
                raise ChannelError(
                    "the Slack app lacks a scope (reinstall it from slack-app-manifest.yml): "
                    f"{exc.response.get('needed', 'channels:read / groups:read')}"
                ) from None
            raise ChannelError(f"Slack refused KESU_SLACK_BOT_TOKEN ({error})") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _Unreachable(f"{self.api_url}: {type(exc).__name__} {exc}") from None
        channel = info["channel"]
        if not channel.get("is_private", False):
            raise ChannelError(
                f"the staff channel {self.staff_channel} is public: anyone in the workspace "
                "could join and read customers' complaints (DOMAIN.md §8). Use a private "
                "channel for KESU_SLACK_STAFF_CHANNEL"
            )
        if not channel.get("is_member", True):
            log.warning("the bot is not in the staff channel %s: type /invite @%s there; "
                        "cards wait in the outbox until then", self.staff_channel,
                        auth.get("user"))  # fmt: skip
        self.bot_name = str(auth.get("user") or "kesu")
        self.ready = True

    @property
    def http_url(self) -> str | None:
        """Where Slack's calls are served (HTTP mode, once kesu's web server listens)."""
        if self.mode != "http" or self._web is None:
            return None
        try:
            return self._web.url(self.http_listen, self.http_port, EVENTS_PATH)
        except KeyError:
            return None

    async def _on_http(self, request: web.Request) -> web.Response:
        """Slack's HTTP calls, to bolt (which checks each request's signature first)."""
        return await to_aiohttp_response(
            await self.app.async_dispatch(await to_bolt_request(request))
        )

    async def _listen(self) -> None:
        if self.mode == "socket":
            await self._connect_socket()
        log.info("slack: staff channel %s, %s mode, as %s", self.staff_channel, self.mode,
                 self.bot_name)  # fmt: skip

    async def _connect_later(self) -> None:
        while True:
            await asyncio.sleep(self.reconnect_interval)
            try:
                await self._check()
                await self._listen()
            except _Unreachable as exc:
                log.warning("Slack still unreachable: %s", exc)
                continue
            except ChannelError as exc:
                # Customers are still served; the desk stays closed (nothing is posted to a
                # channel that failed the checks) until the operator fixes it and restarts.
                log.error("the Slack desk cannot start, cards stay queued: %s", exc)
            return

    async def _connect_socket(self) -> None:
        """Socket Mode, checked once up front: slack_sdk's client would otherwise retry a
        refused app token every 10 s forever, and ``kesu run`` would hang without a word."""
        handler = AsyncSocketModeHandler(self.app, self.app_token, web_client=self.client)
        problem: str | None = None
        try:
            async with asyncio.timeout(SOCKET_CONNECT_TIMEOUT):
                # connect() reuses this URL, so no second ticket is issued.
                handler.client.wss_uri = await handler.client.issue_new_wss_url()
                await handler.connect_async()  # type: ignore[no-untyped-call]
        except asyncio.CancelledError:  # kesu stopping meanwhile: leave no session open
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise
        except SlackApiError as exc:
            problem = (
                f"Slack refused KESU_SLACK_APP_TOKEN ({_error(exc)}): use the app-level token "
                "(xapp-…) with the connections:write scope"
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise _Unreachable(f"Socket Mode: {type(exc).__name__} {exc}") from None
        if problem is not None:
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise ChannelError(problem)
        self._socket = handler

    async def stop(self) -> None:
        if self._later is not None:
            self._later.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # ended badly: logged
                await self._later
            self._later = None
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None

    # -- who is acting -------------------------------------------------------------------------

    async def staff(self, user_id: str) -> Staff:
        """The person's role: staff channel members and configured staff act on cases;
        supervisors (configured, or in the user group) also reassign and act on any case."""
        if not self.ready:  # the staff channel has not passed the checks: nobody is staff
            return Staff("slack", user_id, is_staff=False)
        await self._refresh_membership()
        supervisor = user_id in self.supervisors or user_id in self._group
        member = user_id in self._members or user_id in self.staff_users
        return Staff("slack", user_id, member or supervisor, supervisor)

    async def _refresh_membership(self) -> None:
        """Members and supervisors, asked again after ``membership_ttl`` (one question for
        any number of clicks at once); when Slack cannot say, the last known lists stay
        (nobody at first) and Slack is asked again in 10 s, not at every click."""
        async with self._membership_lock:
            if time.monotonic() - self._members_at < self.membership_ttl:
                return
            retry_soon = time.monotonic() - max(self.membership_ttl - 10.0, 0.0)
            try:
                members: set[str] = set()
                # The outbox's client: no retry that sleeps out a 429 while clicks queue.
                pages = await self.web.conversations_members(channel=self.staff_channel, limit=200)
                async for page in pages:
                    members.update(page.get("members", []))
                self._members = frozenset(members)
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("cannot read the staff channel's members: %s", exc)
                self._members_at = retry_soon
                return
            if self.supervisor_group:
                try:
                    users = await self.web.usergroups_users_list(usergroup=self.supervisor_group)
                    self._group = frozenset(users.get("users", []))
                except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                    log.warning("cannot read the supervisors' group %s (scope "
                                "usergroups:read?): %s", self.supervisor_group, exc)  # fmt: skip
                    self._members_at = retry_soon
                    return
            self._members_at = time.monotonic()

    def forget_members(self) -> None:
        """Somebody joined or left the staff channel: ask Slack again at the next action."""
        self._members_at = float("-inf")

    # -- outbound: the outbox's sender -----------------------------------------------------

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
        if not self.ready:  # not checked yet (Slack unreachable at start, or refused)
            return SendResult(
                ok=False,
                retry_after=self.reconnect_interval,
                outage=True,
                error="slack desk not connected",
            )
        text, blocks = self._render(message)
        try:
            if message.edit_id:
                channel, ts = _split(message.edit_id)
                try:
                    response = await self._update(channel, ts, text, blocks)
                    return SendResult.sent(f"{response['channel']}:{response['ts']}")
                except SlackApiError as exc:
                    if _error(exc) != "message_not_found":
                        raise
                    log.warning("slack message %s is gone (deleted?): posting it afresh", ts)
            return await self._post(recipient, message, text, blocks)
        except SlackApiError as exc:
            return self._failure(exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return SendResult(ok=False, outage=True, error=f"network: {type(exc).__name__}: {exc}")

    async def _update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> Any:
        # Without blocks Slack keeps the old ones: [] clears them for a plain line.
        try:
            return await self.web.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks or []
            )
        except SlackApiError as exc:
            if _error(exc) != "invalid_blocks" or not blocks:
                raise
            log.error("slack refused our blocks (%s): %s", exc, json.dumps(blocks)[:2000])
            return await self.web.chat_update(channel=channel, ts=ts, text=text, blocks=[])

    async def _post(
        self,
        recipient: str,
        message: OutgoingMessage,
        text: str,
        blocks: list[dict[str, Any]] | None,
    ) -> SendResult:
        thread_ts = _split(message.thread_id)[1] if message.thread_id else None
        kwargs: dict[str, Any] = {
            "channel": recipient,
            "text": text,
            "unfurl_links": False,  # a customer's link shows as text, never as a preview
            "unfurl_media": False,
        }
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            response = await self.web.chat_postMessage(**kwargs, blocks=blocks)
        except SlackApiError as exc:
            if _error(exc) != "invalid_blocks" or not blocks:
                raise
            log.error("slack refused our blocks (%s): %s", exc, json.dumps(blocks)[:2000])
            response = await self.web.chat_postMessage(**kwargs)
        channel, ts = str(response["channel"]), str(response["ts"])
        if message.files:
            await self._relay_files(channel, thread_ts or ts, message)
        return SendResult.sent(f"{channel}:{ts}")

    def _render(self, message: OutgoingMessage) -> tuple[str, list[dict[str, Any]] | None]:
        card = message.card
        if card is None:
            return kit.esc(message.text), None
        if card.get("kind") == "card":
            return kit.esc(message.text), kit.card_blocks(card, self.clock.now(), self.tz)
        return kit.line_text(card), None

    async def _relay_files(self, channel: str, thread_ts: str, message: OutgoingMessage) -> None:
        """The customer's photos and documents, into the case thread. Best effort after the
        line is posted: a file that cannot be fetched or uploaded is named in the thread."""
        failed: list[str] = []
        for item in message.files:
            name = item.name or f"{item.kind}-{item.file_id[-8:]}"
            if self.fetch_file is None or message.files_from is None:
                failed.append(name)
                continue
            try:
                content = await self.fetch_file(message.files_from, item)
                await self.web.files_upload_v2(
                    channel=channel, thread_ts=thread_ts, content=content, filename=name
                )
            except Exception:
                log.warning("could not relay %s %s to slack", item.kind, item.file_id,
                            exc_info=True)  # fmt: skip
                failed.append(name)
        if failed:
            note = "⚠️ 未能转发的附件 not relayed (kept on the case): " + ", ".join(failed)
            try:
                await self.web.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=kit.esc(note)
                )
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError):
                log.warning("could not tell the thread about unrelayed files", exc_info=True)

    @staticmethod
    def _failure(exc: SlackApiError) -> SendResult:
        status = exc.response.status_code
        error = _error(exc)
        if status == 429 or error == "ratelimited":
            headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
            raw = headers.get("retry-after", "1")
            retry = raw[0] if isinstance(raw, list) else raw
            return SendResult(ok=False, retry_after=float(retry), error="429 rate limited")
        if status >= 500 or error in RETRYABLE:
            return SendResult(ok=False, outage=True, error=f"slack {status} {error}")
        if error in CONFIGURATION:
            log.error("slack says %s: fix the bot's token, scopes or channel; cards wait", error)
            return SendResult(ok=False, retry_after=CONFIGURATION_RETRY, config=True, error=error)
        return SendResult(ok=False, permanent=True, error=error)

    # -- inbound -------------------------------------------------------------------------------

    def _register(self) -> None:
        app, guard = self.app, self._guarded
        app.action(kit.CLAIM)(guard(self._on_claim))
        app.action(kit.REPLY)(guard(self._on_reply_button))
        app.action(kit.DETAILS)(guard(self._on_details))
        app.action(kit.MORE)(guard(self._on_more))
        app.shortcut("kesu_reply_message")(guard(self._on_reply_shortcut))
        app.view("kesu_reply")(guard(self._on_reply_submit))
        for kind in ("escalate", "resolve", "invalid", "priority", "category", "severity"):
            app.view(f"kesu_{kind}")(guard(self._on_form_submit))
        app.view("kesu_assign")(guard(self._on_assign_submit))
        app.command("/kesu")(guard(self._on_command))
        app.event("message")(guard(self._on_message))
        app.event("app_home_opened")(guard(self._on_home))
        app.event("member_joined_channel")(guard(self._on_membership))
        app.event("member_left_channel")(guard(self._on_membership))

    def _guarded(self, handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """Whatever goes wrong inside (the database busy, a bug), the person who clicked
        hears that it failed and the error is logged with its trace; Slack gets its ack."""

        @functools.wraps(handler)  # bolt reads the handler's parameter names through this
        async def guarded(**kwargs: Any) -> None:
            try:
                await handler(**kwargs)
            except Exception:
                log.exception("slack handler %s failed", handler.__name__)
                body = kwargs.get("body") or {}
                ack = kwargs.get("ack")
                if ack is not None:
                    with contextlib.suppress(Exception):  # already acknowledged: fine
                        field = _first_input(kwargs.get("view") or {})
                        if field:  # a form stays open and says so under its first field
                            await ack(response_action="errors", errors={field: INTERNAL_ERROR})
                        else:
                            await ack()
                user = _user_of(body)
                if user and body.get("type") != "event_callback":
                    await self._tell(user, Outcome(False, INTERNAL_ERROR))

        return guarded

    async def _tell(
        self,
        user: str,
        outcome: Outcome,
        thread_ts: str | None = None,
        channel: str | None = None,
    ) -> None:
        """A refusal or a note for the person who acted, seen by them alone: ephemeral where
        they clicked, or in their direct messages with the app when they cannot see that
        channel (someone outside the desk)."""
        if outcome.ok and not outcome.message:
            return
        text = kit.desk_text(outcome.message)
        kwargs: dict[str, Any] = {"channel": channel or self.staff_channel, "user": user}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await self.client.chat_postEphemeral(**kwargs, text=text)
            return
        except SlackApiError as exc:
            log.info("ephemeral to %s refused (%s): sending a direct message", user, _error(exc))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("could not tell %s: %s (%s)", user, outcome.message, exc)
            return
        try:
            await self.client.chat_postMessage(channel=user, text=text)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("could not tell %s: %s (%s)", user, outcome.message, exc)

    async def _refuse_non_staff(self, staff: Staff) -> bool:
        if staff.is_staff:
            return False
        log.warning("slack user %s is not staff: refused", staff.user_id)
        refusal = "你不是客服成员,不能查看或处理案件 (only desk members can see or act on cases)"
        await self._tell(staff.user_id, Outcome(False, refusal))
        return True

    async def _on_claim(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        staff = await self.staff(body["user"]["id"])
        seen = body.get(slack_inbox.INBOX_ID)
        await self._tell(staff.user_id, await self.desk.actions.claim(action["value"], staff, seen))

    async def _on_reply_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        await self._open_reply(body, action["value"], None)

    async def _on_reply_shortcut(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id", "")
        thread_ts = message.get("thread_ts") or message.get("ts", "")
        number = await self.desk.queries.case_of_thread(f"{channel}:{thread_ts}")
        if number is None:
            await self._tell(
                body["user"]["id"],
                Outcome(False, "这条消息不在案件串里 (this message is not in a case's thread)"),
            )
            return
        await self._open_reply(body, number, plain_from_slack(message.get("text", "")))

    async def _open_reply(self, body: dict[str, Any], number: str, draft: str | None) -> None:
        staff = await self.staff(body["user"]["id"])
        if await self._refuse_non_staff(staff):
            return
        details = await self.desk.queries.details(number)
        if details is None:
            await self._tell(staff.user_id, Outcome(False, f"没有案件 {number} (no such case)"))
            return
        view = kit.reply_modal(details.card, draft, REPLY_LIMIT)
        await self._open(body, view)

    async def _open(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            await self.client.views_open(trigger_id=body["trigger_id"], view=view)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("could not open a modal: %s", exc)
            await self._tell(
                body["user"]["id"], Outcome(False, "窗口打不开,请再点一次 (try again)")
            )

    async def _on_details(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        staff = await self.staff(body["user"]["id"])
        if await self._refuse_non_staff(staff):
            return
        details = await self.desk.queries.details(action["value"])
        if details is None:
            await self._tell(staff.user_id, Outcome(False, f"没有案件 {action['value']}"))
            return
        history = [
            (e.at, e.actor, _event_words(e.action, e.changes), e.note) for e in details.history
        ]
        view = kit.details_modal(
            details.card, history, details.attachments, self.clock.now(), self.tz
        )
        await self._open(body, view)

    async def _on_more(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        kind, _, number = action["selected_option"]["value"].partition("|")
        staff = await self.staff(body["user"]["id"])
        if await self._refuse_non_staff(staff):
            return
        if kind not in kit.FORMS and kind != "release":
            await self._tell(
                staff.user_id, Outcome(False, f"不认识的操作 (unknown action {kind!r})")
            )
            return
        if kind == "release":
            seen = body.get(slack_inbox.INBOX_ID)
            await self._tell(staff.user_id, await self.desk.actions.release(number, staff, seen))
            return
        details = await self.desk.queries.details(number)
        if details is None:
            await self._tell(staff.user_id, Outcome(False, f"没有案件 {number}"))
            return
        await self._open(body, kit.action_modal(kind, details.card, self.desk.queries.categories()))

    async def _on_reply_submit(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        staff = await self.staff(body["user"]["id"])
        text = _value(view, "text") or ""
        outcome = await self.desk.actions.reply(
            view["private_metadata"], staff, text, update_id=f"view:{view['id']}"
        )
        await self._answer_form(ack, outcome, "text")

    async def _on_form_submit(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        """The forms behind 更多操作; a form submitted twice (Slack slow to hear our answer,
        the person presses again) is applied once: its view id is recorded with the change."""
        staff = await self.staff(body["user"]["id"])
        number, seen = view["private_metadata"], f"view:{view['id']}"
        kind = view["callback_id"].removeprefix("kesu_")
        reason = _value(view, "reason") or ""
        value = _value(view, "value")
        field = "reason"
        match kind:
            case "escalate":
                outcome = await self.desk.actions.escalate(number, staff, reason, update_id=seen)
            case "resolve":
                outcome = await self.desk.actions.resolve(
                    number, staff, reason, _value(view, "outcome") or "resolved", update_id=seen
                )
            case "invalid":
                outcome = await self.desk.actions.mark_invalid(
                    number, staff, reason, update_id=seen
                )
            case "severity":
                headcount = (_value(view, "headcount") or "").strip()
                if headcount and not headcount.isdigit():
                    await self._answer_form(
                        ack, Outcome(False, "人数请填数字 (a whole number of people)"), "headcount"
                    )
                    return
                count = int(headcount) if headcount else None
                outcome = await self.desk.actions.set_severity(
                    number, staff, value, count, reason, update_id=seen
                )
                field = "value"
            case _:
                outcome = await self.desk.actions.correct(
                    number, staff, kind, value, reason, update_id=seen
                )
                field = "value"
        await self._answer_form(ack, outcome, field)

    async def _on_assign_submit(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        staff = await self.staff(body["user"]["id"])
        target = _value(view, "user") or ""
        to = await self.staff(target)
        outcome = await self.desk.actions.assign(
            view["private_metadata"],
            staff,
            to,
            _value(view, "reason"),
            update_id=f"view:{view['id']}",
        )
        await self._answer_form(ack, outcome, "user")

    @staticmethod
    async def _answer_form(ack: AsyncAck, outcome: Outcome, field: str) -> None:
        """A refused form stays open with the reason under the field (Slack's own way)."""
        if outcome.ok:
            await ack()
            return
        await ack(response_action="errors", errors={field: _unmention(outcome.message)[:2000]})

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        staff = await self.staff(command["user_id"])
        if not staff.is_staff:
            await ack(text="你不是客服成员 (only desk members can use /kesu)")
            return
        word, _, rest = (command.get("text") or "").strip().partition(" ")
        now = self.clock.now()
        match word.lower():
            case "mine":
                cards = await self.desk.queries.cards(await self.desk.queries.mine(staff))
                text = kit.list_text("我的案件 My cases", cards, now, self.tz)
            case "open":
                cards = await self.desk.queries.cards(await self.desk.queries.open_cases())
                text = kit.list_text("未结案件 Open cases", cards, now, self.tz)
            case "find" if rest.strip():
                cards = await self.desk.queries.cards(await self.desk.queries.find(rest))
                text = kit.list_text(f"查找 {kit.esc(rest.strip())}", cards, now, self.tz)
            case "help" | "":
                text = kit.HELP
            case _:
                text = f"不认识 `{kit.esc(word)}` (unknown)\n{kit.HELP}"
        await ack(text=text[:3900])

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Thread talk is internal (a note on the case); only the configured prefix, if any,
        sends a thread message to the customer."""
        if event.get("channel") != self.staff_channel or event.get("bot_id"):
            return
        if event.get("subtype") not in {None, "file_share", "thread_broadcast"}:
            return  # edits, deletions, joins …
        thread_ts, user = event.get("thread_ts"), event.get("user")
        if not thread_ts or thread_ts == event.get("ts") or not user:
            return  # top-level talk in the channel is not about one case
        number = await self.desk.queries.case_of_thread(f"{self.staff_channel}:{thread_ts}")
        if number is None:
            return
        staff = await self.staff(user)
        text = plain_from_slack(event.get("text") or "")
        names = [
            str(f.get("name") or f.get("title") or f.get("id")) for f in event.get("files") or []
        ]
        if names:  # a file shared in the thread is on record by name (it stays in Slack)
            text = "\n".join(filter(None, [text, "📎 " + ", ".join(names)]))
        update_id = body.get("event_id") or f"msg:{self.staff_channel}:{event.get('ts')}"
        if self.reply_prefix and text.startswith(self.reply_prefix):
            reply = text.removeprefix(self.reply_prefix)
            outcome = await self.desk.actions.reply(number, staff, reply, update_id=update_id)
        else:
            outcome = await self.desk.actions.note(number, staff, text, update_id=update_id)
        await self._tell(user, outcome, thread_ts)

    async def _on_home(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        staff = await self.staff(event["user"])
        now = self.clock.now()
        if staff.is_staff:
            mine = await self.desk.queries.cards(await self.desk.queries.mine(staff))
            unclaimed = await self.desk.queries.cards(
                await self.desk.queries.open_cases(unclaimed=True)
            )
            view = kit.home_view(mine, unclaimed, now, self.tz)
        else:
            view = kit.home_closed()
        try:
            await self.client.views_publish(user_id=staff.user_id, view=view)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("could not publish App Home for %s: %s", staff.user_id, exc)

    async def _on_membership(self, event: dict[str, Any]) -> None:
        if event.get("channel") == self.staff_channel:
            self.forget_members()


def _first_input(view: dict[str, Any]) -> str | None:
    for block in view.get("blocks") or []:
        if block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    return None


def _user_of(body: dict[str, Any]) -> str | None:
    """Who caused this request: interactive payloads, events and slash commands differ."""
    user = body.get("user") or body.get("user_id") or (body.get("event") or {}).get("user")
    if isinstance(user, dict):
        user = user.get("id")
    return str(user) if user else None


def _split(platform_id: str) -> tuple[str, str]:
    channel, _, ts = platform_id.partition(":")
    return channel, ts


def _error(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    if isinstance(data, dict):
        return str(data.get("error") or f"HTTP {exc.response.status_code}")
    return f"HTTP {exc.response.status_code}"


def _value(view: dict[str, Any], block_id: str) -> str | None:
    """A submitted field's value, whatever kind of input it was."""
    field = ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get("value") or {}
    if "selected_option" in field:
        option = field["selected_option"]
        return None if option is None else str(option["value"])
    if "selected_user" in field:
        return str(field["selected_user"])
    value = field.get("value")
    return None if value is None else str(value)


def _unmention(text: str) -> str:
    """Slack shows form errors as plain text: ``{slack:U1}`` becomes the id, not a mention."""
    return re.sub(r"\{slack:([A-Z0-9]+)\}", r"@\1", text)


def _event_words(action: str, changes: dict[str, Any]) -> str:
    fields = ", ".join(f"{k} {v[0]} → {v[1]}" for k, v in changes.items() if k != "status")
    return f"{action} {fields}".strip()
