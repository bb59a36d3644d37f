"""Telegram through python-telegram-bot: with telegram_inbound.py, the only modules that
import ``telegram``.

It translates and nothing else: an outbox payload becomes a sendMessage call, a customer's
file id a download. What comes in is telegram_inbound.py's: stored in the inbox before
Telegram hears it arrived, then processed from there.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

# PTB 22 is moving time periods from int to timedelta and warns on every int access unless
# told to use timedelta already (RetryAfter.retry_after is read on every 429).
os.environ.setdefault("PTB_TIMEDELTA", "true")


from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
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
from telegram.request import HTTPXRequest

from bot.channels.base import ChannelError
from bot.channels.telegram_inbound import (
    ALLOWED_UPDATES,
    CHANNEL,
    WEBHOOK_PATH,
    TelegramProcessor,
    TelegramReceiver,
    seconds,
)
from bot.config import mask_secret
from bot.delivery import Limits, SendResult
from bot.dispatcher import Dispatcher
from bot.inbox import Inbox
from bot.messages import Attachment, OutgoingMessage
from bot.outgoing import TextLimit, split_text
from bot.web import WebServer

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the token.
logging.getLogger("httpx").setLevel(logging.WARNING)

ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove
EMPTY_TEXT = "…"  # Telegram refuses a message with no text, or only white space

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
    # One sendMessage, which takes well under a second when Telegram is well: the outbox cuts
    # a send off here (before HTTPXRequest's own, longer timeouts below, which downloads need)
    # and leases the chat a little longer; a crashed instance's chats wait about that long.
    send_timeout = 15.0
    #: sendMessage's text: 4,096 counted in UTF-16 code units (an emoji outside the BMP is
    #: two). Texts are cut to it when queued (bot/outgoing.py).
    text_limit = TextLimit(int(MessageLimit.MAX_TEXT_LENGTH), "utf16")

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
        self.receiver = TelegramReceiver(self)
        inbox.handlers[CHANNEL] = TelegramProcessor(self)
        if webhook_url:
            if web_server is None:
                raise ChannelError("Telegram's webhook mode needs kesu's web server")
            if not webhook_secret:
                raise ChannelError("webhook mode needs KESU_TELEGRAM_WEBHOOK_SECRET")
            web_server.post(webhook_listen, webhook_port, WEBHOOK_PATH, self.receiver.on_webhook)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.bot.initialize()  # getMe: a wrong token fails here, loudly
        except TelegramError as exc:
            await self.bot.shutdown()  # PTB leaves its HTTP clients open when getMe fails
            if isinstance(exc, InvalidToken):
                # PTB's message quotes the whole token: never repeated.
                raise ChannelError(
                    f"Telegram refused the bot token {mask_secret(self.bot.token)} "
                    "(KESU_TELEGRAM_TOKEN): check it with @BotFather"
                ) from None
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
            self._poller = asyncio.create_task(self.receiver.poll())
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

    # -- outbound ----------------------------------------------------------------------------

    async def download(self, item: Attachment) -> bytes:
        """A customer's file by its id (getFile, then the file URL), for the staff thread.
        The Bot API serves files up to 20 MB; bigger ones raise and stay on the case."""
        file = await self.bot.get_file(item.file_id)
        return bytes(await file.download_as_bytearray())

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
        """One outbox row, one Telegram message: a long text was cut into rows when it was
        queued (bot/outgoing.py), so a retry never resends a part already delivered.

        A row whose text is still too long (queued by a kesu that cut only when sending) is
        cut here as a last resort, with the same rules, and goes as several messages with
        the markup on the last. Such a row is still one row: should a later part fail, the
        retry sends the whole row again, parts already delivered included."""
        text = message.text if message.text.strip() else EMPTY_TEXT
        chunks = split_text(text, self.text_limit)
        if len(chunks) > 1:
            log.warning("telegram: a queued text longer than %d units goes as %d messages; "
                        "a retry resends them all", self.text_limit.size, len(chunks))  # fmt: skip
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
            wait = seconds(exc.retry_after)
            return SendResult(ok=False, retry_after=wait, error=f"429 retry after {wait:g}s")
        except Forbidden as exc:
            return SendResult(ok=False, blocked=True, error=f"403 {exc.message}")
        except BadRequest as exc:
            return SendResult(ok=False, permanent=True, error=f"400 {exc.message}")
        except NetworkError as exc:  # timeouts, 5xx, connection errors: try again later
            return SendResult(ok=False, outage=True, error=f"network: {exc.message}")
        except TelegramError as exc:
            return SendResult(ok=False, error=f"telegram: {exc.message}")
        return SendResult.sent(str(sent.message_id) if sent else None)


def _raise(exc: BaseException) -> None:
    raise exc


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
