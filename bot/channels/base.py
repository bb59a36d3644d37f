"""What every channel adapter is: a sender for the outbox that can also start and stop."""

from __future__ import annotations

from typing import Protocol

from bot.domain.cases import DomainError
from bot.outbox import Sender


class ChannelError(DomainError):
    """A channel cannot start (refused credentials, unreachable API): said in one line."""


class Channel(Sender, Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...
