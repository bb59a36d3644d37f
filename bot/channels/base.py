"""What every channel adapter is: a sender for the outbox that can also start and stop."""

from __future__ import annotations

from typing import Protocol

from bot.outbox import Sender


class Channel(Sender, Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...
