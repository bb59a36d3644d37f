"""A round-robin HTTP load balancer (aiohttp reverse proxy) for tests: what sits in front of
several kesu instances that share one public webhook URL.

Each request goes to the next backend in turn, with its method, path, query, body and headers
(``X-Telegram-Bot-Api-Secret-Token`` included); the backend's answer comes back as it was.
Like nginx's default ``proxy_next_upstream error timeout`` without ``non_idempotent``:

* a backend that refuses the connection is skipped for the next one, and left out of the turn
  for ``fail_timeout`` seconds (nginx's ``max_fails=1``); when every backend is out, all are
  tried again;
* a backend that fails once the request was sent (it died mid-request, or took longer than
  ``timeout``) is not retried elsewhere: a POST may have had its effect, so the client gets
  502 (504 for the time-out) and decides, as Telegram does by delivering again.

Every request is recorded (:class:`Forwarded`): which backend answered, with what status.

    async with Balancer([f"http://127.0.0.1:{a}", f"http://127.0.0.1:{b}"]) as lb:
        lb.url                # where to send the requests
        lb.answered_by(0)     # requests backend 0 answered with a 2xx

With one backend it is a plain tagging proxy: put one in front of a shared server (the Bot
API emulator) per client and it tells which client made which call.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from aiohttp import (
    ClientConnectorError,
    ClientError,
    ClientSession,
    ClientTimeout,
    TCPConnector,
    web,
)
from multidict import CIMultiDict

# Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and those
# aiohttp writes itself.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length",
    )
)  # fmt: skip


@dataclass(frozen=True)
class Forwarded:
    """One request the balancer took: where it went and what came of it."""

    method: str
    path: str
    backend: int | None  # index into ``backends``; None: no backend took it
    status: int  # the backend's, or the balancer's own 502/504
    refused_by: tuple[int, ...]  # backends that refused the connection first
    at: float  # time.monotonic() when it was answered
    body: bytes = b""  # the request's
    content_type: str = ""  # the request's

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def params(self) -> dict[str, Any]:
        """The request's parameters: a JSON object, or a form (values as sent, strings)."""
        if self.content_type == "application/json":
            with contextlib.suppress(ValueError):
                data = json.loads(self.body or b"{}")
                return data if isinstance(data, dict) else {}
            return {}
        if self.content_type == "application/x-www-form-urlencoded":
            return dict(urllib.parse.parse_qsl(self.body.decode(errors="replace")))
        return {}


class Balancer:
    def __init__(
        self,
        backends: list[str],
        *,
        fail_timeout: float = 10.0,
        timeout: float = 30.0,
        name: str = "balancer",
    ) -> None:
        assert backends, "a balancer needs at least one backend"
        self.backends = [b.rstrip("/") for b in backends]
        self.fail_timeout = fail_timeout
        self.timeout = timeout
        self.name = name
        self.url = ""  # http://127.0.0.1:<port>, once started
        self.port = 0
        self.forwarded: list[Forwarded] = []
        self._turn = 0
        self._out_until = [0.0] * len(self.backends)  # monotonic time a refusal keeps it out
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        # No pooled connections across requests: a pooled one to a backend that was killed
        # would fail after the request is "sent", where a fresh one is refused, and retried.
        self._session = ClientSession(
            connector=TCPConnector(force_close=True, limit=0),
            auto_decompress=False,
            timeout=ClientTimeout(total=self.timeout),
        )
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"http://127.0.0.1:{self.port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Balancer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- what it did -------------------------------------------------------------------------

    def answered_by(self, backend: int, path: str | None = None) -> list[Forwarded]:
        """Requests ``backend`` answered with a 2xx (to ``path`` only, if given)."""
        return [
            f
            for f in self.forwarded
            if f.backend == backend and f.ok and (path is None or f.path == path)
        ]

    def count(self, path: str | None = None) -> list[int]:
        """2xx answers per backend, in the order of ``backends``."""
        return [len(self.answered_by(i, path)) for i in range(len(self.backends))]

    def calls(self, backend: int, suffix: str) -> list[Forwarded]:
        """Requests of ``backend`` answered with a 2xx whose path ends with ``suffix``: in
        front of the Bot API, ``calls(0, "/sendMessage")``."""
        return [f for f in self.answered_by(backend) if f.path.endswith(suffix)]

    @property
    def refusals(self) -> int:
        """Connections a backend refused (each one retried on the next)."""
        return sum(len(f.refused_by) for f in self.forwarded)

    @property
    def failed(self) -> list[Forwarded]:
        """Requests answered 502/504 by the balancer itself."""
        return [f for f in self.forwarded if f.backend is None or f.status in (502, 504)]

    # -- forwarding --------------------------------------------------------------------------

    def _order(self) -> list[int]:
        """Every backend once, starting at the next one's turn; those out of the turn last."""
        n = len(self.backends)
        start = self._turn
        self._turn = (self._turn + 1) % n
        ring = [(start + k) % n for k in range(n)]
        now = time.monotonic()
        return [i for i in ring if self._out_until[i] <= now] + [
            i for i in ring if self._out_until[i] > now
        ]

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP
        )
        path_qs = request.rel_url.raw_path_qs
        refused: list[int] = []
        for index in self._order():
            try:
                async with self._session.request(
                    request.method,
                    self.backends[index] + path_qs,
                    data=body or None,
                    headers=headers,
                    allow_redirects=False,
                ) as upstream:
                    payload = await upstream.read()
                    answer = web.Response(
                        status=upstream.status,
                        reason=upstream.reason,
                        body=payload,
                        headers=CIMultiDict(
                            (k, v)
                            for k, v in upstream.headers.items()
                            if k.lower() not in HOP_BY_HOP
                        ),
                    )
            except ClientConnectorError:  # refused before anything was sent: the next one
                refused.append(index)
                self._out_until[index] = time.monotonic() + self.fail_timeout
                continue
            except TimeoutError:
                return self._record(
                    request, body, index, 504, refused=refused, why="upstream timed out"
                )
            except (ClientError, OSError) as exc:  # sent, then the backend went away
                return self._record(
                    request, body, index, 502, refused=refused, why=type(exc).__name__
                )
            self._record(request, body, index, upstream.status, refused=refused)
            return answer
        why = "no backend took the connection"
        return self._record(request, body, None, 502, refused=refused, why=why)

    def _record(
        self,
        request: web.Request,
        body: bytes,
        backend: int | None,
        status: int,
        *,
        refused: list[int],
        why: str | None = None,
    ) -> web.Response:
        self.forwarded.append(
            Forwarded(request.method, request.path, backend, status, tuple(refused),
                      time.monotonic(), body, request.content_type)
        )  # fmt: skip
        return web.Response(status=status, text=f"{self.name}: {why or status}")
