"""One entry point for every inbound message, whatever the channel.

One transaction per message: the update id is recorded (a redelivery stops here), the
conversation state is read, the flow runs, cases change, the new state is written and every
reply is queued in the outbox — all of it commits together or not at all, so a crash or
``kill -9`` at any point either loses nothing or redoes nothing. The outbox is woken only
once that transaction is durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.domain.cases import Case, DomainError
from bot.flows import intake, texts
from bot.flows.base import FlowContext, FlowDeps, Turn
from bot.flows.texts import LANGUAGE_NAMES, LANGUAGES, convert, pick_language
from bot.messages import Attachment, Button, IncomingMessage, OutgoingMessage
from bot.outgoing import TextLimits, enqueue
from storage.db import Store
from storage.repositories import Tx

log = logging.getLogger(__name__)

CANCEL_WORDS = {"取消", "cancel", "/cancel"}
STATUS_WORDS = {"查询进度", "查詢進度", "进度", "進度"}
FOLLOWUP = "followup"
_LOCKS = 256  # chats hash onto a fixed set of locks: bounded memory, per-chat order
#: A dialogue left this long is abandoned: the next message starts afresh.
CONVERSATION_TTL = timedelta(hours=24)


class Dispatcher:
    def __init__(
        self,
        store: Store,
        deps: FlowDeps,
        clock: Clock,
        *,
        default_language: str = "zh-hans",
        on_enqueued: Callable[[], None] | None = None,
        text_limits: TextLimits | None = None,
    ) -> None:
        self.store = store
        self.deps = deps
        self.clock = clock
        self.default_language = default_language
        self.on_enqueued = on_enqueued or (lambda: None)  # the outbox worker's wake-up
        # Each channel's longest text: a longer reply is queued as several messages.
        self.text_limits = text_limits or TextLimits()
        self._locks = [asyncio.Lock() for _ in range(_LOCKS)]

    async def handle(self, msg: IncomingMessage) -> list[OutgoingMessage] | None:
        """Process one message in a transaction of its own, recognising a redelivery by its
        update id; the replies (already queued) or None for a redelivery. The channels go
        through the inbox (which calls :meth:`turn`); this is for callers without one."""
        lock = self._locks[hash((msg.channel, msg.chat_id)) % _LOCKS]

        async def work(tx: Tx) -> list[OutgoingMessage] | None:
            if not await tx.inbound.first_time(msg.channel, msg.update_id, self.clock.now()):
                log.info("%s update %s seen before: ignored", msg.channel, msg.update_id)
                return None
            return await self.turn(tx, msg)

        async with lock:
            replies = await self.store.write(work)
        if replies:  # durable now: the outbox may look
            self.on_enqueued()
        return replies

    async def unprocessable(
        self, tx: Tx, channel: str, chat_id: str, user_id: str, update_id: str
    ) -> bool:
        """A message of this customer's could not be processed (its inbox row is parked):
        they are told once, in their language, and their open case gets a note, which the
        staff see in the case's thread. True when a message to them was queued."""
        now = self.clock.now()
        customer = await tx.customers.find(channel, user_id)
        lang = (customer or {}).get("language") or self.default_language
        if customer is not None:
            cases = await self.deps.cases.customer_cases(
                channel, user_id, open_only=True, customer_id=int(customer["id"]), tx=tx
            )
            if cases:
                note = (
                    f"客户的一条消息未能自动处理,已搁置(收件箱 {channel} update {update_id});"
                    "请在服务器上运行 kesu inbox list --failed 查看 "
                    f"(a message from the customer could not be processed: {channel} update "
                    f"{update_id} is parked; see kesu inbox list --failed)"
                )
                await self.deps.cases.add_note(cases[0].number, "kesu", note, tx=tx)
        text = OutgoingMessage(texts.text(lang, "unprocessable"))
        queued = await enqueue(
            tx,
            self.text_limits,
            channel=channel,
            recipient=chat_id,
            message=text,
            now=now,
            dedupe_key=f"{channel}:{update_id}:parked",
        )
        return queued is not None

    async def turn(self, tx: Tx, msg: IncomingMessage) -> list[OutgoingMessage] | None:
        """The message's whole transaction; the store may run it again if a commit fails."""
        now = self.clock.now()
        customer = await tx.customers.ensure_row(
            msg.channel, msg.user_id, now, display_name=msg.display_name
        )
        conversation = await tx.conversations.get(msg.channel, msg.chat_id, for_update=True)
        if conversation is not None and now - conversation["updated_at"] > CONVERSATION_TTL:
            # Abandoned long ago: today's message is not an answer to that old question.
            log.info("%s chat %s: dialogue idle since %s dropped", msg.channel,
                     msg.chat_id, conversation["updated_at"])  # fmt: skip
            conversation = None
        data: dict[str, Any] = dict(conversation["data"]) if conversation else {}
        saved_language = customer["language"]  # set only by the customer's own choice
        lang = saved_language or pick_language(msg.language, self.default_language)
        ctx = FlowContext(msg, lang, data, tx, self.deps, now, customer_id=customer["id"])
        flow = conversation["flow"] if conversation else None
        state = conversation["state"] if conversation else None
        turn, flow = await self._route(ctx, flow, state)
        if turn.state is None or flow is None:
            await tx.conversations.delete(msg.channel, msg.chat_id)
        else:
            await tx.conversations.put(
                msg.channel, msg.chat_id, flow=flow, state=turn.state, data=ctx.data, now=now
            )
        for i, reply in enumerate(turn.replies):
            await enqueue(
                tx,
                self.text_limits,
                channel=msg.channel,
                recipient=msg.chat_id,
                message=reply,
                now=now,
                dedupe_key=f"{msg.channel}:{msg.update_id}:{i}",
            )
        return turn.replies

    async def _route(
        self, ctx: FlowContext, flow: str | None, state: str | None
    ) -> tuple[Turn, str | None]:
        msg = ctx.msg
        command = (msg.command or "").lower()
        words = msg.text.strip().lower()
        if msg.callback and msg.callback.startswith("lang:"):
            return await self._set_language(ctx, msg.callback.removeprefix("lang:"), flow, state)
        if command == "cancel" or (not command and words in CANCEL_WORDS):
            key = "cancelled" if flow else "nothing_to_cancel"
            return Turn([replace(ctx.say(key), remove_keyboard=True)], None), None
        if command == "help":
            return self._keep(ctx, flow, state, [ctx.say("help")])
        if command == "language":
            return self._keep(ctx, flow, state, [self._language_question(ctx)])
        if command == "status" or (not command and words in STATUS_WORDS):
            return self._keep(ctx, flow, state, [await self._status(ctx)])
        if command == "new":
            return intake.start(ctx), intake.NAME
        if command == "start":
            if flow == intake.NAME and state:
                return Turn([ctx.say("resume"), *intake.prompt(state, ctx)], state), flow
            return intake.start(ctx), intake.NAME
        if command:
            return self._keep(ctx, flow, state, [ctx.say("help")])

        if flow == intake.NAME and state:
            turn = intake.step(state, ctx)
            if state == "confirm" and msg.callback == "i:submit":
                turn = await intake.submit(ctx)
            return turn, intake.NAME
        if flow == FOLLOWUP:
            return await self._choose_case(ctx)
        return await self._fresh(ctx)

    async def _fresh(self, ctx: FlowContext) -> tuple[Turn, str | None]:
        """No dialogue going on: add to the customer's open case, or start an intake."""
        msg = ctx.msg
        if msg.callback:
            return Turn([ctx.say("button_expired"), ctx.say("help")], None), None
        if not msg.text.strip() and not msg.attachments:
            return Turn([ctx.say("unsupported")], None), None
        open_cases = await ctx.deps.cases.customer_cases(
            msg.channel, msg.user_id, open_only=True, customer_id=ctx.customer_id, tx=ctx.tx
        )
        if len(open_cases) == 1:
            return Turn([await self._append(ctx, open_cases[0].number)], None), None
        if len(open_cases) > 1:
            ctx.data.clear()
            ctx.data["pending_text"] = msg.text
            ctx.data["pending_attachments"] = [a.to_json() for a in msg.attachments]
            return Turn([self._which_case(ctx, open_cases)], "choose"), FOLLOWUP
        turn = intake.start(ctx, greet=False)
        if len(msg.text.strip()) >= 4 or msg.attachments:  # the first words are the complaint
            turn = intake.step("content", ctx)
        first, *rest = turn.replies
        return Turn([intake.with_greeting(ctx, first), *rest], turn.state), intake.NAME

    @staticmethod
    def _which_case(ctx: FlowContext, open_cases: list[Case]) -> OutgoingMessage:
        rows = tuple((Button(c.number, f"f:{c.number}"),) for c in open_cases[:10])
        rows += ((Button(ctx.t("btn_new_case"), "f:new"),),)
        return OutgoingMessage(ctx.t("followup_which"), buttons=rows)

    async def _choose_case(self, ctx: FlowContext) -> tuple[Turn, str | None]:
        msg = ctx.msg
        choice = (msg.callback or "").removeprefix("f:")
        if not msg.callback:  # more words before choosing: keep them all, ask again
            if msg.text.strip():
                ctx.data["pending_text"] = "\n".join(
                    t for t in (ctx.data.get("pending_text"), msg.text) if t
                )
            ctx.data.setdefault("pending_attachments", []).extend(
                a.to_json() for a in msg.attachments
            )
            open_cases = await ctx.deps.cases.customer_cases(
                msg.channel, msg.user_id, open_only=True, customer_id=ctx.customer_id, tx=ctx.tx
            )
            return Turn([self._which_case(ctx, open_cases)], "choose"), FOLLOWUP
        if choice == "new":
            text = ctx.data.get("pending_text") or ""
            files = ctx.data.get("pending_attachments") or []
            turn = intake.start(ctx, greet=False)
            ctx.data["parts"] = [text] if text.strip() else []
            ctx.data["attachments"] = files
            if ctx.data["parts"] or files:
                return Turn(intake.prompt("content", ctx), "content"), intake.NAME
            return turn, intake.NAME
        mine = {
            c.number
            for c in await ctx.deps.cases.customer_cases(
                ctx.msg.channel,
                ctx.msg.user_id,
                open_only=True,
                customer_id=ctx.customer_id,
                tx=ctx.tx,
            )
        }
        if choice not in mine:  # a forged or stale button: someone else's or a closed case
            log.warning("%s user %s chose case %r not theirs/open", ctx.msg.channel,
                        ctx.msg.user_id, choice)  # fmt: skip
            return Turn([ctx.say("case_not_found")], None), None
        files = [Attachment.from_json(a) for a in ctx.data.get("pending_attachments") or []]
        reply = await self._append(ctx, choice, ctx.data.get("pending_text") or "", files)
        return Turn([reply], None), None

    async def _append(
        self,
        ctx: FlowContext,
        number: str,
        text: str | None = None,
        files: list[Any] | None = None,
    ) -> OutgoingMessage:
        msg = ctx.msg
        try:
            await ctx.deps.cases.add_customer_message(
                number,
                f"customer:{msg.channel}:{msg.user_id}",
                msg.text if text is None else text,
                list(msg.attachments) if files is None else files,
                tx=ctx.tx,
            )
        except DomainError as exc:
            log.warning("follow-up for %s refused: %s", number, exc)
            return ctx.say("case_not_found")
        return ctx.say("followup_added", number=number)

    async def _status(self, ctx: FlowContext) -> OutgoingMessage:
        cases = await ctx.deps.cases.customer_cases(
            ctx.msg.channel, ctx.msg.user_id, customer_id=ctx.customer_id, tx=ctx.tx
        )
        if not cases:
            return ctx.say("status_none")
        lines = [ctx.t("status_header")]
        lines.extend(self._status_line(ctx, c) for c in cases[:10])
        return OutgoingMessage("\n".join(lines))

    def _status_line(self, ctx: FlowContext, case: Case) -> str:
        try:
            cat = ctx.deps.classifier.taxonomy.get(case.category)
            category = convert(ctx.lang, cat.name_zh, cat.name_en)
        except KeyError:
            category = case.category
        local = case.received_at.astimezone(ctx.deps.tz)
        return ctx.t(
            "status_line",
            number=case.number,
            status=ctx.t(f"status_{case.status.value}"),
            category=category,
            date=_date(local),
        )

    def _language_question(self, ctx: FlowContext) -> OutgoingMessage:
        row = tuple(Button(LANGUAGE_NAMES[code], f"lang:{code}") for code in LANGUAGES)
        return OutgoingMessage(ctx.t("language_pick"), buttons=(row,))

    async def _set_language(
        self, ctx: FlowContext, code: str, flow: str | None, state: str | None
    ) -> tuple[Turn, str | None]:
        if code not in LANGUAGES:
            return self._keep(ctx, flow, state, [self._language_question(ctx)])
        if ctx.customer_id is not None:
            await ctx.tx.customers.update(ctx.customer_id, ctx.now, language=code)
        ctx.lang = code
        replies = [ctx.say("language_set")]
        if flow == intake.NAME and state:
            replies.extend(intake.prompt(state, ctx))
        return Turn(replies, state), flow

    @staticmethod
    def _keep(
        ctx: FlowContext, flow: str | None, state: str | None, replies: list[OutgoingMessage]
    ) -> tuple[Turn, str | None]:
        """Answer without leaving the dialogue; the current question follows the answer."""
        if flow == intake.NAME and state:
            return Turn([*replies, *intake.prompt(state, ctx)], state), flow
        return Turn(replies, state), flow


def _date(local: datetime) -> str:
    return f"{local:%Y-%m-%d}"
