"""Telegram inbound: every update stored in kesu's inbox before Telegram hears it arrived,
then processed from there. The polling loop (kesu's own, on PTB's ``Bot``) moves getUpdates'
offset past a batch only once the batch is committed; the webhook (kesu's own aiohttp route)
answers 200 only once the update is committed, an error status otherwise, so Telegram
delivers it again. PTB's Updater confirms a batch before it is handled and its webhook server
answers on receipt: both would lose what a ``kill -9`` caught in memory.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any

# As in telegram.py (whichever of the two is imported first): PTB 22 reads this on import.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from datetime import timedelta

from aiohttp import web
from telegram import Message, Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from bot.channels.base import ChannelError
from bot.inbox import After, Inbound
from bot.messages import Attachment, IncomingMessage
from storage.repositories import Tx
from storage.schema import Row

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel

log = logging.getLogger(__name__)
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


class TelegramReceiver:
    """Takes updates in, by polling or webhook, for one channel."""

    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel

    async def poll(self) -> None:
        """getUpdates in a loop; the offset moves past a batch only once it is committed. It
        starts without an offset at every start (the inbox recognises what it stored before)."""
        offset: int | None = None
        failures = 0
        while True:
            params: dict[str, Any] = {
                "timeout": int(self.channel.poll_timeout),
                "limit": 100,
                "allowed_updates": ALLOWED_UPDATES,
            }
            if offset is not None:
                params["offset"] = offset
            try:
                raw: Any = await self.channel.bot.do_api_request(
                    "getUpdates", api_kwargs=params, read_timeout=self.channel.poll_timeout + 10
                )
            except Conflict as exc:
                self.channel.on_fatal(
                    ChannelError(
                        "another process is polling this Telegram bot (getUpdates answered "
                        f"409 Conflict: {exc.message}); run one poller per bot token, or use "
                        "webhook mode for several instances"
                    )
                )
                return
            except InvalidToken as exc:
                self.channel.on_fatal(
                    ChannelError(f"Telegram refused the bot token: {exc.message}")
                )
                return
            except RetryAfter as exc:
                await asyncio.sleep(seconds(exc.retry_after))
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
                await self.channel.inbox.receive([inbound(u) for u in batch])
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

    async def on_webhook(self, request: web.Request) -> web.Response:
        """200 once the update is committed; 403 without the secret; 503 when it could not be
        stored, so Telegram delivers it again."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), (self.channel.webhook_secret or "").encode()):
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
            await self.channel.inbox.receive([inbound(data)])
        except Exception as exc:
            log.error(
                "telegram: update %s could not be stored (%s: %s); answered 503 so Telegram "
                "delivers it again", data["update_id"], type(exc).__name__, exc,
            )  # fmt: skip
            log.debug("store failure", exc_info=True)
            return web.Response(status=503, text="not stored, deliver again")
        return web.Response(text="ok")


class TelegramProcessor:
    """An inbox row of Telegram's, processed inside the row's transaction."""

    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel

    async def process(self, tx: Tx, row: Row) -> After | None:
        update = Update.de_json(row["payload"], self.channel.bot)
        msg = translate(update)
        if msg is not None and msg.received_at is None:  # a button press carries no date:
            msg = replace(msg, received_at=row["received_at"])  # when kesu stored it counts
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
    card = m.contact
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
        contact_phone=card.phone_number if card is not None else None,
        # Whose card it is: Telegram names the user (absent for a phone-book entry).
        contact_user_id=str(card.user_id) if card is not None and card.user_id else None,
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


def seconds(wait: timedelta | float) -> float:
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
