"""The ``kesu`` command as an operator uses it: set up the database, look at cases, check a
policy file — and a one-line error, never a traceback, for what a person can fix."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from importlib.resources import files
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from bot import app
from bot.cli import cli
from bot.clock import FrozenClock, SystemClock
from bot.config import Settings, calendar_warnings, load_policy
from bot.domain.calendar import BusinessCalendar, chinese_statutory_workday
from bot.domain.cases import Priority
from bot.services import NewComplaint
from storage.migrate import head_revision
from tests.conftest import SHANGHAI
from tests.queries import pending


@pytest.fixture
def env(no_env_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KESU_DATABASE_URL", f"sqlite:///{no_env_file / 'cli.db'}")
    return no_env_file


def kesu(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="kesu")


def seed_cases() -> list[str]:
    async def go() -> list[str]:
        clock = FrozenClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))
        k = await app.build(Settings(), clock=clock)
        try:
            a = await k.cases.open_case(
                NewComplaint(
                    "telegram",
                    "42",
                    "快递员态度恶劣 <!channel> & 😡",
                    subject="服务态度",
                    priority=Priority.B,
                )
            )
            b = await k.cases.open_case(NewComplaint("telegram", "43", "多扣了我 20 元"))
            await k.cases.claim(b.number, "slack:U1")
            await k.cases.correct(b.number, "slack:U1", "category", "billing", "客户说的是扣费")
            return [a.number, b.number]
        finally:
            await k.close()

    return asyncio.run(go())


def test_every_command_has_help() -> None:
    def walk(cmd: click.Command, path: list[str]) -> Iterator[list[str]]:
        yield path
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])

    paths = list(walk(cli, []))
    assert ["db", "upgrade"] in paths
    assert ["case", "show"] in paths
    assert ["case", "list"] in paths
    assert ["policy", "check"] in paths
    assert ["case", "close-unconfirmed"] in paths
    for path in paths:
        result = kesu(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: kesu" in result.output


def test_upgrade_then_list_and_show(env: Path) -> None:
    refused = kesu("case", "list")
    assert refused.exit_code == 1
    assert "run `kesu db upgrade` first" in refused.output

    first = kesu("db", "upgrade")
    assert first.exit_code == 0
    assert f"schema upgraded: empty -> {head_revision()}" in first.output
    assert f"already at revision {head_revision()}" in kesu("db", "upgrade").output
    assert kesu("case", "list").output.strip() == "no cases"

    a, b = seed_cases()
    listed = kesu("case", "list")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert [line.split()[0] for line in lines] == [b, a]
    assert kesu("case", "list", "--status", "claimed").output.split()[0] == b
    assert a not in kesu("case", "list", "--status", "claimed").output
    rows = [
        json.loads(line) for line in kesu("case", "list", "--open", "--json").output.splitlines()
    ]
    assert {r["number"] for r in rows} == {a, b}

    shown = kesu("case", "show", a.lower())
    assert shown.exit_code == 0
    assert "快递员态度恶劣 <!channel> & 😡" in shown.output  # verbatim
    assert "2026-11-18 09:30:00" in shown.output  # B: 4 working hours after Tue 14:30
    as_json = json.loads(kesu("case", "show", b, "--json").output)
    assert as_json["category"] == "billing"
    correction = as_json["events"][-1]
    assert correction["action"] == "correct"
    assert correction["changes"] == {"category": ["other", "billing"]}
    assert correction["note"] == "客户说的是扣费"


def test_unknown_case_and_bad_input_are_one_line_errors(env: Path) -> None:
    kesu("db", "upgrade")
    missing = kesu("case", "show", "TS20261117999")
    assert missing.exit_code == 1
    assert missing.output.strip() == "Error: no case TS20261117999"
    garbage = kesu("case", "show", "投诉一号")
    assert garbage.exit_code == 1
    assert "not a case number" in garbage.output
    assert kesu("case", "list", "--status", "lost").exit_code == 2


def test_bad_settings_are_named(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KESU_CASE_PREFIX", "ts-1")
    result = kesu("case", "list")
    assert result.exit_code == 1
    assert "KESU_CASE_PREFIX" in result.output
    monkeypatch.setenv("KESU_CASE_PREFIX", "TS")
    monkeypatch.setenv("KESU_TIMEZONE", "Mars/Olympus")
    assert "unknown time zone" in kesu("case", "list").output


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"KESU_SLACK_BOT_TOKEN": "xoxp-user-s3cret"}, "KESU_SLACK_BOT_TOKEN must be a bot token"),
        ({"KESU_TELEGRAM_WEBHOOK_URL": "http://a.example"}, "KESU_TELEGRAM_WEBHOOK_URL must be"),
        ({"KESU_TELEGRAM_TOKEN": "123:s3cret"}, "KESU_TELEGRAM_TOKEN: does not look like"),
        ({"KESU_SLACK_STAFF_USERS": "UAGENT01,zhao"}, "KESU_SLACK_STAFF_USERS: 'zhao' is not"),
        (
            {
                "KESU_SLACK_BOT_TOKEN": "xoxb-s3cret",
                "KESU_SLACK_STAFF_CHANNEL": "C0DESK",
                "KESU_SLACK_APP_TOKEN": "xapp-s3cret",
                "KESU_SLACK_REPORT_CHANNEL": "#supervisors",
            },
            "KESU_SLACK_REPORT_CHANNEL must be a channel id",
        ),
    ],
)
def test_bad_settings_name_their_variable_and_never_a_secret(
    env: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: str
) -> None:
    """A check across settings has no field of its own: it was shown as ``KESU_:``; and
    pydantic's "Value error, " is not for operators (issue 13)."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    result = kesu("case", "list")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: bad setting: {expected}")
    assert "KESU_:" not in result.output
    assert "Value error" not in result.output
    assert "s3cret" not in result.output


def test_settings_come_from_a_dot_env_file(no_env_file: Path) -> None:
    (no_env_file / ".env").write_text("KESU_CASE_PREFIX=YS\nKESU_POLICY_FILE=\n", encoding="utf-8")
    s = Settings()
    assert s.case_prefix == "YS"
    assert s.policy_file is None


def test_policy_check(env: Path) -> None:
    ok = kesu("policy", "check")
    assert ok.exit_code == 0
    assert "built-in default: OK" in ok.output
    assert "3 个工作日" in ok.output
    assert "专项小组" in ok.output
    assert "closure 闭环: the customer confirms within 3 个工作日 / 3 working days" in ok.output
    assert (
        "reminders 提醒: at 50%, 80% and at breach; digest window 5 min; customer without news "
        "(定期更新进展) after 24 小时(工作时间) / 24 h (business)"
    ) in ok.output
    assert (
        "survey 回访: A, B and flagged cases always, C at 30%; sent 1 小时(工作时间) / 1 h "
        "(business) after closure, reminded 24 小时 / 24 h (calendar) and expired 72 小时 / 72 h "
        "(calendar) after sending"
    ) in ok.output
    assert (
        "press enquiries 媒体问询: role pr; the press is told 「公共关系部」 / public relations "
        "department replies within 48 小时 / 48 h (calendar)"
    ) in ok.output
    assert (
        "burst alert 投诉突增预警: a category's last hour above 2 × the mean of the same hour "
        "over 4 weeks, at least 5"
    ) in ok.output

    broken = env / "desk.toml"
    broken.write_text("[sla.A]\nfrist_response = 1\n", encoding="utf-8")
    bad = kesu("policy", "check", str(broken))
    assert bad.exit_code == 1
    assert "desk.toml" in bad.output
    assert "frist_response" in bad.output
    assert "Traceback" not in bad.output
    assert kesu("policy", "check", str(env / "missing.toml")).exit_code == 1


def test_policy_check_prints_minutes_targets(env: Path) -> None:
    """A desk trying its policy out in minutes sees them in the table as it wrote them."""
    default = files("bot") / "policies" / "default.toml"
    text = default.read_text(encoding="utf-8").replace(
        'first_response = { hours = 1, clock = "calendar" }',
        'first_response = { minutes = 15, clock = "calendar" }',
    )
    quick = env / "quick.toml"
    quick.write_text(text, encoding="utf-8")
    result = kesu("policy", "check", str(quick))
    assert result.exit_code == 0, result.output
    assert "15 分钟 / 15 min (calendar)" in result.output


def test_policy_check_prints_each_level_s_role_and_title_and_the_rota(env: Path) -> None:
    result = kesu("policy", "check")
    assert result.exit_code == 0, result.output
    assert "role supervisor; the customer is told 「客服主管」 / customer service supervisor" in (
        result.output
    )
    assert "role taskforce;" in result.output
    assert "default (no shift)  agent" in result.output


def _with_duty(env: Path, duty: str) -> Path:
    default = (files("bot") / "policies" / "default.toml").read_text(encoding="utf-8")
    path = env / "rota.toml"
    path.write_text(default.split("[duty]")[0] + duty, encoding="utf-8")
    return path


def test_policy_check_refuses_a_rota_with_nobody_when_a_calendar_target_needs_someone(
    env: Path,
) -> None:
    nights = (
        '[duty]\ndefault = []\n[[duty.shift]]\ndays = ["workday"]\nfrom = "18:00"\n'
        'to = "09:00"\nwho = "oncall"\n'
    )
    result = kesu("policy", "check", str(_with_duty(env, nights)))
    assert result.exit_code == 1
    assert "rota.toml: refused" in result.output
    assert "workday 18:00–09:00 (next day)  oncall" in result.output  # the table, then why
    assert "default (no shift)              nobody" in result.output
    assert (
        "rota.toml: duty: Monday 00:00–09:00 nobody on duty, but A first response 1 h "
        "(calendar) runs on the calendar clock"
    ) in result.output
    assert "Traceback" not in result.output

    full = nights + '[[duty.shift]]\ndays = ["weekend", "holiday"]\nfrom = "09:00"\n'
    full += 'to = "09:00"\nwho = ["oncall", "supervisor"]\n'
    ok = kesu("policy", "check", str(_with_duty(env, full)))
    assert ok.exit_code == 0, ok.output
    assert "weekend holiday 09:00–09:00 (next day)  oncall, supervisor" in ok.output


def test_policy_check_prints_the_calendar_warnings_for_today(env: Path) -> None:
    result = kesu("policy", "check")
    policy = load_policy(None)
    expected = calendar_warnings(policy.calendar.build(SHANGHAI), SystemClock().now())
    for warning in expected:
        assert f"warning: {warning}" in result.output
    assert result.output.count("warning:") == len(expected)


def test_calendar_warnings_name_this_year_and_next() -> None:
    cal = load_policy(None).calendar.build(SHANGHAI)
    late_2026 = calendar_warnings(cal, datetime(2026, 11, 22, tzinfo=SHANGHAI))
    assert len(late_2026) == 1
    assert "2027" in late_2026[0]
    assert "[calendar.years.2027]" in late_2026[0]
    assert calendar_warnings(cal, datetime(2025, 3, 1, tzinfo=SHANGHAI)) == []


def test_next_year_s_warning_starts_in_november() -> None:
    """The State Council announces next year's schedule late in the year: warning about it
    from January on only taught operators to ignore the warnings. An unknown current year is
    named all year round."""

    def known_until_2026(day: date) -> bool | None:
        return None if day.year > 2026 else chinese_statutory_workday(day)

    cal = BusinessCalendar(tz=SHANGHAI, hours=((time(9), time(18)),), statutory=known_until_2026)

    def years(now: datetime) -> list[str]:
        return [w.split(" is not announced")[0][-4:] for w in calendar_warnings(cal, now)]

    assert years(datetime(2026, 3, 1, tzinfo=SHANGHAI)) == []
    assert years(datetime(2026, 10, 31, 23, 59, tzinfo=SHANGHAI)) == []
    # 16:00 UTC on 31 October is already 1 November at the desk: its own date counts.
    assert years(datetime(2026, 10, 31, 16, tzinfo=UTC)) == ["2027"]
    assert years(datetime(2026, 12, 31, tzinfo=SHANGHAI)) == ["2027"]
    assert years(datetime(2027, 3, 1, tzinfo=SHANGHAI)) == ["2027"]
    assert years(datetime(2027, 11, 1, tzinfo=SHANGHAI)) == ["2027", "2028"]
    (warning,) = calendar_warnings(cal, datetime(2027, 3, 1, tzinfo=SHANGHAI))
    assert "元旦" in warning  # what still counts as off,
    assert "调休" in warning  # what is unknown,
    assert "[calendar.years.2027]" in warning  # and what to do


def test_python_dash_m_bot_and_the_console_script(env: Path) -> None:
    for command in (
        [sys.executable, "-m", "bot", "--help"],
        [str(Path(sys.executable).parent / "kesu"), "--help"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "kesu 客诉" in done.stdout


def test_starting_applies_migrations_and_warns_about_missing_holidays(
    env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the bot's start does (``app.build(upgrade=True)``) on a brand-new database."""

    async def go() -> str:
        clock = FrozenClock(datetime(2026, 11, 22, 10, tzinfo=SHANGHAI))
        k = await app.build(Settings(), clock=clock, upgrade=True)
        try:
            opened = await k.cases.open_case(NewComplaint("telegram", "1", "网点拒收我的快递"))
            return opened.number
        finally:
            await k.close()

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(go()) == "TS20261122001"
    assert any("2027" in r.getMessage() for r in caplog.records)
    assert "schema already at revision" in kesu("db", "upgrade").output


def test_run_refuses_without_a_channel_or_with_a_bad_token(
    no_env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    none = kesu("run")
    assert none.exit_code == 1
    assert "no customer channel configured: set KESU_TELEGRAM_TOKEN" in none.output
    monkeypatch.setenv("KESU_TELEGRAM_TOKEN", "not-a-token")
    bad = kesu("run")
    assert bad.exit_code == 1
    assert "KESU_TELEGRAM_TOKEN" in bad.output
    assert "does not look like a bot token" in bad.output
    assert "not-a-token" not in bad.output  # secrets are not echoed back
    monkeypatch.setenv("KESU_TELEGRAM_TOKEN", "123456789:" + "A" * 35)
    monkeypatch.setenv("KESU_TELEGRAM_WEBHOOK_URL", "http://insecure.example/telegram")
    insecure = kesu("run")
    assert insecure.exit_code == 1
    assert "https://" in insecure.output


def test_case_close_unconfirmed_closes_only_the_cases_whose_window_passed(env: Path) -> None:
    assert kesu("db", "upgrade").exit_code == 0

    async def seed() -> list[str]:
        clock = FrozenClock(SystemClock().now() - timedelta(days=30))
        k = await app.build(Settings(), clock=clock)
        try:
            numbers = []
            for user in ("42", "43"):
                case = await k.cases.open_case(NewComplaint("telegram", user, "快递没送到"))
                await k.cases.claim(case.number, "slack:U1")
                if user == "43":  # resolved just now: its customer still has time
                    clock.advance(timedelta(days=30))
                await k.cases.resolve(case.number, "slack:U1", "已重新派送")
                numbers.append(case.number)
            return numbers
        finally:
            await k.close()

    old, recent = asyncio.run(seed())
    result = kesu("case", "close-unconfirmed")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{old}  closed: no answer within the confirmation window",
        "1 case closed",
    ]
    assert kesu("case", "close-unconfirmed").output.strip() == "0 cases closed"
    assert kesu("case", "list", "--status", "resolved").output.split()[0] == recent


def test_sweep_once_raises_a_burst_alert_and_says_so(
    env: Path, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    """Cron's `kesu sweep --once` runs the burst check too (issue 15 item 4), and its
    alert mentions the configured supervisors, though cron asks Slack nothing."""
    for name, value in (("BOT_TOKEN", "xoxb-1"), ("APP_TOKEN", "xapp-1"),
                        ("STAFF_CHANNEL", "CDESK0001"), ("REPORT_CHANNEL", "CSUPERV01"),
                        ("SUPERVISORS", "USUPER01")):  # fmt: skip
        monkeypatch.setenv(f"KESU_SLACK_{name}", value)
    monkeypatch.setenv("KESU_CACHE_DIR", str(cache_dir))
    assert kesu("db", "upgrade").exit_code == 0

    async def seed() -> None:
        k = await app.build(Settings(), clock=FrozenClock(SystemClock().now()))
        try:
            for user in range(6):
                await k.cases.open_case(NewComplaint("telegram", str(user), "多扣了钱",
                                                     category="billing"))  # fmt: skip
        finally:
            await k.close()

    asyncio.run(seed())
    result = kesu("sweep", "--once")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "burst ALERT: category billing, 6 in the last hour, usually 0.0"
    )
    assert "burst" not in kesu("sweep", "--once").output  # once per alert

    async def queued() -> list[tuple[str, str]]:
        k = await app.build(Settings())
        try:
            async with k.store.read() as tx:
                return [(r["recipient"], r["payload"]["text"]) for r in await pending(tx)]
        finally:
            await k.close()

    [alert] = [(to, text) for to, text in asyncio.run(queued()) if text.startswith("🚨")]
    assert alert[0] == "CSUPERV01"
    assert alert[1].splitlines()[0].endswith("类别 billing {slack:USUPER01}")
