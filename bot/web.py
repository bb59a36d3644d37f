"""kesu's own HTTP listener (aiohttp): channels add their routes (Telegram's webhook today),
and one server per distinct address serves them all.

Its own so that a webhook answers 200 only once the update is committed: a library's server
that acknowledges on receipt (python-telegram-bot's webhook server answers once the update is
queued in memory) would lose what a ``kill -9`` caught in between.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.channels.base import ChannelError

log = logging.getLogger(__name__)

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 16 * 1024 * 1024  # a Telegram update is far smaller; anything bigger is refused


class WebServer:
    def __init__(self) -> None:
        self._apps: dict[tuple[str, int], web.Application] = {}
        self._runners: list[web.AppRunner] = []
        self.ports: dict[tuple[str, int], int] = {}  # asked-for address → bound port (0 → real)

    def post(self, listen: str, port: int, path: str, handler: RouteHandler) -> None:
        """Serve POST ``path`` on ``listen:port``; before :meth:`start` only."""
        app = self._apps.get((listen, port))
        if app is None:
            app = self._apps[(listen, port)] = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(path, handler)

    def url(self, listen: str, port: int, path: str) -> str:
        return f"http://{listen}:{self.ports[(listen, port)]}{path}"

    async def start(self) -> None:
        for (listen, port), app in self._apps.items():
            runner = web.AppRunner(app, access_log=None)  # access logs would carry chat ids
            await runner.setup()
            try:
                await web.TCPSite(runner, listen, port).start()
            except OSError as exc:
                await runner.cleanup()
                raise ChannelError(f"cannot listen on {listen}:{port}: {exc}") from None
            self._runners.append(runner)
            self.ports[(listen, port)] = int(runner.addresses[0][1])
            log.info("web: listening on %s:%s", listen, self.ports[(listen, port)])

    async def stop(self) -> None:
        """Stops accepting; a request in flight finishes (its update is stored or refused)."""
        while self._runners:
            await self._runners.pop().cleanup()
