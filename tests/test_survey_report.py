"""The revisit survey's figures (issue 15 item 2; DOMAIN.md §6): per closure in the period,
what came of its survey; unreachable surveys counted apart and left out of the response rate
with those not sent yet; a case closed twice counts twice, each with its own answers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.clock import FrozenClock
from bot.domain.cases import Priority
from bot.domain.survey import Question
from bot.services import CaseService, NewComplaint
from bot.services.survey_report import survey_report
from storage.db import Store
from storage.repositories import Tx

AGENT = "slack:UAGENT001"


async def closed(service: CaseService, user: str, priority: Priority = Priority.B) -> str:
    complaint = NewComplaint("telegram", user, "快递三天没送到", priority=priority)
    case = await service.open_case(complaint)
    await service.claim(case.number, AGENT)
    await service.resolve(case.number, AGENT, "已重新派送")
    await service.closure.confirmed(case.number, f"customer:telegram:{user}", case.reopen_count)
    return case.number


async def answer(service: CaseService, store: Store, number: str, *answers: str) -> None:
    case = await service.get(number)
    actor = f"customer:telegram:{case.customer_id}"
    for question, value in zip((Question.SOLVED, Question.SOLUTION, Question.SERVICE), answers,
                               strict=False):  # fmt: skip

        async def one(tx: Tx, q: Question = question, v: str = value) -> None:
            await service.surveys.answer(tx, number, (case.customer_id, actor),
                                         (case.reopen_count, q, v))  # fmt: skip

        await store.write(one)


async def test_figures_per_closure_with_unreachable_apart(
    service: CaseService, store: Store, clock: FrozenClock
) -> None:
    start = clock.now()
    happy, fine, unsolved, _silent, blocked = [await closed(service, f"u{i}") for i in range(5)]
    blocked_case = await service.get(blocked)

    async def block(tx: Tx) -> None:
        await tx.customers.update(blocked_case.customer_id, clock.now(), blocked_at=clock.now())

    await store.write(block)
    clock.advance(timedelta(hours=1))
    await service.sweep.once(clock.now())  # sent, or unreachable
    await answer(service, store, happy, "y", "5", "5")
    await answer(service, store, fine, "y", "4", "3")
    await answer(service, store, unsolved, "n")  # reopens, one level up
    await service.claim(unsolved, AGENT)
    await service.resolve(unsolved, AGENT, "已上门处理")
    await service.closure.confirmed(unsolved, "customer:telegram:u2", 1)
    clock.advance(timedelta(hours=1))
    await service.sweep.once(clock.now())
    await answer(service, store, unsolved, "y", "5", "4")  # the second closure's survey
    clock.advance(timedelta(hours=72))
    await service.sweep.once(clock.now())  # the silent one expires
    await closed(service, "u9", Priority.A)  # closed just now: not sent yet

    found = await survey_report(store, start, clock.now() + timedelta(seconds=1))
    ab = found["A/B"]
    assert (ab.drawn, ab.waiting, ab.open, ab.answered, ab.reopened, ab.expired,
            ab.unreachable) == (7, 1, 0, 3, 1, 1, 1)  # fmt: skip
    assert ab.response_rate == pytest.approx(4 / 5)  # unreachable and waiting left out
    assert (ab.scored, ab.satisfied, ab.satisfaction) == (3, 3, 1.0)
    assert (ab.asked_solved, ab.solved) == (4, 3)
    assert found["C"].drawn == 0
    assert found["all"].as_dict()["sent"] == 5
    before = await survey_report(store, start - timedelta(days=30), start)
    assert before["all"].drawn == 0


async def test_a_closure_staff_undo_withdraws_its_survey(
    service: CaseService, store: Store, clock: FrozenClock
) -> None:
    """Found by review: a staff reopening clears the survey, so the next closure draws anew
    (an event of its own) and its answers are read in their round. Withdrawn before it was
    sent, a survey is not counted; after, it counts as expired."""
    start = clock.now()
    early, late = await closed(service, "u1"), await closed(service, "u2")
    await service.reopen(early, AGENT, "客户来电:问题仍在")  # before the survey went
    clock.advance(timedelta(hours=1))
    await service.sweep.once(clock.now())  # only late's survey goes
    await service.reopen(late, AGENT, "复查发现未处理完")  # after it went
    for number, user in ((early, "u1"), (late, "u2")):
        await service.claim(number, AGENT)
        await service.resolve(number, AGENT, "已彻底处理")
        await service.closure.confirmed(number, f"customer:telegram:{user}", 1)
    assert (await service.get(early)).survey == "due"  # drawn again, by its own event
    clock.advance(timedelta(hours=1))
    await service.sweep.once(clock.now())
    await answer(service, store, early, "y", "5", "5")
    await answer(service, store, late, "y", "2")  # a low score: reopened

    found = (await survey_report(store, start, clock.now() + timedelta(seconds=1)))["A/B"]
    assert (found.drawn, found.answered, found.reopened, found.expired) == (3, 1, 1, 1)
    assert (found.scored, found.satisfied) == (2, 1)  # round 1's answers, read as round 1


def test_the_report_command_prints_the_table_and_json(
    no_env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KESU_DATABASE_URL", f"sqlite:///{no_env_file}/kesu.db")
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    table = runner.invoke(cli, ["report", "surveys", "--since", "2026-11-01"])
    assert table.exit_code == 0, table.output
    assert "targets (DOMAIN §6): satisfaction ≥90% A/B, ≥85% C; response rate ≥15%" in table.output
    as_json = runner.invoke(cli, ["report", "surveys", "--since", "2026-11-01", "--json"])
    assert '"response_rate": null' in as_json.output
    october = runner.invoke(cli, ["report", "surveys", "--until", "2026-11-01"])
    assert october.exit_code == 0, october.output
    assert "of closures 2026-10-01 – 2026-10-31" in october.output  # the month before
    bad = runner.invoke(cli, ["report", "surveys", "--since", "November"])
    assert bad.exit_code == 2
    assert "is not a date" in bad.output
