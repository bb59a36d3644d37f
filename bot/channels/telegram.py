"""Telegram through python-telegram-bot: the only module that imports ``telegram``.

It translates and nothing else. Inbound, an update is stored in kesu's inbox before Telegram
hears it arrived: the polling loop (kesu's own, on PTB's ``Bot``) moves getUpdates' offset past
a batch only once the batch is committed, and the webhook (kesu's own aiohttp route) answers
200 only once the update is committed, an error status otherwise so Telegram delivers it
again. PTB's Updater confirms a batch before it is handled and its webhook server answers on
receipt: both would lose what a ``kill -9`` caught in memory. Processing comes from the inbox
(:class:`TelegramProcessor`): an update becomes an IncomingMessage for the dispatcher.
Outbound, an outbox payload becomes a sendMessage call.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import warnings
from collections.abc import Callable
from typing import Any

# PTB 22 is moving time periods from int to timedelta and warns on every int access unless
# told to use timedelta already (RetryAfter.retry_after is read on every 429).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from datetime import timedelta

from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import MessageLimit
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest

from bot.channels.base import ChannelError
from bot.dispatcher import Dispatcher
from bot.inbox import After, Inbound, Inbox
from bot.messages import Attachment, IncomingMessage, OutgoingMessage
from bot.outbox import Limits, SendResult
from bot.web import WebServer
from storage.repositories import Tx
from storage.schema import Row

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the token.
logging.getLogger("httpx").setLevel(logging.WARNING)
# The polling loop asks for the raw updates on purpose: they are stored as Telegram sent them
# and parsed once, when processed (Bot.get_updates parses them, and logs a payload it cannot
# parse, names and phone numbers included, at CRITICAL).
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'")

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_BACKOFF_MAX = 60.0  # seconds between getUpdates tries while Telegram fails
STORE_RETRY_MAX = 5.0  # seconds between tries to store a batch: back soon after an outage
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove

COMMANDS = {
    "zh": [
        ("new", "新的投诉"),
        ("status", "查询进度"),
        ("cancel", "取消当前登记"),
        ("language", "切换语言 / Language"),
        ("help", "帮助"),
    ],
    "en": [
        ("new", "New complaint"),
        ("status", "See progress"),
        ("cancel", "Cancel what you are entering"),
        ("language", "Language / 语言"),
        ("help", "Help"),
    ],
}


class TelegramChannel:
    channel = CHANNEL
    # Telegram: about 30 messages a second overall, one a second per chat. 29 leaves room for
    # network jitter bunching requests on arrival, so flood control never trips.
    limits = Limits(per_second=29.0, per_chat_interval=1.0)

    def __init__(
        self,
        token: str,
        dispatcher: Dispatcher,
        inbox: Inbox,
        *,
        web_server: WebServer | None = None,
        base_url: str = "https://api.telegram.org",
        concurrency: int = 32,
        poll_timeout: float = 30.0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_listen: str = "0.0.0.0",  # noqa: S104 (a webhook server listens publicly)
        webhook_port: int = 8443,
        limits: Limits | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.inbox = inbox
        self.limits = limits or TelegramChannel.limits
        self.poll_timeout = poll_timeout
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_listen = webhook_listen
        self.webhook_port = webhook_port
        self.on_fatal: Callable[[BaseException], None] = _raise
        base = self.base_url = base_url.rstrip("/")
        # The pool must hold every request in flight, or sends wait for a connection and
        # time out (PTB's default pool is 1).
        request = HTTPXRequest(
            connection_pool_size=concurrency + 8,
            connect_timeout=10.0,
            read_timeout=20.0,
            write_timeout=20.0,
            pool_timeout=30.0,
        )
        updates_request = HTTPXRequest(connection_pool_size=2, read_timeout=10.0)
        self.bot = Bot(
            token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=request,
            get_updates_request=updates_request,
        )
        self._poller: asyncio.Task[None] | None = None
        inbox.handlers[CHANNEL] = TelegramProcessor(self)
        if webhook_url:
            if web_server is None:
                raise ChannelError("Telegram's webhook mode needs kesu's web server")
            if not webhook_secret:
                raise ChannelError("webhook mode needs KESU_TELEGRAM_WEBHOOK_SECRET")
            web_server.post(webhook_listen, webhook_port, WEBHOOK_PATH, self._on_webhook)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.bot.initialize()  # getMe: a wrong token fails here, loudly
        except TelegramError as exc:
            await self.bot.shutdown()  # PTB leaves its HTTP clients open when getMe fails
            if isinstance(exc, InvalidToken):
                raise ChannelError(
                    f"Telegram refused the bot token (KESU_TELEGRAM_TOKEN): {exc.message}; "
                    "check it with @BotFather"
                ) from exc
            if isinstance(exc, NetworkError):
                raise ChannelError(
                    f"cannot reach the Telegram Bot API at {self.base_url}: {exc.message}"
                ) from exc
            raise
        await self._register_commands()
        if self.webhook_url:
            await self.bot.set_webhook(
                url=self.webhook_url,
                secret_token=self.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("telegram: webhook %s (served on %s:%s)", self.webhook_url,
                     self.webhook_listen, self.webhook_port)  # fmt: skip
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._poller = asyncio.create_task(self._poll())
            log.info("telegram: long polling")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
            except Exception:  # noqa: S110 (ended badly: logged where it happened)
                pass
            self._poller = None
        await self.bot.shutdown()

    async def _register_commands(self) -> None:
        """The command menu, in Chinese by default and in English for English clients."""
        try:
            zh = [BotCommand(c, d) for c, d in COMMANDS["zh"]]
            en = [BotCommand(c, d) for c, d in COMMANDS["en"]]
            await self.bot.set_my_commands(zh)
            await self.bot.set_my_commands(en, language_code="en")
        except TelegramError as exc:  # a menu is a convenience: never a reason not to start
            log.warning("telegram: could not register the command menu: %s", exc)

    # -- inbound -----------------------------------------------------------------------------

    async def _poll(self) -> None:
        """getUpdates in a loop; the offset moves past a batch only once it is committed. It
        starts without an offset at every start (the inbox recognises what it stored before)."""
        offset: int | None = None
        failures = 0
        while True:
            params: dict[str, Any] = {
                "timeout": int(self.poll_timeout),
                "limit": 100,
                "allowed_updates": ALLOWED_UPDATES,
            }
            if offset is not None:
                params["offset"] = offset
            try:
                raw: Any = await self.bot.do_api_request(
                    "getUpdates", api_kwargs=params, read_timeout=self.poll_timeout + 10
                )
            except Conflict as exc:
                self.on_fatal(
                    ChannelError(
                        "another process is polling this Telegram bot (getUpdates answered "
                        f"409 Conflict: {exc.message}); run one poller per bot token, or use "
                        "webhook mode for several instances"
                    )
                )
                return
            except InvalidToken as exc:
                self.on_fatal(ChannelError(f"Telegram refused the bot token: {exc.message}"))
                return
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except Exception as exc:  # network, 5xx, a bug: Telegram keeps the updates
                failures += 1
                wait = min(POLL_BACKOFF_MAX, 0.5 * 2**failures)
                log.warning("telegram: getUpdates failed (%s: %s); again in %.1f s",
                            type(exc).__name__, exc, wait)  # fmt: skip
                await asyncio.sleep(wait)
                continue
            if not isinstance(raw, list):
                raw = []
            batch = [u for u in raw if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
            if not batch:
                failures = 0
                continue
            ids = [u["update_id"] for u in batch]
            try:
                await self.inbox.receive([inbound(u) for u in batch])
            except Exception as exc:
                failures += 1
                wait = min(STORE_RETRY_MAX, 0.5 * 2**failures)
                log.error(
                    "telegram: updates %s–%s could not be stored (%s: %s); not confirmed to "
                    "Telegram, which keeps them (24 h); fetching them again in %.1f s",
                    min(ids), max(ids), type(exc).__name__, exc, wait,
                )  # fmt: skip
                log.debug("store failure", exc_info=True)
                await asyncio.sleep(wait)
                continue
            failures = 0
            offset = max(ids) + 1

    async def _on_webhook(self, request: web.Request) -> web.Response:
        """200 once the update is committed; 403 without the secret; 503 when it could not be
        stored, so Telegram delivers it again."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), (self.webhook_secret or "").encode()):
            log.warning("telegram: webhook call without the right secret from %s: refused",
                        request.remote)  # fmt: skip
            return web.Response(status=403, text="forbidden")
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            log.warning("telegram: webhook body is not an update: refused with 400")
            return web.Response(status=400, text="not an update")
        try:
            await self.inbox.receive([inbound(data)])
        except Exception as exc:
            log.error(
                "telegram: update %s could not be stored (%s: %s); answered 503 so Telegram "
                "delivers it again", data["update_id"], type(exc).__name__, exc,
            )  # fmt: skip
            log.debug("store failure", exc_info=True)
            return web.Response(status=503, text="not stored, deliver again")
        return web.Response(text="ok")

    # -- outbound ----------------------------------------------------------------------------

    async def download(self, item: Attachment) -> bytes:
        """A customer's file by its id (getFile, then the file URL), for the staff thread.
        The Bot API serves files up to 20 MB; bigger ones raise and stay on the case."""
        file = await self.bot.get_file(item.file_id)
        return bytes(await file.download_as_bytearray())

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
        chunks = split_text(message.text)
        try:
            sent: Message | None = None
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                sent = await self.bot.send_message(
                    chat_id=int(recipient),
                    text=chunk,
                    reply_markup=markup(message) if last else None,
                )
        except RetryAfter as exc:
            seconds = _seconds(exc.retry_after)
            return SendResult(ok=False, retry_after=seconds, error=f"429 retry after {seconds:g}s")
        except Forbidden as exc:
            return SendResult(ok=False, blocked=True, error=f"403 {exc.message}")
        except BadRequest as exc:
            return SendResult(ok=False, permanent=True, error=f"400 {exc.message}")
        except NetworkError as exc:  # timeouts, 5xx, connection errors: try again later
            return SendResult(ok=False, error=f"network: {exc.message}")
        except TelegramError as exc:
            return SendResult(ok=False, error=f"telegram: {exc.message}")
        return SendResult.sent(str(sent.message_id) if sent else None)


class TelegramProcessor:
    """An inbox row of Telegram's, processed inside the row's transaction."""

    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel

    async def process(self, tx: Tx, row: Row) -> After | None:
        update = Update.de_json(row["payload"], self.channel.bot)
        msg = translate(update)
        replies = await self.channel.dispatcher.turn(tx, msg) if msg is not None else None
        query = update.callback_query
        if not replies and query is None:
            return None
        dispatcher = self.channel.dispatcher

        async def after() -> None:
            if replies:
                dispatcher.on_enqueued()
            if query is not None:  # stop the client's spinner, once the answer is queued
                try:
                    await query.answer()
                except TelegramError as exc:
                    log.info("telegram: answerCallbackQuery failed: %s", exc)

        return after

    async def parked(self, tx: Tx, row: Row, reason: str) -> After | None:
        payload = row["payload"] if isinstance(row["payload"], dict) else {}
        user = _sender(payload) or row["chat"]
        dispatcher = self.channel.dispatcher
        told = await dispatcher.unprocessable(tx, CHANNEL, row["chat"], user, row["update_id"])

        async def after() -> None:
            if told:
                dispatcher.on_enqueued()

        return after


def _raise(exc: BaseException) -> None:
    raise exc


def _seconds(wait: timedelta | float) -> float:
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


def inbound(data: dict[str, Any]) -> Inbound:
    """A raw update as the inbox stores it. Never raises: an update kesu cannot make sense of
    is stored all the same, fails when processed, and is parked for an operator to see."""
    update_id = int(data["update_id"])
    chat, fingerprint = "?", "?"
    try:
        query = data.get("callback_query")
        if isinstance(query, dict):
            message = query.get("message") or {}
            chat = str((message.get("chat") or {}).get("id") or query["from"]["id"])
            fingerprint = f"callback:{query.get('id')}"
        else:
            for value in data.values():
                if isinstance(value, dict) and isinstance(value.get("chat"), dict):
                    chat = str(value["chat"]["id"])
                    fingerprint = f"message:{value.get('message_id')}"
                    break
    except (KeyError, TypeError, AttributeError):
        pass
    return Inbound(CHANNEL, str(update_id), chat, fingerprint, update_id, data)


def _sender(payload: dict[str, Any]) -> str | None:
    for value in payload.values():
        if isinstance(value, dict) and isinstance(value.get("from"), dict):
            sender = value["from"].get("id")
            return None if sender is None else str(sender)
    return None


def translate(update: Update) -> IncomingMessage | None:
    """An Update as kesu sees it; None for what the bot does not handle (groups, edits …)."""
    uid = str(update.update_id)
    query = update.callback_query
    if query is not None:
        chat = query.message.chat.id if query.message is not None else query.from_user.id
        return IncomingMessage(
            channel=CHANNEL,
            chat_id=str(chat),
            user_id=str(query.from_user.id),
            update_id=uid,
            callback=query.data or "",
            language=query.from_user.language_code,
            display_name=query.from_user.full_name,
        )
    m = update.message
    if m is None or m.from_user is None:
        return None
    if m.chat.type != "private":
        log.info("telegram: ignoring a message from %s chat %s", m.chat.type, m.chat.id)
        return None
    text = m.text or m.caption or ""
    command = None
    if m.text and m.text.startswith("/"):
        head, _, rest = m.text[1:].partition(" ")
        command = head.split("@", 1)[0].lower() or None
        text = rest
    return IncomingMessage(
        channel=CHANNEL,
        chat_id=str(m.chat.id),
        user_id=str(m.from_user.id),
        update_id=uid,
        text=text,
        command=command,
        contact_phone=m.contact.phone_number if m.contact is not None else None,
        attachments=_attachments(m),
        language=m.from_user.language_code,
        display_name=m.from_user.full_name,
        received_at=m.date,
    )


def _attachments(m: Message) -> tuple[Attachment, ...]:
    """Evidence by file id (the file stays on Telegram's side until staff fetch it)."""
    found: list[Attachment] = []
    if m.photo:
        biggest = max(m.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        found.append(Attachment("photo", biggest.file_id, biggest.file_size, "image/jpeg"))
    if m.document is not None:
        d = m.document
        found.append(Attachment("document", d.file_id, d.file_size, d.mime_type, d.file_name))
    for kind, media in (("voice", m.voice), ("video", m.video), ("audio", m.audio)):
        if media is not None:
            found.append(Attachment(kind, media.file_id, media.file_size, media.mime_type))
    return tuple(found)


def markup(message: OutgoingMessage) -> ReplyMarkup | None:
    """Inline buttons for choices; a reply keyboard when asking for the phone number (only a
    reply keyboard can request a contact), with the choices as plain keys under it."""
    if message.request_contact:
        rows = [[KeyboardButton(message.request_contact, request_contact=True)]]
        rows += [[KeyboardButton(b.label) for b in row] for row in message.buttons]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    if message.buttons:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                for row in message.buttons
            ]
        )
    if message.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Telegram takes at most 4096 characters a message: cut at line ends where possible."""
    if not text:
        return ["…"]  # Telegram refuses empty messages
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    chunks.append(text)
    return chunks
