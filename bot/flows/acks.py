"""已记录 once for a burst of messages, not once per message (issue 13).

A customer describing a problem often sends it in pieces: ten quick messages got ten identical
acknowledgements, delivered one a second (Telegram's pace per chat) long after the customer
stopped. Now the first message is acknowledged at once; a message within :data:`QUIET` of the
last acknowledgement gets none, and instead one acknowledgement that counts them (已记录 3 条)
is queued in the outbox for ``last + QUIET``, superseding the one queued before it.

No timer in memory: the outbox row *is* the timer (its ``not_before``; the worker sleeps until
it is due, and it holds up none of the chat's other messages meanwhile), the state is kept in
the dialogue's data (it survives a restart), and the time is the dialogue's clock, so tests
move it. A held-back acknowledgement whose time has come counts as sent. When the dialogue
moves on (说完了, /new, /cancel) one not yet sent is withdrawn: it would arrive after the next
question, or after the restatement.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.flows import intake_questions as ask
from bot.flows.base import FlowContext
from bot.messages import OutgoingMessage
from storage.repositories import Tx

#: Messages this soon after an acknowledgement are acknowledged together, at its end.
QUIET = timedelta(seconds=10)
_DATA = "ack"  # the dialogue's data key: {"at", and while one is held back: "due", "count", "key"}


async def acknowledge(ctx: FlowContext) -> list[OutgoingMessage]:
    """The replies to one more part of the description: the acknowledgement now, or nothing
    now and a counting one queued for later."""
    state = ctx.data.get(_DATA) or {}
    last = _time(state.get("at"))
    due, count = _time(state.get("due")), int(state.get("count") or 0)
    if due is not None and due <= ctx.now:  # the held-back one has gone (or is going) out
        last, due, count = due, None, 0
    if last is None or ctx.now - last >= QUIET:
        mark(ctx)
        return [ask.more(ctx)]
    msg = ctx.msg
    if due is not None:
        await ctx.tx.outbox.supersede(msg.channel, msg.chat_id, str(state["key"]))
    due, count = last + QUIET, count + 1
    key = f"{msg.channel}:{msg.update_id}:{_DATA}"
    await ctx.tx.outbox.enqueue(
        channel=msg.channel,
        recipient=msg.chat_id,
        payload=ask.more(ctx, count).to_payload(),
        now=ctx.now,
        not_before=due,
        dedupe_key=key,
    )
    ctx.data[_DATA] = {"at": last.isoformat(), "due": due.isoformat(), "count": count, "key": key}
    return []


def mark(ctx: FlowContext) -> None:
    """An acknowledgement goes out now: the quiet time runs from here."""
    ctx.data[_DATA] = {"at": ctx.now.isoformat()}


async def drop(ctx: FlowContext) -> None:
    """The description is over (or starts afresh): forget the acknowledgements, and withdraw
    one held back and not yet sent."""
    if ctx.data.pop(_DATA, None) is not None:
        await withdraw(ctx.tx, ctx.msg.channel, ctx.msg.chat_id)


async def withdraw(tx: Tx, channel: str, chat_id: str) -> int:
    """Supersede every held-back acknowledgement of the chat still waiting in the outbox
    (for the dispatcher too, when a dialogue ends); how many."""
    return await tx.outbox.supersede(channel, chat_id, f"{channel}:%:{_DATA}")


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
