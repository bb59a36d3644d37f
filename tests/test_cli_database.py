"""The ``kesu`` command when the database is not there or does not answer, as an operator
meets it: real processes, and what a person can fix is one line on stderr with exit status 1
— never a traceback, never the database password, never an empty database made by a command
that only looks (issue 13)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KESU = Path(sys.executable).parent / "kesu"
PASSWORD = "Zh4ng-s3cret-9"
TOKEN = "123456789:" + "A" * 35

#: Every command that opens the store, and what it is given.
STORE_COMMANDS = [
    ["run"],
    ["db", "upgrade"],
    ["case", "list"],
    ["case", "show", "TS20261122001"],
    ["inbox", "list"],
    ["outbox", "list", "--failed"],
    ["inbox", "retry", "1"],
    ["outbox", "drop", "1", "--reason", "test"],
]
#: Those that only look at, or change, what is there: none of them creates a database.
LOOKING = [c for c in STORE_COMMANDS if c[0] not in ("run", "db")]


def closed_port() -> int:
    """A port nobody listens on (the kernel's pick, released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kesu(cwd: Path, database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script, running this checkout's code, with nothing of the caller's
    KESU_* settings; a Telegram token so that ``kesu run`` gets as far as the database."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KESU_")}
    environ.update(
        PYTHONPATH=str(ROOT),
        KESU_DATABASE_URL=database_url,
        KESU_TELEGRAM_TOKEN=TOKEN,
        KESU_TELEGRAM_BASE_URL=f"http://127.0.0.1:{closed_port()}",
        **env,
    )
    return subprocess.run(
        [str(KESU), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_an_unreachable_postgresql_is_one_line_with_its_password_masked(
    tmp_path: Path, command: list[str]
) -> None:
    port = closed_port()
    done = kesu(tmp_path, f"postgresql+asyncpg://kesu:{PASSWORD}@127.0.0.1:{port}/kesu", *command)
    line = one_line_error(done)
    assert line.startswith(
        f"Error: cannot open the database postgresql+asyncpg://kesu:***@127.0.0.1:{port}/kesu: "
    )
    assert PASSWORD not in done.stderr + done.stdout


@pytest.mark.parametrize("command", [["run"], ["db", "upgrade"], ["case", "list"]], ids=" ".join)
def test_a_sqlite_file_in_a_missing_directory_is_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "no-such-dir"
    done = kesu(tmp_path, f"sqlite:///{missing / 'kesu.db'}", *command)
    assert one_line_error(done) == (
        f"Error: cannot open the database sqlite:///{missing / 'kesu.db'}: no directory {missing}"
    )
    assert not missing.exists()


@pytest.mark.parametrize("command", LOOKING, ids=" ".join)
def test_commands_that_look_never_create_a_database(tmp_path: Path, command: list[str]) -> None:
    done = kesu(tmp_path, "sqlite:///kesu.db", *command)
    assert one_line_error(done) == (
        "Error: no database at kesu.db: run `kesu db upgrade` first (`kesu run` also creates it)"
    )
    assert list(tmp_path.iterdir()) == []


def test_commands_print_no_migration_noise_unless_debugging(tmp_path: Path) -> None:
    """Alembic logs at INFO what it checks and runs; kesu's default level is INFO."""
    upgraded = kesu(tmp_path, "sqlite:///kesu.db", "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith("schema upgraded: empty -> ")
    assert upgraded.stderr == ""
    listed = kesu(tmp_path, "sqlite:///kesu.db", "case", "list")
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "no cases\n", "")
    debugging = kesu(tmp_path, "sqlite:///kesu.db", "case", "list", KESU_LOG_LEVEL="debug")
    assert debugging.returncode == 0
    assert "alembic" in debugging.stderr
