"""The emulators' own tests carry the ``emulator`` marker: ``pytest -m emulator`` checks that
the fakes answer as Telegram and Slack do; ``-m "not emulator"`` runs only kesu's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent == HERE:
            item.add_marker(pytest.mark.emulator)
