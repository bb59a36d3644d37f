"""What every channel adapter is: a sender for the outbox that can also start and stop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bot.delivery import Sender
from bot.domain.cases import DomainError


class ChannelError(DomainError):
    """A channel cannot start (refused credentials, unreachable API): said in one line."""


class Channel(Sender, Protocol):
    #: Called when the channel cannot go on (another process polls the same bot): kesu stops
    #: and reports it. Set by the runtime before :meth:`start`.
    on_fatal: Callable[[BaseException], None]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
