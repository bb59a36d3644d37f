"""Shared fixtures: a migrated store on every backend, a frozen clock, the default policy.

The ``store`` fixture is parametrised over SQLite and, when ``KESU_TEST_POSTGRES_URL`` is set
(``.ci/run`` sets it when a local server answers), PostgreSQL — one contract, every backend.
Each PostgreSQL test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir

from bot.clock import FrozenClock
from bot.config import load_policy
from bot.dispatcher import Dispatcher
from bot.domain.sla import Sla
from bot.flows.base import FlowDeps
from bot.nlp.classifier import Classifier
from bot.services import CaseService
from storage import migrate
from storage.db import Store

# Tests never write into the working directory: no .hypothesis/ example database, and
# hypothesis's own caches go to a temporary home removed at the end of the session.
hypothesis_settings.register_profile("kesu", database=None)
hypothesis_settings.load_profile("kesu")
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="kesu-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HYPOTHESIS_HOME, ignore_errors=True)


SHANGHAI = ZoneInfo("Asia/Shanghai")
POSTGRES_URL = os.environ.get("KESU_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@dataclass
class Backend:
    """Where a test's database lives, so a subprocess can reach the very same one."""

    name: str
    url: str
    engine_options: dict[str, Any]
    schema: str | None = None

    def connect(self) -> Store:
        return Store.connect(self.url, **self.engine_options)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'kesu.db'}", {})
        return
    assert POSTGRES_URL is not None
    schema = f"kesu_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Backend(
            "postgresql",
            POSTGRES_URL,
            {"connect_args": {"server_settings": {"search_path": schema}}},
            schema,
        )
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    s = backend.connect()
    await migrate.upgrade(s)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def clock() -> FrozenClock:
    # A Tuesday afternoon in Beijing, an ordinary working day.
    return FrozenClock(datetime(2026, 11, 17, 14, 30, tzinfo=SHANGHAI))


@pytest.fixture(scope="session")
def sla() -> Sla:
    policy = load_policy(None)
    return Sla(policy, policy.calendar.build(SHANGHAI))


@pytest.fixture
def service(store: Store, sla: Sla, clock: FrozenClock) -> CaseService:
    return CaseService(store, sla, clock, SHANGHAI, prefix="TS")


@pytest.fixture
def no_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory with no KESU_* variables, so a developer's .env can't leak in."""
    for key in list(os.environ):
        if key.startswith("KESU_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """jieba's dictionary cache for the session, outside the working directory."""
    return tmp_path_factory.mktemp("jieba-cache")


@pytest.fixture(scope="session")
def classifier(cache_dir: Path) -> Classifier:
    """The shipped default taxonomy; loading jieba once per session keeps the suite quick."""
    return Classifier.load("default", cache_dir)


@pytest.fixture
def dispatcher(
    store: Store, service: CaseService, sla: Sla, clock: FrozenClock, classifier: Classifier
) -> Dispatcher:
    """The dispatcher with every flow on a real store: what transcripts (tests/dialogue.py)
    talk to."""
    return Dispatcher(store, FlowDeps(service, classifier, sla, SHANGHAI), clock)


@pytest.fixture(autouse=True)
def keep_root_log_level() -> Iterator[None]:
    """`kesu` commands set the root logger's level from KESU_LOG_LEVEL (a test invoking
    `kesu run` leaves it at INFO); give it back, so no test sees another's logging."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
