"""How the person who acted hears back: a refusal or a note seen by them alone.

Where Slack gave the request a ``response_url`` (a button on a message, a shortcut, /kesu),
the answer goes there, through bolt's ``respond()``: Slack shows it where the person acted.
Where it gave none (events, forms, buttons in App Home) or the URL has lapsed (30 minutes,
for a request processed late from the inbox), or Slack refused it, the answer is an ephemeral
message in the staff channel, or a direct message with the app for someone who cannot see
that channel (someone outside the desk). Refusals of people outside the desk take the second
way, except for /kesu, typed where they are: they may have clicked where they can no longer
see (a card in a channel they left).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.sender import NETWORK_ERRORS, slack_error
from bot.channels.slack.text import desk_text
from bot.desk import Outcome
from bot.logsafe import log_failure

log = logging.getLogger(__name__)

#: How long Slack accepts answers at a request's response_url.
RESPONSE_URL_LIFETIME = timedelta(minutes=30)


class Teller:
    def __init__(self, client: AsyncWebClient, staff_channel: str) -> None:
        self.client = client
        self.staff_channel = staff_channel
        self._after_ack: set[asyncio.Task[None]] = set()

    async def answer(self, user: str, outcome: Outcome, respond: AsyncRespond | None) -> None:
        """The outcome of what the person did, where they did it when Slack says where."""
        if outcome.ok and not outcome.message:
            return
        await self.show(user, desk_text(outcome.message), respond)

    async def show(self, user: str, text: str, respond: AsyncRespond | None) -> None:
        """Text already in Slack's markup (a work list), at the response_url when there is
        one that still answers, else as :meth:`tell` does."""
        if respond is not None and respond.response_url:
            try:
                sent = await respond(text=text, response_type="ephemeral")
                if sent.status_code == 200:
                    return
                log.info("response_url refused (%s %s): telling %s directly",
                         sent.status_code, sent.body, user)  # fmt: skip
            except NETWORK_ERRORS as exc:
                log.info("response_url unreachable (%s): telling %s directly", exc, user)
        await self._post(user, text)

    async def tell(
        self,
        user: str,
        outcome: Outcome,
        thread_ts: str | None = None,
        channel: str | None = None,
    ) -> None:
        """Ephemeral where the desk works, or in the person's direct messages with the app
        when they cannot see that channel."""
        if outcome.ok and not outcome.message:
            return
        await self._post(user, desk_text(outcome.message), thread_ts, channel)

    async def _post(
        self, user: str, text: str, thread_ts: str | None = None, channel: str | None = None
    ) -> None:
        kwargs: dict[str, Any] = {"channel": channel or self.staff_channel, "user": user}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await self.client.chat_postEphemeral(**kwargs, text=text)
            return
        except SlackApiError as exc:
            log.info("ephemeral to %s refused (%s): sending a direct message", user,
                     slack_error(exc))  # fmt: skip
        except NETWORK_ERRORS as exc:
            log.warning("could not tell %s (%d characters): %s", user, len(text), exc)
            return
        try:
            await self.client.chat_postMessage(channel=user, text=text)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.warning("could not tell %s (%d characters): %s", user, len(text), exc)

    def after_ack(self, telling: Coroutine[Any, Any, None]) -> None:
        """Tell once Slack has its acknowledgement: a middleware or the error handler gives
        its answer by returning, so what the person hears must not hold it up."""

        async def guarded() -> None:
            try:
                await telling
            except Exception as exc:
                log_failure(log, logging.ERROR, "telling someone after the ack failed", exc=exc)

        task = asyncio.create_task(guarded())
        self._after_ack.add(task)
        task.add_done_callback(self._after_ack.discard)

    async def close(self) -> None:
        """Let what is being told finish (each is one or two Web API calls)."""
        pending = list(self._after_ack)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=5.0)
        for task in late:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
