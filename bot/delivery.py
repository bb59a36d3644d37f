"""What a send's outcome means: the senders' answer (:class:`SendResult`), the platform's
limits, and when a message that keeps failing is retried or given up (:class:`Policy`).

Kept apart from the worker (``bot/outbox.py``) so the rules read on their own: a failure
that is the message's own (an unexpected error, a payload this version cannot draw) counts
towards a dead letter; flood control, an outage and a setting an operator must fix say
nothing about the message, and only age it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.logsafe import log_failure
from bot.messages import OutgoingMessage
from bot.outgoing import TextLimit

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    platform_id: str | None = None
    retry_after: float | None = None  # seconds the platform asked us to wait (429)
    permanent: bool = False  # never going to work: do not retry
    blocked: bool = False  # the recipient blocked us (Telegram 403)
    outage: bool = False  # unreachable, timed out or 5xx: not the message's fault
    config: bool = False  # the operator must fix a setting (Slack: bot not in the channel)
    error: str | None = None

    @classmethod
    def sent(cls, platform_id: str | None = None) -> SendResult:
        return cls(ok=True, platform_id=platform_id)


@dataclass(frozen=True, slots=True)
class Limits:
    per_second: float  # all chats together (Telegram: about 30)
    per_chat_interval: float  # seconds between two messages to one chat (Telegram: 1)


class Sender(Protocol):
    """What a channel adapter offers the outbox."""

    channel: str
    limits: Limits
    #: The longest text of one message, as the platform counts it: longer ones are cut into
    #: rows when queued (bot/outgoing.py), so a retry never repeats a part already sent.
    text_limit: TextLimit
    #: The longest one send may take, the SDK's own retries included: the outbox cuts a send
    #: off there, and leases the recipient for longer.
    send_timeout: float

    async def send(self, recipient: str, message: OutgoingMessage) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class Policy:
    """When a message that keeps failing becomes a dead letter."""

    attempts: int = 5  # failures that were the message's own
    max_age: timedelta = timedelta(hours=24)  # since queued (or retried by an operator)
    config_max_age: timedelta = timedelta(hours=72)  # while a configuration error lasts


def backoff(row: dict[str, Any], result: SendResult) -> timedelta:
    """When to try again: the platform's word, else 2 s doubling per attempt, at most 5 min."""
    if result.retry_after is not None:
        return timedelta(seconds=result.retry_after)
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(row["attempts"] + 1, 10)))


def verdict(row: dict[str, Any], result: SendResult, now: datetime, policy: Policy) -> str:
    """retried, failed (never going to work) or dead (tried long or often enough)."""
    if result.permanent or result.blocked:
        return "failed"
    age = now - (row["since"] or row["created_at"])
    if result.config:
        return "dead" if age >= policy.config_max_age else "retried"
    if age >= policy.max_age:
        return "dead"
    if counted(result) and row["failures"] + 1 >= policy.attempts:
        return "dead"
    return "retried"


def counted(result: SendResult) -> bool:
    """Whether a failure was the message's own: flood control, an outage or a setting an
    operator must fix say nothing about the message."""
    return not (result.ok or result.outage or result.config or result.retry_after is not None)


def flood(result: SendResult) -> float:
    """Seconds a 429 (or an unready platform) holds every recipient; 0 for anything else."""
    if result.retry_after is None or result.config:
        return 0.0
    return result.retry_after


def readable(row: dict[str, Any]) -> OutgoingMessage | None:
    """The row's message, or None when it cannot be read (queued by a version whose payloads
    this one does not know): that row fails like any send, and ends as a dead letter."""
    try:
        return OutgoingMessage.from_payload(row["payload"])
    except Exception as exc:
        log_failure(log, logging.ERROR, "outbox %s: its payload cannot be read", row["id"],
                    exc=exc)  # fmt: skip
        return None
