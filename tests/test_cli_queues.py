"""``kesu inbox`` and ``kesu outbox`` as an operator uses them: see what is waiting, parked or a
dead letter; retry one once its cause is fixed, drop one with a reason; one-line errors for a
wrong id."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import app
from bot.config import Settings
from storage.repositories import Tx
from tests.test_cli import env, kesu  # noqa: F401 (fixtures)


def seed() -> tuple[int, int]:
    """One parked update (its payload kept) and one waiting."""

    async def go() -> tuple[int, int]:
        k = await app.build(Settings(), upgrade=True)
        now = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)

        async def work(tx: Tx) -> tuple[int, int]:
            ids = []
            for n in (1, 2):
                row_id = await tx.inbox.add(
                    channel="telegram", update_id=str(n), chat="42", fingerprint=f"message:{n}",
                    seq=n, payload={"secret": "13800138000"}, now=now,
                )  # fmt: skip
                assert row_id is not None
                ids.append(row_id)
            await tx.inbox.park(ids[0], 5, "KeyError: 'chat'\ntraceback …", now)
            return ids[0], ids[1]

        try:
            return await k.store.write(work)
        finally:
            await k.close()

    return asyncio.run(go())


def row(row_id: int) -> dict[str, object]:
    async def go() -> dict[str, object]:
        k = await app.build(Settings())
        try:
            async with k.store.read() as tx:
                found = await tx.inbox.get(row_id)
                assert found is not None
                return dict(found)
        finally:
            await k.close()

    return asyncio.run(go())


def test_list_shows_waiting_and_parked_without_payloads(env: Path) -> None:  # noqa: F811
    parked, waiting = seed()
    result = kesu("inbox", "list")
    assert result.exit_code == 0, result.output
    assert "1 pending, 1 parked" in result.output
    assert f"{parked}  parked" in result.output
    assert "KeyError: 'chat'" in result.output
    assert f"{waiting}  pending" in result.output
    assert "13800138000" not in result.output  # the payload is never shown
    failed = kesu("inbox", "list", "--failed", "--json")
    lines = [json.loads(line) for line in failed.output.splitlines()]
    assert [line["id"] for line in lines] == [parked]
    assert "payload" not in lines[0]


def test_retry_puts_a_parked_update_back_first_in_line(env: Path) -> None:  # noqa: F811
    parked, _ = seed()
    result = kesu("inbox", "retry", str(parked))
    assert result.exit_code == 0, result.output
    again = row(parked)
    assert (again["status"], again["attempts"]) == ("pending", 0)
    assert again["payload"] == {"secret": "13800138000"}


def test_drop_erases_the_payload_and_keeps_the_reason(env: Path) -> None:  # noqa: F811
    parked, _ = seed()
    result = kesu("inbox", "drop", str(parked), "--reason", "客户已电话说明")
    assert result.exit_code == 0, result.output
    dropped = row(parked)
    assert dropped["status"] == "dropped"
    assert dropped["payload"] is None
    assert dropped["error"] == "dropped: 客户已电话说明"
    assert kesu("inbox", "retry", str(parked)).exit_code == 1  # gone for good


@pytest.mark.parametrize("command", [["retry", "999"], ["drop", "999", "--reason", "x"]])
def test_an_unknown_id_is_one_line(env: Path, command: list[str]) -> None:  # noqa: F811
    seed()
    result = kesu("inbox", *command)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no parked or waiting update with id 999"


def test_drop_needs_a_reason(env: Path) -> None:  # noqa: F811
    assert kesu("inbox", "drop", "1").exit_code == 2
    assert "must say why" in kesu("inbox", "drop", "1", "--reason", "  ").output


def seed_outbox() -> tuple[int, int, int]:
    """A dead letter, a message waiting behind a retry, and one delivered."""

    async def go() -> tuple[int, int, int]:
        k = await app.build(Settings(), upgrade=True)
        now = datetime(2026, 11, 17, 6, 30, tzinfo=UTC)

        async def work(tx: Tx) -> tuple[int, int, int]:
            ids = []
            for n in (1, 2, 3):
                row_id = await tx.outbox.enqueue(
                    channel="telegram", recipient="42", now=now,
                    payload={"text": f"您的手机 13800138000 第{n}条"},
                )  # fmt: skip
                assert row_id is not None
                ids.append(row_id)
            await tx.outbox.mark_failed(ids[0], "KeyError: 'card'\ntraceback …", counted=True)
            await tx.outbox.mark_retry(ids[1], "network: 502", now)
            await tx.outbox.mark_sent(ids[2], now, "m-1")
            return ids[0], ids[1], ids[2]

        try:
            return await k.store.write(work)
        finally:
            await k.close()

    return asyncio.run(go())


def message(row_id: int) -> dict[str, object]:
    async def go() -> dict[str, object]:
        k = await app.build(Settings())
        try:
            async with k.store.read() as tx:
                found = await tx.outbox.get(row_id)
                assert found is not None
                return dict(found)
        finally:
            await k.close()

    return asyncio.run(go())


def test_outbox_list_shows_waiting_and_dead_letters_without_texts(env: Path) -> None:  # noqa: F811
    dead, waiting, sent = seed_outbox()
    result = kesu("outbox", "list")
    assert result.exit_code == 0, result.output
    assert "outbox: 1 pending, 1 failed, 0 dropped" in result.output
    assert f"{dead}  failed   telegram  to 42  tries 1" in result.output
    assert "KeyError: 'card'" in result.output
    assert "traceback" not in result.output  # the reason's first line
    assert f"{waiting}  pending" in result.output
    assert f"{sent}  " not in result.output
    assert "13800138000" not in result.output  # texts are never shown
    failed = kesu("outbox", "list", "--failed", "--json")
    lines = [json.loads(line) for line in failed.output.splitlines()]
    assert [line["id"] for line in lines] == [dead]
    assert "payload" not in lines[0]


def test_outbox_retry_sends_a_dead_letter_again_and_drop_keeps_the_reason(
    env: Path,  # noqa: F811
) -> None:
    dead, waiting, sent = seed_outbox()
    result = kesu("outbox", "retry", str(dead))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"message {dead} will be sent again"
    again = message(dead)
    assert (again["status"], again["failures"]) == ("pending", 0)
    assert again["payload"] == {"text": "您的手机 13800138000 第1条"}
    result = kesu("outbox", "drop", str(waiting), "--reason", "客户已电话告知")
    assert result.exit_code == 0, result.output
    dropped = message(waiting)
    assert (dropped["status"], dropped["last_error"]) == ("dropped", "dropped: 客户已电话告知")
    refused = kesu("outbox", "retry", str(sent))  # delivered: nothing to retry
    assert refused.exit_code == 1
    assert refused.output.strip() == f"Error: no undelivered message with id {sent}"
    assert kesu("outbox", "drop", str(sent), "--reason", "x").exit_code == 1
    assert "must say why" in kesu("outbox", "drop", str(dead), "--reason", " ").output
