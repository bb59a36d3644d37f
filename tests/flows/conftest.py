"""The dispatcher with every flow on a real store, for transcripts (tests/dialogue.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import FrozenClock
from bot.dispatcher import Dispatcher
from bot.domain.sla import Sla
from bot.flows.base import FlowDeps
from bot.nlp.classifier import Classifier
from bot.services import CaseService
from storage.db import Store
from tests.conftest import SHANGHAI


@pytest.fixture(scope="session")
def classifier(cache_dir: Path) -> Classifier:
    return Classifier.load("default", cache_dir)


@pytest.fixture
def dispatcher(
    store: Store, service: CaseService, sla: Sla, clock: FrozenClock, classifier: Classifier
) -> Dispatcher:
    return Dispatcher(store, FlowDeps(service, classifier, sla, SHANGHAI), clock)
