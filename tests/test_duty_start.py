"""`kesu run` refuses a rota that leaves nobody on duty where a calendar-clock target needs
someone, as `kesu policy check` does: a reminder at 03:00 with nobody to receive it is a
promise the desk cannot keep."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli

DEFAULT = (Path(__file__).parents[1] / "bot/policies/default.toml").read_text(encoding="utf-8")


def test_run_refuses_a_rota_with_nobody_on_duty_at_night(
    no_env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = no_env_file / "desk.toml"
    nobody = DEFAULT.replace('default = ["agent"]', "default = []")
    assert nobody != DEFAULT
    policy.write_text(nobody, encoding="utf-8")
    monkeypatch.setenv("KESU_POLICY_FILE", str(policy))
    monkeypatch.setenv("KESU_DATABASE_URL", f"sqlite:///{no_env_file / 'kesu.db'}")
    monkeypatch.setenv("KESU_TELEGRAM_TOKEN", "123456789:" + "A" * 35)
    checked = CliRunner().invoke(cli, ["policy", "check"], prog_name="kesu")
    run = CliRunner().invoke(cli, ["run"], prog_name="kesu")
    assert checked.exit_code == run.exit_code == 1
    said = run.output.strip().splitlines()
    assert len(said) == 1, run.output
    assert "nobody on duty" in said[0]
    assert str(policy) in said[0]
    assert not (no_env_file / "kesu.db").exists()  # refused before touching anything
