"""An in-process Slack workspace over real HTTP, for the real slack_sdk and slack_bolt.

Both directions run as in production, so the SDK's own encoding, retry handlers and error
handling, and bolt's signature check and routing, are what the tests exercise:

* the Web API the bot calls: ``AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)``.
  slack_sdk sends chat.* and views.* as JSON bodies but most other methods (auth.test,
  conversations.*, users.*, files.*) as a URL query string on an empty form POST or a GET;
  someone else may post a form. All of them are merged into one ``params`` dict, with
  JSON-encoded structures (``blocks``, ``view``, ``files``…) decoded.
* the workspace calling the app: Events API envelopes, ``block_actions``, message shortcuts,
  view submissions and slash commands in the shape Slack sends them, either signed and POSTed
  to a bolt app in HTTP mode at ``app_events_url``, or pushed over Socket Mode: the app's
  ``SocketModeClient`` calls ``apps.connections.open`` with the app token (``xapp-…``) and
  opens the WebSocket URL it gets; from then on (``transport``) every helper sends its payload
  in an envelope on one of the app's open sockets and reads the app's ack as the answer. An
  app may hold several connections (kesu instances side by side each open one): as Slack
  does, envelopes are spread over all of them, each to the next in turn
  (``envelopes_by_socket`` counts them). ``disconnect_socket`` asks the app to reconnect, as
  Slack does every few hours; a connection asked to go gets no more envelopes.

It enforces what real Slack enforces and bots most often get wrong: channel ids against names,
membership, 40k text, Block Kit limits, single-use trigger ids that expire after 3 s, view
hashes, block ids Slack invents when the app sets none. It fails on demand: 429 with
Retry-After, 5xx, ``ok: false``, an outage, a slow answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

JSON = dict[str, Any]
Blocks = list[dict[str, Any]]

BOT_ID = "BKESUBOT"
APP_ID = "AKESUAPP"
TEAM_DOMAIN = "kesu-test"
# Slack still puts the deprecated verification token in every payload; bolt ignores it.
VERIFICATION_TOKEN = "kesu-deprecated-verification-token"
SCOPES = "chat:write,commands,users:read,usergroups:read,channels:read,files:read,files:write"
SLACKBOT_UA = "Slackbot 1.0 (+https://api.slack.com/robots)"
MAX_TEXT = 40_000  # chat.postMessage: longer text is msg_too_long
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MODAL_STACK = 3
SOCKET_HOST = "applink-kesu-fake"  # Slack names the server in hello and disconnect messages
TRANSPORTS = ("auto", "http", "socket")
POLL = 0.02  # seconds between looks at a wait_for predicate nothing here changes
TEXT_OBJECTS = ("plain_text", "mrkdwn")
# Form values that carry JSON, as slack_sdk and Slack's docs encode them.
JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata", "unfurls", "options")


# -- records ---------------------------------------------------------------------------------


@dataclass
class Call:
    """One Web API call as the server saw it, refused ones included."""

    method: str
    params: JSON
    at: float
    outcome: str = ""  # "ok", an error code, or "http 429"


@dataclass
class Edit:
    """What one chat.update (or a response_url replace_original) set."""

    text: str
    blocks: Blocks | None
    ts: str
    via: str


@dataclass
class Message:
    """A message in a channel: posted by the bot, or by a person through ``send_event``."""

    channel: str
    ts: str
    text: str
    blocks: Blocks | None = None
    thread_ts: str | None = None
    user: str = ""
    team: str = ""
    bot_id: str | None = None
    subtype: str | None = None
    reply_broadcast: bool = False
    files: list[str] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    deleted: bool = False
    params: JSON = field(default_factory=dict)  # what the bot sent, decoded

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def as_json(self) -> JSON:
        """The message object Slack returns and puts in interaction payloads."""
        data: JSON = {
            "type": "message", "text": self.text, "user": self.user, "ts": self.ts,
            "team": self.team,
        }  # fmt: skip
        if self.subtype:
            data["subtype"] = self.subtype
        if self.bot_id:
            data["bot_id"] = self.bot_id
            data["app_id"] = APP_ID
            data["bot_profile"] = {"id": self.bot_id, "app_id": APP_ID, "name": "kesu",
                                   "team_id": self.team, "deleted": False}  # fmt: skip
        if self.blocks is not None:
            data["blocks"] = copy.deepcopy(self.blocks)
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.edits:
            data["edited"] = {"user": self.user, "ts": self.edits[-1].ts}
        if self.files:
            data["files"] = [{"id": f} for f in self.files]
        return data


@dataclass
class Ephemeral:
    """A message only one person sees (chat.postEphemeral or a response_url answer)."""

    channel: str
    user: str
    text: str
    blocks: Blocks | None
    thread_ts: str | None
    message_ts: str
    via: str = "chat.postEphemeral"


@dataclass
class View:
    """A modal or App Home view; ``data`` is the view object Slack returns (id, hash, state)."""

    id: str
    data: JSON
    method: str  # views.open, views.push, views.publish, response_action
    user: str | None
    at: float
    history: list[JSON] = field(default_factory=list)  # earlier versions, oldest first
    closed: bool = False

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))

    @property
    def callback_id(self) -> str:
        return str(self.data.get("callback_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.data.get("private_metadata", ""))

    @property
    def hash(self) -> str:
        return str(self.data.get("hash", ""))

    @property
    def blocks(self) -> Blocks:
        return list(self.data.get("blocks") or [])

    @property
    def title(self) -> str:
        return str((self.data.get("title") or {}).get("text", ""))


@dataclass
class UploadedFile:
    """A file: uploaded by the bot (files_upload_v2) or put into the workspace by a test."""

    id: str
    filename: str
    length: int
    title: str
    user: str
    at: float
    data: bytes | None = None
    mimetype: str = "application/octet-stream"
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    message_ts: str | None = None  # the file-share message

    @property
    def shared(self) -> bool:
        return self.channel is not None


@dataclass
class Response:
    """What the app POSTed to a response_url (bolt's ``respond()``)."""

    url_id: str
    body: JSON
    at: float
    user: str
    channel: str | None


@dataclass
class Failure:
    method: str  # a Web API method, "upload" for the upload URL, or "*"
    status: int
    error: str | None
    retry_after: int | None
    times: int


@dataclass
class Reply:
    """The app's HTTP answer to something the workspace sent it."""

    status: int
    body: str
    json: Any = None
    request: JSON = field(default_factory=dict)  # the payload that was sent
    timed_out: bool = False  # no answer within ``app_timeout`` (Slack gives up after 3 s)
    via: str = "http"  # or "socket": then ``body`` and ``json`` are the ack's payload
    envelope_id: str | None = None  # Socket Mode only

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def text(self) -> str:
        """What the person sees of a plain answer (a slash command's), whichever the transport:
        HTTP answers ``ack("…")`` with a text body, Socket Mode with ``{"text": "…"}``."""
        if isinstance(self.json, dict) and isinstance(self.json.get("text"), str):
            return str(self.json["text"])
        return self.body


@dataclass
class _Trigger:
    user: str
    issued: float
    used: bool = False


@dataclass
class _Socket:
    """One Socket Mode connection of the app."""

    ws: web.WebSocketResponse
    ticket: str
    opened: float
    closed: bool = False
    leaving: bool = False  # sent a "disconnect": no more envelopes for it
    envelopes: int = 0  # envelopes sent on it


# -- the workspace ---------------------------------------------------------------------------


@dataclass
class FakeSlack:
    signing_secret: str = "test-signing-secret"
    bot_token: str = "xoxb-test"
    app_token: str = "xapp-1-test"
    bot_user_id: str = "UKESUBOT"
    team_id: str = "T0KESU"
    app_events_url: str | None = None
    api_url: str = ""
    users: dict[str, JSON] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    channels: dict[str, JSON] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    views_opened: list[View] = field(default_factory=list)
    published: dict[str, View] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    delivered: list[JSON] = field(default_factory=list)  # every payload sent to the app
    failures: list[Failure] = field(default_factory=list)
    down: bool = False  # every API call answers 503
    delay: float = 0.0  # seconds before every API answer
    delays: dict[str, float] = field(default_factory=dict)  # per method, added to ``delay``
    refused: int = 0  # calls answered by failure injection or ``down``
    trigger_ttl: float | None = 3.0  # Slack's trigger_id lifetime; None: never expires
    # A response_url takes this many answers within this many seconds (Slack: 5 in 30 min).
    response_url_uses: int = 5
    response_url_ttl: float = 1800.0
    app_timeout: float = 3.0  # Slack waits this long for the app's answer (HTTP or ack)
    # How the helpers reach the app: "http" POSTs to ``app_events_url``; "socket" sends an
    # envelope over the app's Socket Mode connection (waiting up to ``app_timeout`` for one);
    # "auto" is "socket" once an app has connected over Socket Mode, "http" until then.
    transport: str = "auto"
    acks: list[JSON] = field(default_factory=list)  # everything the app sent over Socket Mode

    def __post_init__(self) -> None:
        self._base = ""
        self._messages: list[Message] = []  # posted by the bot
        self._index: dict[tuple[str, str], Message] = {}  # every known message, people's too
        self._ephemerals: list[Ephemeral] = []
        self._views: dict[str, View] = {}
        self._stacks: dict[str, list[str]] = {}  # user -> open modal ids, root first
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, JSON] = {}
        self._last_us = 0
        self._seq = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tickets: dict[str, float] = {}  # apps.connections.open -> the WebSocket URL
        self._sockets: list[_Socket] = []  # every connection the app opened, oldest first
        self._turn = 0  # envelopes sent over Socket Mode: whose turn is next
        self._pending: dict[str, asyncio.Future[JSON]] = {}  # envelope_id -> the app's ack
        self.users.setdefault(self.bot_user_id, _user_record(self.bot_user_id, "kesu", "kesu",
                                                            is_bot=True))  # fmt: skip

    # -- server ------------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve the Web API on 127.0.0.1; returns ``api_url`` (with the trailing slash)."""
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{key}/{name}", self._handle_download)
        app.router.add_post("/response/{rid}", self._handle_response_url)
        app.router.add_get("/link/", self._handle_socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._base = f"http://127.0.0.1:{port}"
        self.api_url = f"{self._base}/api/"
        self._session = aiohttp.ClientSession()
        return self.api_url

    async def stop(self) -> None:
        for sock in self._sockets:
            if not sock.closed:
                await sock.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        await self._notify()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- workspace set-up --------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, real_name: str | None = None,
                 is_bot: bool = False, *, tz: str = "Asia/Shanghai") -> JSON:  # fmt: skip
        self.users[user_id] = _user_record(user_id, name, real_name or name, is_bot=is_bot, tz=tz)
        return self.users[user_id]

    def add_channel(self, channel_id: str, name: str, members: Iterable[str] = (),
                    *, bot_member: bool = True, private: bool = False) -> JSON:  # fmt: skip
        """A channel; the bot is invited unless ``bot_member=False`` (then: not_in_channel)."""
        self.channels[channel_id] = {"name": name.removeprefix("#"), "is_private": private}
        people = list(members)
        if bot_member and self.bot_user_id not in people:
            people.append(self.bot_user_id)
        self.members[channel_id] = people
        return self.channels[channel_id]

    def dm(self, user: str) -> str:
        """The id of the app's direct-message channel with ``user`` (created on first use)."""
        channel = f"D{user[1:]}" if user[:1] in "UW" else f"D{user}"
        if channel not in self.channels:
            self.channels[channel] = {"name": user, "is_im": True, "user": user}
            self.members[channel] = [self.bot_user_id, user]
        return channel

    def new_trigger(self, user: str) -> str:
        """A trigger_id as Slack puts in an interaction: single use, valid ``trigger_ttl``."""
        trigger_id = f"trig-{next(self._seq)}"
        self._triggers[trigger_id] = _Trigger(user, time.monotonic())
        return trigger_id

    def fail(self, method: str, *, status: int = 500, error: str | None = None,
             retry_after: int | None = None, times: int = 1) -> None:  # fmt: skip
        """The next ``times`` calls of ``method`` ("*": any) fail.

        With ``error``: HTTP 200 ``{"ok": false, "error": error}``. Else HTTP ``status``: 429
        carries ``Retry-After`` (default 1 s) and ``{"error": "ratelimited"}`` as Slack's does;
        other statuses a plain-text body. ``"upload"`` names the files upload URL, which
        ``"*"`` leaves alone (it is another host at Slack); ``down`` covers both.
        """
        self.failures.append(Failure(method, status, error, retry_after, times))

    # -- what the bot did --------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str | None = None, thread_ts: str | None = None) -> list[Message]:
        """Everything the bot posted (deleted ones too), optionally in one channel or thread."""
        cid = self._channel_id(channel) if channel else None
        return [
            m
            for m in self._messages
            if (channel is None or m.channel == cid)
            and (thread_ts is None or m.thread_ts == thread_ts)
        ]

    def top_level(self, channel: str) -> list[Message]:
        """The bot's messages in the channel itself, not in threads; deleted ones left out."""
        return [m for m in self.messages(channel) if not m.is_reply and not m.deleted]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The bot's replies in the thread under ``ts``; deleted ones left out."""
        return [m for m in self.messages(channel, ts) if m.is_reply and not m.deleted]

    def message(self, channel: str, ts: str) -> Message:
        found = self._index.get((self._channel_id(channel) or channel, ts))
        if found is None:
            raise AssertionError(f"no message {ts} in {channel}")
        return found

    def ephemerals(self, user: str | None = None) -> list[Ephemeral]:
        return [e for e in self._ephemerals if user is None or e.user == user]

    def view(self, view_id: str) -> View:
        return self._views[view_id]

    async def wait_for(self, predicate: Callable[[], Any], within: float = 15.0,
                       what: str = "") -> None:  # fmt: skip
        """Poll until ``predicate()`` is truthy, or fail saying what was awaited and seen."""
        if not await self._until(predicate, within):
            recent = ", ".join(f"{c.method}→{c.outcome}" for c in self.calls[-8:])
            name = what or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(
                f"the Slack emulator waited {within:g}s in vain for {name}; "
                f"last calls: {recent or 'none'}"
            )

    async def _until(self, predicate: Callable[[], Any], within: float) -> bool:
        """Whether ``predicate()`` became truthy within ``within`` seconds."""
        deadline = time.monotonic() + within
        async with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                try:  # woken by every change here; polled too, for the app's own state
                    await asyncio.wait_for(self._changed.wait(), min(left, POLL))
                except TimeoutError:
                    continue
        return True

    async def wait_for_message(self, channel: str, match: str | Callable[[str], bool],
                               *, thread_ts: str | None = None,
                               within: float = 15.0) -> Message:  # fmt: skip
        """The first bot message in ``channel`` whose text (``text_of``) matches."""

        def hits(m: Message) -> bool:
            text = text_of(m)
            return match in text if isinstance(match, str) else bool(match(text))

        def found() -> Message | None:
            return next((m for m in self.messages(channel, thread_ts) if hits(m)), None)

        await self.wait_for(lambda: found() is not None, within, f"a message matching {match!r}")
        message = found()
        assert message is not None
        return message

    @staticmethod
    def text_of(item: Message | Ephemeral | View | JSON | Blocks | None) -> str:
        """See the module-level :func:`text_of`."""
        return text_of(item)

    # -- the Web API -------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await _params(request)
        except ValueError:
            params = {}
            self.calls.append(Call(method, params, time.time(), "invalid_json"))
            return _answer({"ok": False, "error": "invalid_json"})
        token = _bearer(request) or params.pop("token", None)
        call = Call(method, params, time.time())
        self.calls.append(call)
        await self._notify()
        wait = self.delay + self.delays.get(method, 0.0)
        if wait:
            await asyncio.sleep(wait)
        refusal = self._refusal(method, include_any=True)
        if refusal is not None:
            call.outcome = f"http {refusal.status}"
            await self._notify()
            return refusal
        if not token:
            result: JSON = _err("not_authed")
        elif method in _APP_METHODS:  # app-level tokens only
            if token == self.app_token:
                result = getattr(self, _APP_METHODS[method])(params)
            else:
                bot = token == self.bot_token
                result = _err("not_allowed_token_type" if bot else "invalid_auth")
        elif token == self.app_token:
            result = _err("not_allowed_token_type")
        elif token != self.bot_token:
            result = _err("invalid_auth")
        elif method not in _METHODS:
            result = _err("unknown_method")
        else:
            result = getattr(self, _METHODS[method])(params)
        call.outcome = "ok" if result.get("ok") else str(result.get("error"))
        await self._notify()
        return _answer(result)

    def _refusal(self, method: str, *, include_any: bool) -> web.Response | None:
        if self.down:
            self.refused += 1
            return web.Response(status=503, text="Service Unavailable")
        for failure in self.failures:
            if failure.times > 0 and (failure.method == method or
                                      (include_any and failure.method == "*")):  # fmt: skip
                failure.times -= 1
                self.refused += 1
                self.failures = [f for f in self.failures if f.times > 0]
                return _failure_response(failure)
        return None

    def _auth_test(self, p: JSON) -> JSON:
        return {
            "ok": True, "url": f"https://{TEAM_DOMAIN}.slack.com/", "team": "kesu test",
            "user": self.users[self.bot_user_id]["name"], "team_id": self.team_id,
            "user_id": self.bot_user_id, "bot_id": BOT_ID, "is_enterprise_install": False,
        }  # fmt: skip

    def _chat_post_message(self, p: JSON) -> JSON:
        cid = self._channel_id(_s(p, "channel"))
        problem = self._cannot_post(cid)
        if problem or cid is None:
            return _err(problem or "channel_not_found")
        text, blocks = _s(p, "text") or "", _blocks(p)
        content_problem = _content_problem(text, blocks, p.get("attachments"))
        if content_problem:
            return content_problem
        message = Message(
            channel=cid, ts=self._ts(), text=text, blocks=_with_ids(blocks, self._seq),
            thread_ts=_s(p, "thread_ts") or None, user=self.bot_user_id, team=self.team_id,
            bot_id=BOT_ID, reply_broadcast=_flag(p.get("reply_broadcast")), params=p,
        )  # fmt: skip
        self._messages.append(message)
        self._index[(cid, message.ts)] = message
        return {"ok": True, "channel": cid, "ts": message.ts, "message": message.as_json()}

    def _chat_update(self, p: JSON) -> JSON:
        cid = _s(p, "channel")
        if cid not in self.channels:  # chat.update wants the id, never a name
            return _err("channel_not_found")
        message = self._index.get((cid, _s(p, "ts") or ""))
        if message is None or message.deleted:
            return _err("message_not_found")
        if message.bot_id != BOT_ID:
            return _err("cant_update_message")
        text, blocks = _s(p, "text"), _blocks(p)
        if text is None and blocks is None and p.get("attachments") is None:
            return _err("no_text")
        problem = _content_problem(text or message.text, blocks or message.blocks, True)
        if problem:
            return problem
        self._edit(message, text, blocks, "chat.update")
        return {"ok": True, "channel": cid, "ts": message.ts, "text": message.text,
                "message": message.as_json()}  # fmt: skip

    def _edit(self, message: Message, text: str | None, blocks: Blocks | None, via: str) -> None:
        if text is not None:
            message.text = text
        if blocks is not None:  # Slack keeps the old blocks when none are given
            message.blocks = _with_ids(blocks, self._seq)
        message.edits.append(Edit(message.text, message.blocks, self._ts(), via))

    def _chat_delete(self, p: JSON) -> JSON:
        cid = _s(p, "channel") or ""
        message = self._index.get((cid, _s(p, "ts") or ""))
        if cid not in self.channels:
            return _err("channel_not_found")
        if message is None or message.deleted:
            return _err("message_not_found")
        if message.bot_id != BOT_ID:
            return _err("cant_delete_message")
        message.deleted = True
        return {"ok": True, "channel": cid, "ts": message.ts}

    def _chat_post_ephemeral(self, p: JSON) -> JSON:
        cid = self._channel_id(_s(p, "channel"))
        problem = self._cannot_post(cid)
        if problem or cid is None:
            return _err(problem or "channel_not_found")
        user = _s(p, "user") or ""
        if user not in self.members.get(cid, []):
            return _err("user_not_in_channel")
        text, blocks = _s(p, "text") or "", _blocks(p)
        content_problem = _content_problem(text, blocks, p.get("attachments"))
        if content_problem:
            return content_problem
        ephemeral = Ephemeral(cid, user, text, blocks, _s(p, "thread_ts") or None, self._ts())
        self._ephemerals.append(ephemeral)
        return {"ok": True, "message_ts": ephemeral.message_ts}

    def _chat_get_permalink(self, p: JSON) -> JSON:
        cid = _s(p, "channel") or ""
        if cid not in self.channels:
            return _err("channel_not_found")
        message = self._index.get((cid, _s(p, "message_ts") or ""))
        if message is None or message.deleted:
            return _err("message_not_found")
        return {"ok": True, "channel": cid, "permalink": self.permalink(message)}

    def permalink(self, message: Message) -> str:
        digits = message.ts.replace(".", "")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{message.channel}/p{digits}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return link

    def _reactions_add(self, p: JSON) -> JSON:
        message = self._index.get((_s(p, "channel") or "", _s(p, "timestamp") or ""))
        if message is None or message.deleted:
            return _err("message_not_found")
        name = (_s(p, "name") or "").strip(":")
        who = message.reactions.setdefault(name, [])
        if self.bot_user_id in who:
            return _err("already_reacted")
        who.append(self.bot_user_id)
        return {"ok": True}

    def _reactions_remove(self, p: JSON) -> JSON:
        message = self._index.get((_s(p, "channel") or "", _s(p, "timestamp") or ""))
        if message is None or message.deleted:
            return _err("message_not_found")
        who = message.reactions.get((_s(p, "name") or "").strip(":"), [])
        if self.bot_user_id not in who:
            return _err("no_reaction")
        who.remove(self.bot_user_id)
        return {"ok": True}

    def _conversations_open(self, p: JSON) -> JSON:
        wanted = [u for u in (_s(p, "users") or "").split(",") if u]
        if len(wanted) != 1:  # group DMs are not emulated
            return _err("invalid_arguments" if not wanted else "not_implemented_in_fake")
        if wanted[0] not in self.users:
            return _err("user_not_found")
        return {"ok": True, "channel": {"id": self.dm(wanted[0])}}

    def _conversations_info(self, p: JSON) -> JSON:
        cid = _s(p, "channel") or ""
        if cid not in self.channels:
            return _err("channel_not_found")
        info = self.channels[cid]
        members = self.members.get(cid, [])
        is_im = bool(info.get("is_im"))
        return {"ok": True, "channel": {
            "id": cid, "name": info.get("name", cid), "is_channel": not is_im, "is_im": is_im,
            "is_private": bool(info.get("is_private")),
            "is_archived": bool(info.get("is_archived")),
            "is_member": self.bot_user_id in members, "num_members": len(members),
            "created": 1_700_000_000, "topic": {"value": ""}, "purpose": {"value": ""},
        }}  # fmt: skip

    def _conversations_members(self, p: JSON) -> JSON:
        cid = _s(p, "channel") or ""
        if cid not in self.channels:
            return _err("channel_not_found")
        members = self.members.get(cid, [])
        if self.channels[cid].get("is_private") and self.bot_user_id not in members:
            return _err("channel_not_found")  # a private channel is invisible from outside
        limit = min(int(p.get("limit") or 100), 1000) or 100
        start = _offset(_s(p, "cursor"))
        if start is None:
            return _err("invalid_cursor")
        page = members[start : start + limit]
        more = start + limit < len(members)
        cursor = _cursor(start + limit) if more else ""
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}

    def _users_info(self, p: JSON) -> JSON:
        user = self.users.get(_s(p, "user") or "")
        if user is None:
            return _err("user_not_found")
        return {"ok": True, "user": copy.deepcopy(user)}

    def _usergroups_users_list(self, p: JSON) -> JSON:
        group = _s(p, "usergroup") or ""
        if group not in self.usergroups:
            return _err("no_such_subteam")
        return {"ok": True, "users": list(self.usergroups[group])}

    # views

    def _take_trigger(self, trigger_id: str | None) -> tuple[str | None, str | None]:
        """(user, error): Slack trigger ids are single use and live 3 seconds."""
        trigger = self._triggers.get(trigger_id or "")
        if trigger is None:
            return None, "invalid_trigger_id"
        if trigger.used:
            return None, "exchanged_trigger_id"
        if self.trigger_ttl is not None and time.monotonic() - trigger.issued > self.trigger_ttl:
            return None, "expired_trigger_id"
        trigger.used = True
        return trigger.user, None

    def _views_open(self, p: JSON) -> JSON:
        spec = p.get("view")
        problems = _view_problems(spec)
        if problems or not isinstance(spec, dict):
            return _invalid_arguments(problems)
        user, error = self._take_trigger(_s(p, "trigger_id"))
        if error or user is None:
            return _err(error or "invalid_trigger_id")
        view = self._new_view(spec, "views.open", user, root=None)
        self._stacks[user] = [view.id]
        return {"ok": True, "view": view.data}

    def _views_push(self, p: JSON) -> JSON:
        spec = p.get("view")
        problems = _view_problems(spec)
        if problems or not isinstance(spec, dict):
            return _invalid_arguments(problems)
        user, error = self._take_trigger(_s(p, "trigger_id"))
        if error or user is None:
            return _err(error or "invalid_trigger_id")
        stack = [v for v in self._stacks.get(user, []) if not self._views[v].closed]
        if len(stack) >= MAX_MODAL_STACK:
            return _err("push_limit_reached")
        view = self._new_view(spec, "views.push", user, root=stack[0] if stack else None,
                              previous=stack[-1] if stack else None)  # fmt: skip
        self._stacks[user] = [*stack, view.id]
        return {"ok": True, "view": view.data}

    def _views_update(self, p: JSON) -> JSON:
        spec = p.get("view")
        problems = _view_problems(spec)
        if problems or not isinstance(spec, dict):
            return _invalid_arguments(problems)
        view = self._find_view(_s(p, "view_id"), _s(p, "external_id"))
        if view is None:
            return _err("not_found")
        given_hash = _s(p, "hash")
        if given_hash and given_hash != view.hash:
            return _err("hash_conflict")
        self._replace_view(view, spec)
        return {"ok": True, "view": view.data}

    def _views_publish(self, p: JSON) -> JSON:
        spec = p.get("view")
        user = _s(p, "user_id") or ""
        problems = _view_problems(spec)
        if isinstance(spec, dict) and spec.get("type") != "home":
            problems.append("views.publish only takes type home [json-pointer:/view/type]")
        if problems or not isinstance(spec, dict):
            return _invalid_arguments(problems)
        if user not in self.users:
            return _err("user_not_found")
        current = self.published.get(user)
        if current is None:
            current = self._new_view(spec, "views.publish", user, root=None)
            self.published[user] = current
            return {"ok": True, "view": current.data}
        given_hash = _s(p, "hash")
        if given_hash and given_hash != current.hash:
            return _err("hash_conflict")
        self._replace_view(current, spec)
        return {"ok": True, "view": current.data}

    def _find_view(self, view_id: str | None, external_id: str | None) -> View | None:
        if view_id:
            return self._views.get(view_id)
        matching = (v for v in self._views.values() if v.data.get("external_id") == external_id)
        return next(matching, None) if external_id else None

    def _new_view(self, spec: JSON, method: str, user: str | None, *, root: str | None,
                  previous: str | None = None) -> View:  # fmt: skip
        view_id = f"V{next(self._seq):08d}"
        data = self._view_data(view_id, spec, root=root or view_id, previous=previous)
        view = View(view_id, data, method, user, time.time())
        self._views[view_id] = view
        if view.type == "modal":
            self.views_opened.append(view)
        return view

    def _replace_view(self, view: View, spec: JSON) -> None:
        view.history.append(view.data)
        view.data = self._view_data(view.id, spec, root=view.data["root_view_id"],
                                    previous=view.data.get("previous_view_id"))  # fmt: skip

    def _view_data(self, view_id: str, spec: JSON, *, root: str, previous: str | None) -> JSON:
        return {
            "id": view_id, "team_id": self.team_id, "type": spec.get("type"),
            "blocks": _with_ids(spec.get("blocks") or [], self._seq) or [],
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""), "state": {"values": {}},
            "hash": f"{int(time.time())}.{next(self._seq):08x}", "title": spec.get("title"),
            "close": spec.get("close"), "submit": spec.get("submit"),
            "clear_on_close": bool(spec.get("clear_on_close")),
            "notify_on_close": bool(spec.get("notify_on_close")),
            "external_id": spec.get("external_id", ""), "root_view_id": root,
            "previous_view_id": previous, "app_id": APP_ID, "bot_id": BOT_ID,
            "app_installed_team_id": self.team_id,
        }  # fmt: skip

    # files

    def _files_get_upload_url_external(self, p: JSON) -> JSON:
        filename = _s(p, "filename")
        length = str(p.get("length") or "")
        if not filename or not length.isdigit():
            return _err("invalid_arguments")
        file = UploadedFile(f"F{next(self._seq):08d}", filename, int(length), filename,
                            self.bot_user_id, time.time())  # fmt: skip
        self.files.append(file)
        return {"ok": True, "upload_url": f"{self._base}/upload/v1/{file.id}", "file_id": file.id}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The files.slack.com upload URL: raw bytes or a multipart ``file``; no token needed."""
        file_id = request.match_info["file_id"]
        data = await _upload_body(request)
        call = Call("upload", {"file_id": file_id, "length": len(data)}, time.time())
        self.calls.append(call)
        if self.delay:
            await asyncio.sleep(self.delay)
        refusal = self._refusal("upload", include_any=False)
        file = self._file(file_id)
        if refusal is None and file is None:
            refusal = web.Response(status=404, text="Not Found")
        if refusal is not None:
            call.outcome = f"http {refusal.status}"
            await self._notify()
            return refusal
        assert file is not None
        file.data = data
        call.outcome = "ok"
        await self._notify()
        return web.Response(text=f"OK - {len(data)}")

    def _files_complete_upload_external(self, p: JSON) -> JSON:
        wanted = p.get("files")
        if not isinstance(wanted, list) or not wanted:
            return _err("invalid_arguments")
        found = [(self._file(str(w.get("id"))), w) for w in wanted if isinstance(w, dict)]
        if any(f is None or f.data is None for f, _ in found) or len(found) != len(wanted):
            return _err("file_not_found")
        targets = [c for c in [_s(p, "channel_id"), *(_s(p, "channels") or "").split(",")] if c]
        cid = self._channel_id(targets[0]) if targets else None
        if targets and (problem := self._cannot_post(cid)):
            return _err(problem)
        thread_ts = _s(p, "thread_ts") or None
        comment = _s(p, "initial_comment") or None
        ts = self._ts() if cid else None
        for file, wish in found:
            assert file is not None
            file.title = str(wish.get("title") or file.filename)
            file.channel, file.thread_ts, file.initial_comment = cid, thread_ts, comment
            file.message_ts = ts
        if cid and ts:  # the file-share message, in the thread when thread_ts was given
            message = Message(cid, ts, comment or "", None, thread_ts, self.bot_user_id,
                              self.team_id, BOT_ID, "file_share",
                              files=[f.id for f, _ in found if f])  # fmt: skip
            self._messages.append(message)
            self._index[(cid, ts)] = message
        return {"ok": True, "files": [self.file_object(f) for f, _ in found if f]}

    def _files_info(self, p: JSON) -> JSON:
        file = self._file(_s(p, "file") or "")
        if file is None or file.data is None:
            return _err("file_not_found")
        return {"ok": True, "file": self.file_object(file)}

    def _file(self, file_id: str) -> UploadedFile | None:
        return next((f for f in self.files if f.id == file_id), None)

    def add_file(self, data: bytes, filename: str, *, user: str, mimetype: str = "image/jpeg",
                 title: str | None = None) -> UploadedFile:  # fmt: skip
        """A file a person uploaded; put ``file_object(f)`` into ``message_event(files=…)``."""
        file = UploadedFile(f"F{next(self._seq):08d}", filename, len(data), title or filename,
                            user, time.time(), data, mimetype)  # fmt: skip
        self.files.append(file)
        return file

    def file_object(self, file: UploadedFile) -> JSON:
        """The file object of files.info and of message events; url_private needs the token."""
        url = f"{self._base}/files-pri/{self.team_id}-{file.id}/{urllib.parse.quote(file.filename)}"
        data: JSON = {
            "id": file.id, "created": int(file.at), "timestamp": int(file.at),
            "name": file.filename, "title": file.title, "mimetype": file.mimetype,
            "filetype": file.filename.rsplit(".", 1)[-1].lower() if "." in file.filename else "",
            "user": file.user, "size": len(file.data or b""), "mode": "hosted",
            "is_external": False, "url_private": url, "url_private_download": f"{url}?download=1",
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{file.user}/{file.id}/{file.filename}",
            "channels": [file.channel] if file.channel else [],
        }  # fmt: skip
        if file.channel and file.message_ts:
            share: JSON = {"ts": file.message_ts}
            if file.thread_ts:
                share["thread_ts"] = file.thread_ts
            data["shares"] = {"public": {file.channel: [share]}}
        return data

    async def _handle_download(self, request: web.Request) -> web.Response:
        """url_private: without the bot token Slack answers 200 with its HTML login page."""
        file = self._file(request.match_info["key"].rsplit("-", 1)[-1])
        if _bearer(request) != self.bot_token:
            return web.Response(text="<!DOCTYPE html><html>Sign in to Slack</html>",
                                content_type="text/html")  # fmt: skip
        if file is None or file.data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=file.data, content_type=file.mimetype)

    # -- helpers for the handlers ------------------------------------------------------------

    def _ts(self) -> str:
        """A message timestamp: epoch seconds, six decimals, strictly increasing."""
        now = time.time_ns() // 1000
        self._last_us = max(now, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _channel_id(self, ref: str | None) -> str | None:
        """An id, ``#name`` or ``name``, or a user id (the app's DM with them), as Slack reads
        ``channel`` in chat.postMessage and chat.postEphemeral."""
        if not ref:
            return None
        if ref in self.channels:
            return ref
        name = ref.removeprefix("#")
        for cid, info in self.channels.items():
            if info.get("name") == name and not info.get("is_im"):
                return cid
        if ref[:1] in "UW" and ref in self.users:
            return self.dm(ref)
        return None

    def _cannot_post(self, cid: str | None) -> str | None:
        if cid is None:
            return "channel_not_found"
        if self.channels[cid].get("is_archived"):
            return "is_archived"
        if self.bot_user_id not in self.members.get(cid, []):
            private = self.channels[cid].get("is_private")
            return "channel_not_found" if private else "not_in_channel"
        return None

    # -- response_url ------------------------------------------------------------------------

    def _response_url(self, user: str, channel: str | None, message_ts: str | None) -> str:
        rid = f"{next(self._seq)}"
        self._response_urls[rid] = {"user": user, "channel": channel, "message_ts": message_ts,
                                    "issued": time.monotonic(), "uses": 0}  # fmt: skip
        return f"{self._base}/response/{rid}"

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        """What bolt's ``respond()`` posts: replace/delete the original, or a new message.
        Like Slack, a URL answers 404 ``expired_url`` after ``response_url_ttl`` seconds and
        ``used_url`` after ``response_url_uses`` answers; neither shows anything."""
        rid = request.match_info["rid"]
        origin = self._response_urls.get(rid)
        if origin is None:
            return web.Response(status=404, text="no_such_url")
        if time.monotonic() - origin["issued"] >= self.response_url_ttl:
            return web.Response(status=404, text="expired_url")
        if origin["uses"] >= self.response_url_uses:
            return web.Response(status=404, text="used_url")
        origin["uses"] += 1
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        user, cid = origin["user"], origin["channel"]
        self.responses.append(Response(rid, body, time.time(), user, cid))
        original = self._index.get((cid, origin["message_ts"] or "")) if cid else None
        text, blocks = body.get("text"), body.get("blocks")
        if _flag(body.get("delete_original")) and original is not None:
            original.deleted = True
        elif _flag(body.get("replace_original")) and original is not None:
            self._edit(original, text, blocks, "response_url")
        elif body.get("response_type") == "in_channel" and cid:
            message = Message(cid, self._ts(), text or "", _with_ids(blocks, self._seq),
                              body.get("thread_ts"), self.bot_user_id, self.team_id, BOT_ID,
                              params=body)  # fmt: skip
            self._messages.append(message)
            self._index[(cid, message.ts)] = message
        elif cid:
            self._ephemerals.append(Ephemeral(cid, user, text or "", blocks, body.get("thread_ts"),
                                              self._ts(), "response_url"))  # fmt: skip
        await self._notify()
        return web.json_response({"ok": True})

    # -- the workspace talking to the app ----------------------------------------------------

    def signed_headers(self, body: bytes, ts: int | str | None = None,
                       secret: str | None = None) -> dict[str, str]:  # fmt: skip
        """``X-Slack-Signature`` and ``X-Slack-Request-Timestamp`` for ``body``; pass an old
        ``ts`` or another ``secret`` to forge."""
        stamp = str(int(time.time()) if ts is None else ts)
        key = (self.signing_secret if secret is None else secret).encode()
        digest = hmac.new(key, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": stamp}

    async def send_raw(self, body: bytes, headers: Mapping[str, str],
                       request: JSON | None = None) -> Reply:  # fmt: skip
        """POST exactly these bytes and headers to the app (for forged or replayed requests)."""
        if not self.app_events_url:
            raise AssertionError(
                "set fake.app_events_url to where the app listens, or connect the app over "
                "Socket Mode first (fake.wait_for_socket())"
            )
        if self._session is None:
            raise AssertionError("start the fake first")
        try:
            async with asyncio.timeout(self.app_timeout):
                async with self._session.post(self.app_events_url, data=body,
                                              headers=dict(headers)) as resp:  # fmt: skip
                    text = await resp.text()
                    status = resp.status
        except TimeoutError:
            return Reply(0, "", None, request or {}, timed_out=True)
        parsed: Any = None
        if text.startswith(("{", "[")):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        return Reply(status, text, parsed, request or {})

    async def _deliver(self, payload: JSON, body: bytes, content_type: str,
                       extra: Mapping[str, str] | None = None, *, kind: str | None = None,
                       retry: tuple[int, str] | None = None) -> Reply:  # fmt: skip
        """To the app over HTTP (signed ``body``), or as a ``kind`` envelope over Socket Mode
        (``events_api``, ``interactive``, ``slash_commands``; None: HTTP only)."""
        self.delivered.append(payload)
        if kind is not None and self._over_socket():
            reply = await self._send_envelope(kind, payload, retry)
        else:
            headers = {"Content-Type": content_type, "User-Agent": SLACKBOT_UA,
                       **self.signed_headers(body), **(extra or {})}  # fmt: skip
            reply = await self.send_raw(body, headers, payload)
        await self._notify()
        return reply

    async def _deliver_payload(self, payload: JSON) -> Reply:
        """Interactivity: ``payload=<urlencoded JSON>`` as a form; an ``interactive`` envelope."""
        body = urllib.parse.urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
        return await self._deliver(payload, body.encode(), "application/x-www-form-urlencoded",
                                   kind="interactive")  # fmt: skip

    async def send_event(self, event: JSON, *, event_id: str | None = None,
                         retry_num: int | None = None,
                         retry_reason: str = "http_timeout") -> Reply:  # fmt: skip
        """An Events API envelope; a retry (``retry_num``) must reuse the ``event_id``."""
        envelope: JSON = {
            "token": VERIFICATION_TOKEN, "team_id": self.team_id, "context_team_id": self.team_id,
            "context_enterprise_id": None, "api_app_id": APP_ID, "event": event,
            "type": "event_callback", "event_id": event_id or f"Ev{next(self._seq):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": self.team_id,
                                "user_id": self.bot_user_id, "is_bot": True,
                                "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
            "event_context": f"4-kesu-{event.get('type')}-{self.team_id}",
        }  # fmt: skip
        if event.get("type") == "message" and event.get("channel") and event.get("ts"):
            self._remember(event)
        extra: dict[str, str] = {}
        retry = None
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
            retry = (retry_num, retry_reason)
        body = json.dumps(envelope, ensure_ascii=False).encode()
        return await self._deliver(envelope, body, "application/json", extra, kind="events_api",
                                   retry=retry)  # fmt: skip

    async def retry_event(self, reply: Reply, num: int = 1,
                          reason: str = "http_timeout") -> Reply:  # fmt: skip
        """Slack's redelivery of an event it sent before: same event_id, retry headers."""
        envelope = reply.request
        return await self.send_event(envelope["event"], event_id=envelope["event_id"],
                                     retry_num=num, retry_reason=reason)  # fmt: skip

    async def url_verification(self, challenge: str = "kesu-challenge") -> Reply:
        """HTTP mode only: Slack never sends this over Socket Mode."""
        payload = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return await self._deliver(payload, json.dumps(payload).encode(), "application/json")

    # -- Socket Mode -------------------------------------------------------------------------

    @property
    def socket_connected(self) -> bool:
        """Whether the app holds an open Socket Mode connection (not one asked to go)."""
        return bool(self._serving())

    @property
    def sockets_open(self) -> int:
        """How many Socket Mode connections the app holds now (not those asked to go)."""
        return len(self._serving())

    @property
    def envelopes_by_socket(self) -> list[int]:
        """Envelopes sent on each connection the app ever opened, oldest connection first."""
        return [s.envelopes for s in self._sockets]

    def _serving(self) -> list[_Socket]:
        return [s for s in self._sockets if not s.closed and not s.leaving]

    @property
    def sockets_opened(self) -> int:
        """How many Socket Mode connections the app has opened (reconnections count)."""
        return len(self._sockets)

    async def wait_for_socket(self, within: float = 10.0) -> None:
        """Until the app holds an open Socket Mode connection (and has had its hello)."""
        await self.wait_for(lambda: self.socket_connected, within, "a Socket Mode connection")

    async def disconnect_socket(self, reason: str | None = "refresh_requested", *,
                                grace: float = 1.0) -> None:  # fmt: skip
        """Slack's ``{"type": "disconnect", "reason": …}`` on every open connection, then the
        connection closed: by the app (slack_sdk closes it once it has a new URL from
        ``apps.connections.open``), or after ``grace`` seconds by Slack. ``reason`` None drops
        the connection without a word, as a network failure does. Returns when all are closed;
        ``wait_for_socket()`` then waits for the app to be back."""
        live = [s for s in self._sockets if not s.closed]
        if not live:
            raise AssertionError("no app is connected over Socket Mode")
        for sock in live:
            sock.leaving = True
        if reason is not None:
            message = {"type": "disconnect", "reason": reason, "debug_info": {"host": SOCKET_HOST}}
            for sock in live:
                await sock.ws.send_str(json.dumps(message))
            await self._until(lambda: all(s.closed for s in live), grace)
        for sock in live:
            if not sock.closed:
                await sock.ws.close()
        await self.wait_for(lambda: all(s.closed for s in live), grace + 1.0, "the socket closed")

    def _over_socket(self) -> bool:
        if self.transport not in TRANSPORTS:
            raise AssertionError(f"fake.transport is {self.transport!r}, not one of {TRANSPORTS}")
        if self.transport == "auto":
            return bool(self._sockets)
        return self.transport == "socket"

    def _apps_connections_open(self, p: JSON) -> JSON:
        ticket = uuid.uuid4().hex
        self._tickets[ticket] = time.time()
        ws_base = "ws" + self._base.removeprefix("http")
        return {"ok": True, "url": f"{ws_base}/link/?ticket={ticket}&app_id={APP_ID}"}

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        """The WebSocket ``apps.connections.open`` pointed at: hello, then envelopes out and
        acks in. Pings are answered by aiohttp, as slack_sdk's ping-pong check needs."""
        if request.query.get("ticket", "") not in self._tickets:
            return web.Response(status=401, text="invalid_ticket")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sock = _Socket(ws, request.query["ticket"], time.time())
        self._sockets.append(sock)
        live = sum(not s.closed for s in self._sockets)
        hello = {
            "type": "hello", "num_connections": live,
            "debug_info": {"host": SOCKET_HOST, "build_number": 1,
                           "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }  # fmt: skip
        try:
            await ws.send_str(json.dumps(hello))
            await self._notify()
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    self._on_ack(frame.data)
        finally:
            sock.closed = True
            await self._notify()
        return ws

    def _on_ack(self, raw: str) -> None:
        """``{"envelope_id": …, "payload": {…}?}``: slack_sdk's SocketModeResponse."""
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            message = {"unparsable": raw}
        self.acks.append(message)
        waiting = self._pending.get(str(message.get("envelope_id")))
        if waiting is not None and not waiting.done():
            waiting.set_result(message)

    async def _send_envelope(self, kind: str, payload: JSON,
                             retry: tuple[int, str] | None) -> Reply:  # fmt: skip
        """One envelope on the app's next connection in turn; the ack, as a ``Reply``."""
        if not await self._until(lambda: self.socket_connected, self.app_timeout):
            raise AssertionError(
                f"no app connected over Socket Mode within {self.app_timeout:g}s to take "
                f"this {kind} payload"
            )
        serving = self._serving()
        sock = serving[self._turn % len(serving)]
        self._turn += 1
        sock.envelopes += 1
        envelope_id = str(uuid.uuid4())
        envelope: JSON = {
            "envelope_id": envelope_id, "payload": payload, "type": kind,
            "accepts_response_payload": kind == "slash_commands"
            or payload.get("type") in ("view_submission", "block_suggestion"),
        }  # fmt: skip
        if kind == "events_api":
            envelope["retry_attempt"], envelope["retry_reason"] = retry or (0, "")
        waiting: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = waiting
        try:
            await sock.ws.send_str(json.dumps(envelope, ensure_ascii=False))
            async with asyncio.timeout(self.app_timeout):
                ack = await waiting
        except TimeoutError:
            return Reply(0, "", None, payload, timed_out=True, via="socket",
                         envelope_id=envelope_id)  # fmt: skip
        finally:
            self._pending.pop(envelope_id, None)
        answer = ack.get("payload")
        body = "" if answer is None else json.dumps(answer, ensure_ascii=False)
        return Reply(200, body, answer, payload, via="socket", envelope_id=envelope_id)

    def _remember(self, event: JSON) -> None:
        """People's messages exist in Slack too: permalinks and reactions can point at them."""
        key = (str(event["channel"]), str(event["ts"]))
        if key not in self._index:
            self._index[key] = Message(
                key[0], key[1], str(event.get("text") or ""), event.get("blocks"),
                event.get("thread_ts"), str(event.get("user") or ""), self.team_id,
                event.get("bot_id"), event.get("subtype"),
                files=[str(f.get("id")) for f in event.get("files") or []],
            )  # fmt: skip

    def message_event(self, channel: str, user: str, text: str, *,
                      thread_ts: str | None = None, ts: str | None = None,
                      files: Iterable[UploadedFile | JSON] | None = None,
                      bot_id: str | None = None, subtype: str | None = None) -> JSON:  # fmt: skip
        """A ``message`` event as a person (or another bot, with ``bot_id``) posts it."""
        cid = self._channel_id(channel) or channel
        stamp = ts or self._ts()
        event: JSON = {
            "type": "message", "channel": cid, "user": user, "text": text, "ts": stamp,
            "event_ts": stamp, "team": self.team_id, "channel_type": _channel_type(cid),
        }  # fmt: skip
        if bot_id is None:
            event["client_msg_id"] = f"cmid-{next(self._seq)}"
            section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
            block_id = f"rt{next(self._seq)}"
            event["blocks"] = [{"type": "rich_text", "block_id": block_id, "elements": [section]}]
        else:
            event["bot_id"] = bot_id
        if thread_ts:
            event["thread_ts"] = thread_ts
            parent = self._index.get((cid, thread_ts))
            if parent is not None:
                event["parent_user_id"] = parent.user
        if files:
            event["files"] = [self.file_object(f) if isinstance(f, UploadedFile) else f
                              for f in files]  # fmt: skip
            event["upload"] = False
            subtype = subtype or "file_share"
        if subtype:
            event["subtype"] = subtype
        return event

    def join(self, channel: str, user: str) -> JSON:
        """``user`` joins ``channel``: the membership changes now; returns the
        ``member_joined_channel`` event Slack sends about it (send it with ``send_event``)."""
        cid = self._channel_id(channel) or channel
        if user not in self.members.setdefault(cid, []):
            self.members[cid].append(user)
        return self._membership_event("member_joined_channel", cid, user)

    def leave(self, channel: str, user: str) -> JSON:
        """``user`` leaves ``channel``; returns the ``member_left_channel`` event."""
        cid = self._channel_id(channel) or channel
        if user in self.members.get(cid, []):
            self.members[cid].remove(user)
        return self._membership_event("member_left_channel", cid, user)

    def _membership_event(self, kind: str, cid: str, user: str) -> JSON:
        private = self.channels.get(cid, {}).get("is_private")
        return {"type": kind, "user": user, "channel": cid, "channel_type": "G" if private else "C",
                "team": self.team_id, "event_ts": self._ts()}  # fmt: skip

    def app_home_opened(self, user: str) -> JSON:
        event: JSON = {"type": "app_home_opened", "user": user, "channel": self.dm(user),
                       "tab": "home", "event_ts": self._ts()}  # fmt: skip
        if user in self.published:
            event["view"] = copy.deepcopy(self.published[user].data)
        return event

    def _user_json(self, user: str) -> JSON:
        name = str(self.users.get(user, {}).get("name", user))
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def _team_json(self) -> JSON:
        return {"id": self.team_id, "domain": TEAM_DOMAIN}

    def _channel_json(self, cid: str) -> JSON:
        return {"id": cid, "name": str(self.channels.get(cid, {}).get("name", cid))}

    async def click(self, user: str, action_id: str, value: str | None = None, *,
                    message: Message | Ephemeral | JSON | None = None,
                    channel: str | None = None, block_id: str | None = None,
                    trigger_id: str | None = None,
                    container_ts: str | None = None,
                    selected: str | None = None) -> Reply:  # fmt: skip
        """A person presses a button on a message. With ``message``, the button must be on it
        (its value, label and block_id are read from there); without, the click is forged.
        ``selected`` picks that option's value in a select menu instead."""
        blocks, msg_json, cid, ts, ephemeral = self._click_target(message, channel, container_ts)
        button = _find_element(blocks, action_id)
        if message is not None and button is None:
            found = [a for _, a in _elements(blocks)]
            raise AssertionError(f"no button {action_id!r} on that message; there are {found}")
        block, element = button or ({}, {})
        action: JSON = {
            "action_id": action_id, "block_id": block_id or block.get("block_id", "forged"),
            "text": element.get("text", {"type": "plain_text", "text": action_id, "emoji": True}),
            "value": value if value is not None else element.get("value", ""),
            "type": element.get("type", "button"), "action_ts": self._ts(),
        }  # fmt: skip
        if "style" in element:
            action["style"] = element["style"]
        if selected is not None:
            options = [o for o in element.get("options", []) if o.get("value") == selected]
            if message is not None and not options:
                raise AssertionError(f"no option {selected!r} in menu {action_id!r}")
            action.pop("value")
            action["type"] = element.get("type", "static_select")
            action["selected_option"] = (
                options[0]
                if options
                else {"text": {"type": "plain_text", "text": selected}, "value": selected}
            )
        container: JSON = {"type": "message", "message_ts": ts, "channel_id": cid,
                           "is_ephemeral": ephemeral}  # fmt: skip
        payload: JSON = {
            "type": "block_actions", "user": self._user_json(user), "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN, "container": container,
            "trigger_id": self._trigger(user, trigger_id), "team": self._team_json(),
            "enterprise": None, "is_enterprise_install": False,
            "channel": self._channel_json(cid), "state": {"values": {}},
            "response_url": self._response_url(user, cid, None if ephemeral else ts),
            "actions": [action],
        }  # fmt: skip
        if msg_json is not None:
            payload["message"] = msg_json
        return await self._deliver_payload(payload)

    def _click_target(self, message: Message | Ephemeral | JSON | None, channel: str | None,
                      container_ts: str | None,
                      ) -> tuple[Blocks, JSON | None, str, str, bool]:  # fmt: skip
        if isinstance(message, Message):
            return message.blocks or [], message.as_json(), message.channel, message.ts, False
        if isinstance(message, Ephemeral):  # Slack sends no message body for ephemerals
            return message.blocks or [], None, message.channel, message.message_ts, True
        if isinstance(message, dict):
            cid = self._channel_id(channel) or channel or ""
            return list(message.get("blocks") or []), message, cid, str(message.get("ts")), False
        cid = self._channel_id(channel) or channel or ""
        return [], None, cid, container_ts or self._ts(), False

    def _trigger(self, user: str, given: str | None) -> str:
        if given is None:
            return self.new_trigger(user)
        self._triggers.setdefault(given, _Trigger(user, time.monotonic()))
        return given

    async def click_in_view(self, user: str, action_id: str, value: str | None,
                            view: View) -> Reply:  # fmt: skip
        """A button inside a modal or the App Home (container type ``view``)."""
        button = _find_element(view.blocks, action_id)
        if button is None:
            found = [a for _, a in _elements(view.blocks)]
            raise AssertionError(f"no button {action_id!r} in view {view.id}; there are {found}")
        block, element = button
        action: JSON = {
            "action_id": action_id, "block_id": block.get("block_id"),
            "text": element.get("text"), "type": element.get("type", "button"),
            "value": value if value is not None else element.get("value", ""),
            "action_ts": self._ts(),
        }  # fmt: skip
        payload: JSON = {
            "type": "block_actions", "user": self._user_json(user), "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view.id},
            "trigger_id": self.new_trigger(user), "team": self._team_json(),
            "enterprise": None, "is_enterprise_install": False,
            "view": copy.deepcopy(view.data), "actions": [action],
        }  # fmt: skip
        return await self._deliver_payload(payload)

    async def shortcut(self, user: str, callback_id: str, message: Message | JSON,
                       channel: str | None = None) -> Reply:  # fmt: skip
        """A message shortcut (``message_action``) on ``message``."""
        if isinstance(message, Message):
            msg_json, cid = message.as_json(), message.channel
        else:
            msg_json, cid = message, self._channel_id(channel) or channel or ""
        ts = str(msg_json.get("ts"))
        payload: JSON = {
            "type": "message_action", "token": VERIFICATION_TOKEN, "action_ts": self._ts(),
            "team": self._team_json(), "user": self._user_json(user),
            "channel": self._channel_json(cid), "is_enterprise_install": False,
            "enterprise": None, "callback_id": callback_id,
            "trigger_id": self.new_trigger(user),
            "response_url": self._response_url(user, cid, ts), "message_ts": ts,
            "message": msg_json,
        }  # fmt: skip
        return await self._deliver_payload(payload)

    async def command(self, user: str, text: str, *, command: str = "/kesu",
                      channel: str | None = None) -> Reply:  # fmt: skip
        """A slash command; without ``channel`` it is typed in the DM with the app."""
        cid = self._channel_id(channel) if channel else self.dm(user)
        cid = cid or channel or ""
        form = {
            "token": VERIFICATION_TOKEN, "team_id": self.team_id, "team_domain": TEAM_DOMAIN,
            "channel_id": cid, "channel_name": self._channel_json(cid)["name"],
            "user_id": user, "user_name": self._user_json(user)["name"], "command": command,
            "text": text, "api_app_id": APP_ID, "is_enterprise_install": "false",
            "response_url": self._response_url(user, cid, None),
            "trigger_id": self.new_trigger(user),
        }  # fmt: skip
        body = urllib.parse.urlencode(form).encode()
        return await self._deliver(dict(form), body, "application/x-www-form-urlencoded",
                                   kind="slash_commands")  # fmt: skip

    async def submit_view(self, user: str, view: View,
                          values: Mapping[str, Mapping[str, JSON]]) -> Reply:  # fmt: skip
        """A person presses the modal's submit button with ``values`` in its inputs.

        ``values`` is ``{block_id: {action_id: input_value("…")}}``. Slack only lets people
        submit inputs the view has, and fills every required one; so does this helper.
        The app's ``response_action`` is applied (update, push, clear; errors keeps it open).
        """
        _check_inputs(view, values)
        data = copy.deepcopy(view.data)
        data["state"] = {"values": copy.deepcopy(dict(values))}
        payload: JSON = {
            "type": "view_submission", "team": self._team_json(), "user": self._user_json(user),
            "api_app_id": APP_ID, "token": VERIFICATION_TOKEN,
            "trigger_id": self.new_trigger(user), "view": data, "response_urls": [],
            "is_enterprise_install": False, "enterprise": None,
        }  # fmt: skip
        reply = await self._deliver_payload(payload)
        if reply.ok:
            self._after_submission(user, view, reply.json if isinstance(reply.json, dict) else {})
        return reply

    def _after_submission(self, user: str, view: View, answer: JSON) -> None:
        action = answer.get("response_action")
        if action == "errors":
            return
        if action == "update" and isinstance(answer.get("view"), dict):
            self._replace_view(view, answer["view"])
        elif action == "push" and isinstance(answer.get("view"), dict):
            root = view.data.get("root_view_id")
            pushed = self._new_view(answer["view"], "response_action", user, root=root,
                                    previous=view.id)  # fmt: skip
            self._stacks.setdefault(user, []).append(pushed.id)
        elif action == "clear":
            for view_id in self._stacks.pop(user, []):
                self._views[view_id].closed = True
        else:
            view.closed = True

    async def close_view(self, user: str, view: View) -> Reply | None:
        """A person closes the modal; Slack tells the app only if ``notify_on_close``."""
        view.closed = True
        if not view.data.get("notify_on_close"):
            return None
        payload: JSON = {
            "type": "view_closed", "team": self._team_json(), "user": self._user_json(user),
            "api_app_id": APP_ID, "token": VERIFICATION_TOKEN,
            "view": copy.deepcopy(view.data), "is_cleared": False,
            "is_enterprise_install": False, "enterprise": None,
        }  # fmt: skip
        return await self._deliver_payload(payload)

    # values for submit_view

    @staticmethod
    def input_value(value: str) -> JSON:
        return {"type": "plain_text_input", "value": value}

    @staticmethod
    def select_value(value: str, text: str | None = None) -> JSON:
        option = {"text": {"type": "plain_text", "text": text or value, "emoji": True},
                  "value": value}  # fmt: skip
        return {"type": "static_select", "selected_option": option}

    @staticmethod
    def users_select(user_id: str) -> JSON:
        return {"type": "users_select", "selected_user": user_id}

    @staticmethod
    def checkboxes(values: Iterable[str]) -> JSON:
        options = [{"text": {"type": "plain_text", "text": v, "emoji": True}, "value": v}
                   for v in values]  # fmt: skip
        return {"type": "checkboxes", "selected_options": options}


# Methods that take the app-level token (xapp-…) and refuse a bot token.
_APP_METHODS: dict[str, str] = {"apps.connections.open": "_apps_connections_open"}
_METHODS: dict[str, str] = {
    "auth.test": "_auth_test",
    "chat.postMessage": "_chat_post_message",
    "chat.update": "_chat_update",
    "chat.delete": "_chat_delete",
    "chat.postEphemeral": "_chat_post_ephemeral",
    "chat.getPermalink": "_chat_get_permalink",
    "reactions.add": "_reactions_add",
    "reactions.remove": "_reactions_remove",
    "conversations.open": "_conversations_open",
    "conversations.info": "_conversations_info",
    "conversations.members": "_conversations_members",
    "users.info": "_users_info",
    "usergroups.users.list": "_usergroups_users_list",
    "views.open": "_views_open",
    "views.push": "_views_push",
    "views.update": "_views_update",
    "views.publish": "_views_publish",
    "files.getUploadURLExternal": "_files_get_upload_url_external",
    "files.completeUploadExternal": "_files_complete_upload_external",
    "files.info": "_files_info",
}


# -- text of a message, for assertions -------------------------------------------------------

_SKIP_KEYS = frozenset({"options", "option_groups", "accessibility_label", "alt_text"})


def text_of(item: Message | Ephemeral | View | JSON | Blocks | None) -> str:
    """Everything a person reads in a message, view or block list, one piece per line: the
    fallback ``text``, headers, sections and fields, context, button labels, input labels."""
    parts: list[str] = []
    if isinstance(item, Message | Ephemeral):
        parts.append(item.text)
        _collect(item.blocks or [], parts)
    elif isinstance(item, View):
        _collect([item.data.get("title"), item.blocks], parts)
    elif isinstance(item, dict) and ("blocks" in item or isinstance(item.get("text"), str)):
        if isinstance(item.get("title"), dict):
            _collect(item["title"], parts)
        if isinstance(item.get("text"), str):
            parts.append(item["text"])
        _collect(item.get("blocks") or [], parts)
    elif item is not None:
        _collect(item, parts)
    return "\n".join(p for p in parts if p)


def _collect(node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for child in node:
            _collect(child, parts)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in TEXT_OBJECTS or (kind == "text" and isinstance(node.get("text"), str)):
        parts.append(str(node.get("text", "")))
        return
    if kind == "link":
        parts.append(str(node.get("text") or node.get("url", "")))
        return
    if kind in ("user", "usergroup", "channel"):
        target = node.get("user_id") or node.get("usergroup_id") or node.get("channel_id")
        parts.append(f"<@{target}>")
        return
    if kind == "emoji":
        parts.append(f":{node.get('name')}:")
        return
    for key, child in node.items():
        if key not in _SKIP_KEYS and isinstance(child, dict | list):
            _collect(child, parts)


# -- Block Kit and view checks (the limits Slack enforces) -----------------------------------


def _text_problems(obj: Any, limit: int, where: str, *, plain: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in TEXT_OBJECTS:
        return [f"must be a text object [json-pointer:{where}]"]
    if plain and obj["type"] != "plain_text":
        return [f"must be plain_text [json-pointer:{where}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def _element_problems(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or not element.get("type"):
        return [f"missing required field: type [json-pointer:{where}]"]
    problems: list[str] = []
    if len(str(element.get("action_id", ""))) > 255:
        problems.append(f"must be less than 256 characters [json-pointer:{where}/action_id]")
    kind = element["type"]
    if kind == "button":
        problems += _text_problems(element.get("text"), 75, f"{where}/text", plain=True)
        if len(str(element.get("value", ""))) > 2000:
            problems.append(f"must be less than 2001 characters [json-pointer:{where}/value]")
    if "placeholder" in element:
        problems += _text_problems(element["placeholder"], 150, f"{where}/placeholder", plain=True)
    if kind == "plain_text_input":  # Slack: 0 ≤ min_length ≤ max_length ≤ 3000
        max_length = int(element.get("max_length", 3000))
        if not 1 <= max_length <= 3000:
            problems.append(f"must be between 1 and 3000 [json-pointer:{where}/max_length]")
        if len(str(element.get("initial_value", ""))) > max_length:
            problems.append(f"longer than max_length [json-pointer:{where}/initial_value]")
    options = element.get("options") or []
    initial = element.get("initial_option")
    if initial is not None and options and initial not in options:
        problems.append(f"initial_option is not one of the options [json-pointer:{where}]")
    if len(options) > 100:
        problems.append(f"must be less than 101 items [json-pointer:{where}/options]")
    for i, option in enumerate(options):
        here = f"{where}/options/{i}"
        opt = option if isinstance(option, dict) else {}
        problems += _text_problems(opt.get("text"), 75, here)
        if len(str(opt.get("value", ""))) > 150:
            problems.append(f"must be less than 151 characters [json-pointer:{here}/value]")
    return problems


def _section_problems(block: JSON, where: str) -> list[str]:
    problems: list[str] = []
    if "text" not in block and "fields" not in block:
        problems.append(f"must provide either text or fields [json-pointer:{where}]")
    if "text" in block:
        problems += _text_problems(block["text"], 3000, f"{where}/text")
    fields = block.get("fields") or []
    if len(fields) > 10:
        problems.append(f"must be less than 11 items [json-pointer:{where}/fields]")
    for i, item in enumerate(fields):
        problems += _text_problems(item, 2000, f"{where}/fields/{i}")
    if "accessory" in block:
        problems += _element_problems(block["accessory"], f"{where}/accessory")
    return problems


def _elements_problems(block: JSON, where: str) -> list[str]:
    """actions (up to 25 interactive elements) and context (up to 10 texts or images)."""
    kind = block["type"]
    elements = block.get("elements") or []
    most = 25 if kind == "actions" else 10
    problems: list[str] = []
    if not elements or len(elements) > most:
        problems.append(f"must have 1 to {most} elements [json-pointer:{where}/elements]")
    ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id")]
    if len(ids) != len(set(ids)):
        problems.append(f"action_ids must be unique [json-pointer:{where}/elements]")
    for i, element in enumerate(elements):
        here = f"{where}/elements/{i}"
        if kind == "actions":
            problems += _element_problems(element, here)
        elif isinstance(element, dict) and element.get("type") in TEXT_OBJECTS:
            problems += _text_problems(element, 3000, here)
    return problems


def _block_problems(block: JSON, where: str) -> list[str]:
    kind = block["type"]
    if kind == "section":
        return _section_problems(block, where)
    if kind == "header":
        return _text_problems(block.get("text"), 150, f"{where}/text", plain=True)
    if kind in ("actions", "context"):
        return _elements_problems(block, where)
    if kind == "input":
        return _text_problems(
            block.get("label"), 2000, f"{where}/label", plain=True
        ) + _element_problems(block.get("element"), f"{where}/element")
    return []


def _blocks_problems(blocks: Any, limit: int, where: str = "/blocks") -> list[str]:
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{where}]"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"must be less than {limit + 1} items [json-pointer:{where}]")
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        here = f"{where}/{i}"
        if not isinstance(block, dict) or not block.get("type"):
            problems.append(f"missing required field: type [json-pointer:{here}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if str(block_id) in seen:
                problems.append(f"duplicate block_id [json-pointer:{here}/block_id]")
            if len(str(block_id)) > 255:
                problems.append(f"must be less than 256 characters [json-pointer:{here}/block_id]")
            seen.add(str(block_id))
        problems += _block_problems(block, here)
    return problems


def _view_problems(spec: Any) -> list[str]:
    if not isinstance(spec, dict) or spec.get("type") not in ("modal", "home"):
        return ["type must be modal or home [json-pointer:/view/type]"]
    problems = _blocks_problems(spec.get("blocks") or [], MAX_VIEW_BLOCKS, "/view/blocks")
    for key, limit in (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255)):
        if len(str(spec.get(key, ""))) > limit:
            problems.append(f"must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    if spec["type"] == "modal":
        problems += _text_problems(spec.get("title"), 24, "/view/title", plain=True)
        for key in ("submit", "close"):
            if key in spec:
                problems += _text_problems(spec[key], 24, f"/view/{key}", plain=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input"
                        for b in spec.get("blocks") or [])  # fmt: skip
        if has_input and "submit" not in spec:
            problems.append("must provide submit argument when using input blocks "
                            "[json-pointer:/view/submit]")  # fmt: skip
    return problems


def _content_problem(text: str, blocks: Blocks | None, attachments: Any) -> JSON | None:
    if not text and not blocks and not attachments:
        return _err("no_text")
    if len(text) > MAX_TEXT:
        return _err("msg_too_long")
    problems = _blocks_problems(blocks, MAX_MESSAGE_BLOCKS)
    if problems:
        return {"ok": False, "error": "invalid_blocks", "errors": problems,
                "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}}  # fmt: skip
    return None


def _with_ids(blocks: Blocks | None, seq: Iterable[int]) -> Blocks | None:
    """Slack gives every block a block_id and every element an action_id the app left out."""
    if blocks is None:
        return None
    numbers = iter(seq)
    filled = copy.deepcopy(blocks)
    for block in filled:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", f"kB{next(numbers):05d}")
        for element in _interactive(block):
            element.setdefault("action_id", f"kA{next(numbers):05d}")
    return filled


def _interactive(block: JSON) -> list[JSON]:
    found: list[JSON] = []
    if block.get("type") == "actions":
        found += [e for e in block.get("elements") or [] if isinstance(e, dict)]
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            found.append(block[key])
    return [e for e in found if e.get("type") not in ("image", *TEXT_OBJECTS)]


def _elements(blocks: Blocks) -> list[tuple[JSON, str]]:
    return [(b, str(e.get("action_id"))) for b in blocks if isinstance(b, dict)
            for e in _interactive(b)]  # fmt: skip


def _find_element(blocks: Blocks, action_id: str) -> tuple[JSON, JSON] | None:
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for element in _interactive(block):
            if element.get("action_id") == action_id:
                return block, element
    return None


def _check_inputs(view: View, values: Mapping[str, Mapping[str, JSON]]) -> None:
    inputs = {str(b.get("block_id")): b for b in view.blocks if b.get("type") == "input"}
    for block_id, actions in values.items():
        block = inputs.get(block_id)
        if block is None:
            raise AssertionError(f"view {view.id} has no input block {block_id!r}: {list(inputs)}")
        action_id = (block.get("element") or {}).get("action_id")
        if set(actions) != {action_id}:
            wrong = list(actions)
            raise AssertionError(f"input {block_id!r} holds action {action_id!r}, not {wrong}")
    for block_id, block in inputs.items():
        given = next(iter(values.get(block_id, {}).values()), None)
        if not block.get("optional") and _is_empty(given):
            raise AssertionError(f"Slack does not let anyone submit without {block_id!r}")


def _is_empty(state: JSON | None) -> bool:
    """An input state with nothing typed or chosen in it."""
    if not state:
        return True
    return not any(v for k, v in state.items() if k == "value" or k.startswith("selected_"))


# -- small helpers ---------------------------------------------------------------------------


def _user_record(user_id: str, name: str, real_name: str, *, is_bot: bool = False,
                 tz: str = "Asia/Shanghai") -> JSON:  # fmt: skip
    return {
        "id": user_id, "name": name, "real_name": real_name, "deleted": False,
        "is_bot": is_bot, "tz": tz, "tz_label": tz, "tz_offset": 28_800,
        "profile": {"real_name": real_name, "display_name": name,
                    "real_name_normalized": real_name, "display_name_normalized": name},
    }  # fmt: skip


def _channel_type(cid: str) -> str:
    return {"D": "im", "G": "group"}.get(cid[:1], "channel")


def _err(error: str) -> JSON:
    return {"ok": False, "error": error}


def _invalid_arguments(problems: list[str]) -> JSON:
    return {"ok": False, "error": "invalid_arguments",
            "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}}  # fmt: skip


def _answer(result: JSON) -> web.Response:
    return web.json_response(result, headers={"X-OAuth-Scopes": SCOPES})


def _failure_response(failure: Failure) -> web.Response:
    headers = {}
    if failure.retry_after is not None or failure.status == 429:
        headers["Retry-After"] = str(failure.retry_after if failure.retry_after is not None else 1)
    if failure.error is not None:
        return web.json_response({"ok": False, "error": failure.error}, headers=headers)
    if failure.status == 429:
        return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
              504: "Gateway Timeout"}.get(failure.status, "Error")  # fmt: skip
    return web.Response(status=failure.status, text=reason, headers=headers)


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _s(params: JSON, key: str) -> str | None:
    value = params.get(key)
    return None if value is None else str(value)


def _flag(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _blocks(params: JSON) -> Blocks | None:
    blocks = params.get("blocks")
    return blocks if isinstance(blocks, list) else None


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.b64decode(cursor, validate=True).decode().partition(":")
    except ValueError:
        return None
    return int(number) if kind == "offset" and number.isdigit() else None


async def _params(request: web.Request) -> JSON:
    """Query string and body merged: slack_sdk sends ``params=`` methods in the URL."""
    params: JSON = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            raw = await request.read()
            body = json.loads(raw) if raw.strip() else {}  # ValueError: invalid_json
            if isinstance(body, dict):
                params.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                params[key] = _form_value(value)
    for key in JSON_FIELDS:
        raw_value = params.get(key)
        if isinstance(raw_value, str) and raw_value[:1] in "[{":
            # Undecodable JSON stays a string; the block and view checks then refuse it.
            with contextlib.suppress(ValueError):
                params[key] = json.loads(raw_value)
    return params


async def _upload_body(request: web.Request) -> bytes:
    if request.content_type == "multipart/form-data":
        form = await request.post()
        for value in form.values():
            if isinstance(value, web.FileField):
                return bytes(value.file.read())
        return b""
    return await request.read()


def _form_value(value: str | bytes | bytearray | web.FileField) -> str | bytes:
    if isinstance(value, web.FileField):
        return bytes(value.file.read())
    return value if isinstance(value, str) else bytes(value)


input_value = FakeSlack.input_value
select_value = FakeSlack.select_value
users_select = FakeSlack.users_select
