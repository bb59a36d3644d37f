"""An in-process Telegram Bot API over real HTTP, for the real python-telegram-bot to talk to.

It keeps the updates customers "send" (long-polled through getUpdates, dropped below the
offset as Telegram does), records everything the bot sends, and can answer 429 with
retry_after, fail with 5xx or 403, or answer slowly — on demand, per method. Parameters arrive
the way PTB sends them: form-encoded, with JSON-encoded values for structures.

Like Telegram it refuses to serve two pollers (the older waiting getUpdates ends with 409) and,
once ``setWebhook`` is called, POSTs the queued updates to the webhook instead — up to
``max_connections`` at once, so in no guaranteed order, retrying every failure until a 2xx.

Scenario tests use :class:`FakeUser`: ``await alice.says("…")``, ``await alice.taps("是")``,
``await alice.hears()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientConnectorError, ClientSession, ClientTimeout, web

BOT_ID = 7000000001
TOKEN = f"{BOT_ID}:AAkesuTestTokenForTheEmulatorOnly123"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's own words for the three ways a getUpdates request meets a conflict.
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLLER = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_SET_WEBHOOK = "Conflict: terminated by setWebhook request"


@dataclass
class Sent:
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    message_id: int
    at: float

    @property
    def buttons(self) -> list[str]:
        """Every button label: inline ones and reply-keyboard keys."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [b["text"] if isinstance(b, dict) else str(b) for row in rows for b in row]

    def inline(self, label: str) -> str | None:
        for row in (self.reply_markup or {}).get("inline_keyboard") or []:
            for b in row:
                if b["text"] == label:
                    return str(b["callback_data"])
        return None


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


@dataclass
class FakeTelegram:
    token: str = TOKEN
    url: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: dict[str, deque[Failure]] = field(default_factory=lambda: defaultdict(deque))
    delays: dict[str, float] = field(default_factory=dict)
    enforce_limits: bool = False  # answer 429 like Telegram when the bot goes too fast
    too_fast: int = 0  # sends that broke ~30/s overall or 1/s per chat
    too_fast_chat: int = 0  # of which: two messages to one chat less than a second apart
    confirmed_offset: int = 0
    webhook_url: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # file_id → content for getFile
    # The webhook, as the last setWebhook left it (deleteWebhook clears url and secret).
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    webhook_retry_delay: float = 0.2  # how long a failed update waits before its next POST
    webhook_timeout: float = 10.0  # a POST not answered by then has failed, and is retried
    # Every POST to the webhook: (update_id, HTTP status or the exception's class name).
    webhook_deliveries: list[tuple[int, int | str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(100_000)
        self._message_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._recent: deque[float] = deque()
        self._last_to_chat: dict[int, float] = {}
        self._poll: _Poll | None = None  # the getUpdates request now waiting, if any
        self._delivery: asyncio.Task[None] | None = None
        self._attempts: set[asyncio.Task[None]] = set()
        self._posting: set[int] = set()  # update_ids being POSTed: they hold a connection
        self._cooling: set[int] = set()  # update_ids that failed and wait for their retry
        self._webhook_error: tuple[int, str] | None = None  # (unix time, why) of the last failure

    # -- server ------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        port = sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._delivery = asyncio.create_task(self._deliver_forever(), name="fake-tg-webhook")
        return self.url

    async def stop(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            await asyncio.wait({self._delivery})
            self._delivery = None
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append((method, params))
        async with self._changed:
            self._changed.notify_all()
        if method in self.delays:
            await asyncio.sleep(self.delays[method])
        queue = self.failures.get(method)
        if queue:
            failure = queue.popleft()
            return _error(failure.status, failure.description, failure.retry_after)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, f"Not Found: method {method} not emulated")
        result = await handler(params)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        """The file URL getFile points at: /file/bot<token>/<file_path>."""
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        file_id = request.match_info["path"].removeprefix("files/")
        if file_id not in self.files:
            return _error(404, "Not Found")
        return web.Response(body=self.files[file_id])

    # -- Bot API methods ---------------------------------------------------------------------

    async def _api_getFile(self, params: dict[str, Any]) -> Any:  # noqa: N802
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files[file_id]), "file_path": f"files/{file_id}"}  # fmt: skip

    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "kesu",
            "username": "kesu_test_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:  # noqa: N802
        """Long polling; a newer request ends a still-waiting older one with 409, as Telegram."""
        if self.webhook_url:
            return _error(409, CONFLICT_WEBHOOK)
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if "allowed_updates" in params:  # Telegram keeps one setting for polls and webhook
            self.allowed_updates = params["allowed_updates"]
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        async with self._changed:
            self._end_poll(CONFLICT_POLLER)
            poll = self._poll = _Poll()
            try:
                while not self.updates and poll.ended_by is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        await asyncio.wait_for(self._changed.wait(), left)
                    except TimeoutError:
                        break
            finally:
                if self._poll is poll:  # answered: asking again now is no conflict
                    self._poll = None
        if poll.ended_by is not None:
            return _error(409, poll.ended_by)
        return self.updates[:limit]

    def _end_poll(self, why: str) -> None:
        """Make the waiting getUpdates answer 409 now (call with ``_changed`` held)."""
        if self._poll is not None:
            self._poll.ended_by = why
            self._poll = None
            self._changed.notify_all()

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:  # noqa: N802
        """Back to getUpdates: queued updates stay for it unless drop_pending_updates."""
        self.webhook_url = None
        self.secret_token = None
        if _flag(params.get("drop_pending_updates")):
            self.updates.clear()
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:  # noqa: N802
        """From now on updates are POSTed to ``url`` (an empty url removes the webhook)."""
        self.webhook_url = str(params.get("url") or "") or None
        secret = params.get("secret_token")
        self.secret_token = str(secret) if secret else None
        self.max_connections = max(1, int(params.get("max_connections") or 40))
        if "allowed_updates" in params:  # absent: Telegram keeps the previous setting
            self.allowed_updates = params["allowed_updates"]
        if _flag(params.get("drop_pending_updates")):
            self.updates.clear()
        async with self._changed:
            if self.webhook_url:
                self._end_poll(CONFLICT_SET_WEBHOOK)
            self._changed.notify_all()  # the delivery task starts at once
        return True

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        info: dict[str, Any] = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        if self.webhook_url:
            info["max_connections"] = self.max_connections
            if self.allowed_updates is not None:
                info["allowed_updates"] = self.allowed_updates
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    # -- webhook delivery --------------------------------------------------------------------

    async def _deliver_forever(self) -> None:
        """Telegram's side of a webhook: POST whatever is queued, never dropping an update.

        Runs from start() to stop(). It also looks every 0.1 s, so a test that sets
        ``webhook_url`` or appends to ``updates`` directly is served too.
        """
        async with ClientSession() as session:
            try:
                async with self._changed:
                    while True:
                        for update in self._due():
                            uid = int(update["update_id"])
                            self._posting.add(uid)
                            task = asyncio.create_task(
                                self._attempt(session, str(self.webhook_url), update)
                            )
                            self._attempts.add(task)
                            task.add_done_callback(self._attempts.discard)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._changed.wait(), 0.1)
            finally:
                attempts = set(self._attempts)
                for task in attempts:
                    task.cancel()
                if attempts:
                    await asyncio.wait(attempts)

    def _due(self) -> list[dict[str, Any]]:
        """Queued updates to POST now: none being POSTed or cooling, within max_connections."""
        if not self.webhook_url:
            return []
        room = max(1, self.max_connections) - len(self._posting)
        if room <= 0:
            return []
        busy = self._posting | self._cooling
        return [u for u in self.updates if u["update_id"] not in busy][:room]

    async def _attempt(self, session: ClientSession, url: str, update: dict[str, Any]) -> None:
        """One POST of one update; a failure cools down, then the update is due again."""
        uid = int(update["update_id"])
        try:
            outcome = await self._post(session, url, update)
        finally:
            self._posting.discard(uid)
        self.webhook_deliveries.append((uid, outcome))
        delivered = isinstance(outcome, int) and 200 <= outcome < 300
        if delivered:
            self.updates[:] = [u for u in self.updates if u["update_id"] != uid]
        else:
            self._cooling.add(uid)
        async with self._changed:
            self._changed.notify_all()
        if delivered:
            return
        try:
            await asyncio.sleep(self.webhook_retry_delay)
        finally:
            self._cooling.discard(uid)
        async with self._changed:
            self._changed.notify_all()

    async def _post(self, session: ClientSession, url: str, update: dict[str, Any]) -> int | str:
        """The HTTP status, or the name of the exception that stood for an answer."""
        headers = {SECRET_HEADER: self.secret_token} if self.secret_token else {}
        timeout = ClientTimeout(total=self.webhook_timeout)
        try:
            async with session.post(url, json=update, headers=headers, timeout=timeout) as r:
                await r.read()
        except Exception as exc:  # a bad URL too: Telegram just keeps trying
            self._webhook_error = (int(time.time()), _why_failed(exc))
            return type(exc).__name__
        if not 200 <= r.status < 300:
            message = f"Wrong response from the webhook: {r.status} {r.reason}"
            self._webhook_error = (int(time.time()), message)
        return r.status

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:  # noqa: N802
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:  # noqa: N802
        return True

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        chat_id = int(params["chat_id"])
        text = str(params.get("text", ""))
        if not text:
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:  # Telegram counts UTF-16 code units
            return _error(400, "Bad Request: message is too long")
        now = time.monotonic()
        if self._breaks_limits(chat_id, now):
            self.too_fast += 1
            if self.enforce_limits:
                return _error(429, "Too Many Requests: retry after 1", 1)
        self._recent.append(now)
        self._last_to_chat[chat_id] = now
        sent = Sent(chat_id, text, params.get("reply_markup"), next(self._message_ids), now)
        self.sent.append(sent)
        async with self._changed:
            self._changed.notify_all()
        return self._bot_message(sent)

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:  # noqa: N802
        sent = Sent(
            int(params["chat_id"]), str(params["text"]), params.get("reply_markup"),
            int(params["message_id"]), time.monotonic(),
        )  # fmt: skip
        return self._bot_message(sent)

    def _breaks_limits(self, chat_id: int, now: float) -> bool:
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        per_chat = now - self._last_to_chat.get(chat_id, -10.0) < 0.95
        self.too_fast_chat += per_chat
        return len(self._recent) >= 30 or per_chat

    def _bot_message(self, sent: Sent) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "kesu"},
            "text": sent.text,
        }
        if sent.reply_markup and "inline_keyboard" in sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message

    # -- the customer's side -----------------------------------------------------------------

    def user(self, user_id: int, name: str = "Alice", language: str | None = "zh-hans") -> FakeUser:
        return FakeUser(self, user_id, name, language)

    async def push(self, update: dict[str, Any]) -> int:
        """Deliver an update (as Telegram would to getUpdates); returns its update_id."""
        update.setdefault("update_id", next(self._ids))
        self.updates.append(update)
        async with self._changed:
            self._changed.notify_all()
        return int(update["update_id"])

    def to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    async def wait_for(self, predicate: Any, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        async with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the emulator waited in vain")
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    continue

    def method_calls(self, method: str) -> list[dict[str, Any]]:
        return [p for m, p in self.calls if m == method]


class FakeUser:
    """One customer in a private chat with the bot."""

    def __init__(self, tg: FakeTelegram, user_id: int, name: str, language: str | None) -> None:
        self.tg = tg
        self.id = user_id
        self.name = name
        self.language = language
        self.read = 0  # how many of the bot's messages to this chat the test has looked at

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.name}
        if self.language:
            data["language_code"] = self.language
        return data

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message": {
                "message_id": next(self.tg._message_ids),
                "date": int(time.time()),
                "chat": {"id": self.id, "type": "private", "first_name": self.name},
                "from": self.json,
                **content,
            }
        }

    async def says(self, text: str) -> int:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return await self.tg.push(self._message(**content))

    async def sends_photo(self, caption: str | None = None) -> int:
        photo = [
            {"file_id": f"small-{self.id}", "file_unique_id": "s", "width": 90, "height": 90,
             "file_size": 1200},
            {"file_id": f"big-{self.id}", "file_unique_id": "b", "width": 1280, "height": 960,
             "file_size": 204_800},
        ]  # fmt: skip
        content: dict[str, Any] = {"photo": photo}
        if caption:
            content["caption"] = caption
        return await self.tg.push(self._message(**content))

    async def sends_document(self, name: str = "receipt.pdf", size: int = 52_000) -> int:
        document = {"file_id": f"doc-{self.id}", "file_unique_id": "d", "file_name": name,
                    "mime_type": "application/pdf", "file_size": size}  # fmt: skip
        return await self.tg.push(self._message(document=document))

    async def sends_sticker(self) -> int:
        sticker = {"file_id": "stk", "file_unique_id": "k", "type": "regular", "width": 512,
                   "height": 512, "is_animated": False, "is_video": False}  # fmt: skip
        return await self.tg.push(self._message(sticker=sticker))

    async def shares_contact(self, phone: str) -> int:
        contact = {"phone_number": phone, "first_name": self.name, "user_id": self.id}
        return await self.tg.push(self._message(contact=contact))

    async def shares_card(self, phone: str, name: str, user_id: int | None) -> int:
        """Someone else's contact card: a Telegram user's, or (``user_id`` None) a phone-book
        entry, which Telegram sends without ``user_id``."""
        contact: dict[str, Any] = {"phone_number": phone, "first_name": name}
        if user_id is not None:
            contact["user_id"] = user_id
        return await self.tg.push(self._message(contact=contact))

    async def taps(self, label: str) -> int:
        """Press a button of the bot's latest message that has it (inline or keyboard key)."""
        for sent in reversed(self.tg.to(self.id)):
            data = sent.inline(label)
            if data is not None:
                return await self.presses(data, sent)
            if label in sent.buttons:  # a reply-keyboard key just sends its label
                return await self.says(label)
        raise AssertionError(f"no button {label!r} in the bot's messages to {self.name}")

    async def presses(self, data: str, sent: Sent | None = None) -> int:
        """A callback with any data (also forged data no button carries)."""
        message = self.tg._bot_message(sent) if sent else {
            "message_id": 1, "date": int(time.time()),
            "chat": {"id": self.id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "kesu"}, "text": "…",
        }  # fmt: skip
        query = {
            "id": f"cbq-{next(self.tg._ids)}",
            "from": self.json,
            "chat_instance": f"ci-{self.id}",
            "data": data,
            "message": message,
        }
        return await self.tg.push({"callback_query": query})

    async def hears(self, count: int = 1, within: float = 15.0) -> str:
        """The next ``count`` messages the bot sent this customer, joined by blank lines."""
        target = self.read + count
        await self.tg.wait_for(lambda: len(self.tg.to(self.id)) >= target, within)
        new = self.tg.to(self.id)[self.read : target]
        self.read = target
        return "\n\n".join(s.text for s in new)

    @property
    def last(self) -> Sent:
        return self.tg.to(self.id)[self.read - 1]

    async def hears_nothing_more(self, wait: float = 1.0) -> None:
        await asyncio.sleep(wait)
        extra = self.tg.to(self.id)[self.read :]
        assert not extra, [s.text for s in extra]


@dataclass
class _Poll:
    """A getUpdates request that is waiting; a newer request or setWebhook sets ``ended_by``."""

    ended_by: str | None = None


def _flag(value: Any) -> bool:
    """A boolean parameter, sent as JSON ``true`` in a form or as a real bool in JSON."""
    return value is True or str(value).lower() in {"true", "1"}


def _why_failed(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "Read timeout expired"
    if isinstance(exc, ClientConnectorError):
        return "Connection refused"
    return f"{type(exc).__name__}: {exc}"


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        if isinstance(value, str) and value[:1] in "[{":
            try:
                params[key] = json.loads(value)
                continue
            except ValueError:
                pass
        params[key] = value
    return params


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)
