"""Telegram through python-telegram-bot: the only module that imports ``telegram``.

It translates and nothing else: an Update becomes an IncomingMessage for the dispatcher, an
outbox payload becomes a sendMessage call. Long polling by default; webhook mode checks
Telegram's secret-token header (PTB's webhook server answers 403 without it).
"""

from __future__ import annotations

import asyncio
import logging
import os

# PTB 22 is moving time periods from int to timedelta and warns on every int access unless
# told to use timedelta already (RetryAfter.retry_after is read on every 429).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from datetime import timedelta

from telegram import (
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
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from bot.channels.base import ChannelError
from bot.dispatcher import Dispatcher
from bot.messages import Attachment, IncomingMessage, OutgoingMessage
from bot.outbox import Limits, SendResult

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the token.
logging.getLogger("httpx").setLevel(logging.WARNING)

HANDLE_ATTEMPTS = 3  # a dispatch that fails (database busy, pool timeout) is tried again

CHANNEL = "telegram"
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
        *,
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
        self.limits = limits or TelegramChannel.limits
        self.poll_timeout = poll_timeout
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_listen = webhook_listen
        self.webhook_port = webhook_port
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
        updates_request = HTTPXRequest(connection_pool_size=2, read_timeout=poll_timeout + 10)
        self._requests = (request, updates_request)
        self.app = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .request(request)
            .get_updates_request(updates_request)
            .concurrent_updates(concurrency)
            .build()
        )
        self.app.add_handler(TypeHandler(Update, self._on_update))

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.app.initialize()  # getMe: a wrong token fails here, loudly
        except TelegramError as exc:
            for request in self._requests:  # PTB leaves its HTTP clients open when getMe fails
                await request.shutdown()
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
        await self.app.start()
        updater = self.app.updater
        assert updater is not None  # noqa: S101 (built with the default updater)
        allowed = [Update.MESSAGE, Update.CALLBACK_QUERY]
        if self.webhook_url:
            await updater.start_webhook(
                listen=self.webhook_listen,
                port=self.webhook_port,
                url_path="telegram",
                webhook_url=self.webhook_url,
                secret_token=self.webhook_secret,
                allowed_updates=allowed,
            )
            log.info("telegram: webhook on %s:%s", self.webhook_listen, self.webhook_port)
        else:
            await updater.start_polling(
                timeout=timedelta(seconds=self.poll_timeout),
                allowed_updates=allowed,
                drop_pending_updates=False,
            )
            log.info("telegram: long polling")

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def _register_commands(self) -> None:
        """The command menu, in Chinese by default and in English for English clients."""
        try:
            zh = [BotCommand(c, d) for c, d in COMMANDS["zh"]]
            en = [BotCommand(c, d) for c, d in COMMANDS["en"]]
            await self.app.bot.set_my_commands(zh)
            await self.app.bot.set_my_commands(en, language_code="en")
        except TelegramError as exc:  # a menu is a convenience: never a reason not to start
            log.warning("telegram: could not register the command menu: %s", exc)

    # -- inbound -----------------------------------------------------------------------------

    async def _on_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            return
        msg = translate(update)
        try:
            if msg is not None:
                await self._dispatch(msg, update)
        finally:
            if update.callback_query is not None:  # after the dispatch: keeps per-chat order
                try:
                    await update.callback_query.answer()  # stop the client's spinner
                except TelegramError as exc:
                    log.info("telegram: answerCallbackQuery failed: %s", exc)

    async def _dispatch(self, msg: IncomingMessage, update: Update) -> None:
        """Telegram considers the update delivered already: a failure here must not drop it
        silently. Retry; if it still fails, log the whole update so an operator can replay."""
        for attempt in range(1, HANDLE_ATTEMPTS + 1):
            try:
                await self.dispatcher.handle(msg)
                return
            except Exception:
                if attempt == HANDLE_ATTEMPTS:
                    log.exception(
                        "telegram: update %s could not be handled; raw update: %s",
                        update.update_id,
                        update.to_json(),
                    )
                    return
                log.warning("telegram: update %s failed (attempt %d), retrying",
                            update.update_id, attempt, exc_info=True)  # fmt: skip
                await asyncio.sleep(0.5 * 2**attempt)

    # -- outbound ----------------------------------------------------------------------------

    async def download(self, item: Attachment) -> bytes:
        """A customer's file by its id (getFile, then the file URL), for the staff thread.
        The Bot API serves files up to 20 MB; bigger ones raise and stay on the case."""
        file = await self.app.bot.get_file(item.file_id)
        return bytes(await file.download_as_bytearray())

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
        chunks = split_text(message.text)
        try:
            sent: Message | None = None
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                sent = await self.app.bot.send_message(
                    chat_id=int(recipient),
                    text=chunk,
                    reply_markup=markup(message) if last else None,
                )
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
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
