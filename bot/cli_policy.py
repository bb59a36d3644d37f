"""How `kesu policy check` prints a policy: the SLA table, business hours, the escalation chain
with each level's role and customer-facing title, the duty rota and closure — in columns that
stay aligned with CJK text. Apart from cli.py, which only parses and refuses."""

from __future__ import annotations

import unicodedata

import click

from bot.domain.cases import Priority
from bot.domain.policy import Policy
from bot.domain.targets import Target


def print_policy(pol: Policy) -> None:
    table = [("priority 优先级", "first response 首次响应", "resolution 解决")]
    for p in Priority:
        s = pol.sla[p]
        table.append(
            (f"{p.value} {s.name_zh} {s.name_en}", _target(s.first_response), _target(s.resolution))
        )
    widths = [max(width(row[i]) for row in table) for i in range(2)]
    click.echo()
    for row in table:
        cells = [f"{row[i]}{' ' * (widths[i] - width(row[i]))}" for i in range(2)]
        click.echo(f"{cells[0]}  {cells[1]}  {row[2]}")
    hours = ", ".join(f"{a}-{b}" for a, b in pol.calendar.hours)
    basis = "Chinese statutory calendar" if pol.calendar.statutory else "Monday-Friday"
    click.echo(f"\nbusiness hours: {hours} on working days ({basis})")
    if pol.calendar.years:
        listed = ", ".join(str(y) for y in sorted(pol.calendar.years))
        click.echo(f"years listed in the file: {listed}")
    click.echo("\nescalation chain:")
    for level, step in enumerate(pol.escalation):
        parts = []
        if step.review_within:
            parts.append(f"review within {step.review_within.describe()}")
        if step.escalate_after:
            parts.append(f"escalate after {step.escalate_after.describe()}")
        if level == 0:
            parts.append("its times are the SLA targets above")
        elif level == pol.top_level:
            parts.append("top of the chain")
        detail = "; ".join(parts)
        click.echo(f"  {level}  {step.name_zh} ({step.name_en}): {detail}")
        click.echo(
            f"     role {step.role}; the customer is told 「{step.title_zh}」 / {step.title_en}"
        )
    _print_duty(pol)
    review = "a supervisor reviews first" if pol.closure.review_before_confirm else "no review"
    click.echo(
        f"\nclosure 闭环: the customer confirms within {_target(pol.closure.confirm_within)}, "
        f"else it closes on its own; {review}"
    )
    reminders, survey = pol.reminders, pol.survey
    silence = _target(reminders.silence) if reminders.silence is not False else "off"
    points = ", ".join(f"{p}%" for p in reminders.points)
    click.echo(
        f"reminders 提醒: at {points} and at breach; digest window {reminders.digest_window} "
        f"min; customer without news (定期更新进展) after {silence}"
    )
    click.echo(
        f"survey 回访: A, B and flagged cases always, C at {survey.sample_rate:.0%}; sent "
        f"{_target(survey.delay)} after closure, reminded {_target(survey.remind_after)} and "
        f"expired {_target(survey.expire_after)} after sending"
    )
    media = pol.media
    click.echo(
        f"press enquiries 媒体问询: role {media.owner}; the press is told 「{media.title_zh}」 / "
        f"{media.title_en} replies within {_target(media.reply_within)}"
    )
    burst = pol.burst
    click.echo(
        f"burst alert 投诉突增预警: a category's last hour above {burst.factor:g} × the mean of "
        f"the same hour over {burst.weeks} weeks, at least {burst.minimum}"
        if burst.enabled
        else "burst alert 投诉突增预警: off"
    )


def _print_duty(pol: Policy) -> None:
    """The rota as the file gives it: every shift covering an instant counts, none = default."""
    rows = [(s.describe(), ", ".join(s.who)) for s in pol.duty.shift]
    rows.append(("default (no shift)", ", ".join(pol.duty.default) or "nobody"))
    column = max(width(when) for when, _ in rows)
    click.echo("\non duty 值班 (shifts add up; roles' people are set per staff channel):")
    for when, who in rows:
        click.echo(f"  {when}{' ' * (column - width(when))}  {who}")


def _target(t: Target) -> str:
    return f"{t.describe_zh()} / {t.describe()}"


def width(text: str) -> int:
    """Columns a terminal gives ``text``: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
