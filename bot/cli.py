"""The ``kesu`` command (also ``python -m bot``).

Errors a person can fix (bad setting, unknown case, broken policy file) end in one line on
stderr and exit status 1; a traceback means a bug.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from bot import app, cli_nlp, cli_queues, cli_reports
from bot.cli_policy import print_policy, width
from bot.clock import SystemClock
from bot.config import Settings, calendar_warnings, load_policy, redact_logs, settings_from_env
from bot.domain.cases import STATUS_ZH, Case, DomainError, Status
from bot.domain.steps import CONFIRM_TIMEOUT
from bot.nlp.classifier import Classifier
from bot.services import CaseEvent
from bot.services.bursts import Alert
from bot.services.sweep import Acted
from storage import migrate
from storage.db import CannotOpen, NoDatabase, Store

T = TypeVar("T")
#: In the click context's ``meta``: what hides the settings' secrets in a message.
MASK = "kesu.mask"


def _settings() -> Settings:
    try:
        settings = settings_from_env()
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    root = logging.getLogger()
    if root.level != logging.DEBUG:  # --verbose wins over KESU_LOG_LEVEL
        root.setLevel(settings.log_level)
    mask = redact_logs(settings).mask  # no token or password in any log line
    if (ctx := click.get_current_context(silent=True)) is not None:
        ctx.meta[MASK] = mask
    # Alembic says at INFO what it checks and runs on every start and every command: noise
    # to an operator (kesu says itself when the schema changed), useful when debugging.
    debug = root.level == logging.DEBUG
    logging.getLogger("alembic").setLevel(logging.NOTSET if debug else logging.WARNING)
    return settings


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run one async command, turning what an operator can fix (a domain error, a database
    that is not there or does not answer) into a clean one-line failure."""

    async def runner() -> T:
        return await coro_factory()

    try:
        return asyncio.run(runner())
    except NoDatabase as exc:
        raise click.ClickException(
            f"{exc}: run `kesu db upgrade` first (`kesu run` also creates it)"
        ) from exc
    except (DomainError, CannotOpen) as exc:
        ctx = click.get_current_context(silent=True)
        mask: Callable[[str], str] = ctx.meta.get(MASK, str) if ctx else str
        raise click.ClickException(mask(str(exc))) from exc  # a library may quote a token


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def cli(verbose: bool) -> None:
    """kesu 客诉: complaint intake, SLA tracking and closure.

    Settings come from KESU_* environment variables or a .env file in the current directory
    (see .env.example).
    """
    level = logging.DEBUG if verbose else logging.WARNING  # KESU_LOG_LEVEL applies once read
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- run --------------------------------------------------------------------------------------


@cli.command("run")
def run_cmd() -> None:
    """Run the bot on every configured channel until Ctrl-C / SIGTERM.

    Applies pending migrations first. Refuses to start, with the reason, when no channel is
    configured (KESU_TELEGRAM_TOKEN) or a setting is malformed.
    """
    settings = _settings()
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)  # a running service says what it does

    async def go() -> None:
        runtime = await app.build_runtime(settings)
        app.freeze_startup_objects()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.serve(stop)  # logs "kesu running on …" once every channel is up

    _run(go)


# -- db ---------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations to KESU_DATABASE_URL (safe to run repeatedly)."""
    settings = _settings()

    async def go() -> tuple[str | None, str | None]:
        store = Store.connect(settings.database_url)
        try:
            return await migrate.upgrade(store)
        finally:
            await store.close()

    before, after = _run(go)
    if before == after:
        click.echo(f"schema already at revision {after}")
    else:
        click.echo(f"schema upgraded: {before or 'empty'} -> {after}")


# -- case -------------------------------------------------------------------------------------


@cli.group()
def case() -> None:
    """Inspect complaint cases; close the ones whose customer never answered."""


@case.command("close-unconfirmed")
def case_close_unconfirmed() -> None:
    """Close every resolved case whose confirmation window has passed (闭环).

    The window is the policy's [closure] confirm_within. Each case is closed by "system" with
    the note 客户未在确认期内答复,自动结案; staff see it in the case's thread. Safe to run again
    and from several machines at once: a case is closed once. It runs the whole sweep
    (`kesu sweep --once`), so other steps due are recorded too.
    """
    acted, _ = _sweep_once()
    closed = [a.number for a in acted if a.step == CONFIRM_TIMEOUT and a.outcome == "closed"]
    for number in closed:
        click.echo(f"{number}  closed: no answer within the confirmation window")
    click.echo(f"{len(closed)} case{'' if len(closed) == 1 else 's'} closed")


def _sweep_once() -> tuple[list[Acted], list[Alert]]:
    """One sweep and one burst check, as ``kesu run`` does every second and minute."""
    settings = _settings()

    async def go() -> tuple[list[Acted], list[Alert]]:
        kesu = await app.build(settings)
        try:
            if settings.slack_bot_token is not None:
                from bot.channels.slack.roles import Configured, configured  # noqa: PLC0415

                classifier = Classifier.load(settings.taxonomy, settings.cache_dir)
                desk = app.staff_desk(kesu, classifier)
                assert desk is not None  # noqa: S101 (a bot token makes one)
                # Whom reminders, reports and alerts mention: the configured people (a
                # running kesu also knows the channel's members; cron asks Slack nothing).
                roles = Configured(configured(settings.slack_roles, settings.slack_supervisors,
                                              settings.slack_supervisor_group))  # fmt: skip
                desk.projection.people = roles.people
                desk.reminders.roles = roles
            acted = await kesu.cases.sweep.once(kesu.clock.now())
            return acted, await kesu.bursts.check(kesu.clock.now())
        finally:
            await kesu.close()

    return _run(go)


@cli.command("sweep")
@click.option("--once", is_flag=True, required=True, help="One sweep, then exit (for cron).")
def sweep(once: bool) -> None:
    """Act on every clock step due now: reminder points and breaches (recorded), unanswered
    resolutions (closed); then check for bursts of complaints (alerts raised or over).
    `kesu run` does both by itself (every second, every minute); this is for operators who
    prefer cron. Safe beside a running kesu and on several machines: each acts once.
    """
    acted, alerts = _sweep_once()
    for a in acted:
        late = f" ({a.mark})" if a.mark else ""
        click.echo(f"{a.number}  {a.step}{late}: {a.outcome}")
    click.echo(f"{len(acted)} step{'' if len(acted) == 1 else 's'} acted")
    for alert in alerts:
        what = "over" if alert.ended_at else "ALERT"
        click.echo(f"burst {what}: category {alert.category}, {alert.intake.last_hour} in the "
                   f"last hour, usually {alert.intake.usual:.1f}")  # fmt: skip


@case.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def case_show(number: str, as_json: bool) -> None:
    """Show one case and its whole history, e.g. `kesu case show TS20261122001`."""
    settings = _settings()

    async def go() -> tuple[Case, list[CaseEvent]]:
        kesu = await app.build(settings)
        try:
            return await kesu.cases.get(number), await kesu.cases.history(number)
        finally:
            await kesu.close()

    found, events = _run(go)
    if as_json:
        body = _case_dict(found) | {"events": [_jsonable(_fields(e)) for e in events]}
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    tz = settings.tz
    rows = [
        ("number 编号", found.number),
        ("status 状态", f"{found.status.value} ({STATUS_ZH[found.status]})"),
        ("priority 优先级", found.priority.value),
        ("severity 通报级别", found.severity.value),
        ("risk 风险", found.risk.value),
        ("category 分类", found.category),
        ("subject 主题", found.subject),
        ("content 内容", found.content),
        ("party 被投诉对象", found.party or "-"),
        ("reference 单号", found.reference or "-"),
        ("assignee 处理人", found.assignee or "-"),
        ("escalation 升级级别", str(found.escalation_level)),
        ("received 受理时间", _local(found.received_at, tz)),
        ("first response due 首次响应时限", _local(found.first_response_due, tz)),
        ("resolution due 解决时限", _local(found.resolution_due, tz)),
        ("clock 计时", "paused 暂停" if found.clock_paused_at else "running 计时中"),
    ]
    column = max(width(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key}{' ' * (column - width(key))}  {value}")
    click.echo("\nhistory 处理记录:")
    for e in events:
        arrow = f"{e.from_status or '-'} -> {e.to_status}"
        click.echo(f"  {_local(e.at, tz)}  {e.actor}  {e.action}  {arrow}")
        for name, (old, new) in e.changes.items():
            click.echo(f"      {name}: {old!r} -> {new!r}")
        if e.note:
            click.echo(f"      note: {e.note}")


@case.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in Status]),
    help="Only cases in this status (repeatable).",
)
@click.option("--open", "only_open", is_flag=True, help="Only cases not closed or invalid.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def case_list(statuses: tuple[str, ...], only_open: bool, limit: int, as_json: bool) -> None:
    """List cases, newest first."""
    settings = _settings()
    wanted: list[Status] | None = [Status(s) for s in statuses] or None
    if only_open:
        wanted = [s for s in (wanted or list(Status)) if s.is_open]

    async def go() -> list[Case]:
        kesu = await app.build(settings)
        try:
            return await kesu.cases.list_cases(statuses=wanted, limit=limit)
        finally:
            await kesu.close()

    found = _run(go)
    if as_json:
        for c in found:
            click.echo(json.dumps(_case_dict(c), ensure_ascii=False))
        return
    if not found:
        click.echo("no cases")
        return
    for c in found:
        subject = c.subject or c.content[:20].replace("\n", " ")
        click.echo(
            f"{c.number}  {c.status.value:<11}  {c.priority.value}  "
            f"due {_local(c.resolution_due, settings.tz)}  {subject}"
        )


# -- policy -----------------------------------------------------------------------------------


@cli.group()
def policy() -> None:
    """SLA policy files (时限政策)."""


@policy.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def policy_check(file: Path | None) -> None:
    """Validate a policy FILE and print the effective table.

    Without FILE, checks KESU_POLICY_FILE or the built-in default.
    """
    settings = _settings()
    path = file or settings.policy_file
    try:
        pol = load_policy(path)
        calendar = pol.calendar.build(settings.tz)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    gap = pol.duty_gap()
    click.echo(f"policy {path or 'built-in default'}: {'refused' if gap else 'OK'}")
    print_policy(pol)
    for warning in calendar_warnings(calendar, SystemClock().now()):
        click.echo(f"warning: {warning}", err=True)
    if gap:  # after the table, so the operator sees the rota the gap is in
        raise click.ClickException(f"{path or 'built-in default'}: {gap}")


# -- helpers ----------------------------------------------------------------------------------


def _local(instant: datetime | None, tz: Any) -> str:
    return "-" if instant is None else instant.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _fields(obj: Any) -> dict[str, Any]:
    """The fields of a slotted dataclass, for JSON output."""
    return {name: getattr(obj, name) for name in obj.__slots__}


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else getattr(v, "value", v))
        for k, v in values.items()
    }


def _case_dict(c: Case) -> dict[str, Any]:
    return _jsonable(_fields(c))


cli.add_command(cli_nlp.classify_cmd)
cli.add_command(cli_nlp.taxonomy)
cli.add_command(cli_queues.inbox)
cli.add_command(cli_queues.outbox)
cli.add_command(cli_reports.report)


def main() -> None:
    cli(prog_name="kesu")


if __name__ == "__main__":  # pragma: no cover
    main()
