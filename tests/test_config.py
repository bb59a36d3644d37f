"""Every setting is documented: in .env.example (with a comment) and in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.desk import REPLY_LIMIT

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_env_example_with_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    for name in Settings.model_fields:
        key = f"KESU_{name.upper()}"
        matches = [i for i, line in enumerate(lines) if line.startswith(f"{key}=")]
        assert matches, f"{key} missing from .env.example"
        assert lines[matches[0] - 1].startswith("#"), f"{key} has no comment above it"


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`KESU_{name.upper()}`" in readme


def test_env_example_values_are_valid_settings() -> None:
    values = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.removeprefix("KESU_").lower()] = value or None
    settings = Settings(_env_file=None, **{k: v for k, v in values.items() if v is not None})
    assert settings.case_prefix == "TS"
    assert settings.timezone == "Asia/Shanghai"


def test_the_inbox_retention_stays_under_telegrams_week() -> None:
    assert Settings(_env_file=None).inbox_retention_days == 6  # type: ignore[call-arg]
    for bad in (7, 0, -1):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, inbox_retention_days=bad)  # type: ignore[call-arg]


def test_the_log_level_is_taken_in_any_case() -> None:
    # issue 13: KESU_LOG_LEVEL=debug was refused
    for given in ("debug", "Debug", " warning ", "ERROR"):
        level = Settings(_env_file=None, log_level=given).log_level  # type: ignore[call-arg]
        assert level == given.strip().upper()
    with pytest.raises(ValidationError):
        Settings(_env_file=None, log_level="verbose")  # type: ignore[call-arg]


def test_the_readme_states_the_reply_limit_the_desk_enforces() -> None:
    # issue 13: the README said 3,500 characters, the desk allows 3,000
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"At most {REPLY_LIMIT:,} characters" in readme
