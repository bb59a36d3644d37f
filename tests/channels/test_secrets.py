"""No token or password reaches an operator's screen or log (issue 13): a real ``kesu run``
whose bot token Telegram refuses, logging at DEBUG, and the log filter on its own."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import pytest

from bot.config import Redact, Settings, mask_secret, secrets
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
KESU = Path(sys.executable).parent / "kesu"
REFUSED = "987654321:" + "Qw3rtyUiop" * 4


async def test_a_refused_token_is_named_masked_and_never_printed(
    tg: FakeTelegram, tmp_path: Path, cache_dir: Path
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KESU_")}
    environ.update(
        PYTHONPATH=str(ROOT),  # this checkout's code
        KESU_DATABASE_URL=f"sqlite:///{tmp_path / 'kesu.db'}",
        KESU_TELEGRAM_TOKEN=REFUSED,  # well-formed, but not the emulator's bot
        KESU_TELEGRAM_BASE_URL=tg.url,
        KESU_CACHE_DIR=str(cache_dir),
    )
    proc = await asyncio.create_subprocess_exec(
        str(KESU),
        "-v",  # DEBUG: every library's log lines too
        "run",
        cwd=tmp_path,
        env=environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    text = (out + err).decode()
    assert proc.returncode == 1, text
    assert text.splitlines()[-1] == (
        "Error: Telegram refused the bot token 987654321:*** (KESU_TELEGRAM_TOKEN): "
        "check it with @BotFather"
    )
    assert "getMe" in text  # the DEBUG log did show the calls
    assert REFUSED.partition(":")[2] not in text


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("123456789:" + "A" * 35, "123456789:***"),
        ("xoxb-1-abcdef", "xoxb-***"),
        ("xapp-1-abcdef", "xapp-***"),
        ("s3cret-webhook", "***"),
    ],
)
def test_secrets_are_masked_keeping_only_what_says_which(secret: str, shown: str) -> None:
    assert mask_secret(secret) == shown


def test_the_log_filter_masks_every_secret_of_the_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="postgresql+asyncpg://kesu:pa%40ss-w0rd@db/kesu",
        telegram_token="123456789:" + "T" * 35,
        slack_bot_token="xoxb-1-botsecret",
        slack_app_token="xapp-1-appsecret",
        slack_staff_channel="CDESK0001",
    )
    redact = Redact(secrets(settings))
    url = f"https://api.telegram.org/bot123456789:{'T' * 35}/getMe"
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: POST %s %s", (url, "pa@ss-w0rd"), None
    )
    try:
        raise RuntimeError("auth failed with xoxb-1-botsecret and pa%40ss-w0rd")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    assert redact.filter(record)
    shown = logging.Formatter().format(record)
    assert "HTTP Request: POST https://api.telegram.org/bot123456789:***/getMe ***" in shown
    assert "auth failed with xoxb-*** and ***" in shown
    for secret in ("T" * 35, "botsecret", "appsecret", "pa@ss", "pa%40ss"):
        assert secret not in shown
