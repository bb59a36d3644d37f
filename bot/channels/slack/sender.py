"""The outbox's sender for the staff channel: case cards, thread lines and receipts.

Sent with a Web API client that never retries on its own: the outbox owns retries, so a
429's ``Retry-After``, a 5xx or a network error delays the staff channel's queue instead of
losing or doubling a card. What Slack answered is classified here (``SendResult``): try
again after a while, an outage, a configuration an operator must fix, or never.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.blocks import card_blocks, line_text
from bot.channels.slack.text import desk_text, esc
from bot.clock import Clock
from bot.delivery import SendResult
from bot.logsafe import log_failure
from bot.messages import Attachment, OutgoingMessage

log = logging.getLogger(__name__)

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
CONFIGURATION_RETRY = 60.0  # seconds between attempts while the configuration is wrong
#: Slack did not answer at all: worth trying again, unlike an answer saying no.
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)

FileFetcher = Callable[[str, Attachment], Awaitable[bytes]]


def slack_error(exc: SlackApiError) -> str:
    """The ``error`` Slack gave, or the HTTP status when it gave none."""
    data = exc.response.data if exc.response is not None else None
    if isinstance(data, dict):
        return str(data.get("error") or f"HTTP {exc.response.status_code}")
    return f"HTTP {exc.response.status_code}"


def _refused(exc: SlackApiError, channel: str, blocks: list[dict[str, Any]]) -> None:
    """Slack refused a message's blocks; it goes as plain text. The log names where in the
    blocks Slack objected (its json-pointers), never what they say: the customer's words."""
    data = exc.response.data if exc.response is not None else None
    found = json.dumps(data) if isinstance(data, dict) else ""
    where = sorted(set(re.findall(r"json-pointer:([^\]\s\"]+)", found)))
    at = f" at {', '.join(where)}" if where else ""
    log.error("slack refused our blocks in %s (%s%s; %d blocks, %d characters): sent as text",
              channel, slack_error(exc), at, len(blocks),
              len(json.dumps(blocks, ensure_ascii=False)))  # fmt: skip
    log.debug("the refused blocks: %s", json.dumps(blocks, ensure_ascii=False)[:4000])


def split_id(platform_id: str) -> tuple[str, str]:
    """A sent message's id as kesu keeps it (``channel:ts``), as Slack needs it."""
    channel, _, ts = platform_id.partition(":")
    return channel, ts


#: Cards that are the desk's own words naming people ({slack:U…}): reminders, reports, alerts.
_DESK_WORDS = frozenset({"reminder", "flag_report", "alert"})


class Sender:
    def __init__(
        self,
        web: AsyncWebClient,
        *,
        clock: Clock,
        tz: tzinfo,
        fetch_file: FileFetcher | None = None,
    ) -> None:
        self.web = web
        self.clock = clock
        self.tz = tz
        self.fetch_file = fetch_file

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult:
        text, blocks = self._render(message)
        try:
            if message.edit_id:
                channel, ts = split_id(message.edit_id)
                try:
                    response = await self._update(channel, ts, text, blocks)
                    return SendResult.sent(f"{response['channel']}:{response['ts']}")
                except SlackApiError as exc:
                    if slack_error(exc) != "message_not_found":
                        raise
                    log.warning("slack message %s is gone (deleted?): posting it afresh", ts)
            return await self._post(recipient, message, text, blocks)
        except SlackApiError as exc:
            return self._failure(exc)
        except NETWORK_ERRORS as exc:
            return SendResult(ok=False, outage=True, error=f"network: {type(exc).__name__}: {exc}")

    def _render(self, message: OutgoingMessage) -> tuple[str, list[dict[str, Any]] | None]:
        card = message.card
        if card is None:
            return esc(message.text), None
        if card.get("kind") == "card":
            return esc(message.text), card_blocks(card, self.clock.now(), self.tz)
        if card.get("kind") in _DESK_WORDS:
            return desk_text(message.text), None
        return line_text(card), None

    async def _update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> Any:
        # Without blocks Slack keeps the old ones: [] clears them for a plain line.
        try:
            return await self.web.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks or []
            )
        except SlackApiError as exc:
            if slack_error(exc) != "invalid_blocks" or not blocks:
                raise
            _refused(exc, channel, blocks)
            return await self.web.chat_update(channel=channel, ts=ts, text=text, blocks=[])

    async def _post(
        self,
        recipient: str,
        message: OutgoingMessage,
        text: str,
        blocks: list[dict[str, Any]] | None,
    ) -> SendResult:
        thread_ts = split_id(message.thread_id)[1] if message.thread_id else None
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
            if slack_error(exc) != "invalid_blocks" or not blocks:
                raise
            _refused(exc, recipient, blocks)
            response = await self.web.chat_postMessage(**kwargs)
        channel, ts = str(response["channel"]), str(response["ts"])
        if message.files:
            await self._relay_files(channel, thread_ts or ts, message)
        return SendResult.sent(f"{channel}:{ts}")

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
            except Exception as exc:
                log_failure(log, logging.WARNING, "could not relay %s %s to slack", item.kind,
                            item.file_id, exc=exc)  # fmt: skip
                failed.append(name)
        if failed:
            note = "⚠️ 未能转发的附件 not relayed (kept on the case): " + ", ".join(failed)
            try:
                await self.web.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=esc(note)
                )
            except (SlackApiError, *NETWORK_ERRORS) as exc:
                log_failure(log, logging.WARNING, "could not tell the thread about unrelayed "
                            "files", exc=exc)  # fmt: skip

    @staticmethod
    def _failure(exc: SlackApiError) -> SendResult:
        status = exc.response.status_code
        error = slack_error(exc)
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
