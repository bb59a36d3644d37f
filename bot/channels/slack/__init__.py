"""The Slack staff channel; this package is the only code importing slack_bolt/slack_sdk.

Translation and nothing else. Outbound, the outbox hands ``SlackChannel.send`` case cards,
thread lines and receipts, drawn in Block Kit (``blocks.py``) and sent by ``sender.py``.
Inbound, bolt (Socket Mode by default, HTTP mode with signature verification by setting)
routes clicks, form submissions, thread messages, ``/kesu`` and App Home through its
middleware (``app.py``: the inbox, who is acting) to the listeners (``handlers.py``), which
call the desk. Bolt does not de-duplicate Slack's retries: the desk records each event id in
the same transaction as what it changes.

This module is the channel's life: the checks at start (the staff channel must exist, be
private and reachable), connecting again when Slack was unreachable, and stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import tzinfo
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import ChannelError
from bot.channels.slack import inbox as stored
from bot.channels.slack.app import build_app
from bot.channels.slack.handlers import Handlers
from bot.channels.slack.roles import Roles
from bot.channels.slack.sender import RETRYABLE, FileFetcher, Sender, slack_error
from bot.channels.slack.tell import Teller
from bot.channels.slack.text import plain_from_slack
from bot.clock import Clock
from bot.delivery import Limits, SendResult
from bot.desk import Desk
from bot.inbox import Inbox
from bot.messages import OutgoingMessage
from bot.outgoing import TextLimit
from bot.web import WebServer

__all__ = ["SlackChannel", "plain_from_slack"]

log = logging.getLogger(__name__)

SLACK_API = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
RECONNECT_INTERVAL = 30.0  # seconds between attempts when Slack was unreachable at start
API_TIMEOUT = 10  # seconds for one Web API call: a hung call must not hold the outbox
SOCKET_CONNECT_TIMEOUT = 30.0  # seconds for the first Socket Mode connection at start


class _Unreachable(Exception):
    """Slack did not answer (network, 5xx): worth trying again later, unlike a refusal."""


class SlackChannel:
    channel = "slack"
    # chat.postMessage allows about one message a second per channel; updates and thread
    # lines go to the same channel, so one queue at 1/s keeps the whole desk inside it.
    limits = Limits(per_second=2.0, per_chat_interval=1.0)
    # A post, the edit that falls back to a post, and the files relayed into the thread (each
    # fetched from the customer's channel and uploaded): the outbox leases a recipient longer.
    send_timeout = 90.0
    #: A plain message's text (escaped, no blocks) is chat.postMessage's ``text``: Slack
    #: truncates one over 40,000 characters and may break one over 4,000 into several
    #: messages (api.slack.com/changelog/2018-04-truncating-really-long-messages; the method's
    #: page asks for at most 4,000). So 4,000, counted on what Slack receives: ``&`` as
    #: ``&amp;``. Cards and thread lines carry a card and are never cut (bot/outgoing.py):
    #: blocks.py fits their quoted words to its own budgets.
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
        roles: Mapping[str, Iterable[str]] | None = None,
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
        self.mode = mode
        self.app_token = app_token
        self.api_url = api_url
        self.http_listen = http_listen
        self.http_port = http_port
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
        self.sender = Sender(self.web, clock=clock, tz=tz, fetch_file=fetch_file)
        self.roles = Roles(
            self.web,
            staff_channel,
            ready=lambda: self.ready,
            staff_users=staff_users,
            supervisors=supervisors,
            supervisor_group=supervisor_group,
            roles=roles,
            ttl=membership_ttl,
        )
        desk.reminders.roles = self.roles  # whom the desk's reminders name for a role
        desk.projection.people = self.roles.people  # whom a level's ping mentions
        self.teller = Teller(self.client, staff_channel)
        self.handlers = Handlers(
            desk,
            self.teller,
            self.roles,
            self.client,
            clock=clock,
            tz=tz,
            staff_channel=staff_channel,
            reply_prefix=reply_prefix or None,
        )
        self.app = build_app(
            self.client,
            signing_secret=signing_secret,
            verify=mode == "http",
            roles=self.roles,
            teller=self.teller,
            store_first=None if inbox is None else stored.middleware(staff_channel, inbox),
        )
        self.handlers.register(self.app)
        if inbox is not None:
            inbox.handlers[self.channel] = stored.SlackProcessor(self.handlers, clock)
        self._socket: AsyncSocketModeHandler | None = None
        self._web = web_server
        if mode == "http" and web_server is not None:  # served from kesu's start, checks or not
            web_server.post(http_listen, http_port, EVENTS_PATH, self._on_http)
        self._later: asyncio.Task[None] | None = None
        self.bot_name = "kesu"
        self.on_fatal: Callable[[BaseException], None] = lambda exc: None  # nothing is fatal
        self.ready = False  # the staff channel passed the checks (private, reachable, ours)

    # -- who is acting, and sending: the parts' work ---------------------------------------

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
        if not self.ready:  # not checked yet (Slack unreachable at start, or refused)
            return SendResult(
                ok=False,
                retry_after=self.reconnect_interval,
                outage=True,
                error="slack desk not connected",
            )
        return await self.sender.send(recipient, message)

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
        auth = await self._ask(self.web.auth_test())
        self.bot_name = str(auth.get("user") or "kesu")
        # The supervisors' channel carries parties and flag notes: private, like the desk's.
        report = self.desk.reports.report_channel
        for setting, channel_id, what in (
            ("KESU_SLACK_STAFF_CHANNEL", self.staff_channel, "staff channel"),
            ("KESU_SLACK_REPORT_CHANNEL", report, "supervisors' report channel"),
        ):
            if what != "staff channel" and channel_id == self.staff_channel:
                continue
            await self._check_channel(setting, channel_id, what)
        owner = self.desk.projection.sla.policy.media.owner
        if not self.roles.people(owner):
            log.warning("nobody has role %r, the policy's [media] owner: press enquiries are "
                        "reminded to whoever is on duty; set KESU_SLACK_ROLES=\"%s=U…\"",
                        owner, owner)  # fmt: skip
        self.ready = True
        self.roles.refresh()  # who is staff, known before the first click

    async def _check_channel(self, setting: str, channel_id: str, what: str) -> None:
        """A channel kesu posts to: known, private, the bot a member (else a warning: its
        messages wait in the outbox until someone invites the bot)."""
        info = await self._ask(
            self.web.conversations_info(channel=channel_id), f"{setting} {channel_id}"
        )
        channel = info["channel"]
        if not channel.get("is_private", False):
            raise ChannelError(
                f"the {what} {channel_id} is public: anyone in the workspace could join and "
                f"read customers' complaints (DOMAIN.md §8). Use a private channel for {setting}"
            )
        if not channel.get("is_member", True):
            log.warning("the bot is not in the %s %s: type /invite @%s there; its messages "
                        "wait in the outbox until then", what, channel_id,
                        self.bot_name)  # fmt: skip

    async def _ask(self, call: Awaitable[Any], channel: str = "the channel") -> Any:
        """One Web API call of the start's checks; what an operator must fix stops kesu."""
        try:
            return await call
        except SlackApiError as exc:
            error = slack_error(exc)
            if exc.response.status_code >= 500 or error in RETRYABLE:
                raise _Unreachable(error) from None
            if error == "channel_not_found":
                raise ChannelError(
                    f"{channel} not found: use the channel id (channel details → About) and "
                    "invite the bot with /invite @kesu"
                ) from None
            if error == "missing_scope":
                raise ChannelError(
                    "the Slack app lacks a scope (reinstall it from slack-app-manifest.yml): "
                    f"{exc.response.get('needed', 'channels:read / groups:read')}"
                ) from None
            raise ChannelError(f"Slack refused KESU_SLACK_BOT_TOKEN ({error})") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _Unreachable(f"{self.api_url}: {type(exc).__name__} {exc}") from None

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
                f"Slack refused KESU_SLACK_APP_TOKEN ({slack_error(exc)}): use the app-level "
                "token (xapp-…) with the connections:write scope"
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
        await self.roles.close()
        await self.teller.close()
