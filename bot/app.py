"""Composition root: the only place that wires storage, policy, clock and services together.

No module-level singletons: whoever needs a kesu builds one here and closes it when done.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from pydantic import SecretStr

from bot.channels.base import Channel
from bot.clock import Clock, SystemClock
from bot.config import Settings, calendar_warnings, load_policy
from bot.delivery import Policy
from bot.desk import Desk
from bot.dispatcher import Dispatcher
from bot.domain.cases import DomainError
from bot.domain.sla import Sla
from bot.flows.base import FlowDeps
from bot.inbox import Inbox
from bot.messages import Attachment
from bot.nlp.analyse import keywords_of
from bot.nlp.classifier import Classifier
from bot.outbox import OutboxWorker
from bot.outgoing import TextLimits
from bot.scheduler import EVERY as SWEEP_EVERY
from bot.scheduler import Scheduler
from bot.services import CaseService, upkeep
from bot.services.bursts import EVERY as BURSTS_EVERY
from bot.services.bursts import Bursts
from bot.web import WebServer
from storage import migrate
from storage.db import Store

log = logging.getLogger(__name__)


@dataclass
class Kesu:
    settings: Settings
    store: Store
    sla: Sla
    cases: CaseService
    clock: Clock
    #: Each channel's longest text, filled once the channels exist (``build_runtime``);
    #: everything that queues (dispatcher, case service, desk, outbox) shares this one.
    text_limits: TextLimits
    #: The burst alert's check (预警), run every minute beside the sweep.
    bursts: Bursts

    async def close(self) -> None:
        await self.store.close()


class SchemaOutOfDate(DomainError):
    pass


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    upgrade: bool = False,
) -> Kesu:
    """Wire a kesu.

    ``upgrade`` is the bot's start: it applies migrations and warns the operators about
    missing holiday data. Without it (inspection commands) a schema that is not at the current
    revision is refused with the command that fixes it.
    """
    clock = clock or SystemClock()
    policy = load_policy(settings.policy_file)
    calendar = policy.calendar.build(settings.tz)
    gap = policy.duty_gap() if upgrade else None
    if gap:  # the start refuses what `kesu policy check` refuses: nobody to remind at night
        raise DomainError(f"{settings.policy_file or 'built-in default policy'}: {gap}")
    # Only the start creates a database; an inspection finds one or says there is none.
    store = Store.connect(settings.database_url, create=upgrade)
    try:
        if upgrade:
            before, after = await migrate.upgrade(store)
            if before != after:
                log.info("database schema upgraded: %s -> %s", before or "empty", after)
            for warning in calendar_warnings(calendar, clock.now()):
                log.warning("%s", warning)
            above = await upkeep.cases_above_chain(store, policy)
            if above:
                top = policy.level(policy.top_level)
                log.warning(
                    "open cases at a level the policy's escalation chain no longer has; its top "
                    "level %s (%s) handles them: %s",
                    policy.top_level,
                    top.name_en,
                    ", ".join(above),
                )
        else:
            current, head = await migrate.current_revision(store), migrate.head_revision()
            if current != head:
                raise SchemaOutOfDate(
                    f"database schema is at {current or 'nothing'}, this kesu needs {head}: "
                    "run `kesu db upgrade` first"
                )
    except BaseException:
        await store.close()
        raise
    sla = Sla(policy, calendar)
    text_limits = TextLimits()
    cases = CaseService(
        store,
        sla,
        clock,
        settings.tz,
        prefix=settings.case_prefix,
        default_language=settings.default_language,
        text_limits=text_limits,
    )
    return Kesu(settings, store, sla, cases, clock, text_limits, Bursts(store, policy.burst))


class NoChannel(DomainError):
    pass


class FileSource(Protocol):
    """A customer channel the staff channel fetches a customer's photos and files from."""

    async def download(self, item: Attachment) -> bytes: ...


def freeze_startup_objects() -> None:
    """Take what start-up built out of the garbage collector's sight, for the process's
    life (``kesu run`` calls this once the runtime is built).

    jieba's dictionary alone is ~137,000 objects; every full collection would walk them.
    Measured under a 500-message burst (bench/intake.py): full collections paused the event
    loop 85–94 ms before, 7–18 ms after, and the p99 latency fell with them.
    """
    gc.collect()
    gc.freeze()


@dataclass
class Runtime:
    """A running bot: the store and services, the dialogue dispatcher, the outbox worker and
    the channels it talks on."""

    kesu: Kesu
    dispatcher: Dispatcher
    worker: OutboxWorker
    inbox: Inbox
    web: WebServer
    channels: list[Channel] = field(default_factory=list)
    #: Seconds between burst checks (tests shorten it).
    bursts_every: float = BURSTS_EVERY

    async def serve(self, stop: asyncio.Event) -> None:
        """Start every channel, the inbox and the outbox worker; run until ``stop`` is set.
        A channel that cannot go on (another process polls the same bot) stops kesu and its
        reason is raised once everything is shut down."""
        started: list[Channel] = []
        tasks: list[asyncio.Task[None]] = []
        fatal: list[BaseException] = []
        scheduler: Scheduler | None = None

        def fail(exc: BaseException) -> None:
            fatal.append(exc)
            stop.set()

        try:
            await self.web.start()  # before the channels: Telegram may deliver at setWebhook
            for channel in self.channels:
                channel.on_fatal = fail
                await channel.start()
                started.append(channel)
            # After the channels' checks: nothing queued by an earlier run goes out to a
            # channel before it has been checked.
            tasks.append(asyncio.create_task(self.inbox.run(stop)))
            tasks.append(asyncio.create_task(self.worker.run(stop)))
            clock, sweep, bursts = self.kesu.clock, self.kesu.cases.sweep, self.kesu.bursts
            scheduler = Scheduler(
                {
                    "sweep": (lambda: sweep.once(clock.now()), SWEEP_EVERY),
                    "bursts": (lambda: bursts.check(clock.now()), self.bursts_every),
                }
            )
            scheduler.start()
            log.info(
                "kesu running on %s; Ctrl-C or SIGTERM stops",
                ", ".join(c.channel for c in self.channels),
            )
            await stop.wait()
        finally:
            stop.set()
            if scheduler is not None:
                await scheduler.stop()  # before the store closes: a sweep finishes its case
            await self.web.stop()  # nothing more is accepted; what was is stored
            for task in tasks:  # the inbox finishes the rows it is on
                await task
            for channel in reversed(started):
                try:
                    await channel.stop()
                except Exception:
                    log.exception("stopping %s failed", channel.channel)
            await self.kesu.close()
        if fatal:
            raise fatal[0]


def _slack(
    settings: Settings,
    kesu: Kesu,
    desk: Desk,
    downloads: dict[str, FileSource],
    *,
    inbox: Inbox,
    web_server: WebServer,
    options: dict[str, Any],
) -> Channel:
    """The staff desk on Slack; customers' files are fetched from their own channel."""
    from bot.channels.slack import SlackChannel  # noqa: PLC0415 (SDK on demand)

    assert settings.slack_bot_token is not None  # noqa: S101 (checked by the caller)
    assert settings.slack_staff_channel is not None  # noqa: S101 (Settings requires it)

    async def fetch(channel: str, item: Attachment) -> bytes:
        source = downloads.get(channel)
        if source is None:
            raise LookupError(f"no running channel {channel!r} to fetch {item.file_id} from")
        return await source.download(item)

    def secret(value: SecretStr | None) -> str | None:
        return None if value is None else value.get_secret_value()

    return SlackChannel(
        desk,
        bot_token=settings.slack_bot_token.get_secret_value(),
        staff_channel=settings.slack_staff_channel,
        clock=kesu.clock,
        tz=settings.tz,
        mode=settings.slack_mode,
        app_token=secret(settings.slack_app_token),
        signing_secret=secret(settings.slack_signing_secret),
        api_url=settings.slack_api_url,
        http_listen=settings.slack_http_listen,
        http_port=settings.slack_http_port,
        staff_users=settings.slack_staff_users,
        supervisors=settings.slack_supervisors,
        supervisor_group=settings.slack_supervisor_group,
        roles=settings.slack_roles,
        reply_prefix=settings.slack_reply_prefix,
        fetch_file=fetch,
        inbox=inbox,
        web_server=web_server,
        **options,
    )


def staff_desk(kesu: Kesu, classifier: Classifier) -> Desk | None:
    """The Slack desk when one is configured, its projection listening to every case change
    (in the change's transaction), so that staff hear of changes made by any command."""
    settings = kesu.settings
    if settings.slack_bot_token is None:
        return None
    assert settings.slack_staff_channel is not None  # noqa: S101 (Settings requires it)
    desk = Desk(
        kesu.cases,
        classifier,
        channel="slack",
        staff_channel=settings.slack_staff_channel,
        report_channel=settings.slack_report_channel,
        text_limits=kesu.text_limits,
    )
    kesu.cases.listeners.append(desk.projection.on_change)
    kesu.cases.sweep.reminders.append(desk.reminders.remind)
    kesu.cases.sweep.reports.append(desk.reports.report)
    kesu.bursts.announcers.append(desk.reports.alert)
    return desk


def configured_channels(settings: Settings) -> list[str]:
    found = ["telegram"] if settings.telegram_token is not None else []
    if settings.slack_bot_token is not None:
        found.append("slack")
    return found


async def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    classifier: Classifier | None = None,
    telegram_options: dict[str, Any] | None = None,
    slack_options: dict[str, Any] | None = None,
    inbox_options: dict[str, Any] | None = None,
) -> Runtime:
    """Everything ``kesu run`` needs; refuses when no customer channel is configured."""
    if "telegram" not in configured_channels(settings):
        raise NoChannel(
            "no customer channel configured: set KESU_TELEGRAM_TOKEN (from @BotFather) in .env "
            "or the environment; see README, section Telegram"
        )
    kesu = await build(settings, clock=clock, upgrade=True)
    try:
        classifier = classifier or Classifier.load(settings.taxonomy, settings.cache_dir)
        await upkeep.backfill_keywords(kesu.store, classifier)
        kesu.cases.explain = functools.partial(keywords_of, classifier)
        deps = FlowDeps(kesu.cases, classifier, kesu.sla, settings.tz)
        # Filled from the channels once they exist (below); nothing is queued before.
        text_limits = kesu.text_limits
        dispatcher = Dispatcher(
            kesu.store,
            deps,
            kesu.clock,
            default_language=settings.default_language,
            text_limits=text_limits,
        )
        inbox = Inbox(
            kesu.store,
            kesu.clock,
            **{
                "attempts": settings.inbox_attempts,
                "retention": timedelta(days=settings.inbox_retention_days),
                **(inbox_options or {}),
            },
        )
        web_server = WebServer()
        channels: list[Channel] = []
        downloads: dict[str, FileSource] = {}  # where a customer's files can be fetched from
        if settings.telegram_token is not None:
            from bot.channels.telegram import TelegramChannel  # noqa: PLC0415 (SDK on demand)

            secret = settings.telegram_webhook_secret
            telegram = TelegramChannel(
                settings.telegram_token.get_secret_value(),
                dispatcher,
                inbox,
                web_server=web_server,
                base_url=settings.telegram_base_url,
                webhook_url=settings.telegram_webhook_url,
                webhook_secret=secret.get_secret_value() if secret else None,
                webhook_listen=settings.telegram_webhook_listen,
                webhook_port=settings.telegram_webhook_port,
                **(telegram_options or {}),
            )
            channels.append(telegram)
            downloads[telegram.channel] = telegram
        desk = staff_desk(kesu, classifier)
        if desk is not None:
            channels.append(
                _slack(
                    settings,
                    kesu,
                    desk,
                    downloads,
                    inbox=inbox,
                    web_server=web_server,
                    options=slack_options or {},
                )
            )
        text_limits.learn(channels)
        policy = Policy(
            attempts=settings.outbox_attempts,
            max_age=timedelta(hours=settings.outbox_max_age_hours),
            config_max_age=timedelta(hours=settings.outbox_config_max_age_hours),
        )
        worker = OutboxWorker(
            kesu.store,
            {c.channel: c for c in channels},
            kesu.clock,
            tz=settings.tz,
            policy=policy,
            text_limits=text_limits,
        )
        # Whoever queues wakes the outbox once their transaction is durable.
        dispatcher.on_enqueued = worker.wake
        if desk is not None:
            desk.actions.on_enqueued = worker.wake
    except BaseException:
        await kesu.close()
        raise
    return Runtime(kesu, dispatcher, worker, inbox, web_server, channels)
