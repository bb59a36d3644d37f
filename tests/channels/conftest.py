"""A running kesu (real python-telegram-bot, real HTTP) against the Telegram emulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import Runtime, build_runtime
from bot.channels.slack import SlackChannel
from bot.clock import TickingClock
from bot.config import Settings
from bot.delivery import Limits
from bot.nlp.classifier import Classifier
from tests.conftest import SHANGHAI
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

STAFF_CHANNEL = "CDESK0001"
AGENT, COLLEAGUE, BOSS, OUTSIDER = "UAGENT001", "UCOLLEAG1", "UBOSS0001", "UOUTSIDE1"


@dataclass
class Bot:
    """The bot under test, restartable on the same database."""

    tg: FakeTelegram
    settings: Settings
    clock: TickingClock
    classifier: Classifier
    runtime: Runtime | None = None
    task: asyncio.Task[None] | None = None
    stop_event: asyncio.Event | None = None

    slack: FakeSlack | None = None
    slack_options: dict[str, Any] | None = None
    # A failing update is retried after 0.05, 0.1, 0.2, 0.4 s, then parked (not 2 … 16 s).
    inbox_options: dict[str, Any] | None = None

    async def start(self, **telegram_options: Any) -> Runtime:
        # Telegram allows one message a second per chat; transcripts would crawl at that pace,
        # so the rate tests set the real limits and the rest go quicker.
        options = {"poll_timeout": 1.0, "limits": Limits(30.0, 0.01), **telegram_options}
        self.runtime = await build_runtime(
            self.settings,
            clock=self.clock,
            classifier=self.classifier,
            telegram_options=options,
            slack_options={"limits": Limits(50.0, 0.01), **(self.slack_options or {})},
            inbox_options={"backoff": 0.05, "sweep": 0.1, **(self.inbox_options or {})},
        )
        self.stop_event = asyncio.Event()
        polls = len(self.tg.method_calls("getUpdates"))
        self.task = asyncio.create_task(self.runtime.serve(self.stop_event))
        if not options.get("webhook_url") and not self.settings.telegram_webhook_url:
            await self.tg.wait_for(lambda: len(self.tg.method_calls("getUpdates")) > polls)
        if self.slack is not None:
            desk = self.desk_channel
            # Served from kesu's start; checked (and so acting) once the channel is ready.
            await self.slack.wait_for(lambda: desk.http_url is not None and desk.ready)
            self.slack.app_events_url = desk.http_url
        return self.runtime

    @property
    def desk_channel(self) -> SlackChannel:
        assert self.runtime is not None
        return next(c for c in self.runtime.channels if isinstance(c, SlackChannel))

    async def stop(self) -> None:
        if self.stop_event is not None and self.task is not None:
            self.stop_event.set()
            await asyncio.wait_for(self.task, 30)
            self.task = None

    async def kill(self) -> None:
        """Like kill -9 as far as kesu's state goes: no clean shutdown of dialogues."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        assert self.runtime is not None
        runtime = self.runtime
        for channel in runtime.channels:
            with contextlib.suppress(Exception):  # best effort: the point is an unclean stop
                await channel.stop()
        await runtime.kesu.close()
        self.task = None


@pytest.fixture(scope="session")
def shared_classifier(cache_dir: Path) -> Classifier:
    return Classifier.load("default", cache_dir)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def bot_settings(tg: FakeTelegram, tmp_path: Path, cache_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'kesu.db'}",
        telegram_token=tg.token,
        telegram_base_url=tg.url,
        cache_dir=cache_dir,
    )


@pytest.fixture
async def bot(
    tg: FakeTelegram, bot_settings: Settings, shared_classifier: Classifier
) -> AsyncIterator[Bot]:
    # Tuesday 17 November 2026, 14:30 in Beijing: a working afternoon.
    clock = TickingClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))
    b = Bot(tg, bot_settings, clock, shared_classifier)
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A workspace with the desk channel: two agents and a supervisor; one outsider."""
    fake = FakeSlack()
    await fake.start()
    for user, name in ((AGENT, "wang"), (COLLEAGUE, "li"), (BOSS, "zhao"), (OUTSIDER, "guest")):
        fake.add_user(user, name)
    fake.add_channel(STAFF_CHANNEL, "kesu-desk", [AGENT, COLLEAGUE, BOSS], private=True)
    fake.add_channel("CRANDOM01", "random", [AGENT, COLLEAGUE, BOSS, OUTSIDER])
    yield fake
    await fake.stop()


def http_desk_settings(bot_settings: Settings, slack: FakeSlack, **overrides: Any) -> Settings:
    """Settings for the Slack desk in HTTP mode (signed requests) against the emulator."""
    values: dict[str, Any] = {
        "slack_bot_token": SecretStr(slack.bot_token),
        "slack_signing_secret": SecretStr(slack.signing_secret),
        "slack_mode": "http",
        "slack_staff_channel": STAFF_CHANNEL,
        "slack_api_url": slack.api_url,
        "slack_http_listen": "127.0.0.1",
        "slack_http_port": 0,
    }
    return bot_settings.model_copy(update={**values, **overrides})


@pytest.fixture
async def desk(
    tg: FakeTelegram, slack: FakeSlack, bot_settings: Settings, shared_classifier: Classifier
) -> AsyncIterator[Bot]:
    """kesu with Telegram for customers and Slack (HTTP mode, signed) for staff."""
    settings = http_desk_settings(bot_settings, slack, slack_supervisors=[BOSS])
    clock = TickingClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))
    b = Bot(tg, settings, clock, shared_classifier, slack=slack)
    await b.start()
    yield b
    await b.stop()
