"""``kesu inbox`` and ``kesu outbox``: the operator's view of what is not processed or not
delivered yet, and what to do with an update that was parked or a message that became a dead
letter (retry it once the cause is fixed, or drop it with a reason)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from bot import app
from bot.clock import SystemClock
from bot.config import Settings
from storage.repositories import Tx
from storage.repositories.inbox import PARKED, PENDING
from storage.repositories.outbox import DROPPED, FAILED
from storage.schema import Row

T = TypeVar("T")


def _with_store(
    settings: Settings, work: Callable[[app.Kesu], Awaitable[T]]
) -> Callable[[], Awaitable[T]]:
    async def go() -> T:
        kesu = await app.build(settings)
        try:
            return await work(kesu)
        finally:
            await kesu.close()

    return go


@click.group()
def inbox() -> None:
    """Inbound updates waiting to be processed, and parked ones (failed every attempt)."""


@inbox.command("list")
@click.option("--failed", is_flag=True, help="Only parked updates (failed every attempt).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def inbox_list(failed: bool, limit: int, as_json: bool) -> None:
    """Updates not processed yet (waiting or retrying) and parked ones, oldest first. Payloads
    are not shown: they carry customers' names, phones and words."""
    from bot.cli import _local, _run, _settings  # noqa: PLC0415 (cli imports this module)

    settings = _settings()
    statuses = [PARKED] if failed else [PENDING, PARKED]

    async def read(kesu: app.Kesu) -> tuple[list[Row], dict[str, int]]:
        async with kesu.store.read() as tx:
            return await tx.inbox.listing(statuses, limit), await tx.inbox.counts()

    rows, counts = _run(_with_store(settings, read))

    def line(row: Row) -> str:
        return (
            f"{row['id']:>8}  {row['status']:<7}  {row['channel']:<8}  update {row['update_id']}"
            f"  chat {row['chat']}  tries {row['attempts']}"
            f"  received {_local(row['received_at'], settings.tz)}  {_first_line(row['error'])}"
        )

    _echo_listing("inbox", rows, counts, (PENDING, PARKED), as_json=as_json, line=line)


@inbox.command("retry")
@click.argument("row_id", metavar="ID", type=int)
def inbox_retry(row_id: int) -> None:
    """Process a parked (or waiting) update again, now: a running kesu takes it within a
    second, before the chat's later updates."""
    now = SystemClock().now()
    _apply(
        lambda tx: tx.inbox.retry(row_id, now),
        missing=f"no parked or waiting update with id {row_id}",
        done=f"update {row_id} will be processed again",
    )


@inbox.command("drop")
@click.argument("row_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why it is dropped (kept with the row).")
def inbox_drop(row_id: int, reason: str) -> None:
    """Give up on a parked (or waiting) update for good: its payload is erased, the reason
    kept, and it is never processed."""
    why, now = _reason(reason), SystemClock().now()
    _apply(
        lambda tx: tx.inbox.drop(row_id, why, now),
        missing=f"no parked or waiting update with id {row_id}",
        done=f"update {row_id} dropped",
    )


@click.group()
def outbox() -> None:
    """Messages waiting to be delivered, and dead letters (given up on: see the reason)."""


@outbox.command("list")
@click.option("--failed", is_flag=True, help="Only dead letters (failed for good).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def outbox_list(failed: bool, limit: int, as_json: bool) -> None:
    """Messages not delivered yet (waiting, or retrying after an error) and dead letters,
    oldest first. Texts are not shown: they carry customers' words."""
    from bot.cli import _local, _run, _settings  # noqa: PLC0415 (cli imports this module)

    settings = _settings()
    statuses = [FAILED] if failed else [PENDING, FAILED]

    async def read(kesu: app.Kesu) -> tuple[list[Row], dict[str, int]]:
        async with kesu.store.read() as tx:
            return await tx.outbox.listing(statuses, limit), await tx.outbox.counts()

    rows, counts = _run(_with_store(settings, read))

    def line(row: Row) -> str:
        return (
            f"{row['id']:>8}  {row['status']:<7}  {row['channel']:<8}  to {row['recipient']}"
            f"  tries {row['attempts']}  queued {_local(row['created_at'], settings.tz)}"
            f"  {_first_line(row['last_error'])}"
        )

    summarised = (PENDING, FAILED, DROPPED)
    _echo_listing("outbox", rows, counts, summarised, as_json=as_json, line=line)


@outbox.command("retry")
@click.argument("row_id", metavar="ID", type=int)
def outbox_retry(row_id: int) -> None:
    """Deliver a dead letter (or a waiting or dropped message) again, now: a running kesu
    sends it within a second, as its recipient's next message."""
    now = SystemClock().now()
    _apply(
        lambda tx: tx.outbox.retry(row_id, now),
        missing=f"no undelivered message with id {row_id}",
        done=f"message {row_id} will be sent again",
    )


@outbox.command("drop")
@click.argument("row_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why it is dropped (kept with the row).")
def outbox_drop(row_id: int, reason: str) -> None:
    """Never deliver a dead letter (or a waiting message); the reason is kept with it."""
    why = _reason(reason)
    _apply(
        lambda tx: tx.outbox.drop(row_id, why),
        missing=f"no waiting message or dead letter with id {row_id}",
        done=f"message {row_id} dropped",
    )


def _reason(reason: str) -> str:
    if not reason.strip():
        raise click.ClickException("--reason must say why")
    return f"dropped: {reason.strip()}"


def _apply(change: Callable[[Tx], Awaitable[bool]], *, missing: str, done: str) -> None:
    """One operator's change in one transaction: ``done`` when it applied, else ``missing``
    as a one-line error (exit status 1)."""
    from bot.cli import _run, _settings  # noqa: PLC0415 (cli imports this module)

    settings = _settings()

    async def work(kesu: app.Kesu) -> bool:
        return await kesu.store.write(change)

    if not _run(_with_store(settings, work)):
        raise click.ClickException(missing)
    click.echo(done)


def _row_dict(row: Row) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def _echo_listing(
    queue: str,
    rows: list[Row],
    counts: dict[str, int],
    summarised: tuple[str, ...],
    *,
    as_json: bool,
    line: Callable[[Row], str],
) -> None:
    """A queue's listing, the same shape for the inbox and the outbox: one JSON object per
    row, or a summary of counts and one line per row."""
    if as_json:
        for row in rows:
            click.echo(json.dumps(_row_dict(row), ensure_ascii=False, default=str))
        return
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in summarised)
    click.echo(f"{queue}: {summary}")
    for row in rows:
        click.echo(line(row).rstrip())


def _first_line(error: str | None) -> str:
    """An error's first line, cut to 100 characters: a listing row stays one line."""
    return error.splitlines()[0][:100] if error else ""
