"""``kesu report``: the desk's figures from the record. ``surveys``: the revisit survey's
response rate and satisfaction against DOMAIN.md §6's targets, unreachable surveys apart."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import click

from bot import app
from bot.clock import SystemClock
from bot.services.survey_report import RESPONSE_TARGET, TARGETS, Figures, survey_report


@click.group()
def report() -> None:
    """The desk's figures, read from the record (nothing is changed)."""


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@report.command("surveys")
@click.option(
    "--since", help="First day (YYYY-MM-DD, the desk's time zone); default: the 1st of the month."
)
@click.option("--until", help="Day after the last (YYYY-MM-DD); default: tomorrow.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def surveys(since: str | None, until: str | None, as_json: bool) -> None:
    """Revisit surveys (回访) of the closures in a period: drawn, waiting, open, answered,
    reopened, expired and unreachable; the response rate (unreachable and not yet sent left
    out) and satisfaction (solution scored 4–5) for A/B and C against the targets."""
    from bot.cli import _run, _settings  # noqa: PLC0415 (cli imports this module)

    settings = _settings()
    today = SystemClock().now().astimezone(settings.tz).date()
    end = _day(until) or today + timedelta(days=1)
    first = _day(since) or (end - timedelta(days=1)).replace(day=1)  # the month ending there
    if end <= first:
        raise click.BadParameter("--until must be after --since")
    start_at = datetime.combine(first, time(), settings.tz)
    end_at = datetime.combine(end, time(), settings.tz)

    async def go() -> dict[str, Figures]:
        kesu = await app.build(settings)
        try:
            return await survey_report(kesu.store, start_at, end_at)
        finally:
            await kesu.close()

    found = _run(go)
    if as_json:
        period = {"since": first.isoformat(), "until": end.isoformat()}
        click.echo(json.dumps(period | {g: f.as_dict() for g, f in found.items()}))
        return
    click.echo(f"revisit surveys 回访 of closures {first} – {end - timedelta(days=1)} "
               f"({settings.timezone})")  # fmt: skip
    head = ("", "drawn", "waiting", "open", "answered", "reopened", "expired", "unreachable",
            "response", "satisfied", "solved")  # fmt: skip
    click.echo("  ".join(f"{h:>11}" if i else f"{h:<4}" for i, h in enumerate(head)))
    for group, f in found.items():
        cells = (f.drawn, f.waiting, f.open, f.answered, f.reopened, f.expired, f.unreachable,
                 _pct(f.response_rate), _pct(f.satisfaction), _pct(f.solved_rate))  # fmt: skip
        click.echo("  ".join([f"{group:<4}", *(f"{c:>11}" for c in cells)]))
    targets = ", ".join(f"≥{t:.0%} {g}" for g, t in TARGETS.items())
    click.echo(f"targets (DOMAIN §6): satisfaction {targets}; response rate ≥{RESPONSE_TARGET:.0%}")
    click.echo("response = (answered + reopened) / (open + answered + reopened + expired); "
               "unreachable and waiting are not in it")  # fmt: skip


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
