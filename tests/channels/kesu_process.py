"""A real ``kesu run`` process against the in-process Telegram emulator (not a test itself).

The process is ``python -m bot run`` with the emulator's token and URL in its environment, a
database given by URL, the session's jieba cache, and no ``.env``: it runs in a directory of
its own, and no ``KESU_*`` variable of the caller's environment reaches it. Its stderr (the
log) goes to a file whose tail every failure shows.

    async with KesuProcess(tg, url, tmp_path, cache_dir, name="first") as kesu:
        ...              # serving: "kesu running on" was logged
        await kesu.kill()  # SIGKILL: no clean shutdown at all

Webhook mode: pass ``webhook_port`` (:func:`free_port`); kesu listens on 127.0.0.1 there.
kesu registers an https URL, as Telegram (and kesu's settings) require, and the README has a
reverse proxy forward it to the listening port: here the helper plays that proxy, pointing the
emulator's deliveries at ``http://127.0.0.1:<port>/telegram`` as soon as kesu's setWebhook
arrives (a POST made before that fails the TLS handshake and is retried, as Telegram would).
A restarted process given the same port takes over the very same URL.

Several instances behind one load balancer: give each its own ``webhook_port`` and all of them
the same ``public_webhook_url`` (what each registers with setWebhook, as every instance of one
deployment does) and ``deliver_to`` the balancer (tests/fakes/balancer.py) in front of their
ports; the helper then points the emulator's deliveries at the balancer, which spreads them
over the instances.

The staff desk: pass the Slack emulator as ``slack`` and the process runs the desk in Socket
Mode against it (bot token, app token, staff channel ``STAFF_CHANNEL``), one connection per
process. ``telegram_api_url`` and ``slack_api_url`` point the process's Bot API and Web API
calls elsewhere than at the emulators themselves: at a proxy that tells which process made
which call.

tests/channels/kill_scenario.py drives customers against such a process and kills it;
tests/channels/two_instances.py runs two of them on one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

import asyncpg
from aiohttp import ClientSession
from sqlalchemy.engine import make_url

from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

READY = "kesu running on"
WEBHOOK_SECRET = "kesu-kill-test-secret"
STAFF_CHANNEL = "CDESK0001"  # tests/channels/conftest.py's


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's pick; free when this returns)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """A PostgreSQL database of its own on the server of ``server_url`` (CREATE DATABASE
    kesu_test_<random>), for processes of their own to share; its URL, dropped afterwards.
    (A per-test schema cannot be handed to ``kesu run``: it has no setting for one.)"""
    name = f"kesu_test_{uuid.uuid4().hex[:12]}"
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def release_long_poll(tg: FakeTelegram) -> None:
    """End a getUpdates the emulator still holds for a process that is gone (killed, or
    stopped mid-poll): a newer poll with no wait ends it with 409, as Telegram does. Without
    this the emulator's stop waits out kesu's 30 s poll. Confirms nothing (no offset)."""
    url = f"{tg.url}/bot{tg.token}/getUpdates"
    async with ClientSession() as session, session.post(url, json={"timeout": 0}) as r:
        await r.read()


class KesuProcess:
    """One ``kesu run``: :meth:`start`, then :meth:`kill` (SIGKILL) or :meth:`stop` (SIGTERM)."""

    def __init__(
        self,
        tg: FakeTelegram,
        database_url: str,
        workdir: Path,
        cache_dir: Path,
        *,
        name: str = "kesu",
        webhook_port: int | None = None,
        webhook_secret: str = WEBHOOK_SECRET,
        public_webhook_url: str | None = None,
        deliver_to: str | None = None,
        slack: FakeSlack | None = None,
        staff_channel: str = STAFF_CHANNEL,
        telegram_api_url: str | None = None,
        slack_api_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tg = tg
        self.database_url = database_url
        self.name = name
        self.workdir = workdir / name  # its own cwd: no .env is read, no file lands in ours
        self.cache_dir = cache_dir
        self.webhook_port = webhook_port
        self.webhook_secret = webhook_secret
        self.public_webhook_url = public_webhook_url
        self.deliver_to = deliver_to
        self.slack = slack
        self.staff_channel = staff_channel
        self.telegram_api_url = telegram_api_url or tg.url
        self.slack_api_url = slack_api_url or (slack.api_url if slack is not None else None)
        self.extra_env = env or {}
        self.log = workdir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.ready_after = 0.0  # seconds from spawning to "kesu running on"
        self._proxy: asyncio.Task[None] | None = None

    @property
    def webhook_url(self) -> str | None:
        """The public URL kesu registers with Telegram: its own, or the one of the balancer
        the instances share."""
        if self.webhook_port is None:
            return None
        return self.public_webhook_url or f"https://127.0.0.1:{self.webhook_port}/telegram"

    @property
    def local_webhook_url(self) -> str | None:
        """Where the proxy forwards it: kesu's own listener, or the balancer in front."""
        if self.webhook_port is None:
            return None
        return self.deliver_to or f"http://127.0.0.1:{self.webhook_port}/telegram"

    async def _play_proxy(self) -> None:
        """Whenever kesu (re)registers its public URL, deliver to the listener behind it."""
        while True:
            with contextlib.suppress(AssertionError):  # wait_for's "waited in vain"
                await self.tg.wait_for(lambda: self.tg.webhook_url == self.webhook_url, 3600)
                self.tg.webhook_url = self.local_webhook_url

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KESU_")}
        env.update(
            KESU_DATABASE_URL=self.database_url,
            KESU_TELEGRAM_TOKEN=self.tg.token,
            KESU_TELEGRAM_BASE_URL=self.telegram_api_url,
            KESU_CACHE_DIR=str(self.cache_dir),
            KESU_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        if self.webhook_port is not None:
            env.update(
                KESU_TELEGRAM_WEBHOOK_URL=str(self.webhook_url),
                KESU_TELEGRAM_WEBHOOK_SECRET=self.webhook_secret,
                KESU_TELEGRAM_WEBHOOK_LISTEN="127.0.0.1",
                KESU_TELEGRAM_WEBHOOK_PORT=str(self.webhook_port),
            )
        if self.slack is not None:
            env.update(
                KESU_SLACK_BOT_TOKEN=self.slack.bot_token,
                KESU_SLACK_APP_TOKEN=self.slack.app_token,
                KESU_SLACK_MODE="socket",
                KESU_SLACK_STAFF_CHANNEL=self.staff_channel,
                KESU_SLACK_API_URL=str(self.slack_api_url),
            )
        env.update(self.extra_env)
        return env

    # -- lifecycle ---------------------------------------------------------------------------

    async def spawn(self) -> KesuProcess:
        """Start the process without waiting for it to be up."""
        assert self.proc is None, f"{self.name} was started already"
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as stderr:  # the child keeps its own descriptor
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=self.workdir,
                env=self.environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        self.started_at = time.monotonic()
        if self.webhook_port is not None:
            self._proxy = asyncio.create_task(self._play_proxy(), name=f"{self.name}-proxy")
        return self

    async def start(self, within: float = 60.0) -> KesuProcess:
        """Start it and wait until it serves: it logged "kesu running on" (by then it polls, or
        its webhook is registered and listening, and its desk's socket is open)."""
        await self.spawn()
        await self.wait_ready(within)
        return self

    async def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while READY not in self.read_log():
            if self.returncode is not None:
                raise AssertionError(
                    f"{self.name} exited with status {self.returncode} before it was up\n"
                    + self.tail()
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not up after {within:.0f} s\n" + self.tail())
            await asyncio.sleep(0.05)
        if self.webhook_port is not None:  # registered, and the proxy forwards it
            await self.tg.wait_for(lambda: self.tg.webhook_url == self.local_webhook_url, 10)
        self.ready_after = time.monotonic() - self.started_at

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> int:
        """SIGKILL, like ``kill -9``: nothing of kesu runs after it. Returns the status."""
        assert self.proc is not None
        await self._end_proxy()
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
        return await self.proc.wait()

    async def stop(self, within: float = 30.0) -> int:
        """SIGTERM, then wait for the clean shutdown (SIGKILL if it does not come)."""
        assert self.proc is not None
        await self._end_proxy()
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), within)
            except TimeoutError:
                await self.kill()
                raise AssertionError(
                    f"{self.name} did not stop within {within:.0f} s of SIGTERM\n" + self.tail()
                ) from None
        return await self.proc.wait()

    async def wait(self, within: float) -> int:
        """Its exit status, once it ends by itself within ``within`` seconds."""
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} still running after {within:.0f} s\n" + self.tail()
            ) from None

    async def __aenter__(self) -> KesuProcess:
        try:
            return await self.start()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Whatever state it is in: it is not running afterwards (SIGKILL if need be)."""
        await self._end_proxy()
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()

    async def _end_proxy(self) -> None:
        if self._proxy is not None:
            self._proxy.cancel()
            await asyncio.gather(self._proxy, return_exceptions=True)
            self._proxy = None

    # -- its log -----------------------------------------------------------------------------

    def read_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def lines(self, containing: str) -> list[str]:
        return [line for line in self.read_log().splitlines() if containing in line]

    def tail(self, lines: int = 40) -> str:
        text = self.read_log().splitlines()[-lines:]
        return f"--- last {len(text)} lines of {self.log} ---\n" + "\n".join(text)
