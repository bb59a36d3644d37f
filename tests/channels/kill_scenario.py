"""The kill scenario that tests/channels/test_kill_inbox.py and bench/inbox_kill.py share:
customers in the middle of their intake dialogues against a real ``kesu run``
(tests/channels/kesu_process.py), the process SIGKILLed mid-burst and restarted, and an
:class:`Outcome` of what was lost, stuck or doubled, read from the emulator and the database
(not a test itself)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from storage.db import Store
from storage.schema import cases as cases_table
from storage.schema import customers as customers_table
from storage.schema import inbox as inbox_table
from storage.schema import outbox as outbox_table
from tests.channels.kesu_process import KesuProcess, free_port, release_long_poll
from tests.fakes.telegram import FakeTelegram, FakeUser, Sent

#
# Shared by tests/channels/test_kill_inbox.py and bench/inbox_kill.py.

COMPLAINTS = [
    "加油站员工态度恶劣,还骂人",
    "快递三天了还没派送,客服电话一直打不通",
    "物业费乱收费,每个月都多收我们二十元",
    "买的手机屏幕有质量问题,刚用两天就坏了",
]
#: What the bot sends a customer who goes through the whole intake: the greeting with the
#: first question, the category, the party, the reference, the phone number, its receipt and
#: the outcome question, the restatement, the case number.
REPLIES_PER_DIALOGUE = 9


@dataclass(frozen=True)
class Step:
    """What the customer waits for (any of these words in a message of the bot's), and the
    answer they give to that message."""

    expect: tuple[str, ...]
    answer: Callable[[FakeUser, Sent], Awaitable[int]] | None  # None: the dialogue is over


async def tap(user: FakeUser, sent: Sent, label: str) -> int:
    """Press ``label`` on that very message: an inline button, or a reply-keyboard key."""
    data = sent.inline(label)
    if data is not None:
        return await user.presses(data, sent)
    assert label in sent.buttons, f"no button {label!r} under {sent.text!r}"
    return await user.says(label)


async def _confirm_category(user: FakeUser, sent: Sent) -> int:
    if "对吗" in sent.text:
        return await tap(user, sent, "是")
    return await tap(user, sent, sent.buttons[0])  # unsure: the list, best guess first


STEPS = [
    Step(("还有要补充的吗",), lambda u, s: tap(u, s, "说完了 ✅")),
    Step(("对吗", "请选择"), _confirm_category),
    Step(("被投诉的网点",), lambda u, s: tap(u, s, "跳过")),
    Step(("订单号",), lambda u, s: tap(u, s, "跳过")),
    Step(("联系电话",), lambda u, s: u.shares_contact(f"1380013{u.id % 10_000:04d}")),
    Step(("希望得到怎样的处理",), lambda u, s: tap(u, s, "退款")),
    Step(("请核对",), lambda u, s: tap(u, s, "确认提交")),
    Step(("编号是",), None),
]


class Mailroom:
    """Sorts what the bot sent into each chat's pile and wakes its customer (one cursor over
    the emulator's log, so a thousand waiting customers cost nothing)."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg
        self.cursor = 0
        self.piles: dict[int, list[Sent]] = {}
        self.events: dict[int, asyncio.Event] = {}

    def watch(self, chat: int) -> asyncio.Event:
        self.piles.setdefault(chat, [])
        return self.events.setdefault(chat, asyncio.Event())

    def sort(self) -> None:
        sent = self.tg.sent
        for message in sent[self.cursor :]:
            self.piles.setdefault(message.chat_id, []).append(message)
            event = self.events.get(message.chat_id)
            if event is not None:
                event.set()
        self.cursor = len(sent)

    async def run(self) -> None:
        while True:
            self.sort()
            await asyncio.sleep(0.02)


class Customer:
    """One customer going through the intake, answering each question once, on the message
    that asked it; a message received twice is not answered twice."""

    def __init__(self, tg: FakeTelegram, mail: Mailroom, user_id: int, complaint: str) -> None:
        self.user = tg.user(user_id, f"客户{user_id}")
        self.mail = mail
        self.complaint = complaint
        self.event = mail.watch(user_id)
        self.step = 0  # the step of STEPS waited for now
        self.read = 0  # messages of the pile looked at
        self.pushed: list[int] = []  # update ids of everything the customer sent
        self.number: str | None = None
        self.done = False

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def waiting_for(self) -> str:
        return "/".join(STEPS[self.step].expect)

    def _next(self, expect: tuple[str, ...]) -> Sent | None:
        pile = self.mail.piles[self.id]
        while self.read < len(pile):
            message = pile[self.read]
            self.read += 1
            if any(word in message.text for word in expect):
                return message
        return None

    async def run(self) -> None:
        self.pushed.append(await self.user.says(self.complaint))
        for index, step in enumerate(STEPS):
            self.step = index
            while True:
                self.event.clear()  # before looking: a message sorted after it wakes us
                message = self._next(step.expect)
                if message is not None:
                    break
                await self.event.wait()
            if step.answer is None:
                self.number = message.text.split("编号是 ")[1].split("。")[0]
                self.done = True
                return
            self.pushed.append(await step.answer(self.user, message))


@dataclass(frozen=True)
class AtKill:
    """The moment after a SIGKILL, as the emulator and the store saw it."""

    replies: int  # messages the emulator had received from kesu
    recorded_sent: int  # outbox rows recorded as sent
    earlier_gap: int  # replies - recorded_sent at the kill before (0 at the first)
    updates_pushed: int  # updates the customers had sent
    stored: int  # inbox rows: the difference Telegram still had to deliver
    unprocessed: int  # inbox rows stored, not yet processed
    not_acknowledged: int  # stored, and still held by Telegram: it delivers them again

    @property
    def gap(self) -> int:
        """Sends the store does not know of, since the first start. A send either is recorded
        (a resend too) or not; only a kill leaves one unrecorded, so the gap grows by what
        each kill caught, and stays."""
        return self.replies - self.recorded_sent

    @property
    def sent_not_recorded(self) -> int:
        """Messages this kill caught sent and not yet recorded: the only ones the README
        allows to arrive twice."""
        return self.gap - self.earlier_gap

    @property
    def not_stored(self) -> int:
        return self.updates_pushed - self.stored


async def at_kill(
    tg: FakeTelegram, database_url: str, people: list[Customer], earlier: AtKill | None
) -> AtKill:
    replies, pushed = len(tg.sent), sum(len(c.pushed) for c in people)
    held = {str(u["update_id"]) for u in tg.updates}
    store = Store.connect(database_url)
    try:
        async with store.read() as tx:
            sent = await tx.session.execute(
                select(func.count())
                .select_from(outbox_table)
                .where(outbox_table.c.channel == "telegram", outbox_table.c.status == "sent")
            )
            rows = await tx.session.execute(
                select(inbox_table.c.update_id, inbox_table.c.status).where(
                    inbox_table.c.channel == "telegram"
                )
            )
    finally:
        await store.close()
    statuses = {str(r["update_id"]): str(r["status"]) for r in rows}
    return AtKill(
        replies=replies,
        recorded_sent=int(sent.scalar_one()),
        earlier_gap=earlier.gap if earlier is not None else 0,
        updates_pushed=pushed,
        stored=len(statuses),
        unprocessed=sum(1 for status in statuses.values() if status != "done"),
        not_acknowledged=len(held & statuses.keys()),
    )


@dataclass
class Outcome:
    """What a burst with kills came to; ``report()`` is the JSON the bench prints."""

    mode: str
    database: str
    customers: int
    kills: int = 0
    at_kills: list[AtKill] = field(default_factory=list)
    seconds: float = 0.0
    start_seconds: list[float] = field(default_factory=list)
    updates_pushed: int = 0
    updates_lost: list[int] = field(default_factory=list)  # pushed, never stored
    updates_unprocessed: dict[str, str] = field(default_factory=dict)  # stored, status != done
    stuck: dict[int, str] = field(default_factory=dict)  # customer → what they still wait for
    cases: dict[str, list[str]] = field(default_factory=dict)  # customer → case numbers
    numbers_heard: dict[int, str] = field(default_factory=dict)
    doubled: dict[int, list[str]] = field(default_factory=dict)  # customer → texts sent twice
    redelivered: int = 0  # updates a restarted process was given again ("seen before")
    left_with_telegram: int = 0  # updates the emulator still holds at the end
    webhook_posts_failed: int = 0  # POSTs Telegram had to make again (kesu was down)
    exit_status: int | None = None  # of the last process, stopped with SIGTERM
    logs: list[Path] = field(default_factory=list)

    @property
    def customers_without_case(self) -> list[str]:
        return [c for c, numbers in self.cases.items() if not numbers]

    @property
    def customers_with_two_cases(self) -> list[str]:
        return [c for c, numbers in self.cases.items() if len(numbers) > 1]

    @property
    def messages_doubled(self) -> int:
        return sum(len(texts) for texts in self.doubled.values())

    @property
    def sent_not_recorded_at_kills(self) -> int:
        return sum(k.sent_not_recorded for k in self.at_kills)

    def report(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "database": self.database,
            "customers": self.customers,
            "kills": self.kills,
            "killed_at_replies": [k.replies for k in self.at_kills],
            "at_each_kill": {
                "messages_sent_not_recorded": [k.sent_not_recorded for k in self.at_kills],
                "updates_not_yet_stored": [k.not_stored for k in self.at_kills],
                "updates_stored_not_processed": [k.unprocessed for k in self.at_kills],
                "updates_stored_not_acknowledged": [k.not_acknowledged for k in self.at_kills],
            },
            "updates_pushed": self.updates_pushed,
            "updates_lost": len(self.updates_lost),
            "updates_unprocessed": len(self.updates_unprocessed),
            "customers_stuck": len(self.stuck),
            "customers_without_case": len(self.customers_without_case),
            "customers_with_two_cases": len(self.customers_with_two_cases),
            "messages_doubled": self.messages_doubled,
            "customers_with_a_doubled_message": len(self.doubled),
            "most_doubled_for_one_customer": max(map(len, self.doubled.values()), default=0),
            "updates_redelivered_after_restart": self.redelivered,
            "webhook_posts_failed": self.webhook_posts_failed,
            "updates_left_with_telegram": self.left_with_telegram,
            "start_seconds": [round(s, 2) for s in self.start_seconds],
            "seconds": round(self.seconds, 2),
        }

    def explain(self) -> str:
        """Everything a failing assertion should show."""
        lines = [json.dumps(self.report(), ensure_ascii=False)]
        if self.stuck:
            lines.append(f"stuck (customer: waiting for): {self.stuck}")
        if self.updates_lost:
            lines.append(f"updates never stored: {self.updates_lost}")
        if self.updates_unprocessed:
            lines.append(f"stored, not processed: {self.updates_unprocessed}")
        if self.doubled:
            lines.append(f"doubled: {self.doubled}")
        bad = {c: numbers for c, numbers in self.cases.items() if len(numbers) != 1}
        if bad:
            lines.append(f"cases per customer, where not 1: {bad}")
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            interesting = [
                line for line in text if " ERROR " in line or " WARNING " in line
            ] or text[-10:]
            lines.append(f"--- {log.name}: warnings and errors (or its tail) ---")
            lines.extend(interesting[-30:])
        return "\n".join(lines)


async def burst_with_kills(
    tg: FakeTelegram,
    database_url: str,
    workdir: Path,
    cache_dir: Path,
    *,
    customers: int,
    kills: int = 1,
    webhook: bool = False,
    within: float = 120.0,
    first_user: int = 500_000,
) -> Outcome:
    """``customers`` go through the intake at once against a real ``kesu run``; it is killed
    with SIGKILL ``kills`` times, spread over the burst (each time once that share of all
    replies has arrived), and started again on the same database at once. Waits at most
    ``within`` seconds for every dialogue to end, stops the last process with SIGTERM, and
    reads the database."""
    database = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    outcome = Outcome("webhook" if webhook else "polling", database, customers)
    port = free_port() if webhook else None
    mail = Mailroom(tg)
    sorter = asyncio.create_task(mail.run())
    people = [
        Customer(tg, mail, first_user + i, f"{COMPLAINTS[i % len(COMPLAINTS)]}(第{i}位)")
        for i in range(customers)
    ]
    total = customers * REPLIES_PER_DIALOGUE
    processes: list[KesuProcess] = []

    def process(n: int) -> KesuProcess:
        kesu = KesuProcess(
            tg, database_url, workdir, cache_dir, name=f"kesu-{n}", webhook_port=port
        )
        processes.append(kesu)
        outcome.logs.append(kesu.log)
        return kesu

    began = time.monotonic()
    dialogues: list[asyncio.Task[None]] = []
    try:
        kesu = await process(0).start()
        outcome.start_seconds.append(kesu.ready_after)
        dialogues = [asyncio.create_task(c.run()) for c in people]
        deadline = began + within
        for k in range(kills):
            mark = total * (k + 1) // (kills + 1)
            with contextlib.suppress(AssertionError):  # late: killed all the same
                await tg.wait_for(
                    lambda m=mark: len(tg.sent) >= m, max(0.0, deadline - time.monotonic())
                )
            await kesu.kill()
            outcome.kills += 1
            earlier = outcome.at_kills[-1] if outcome.at_kills else None
            outcome.at_kills.append(await at_kill(tg, database_url, people, earlier))
            kesu = await process(k + 1).start()
            outcome.start_seconds.append(kesu.ready_after)
        await asyncio.wait(dialogues, timeout=max(0.0, deadline - time.monotonic()))
        outcome.seconds = time.monotonic() - began
        await asyncio.sleep(0.5)  # a message doubled at the very end would arrive now
        outcome.exit_status = await kesu.stop()
    finally:
        for task in dialogues:
            task.cancel()
        sorter.cancel()
        await asyncio.gather(*dialogues, sorter, return_exceptions=True)
        for kesu in processes:
            await kesu.close()
        await release_long_poll(tg)
    mail.sort()
    for c in people:
        outcome.updates_pushed += len(c.pushed)
        if not c.done:
            outcome.stuck[c.id] = c.waiting_for
        if c.number is not None:
            outcome.numbers_heard[c.id] = c.number
        seen: Counter[tuple[str, str]] = Counter()
        for message in mail.piles.get(c.id, []):
            key = (message.text, json.dumps(message.reply_markup, sort_keys=True))
            seen[key] += 1
            if seen[key] > 1:
                outcome.doubled.setdefault(c.id, []).append(message.text[:40])
    outcome.redelivered = sum(len(k.lines("seen before: ignored")) for k in processes)
    outcome.left_with_telegram = len(tg.updates)
    outcome.webhook_posts_failed = sum(
        1 for _, status in tg.webhook_deliveries if not (isinstance(status, int) and status < 300)
    )
    await read_database(outcome, database_url, people)
    return outcome


async def read_database(outcome: Outcome, database_url: str, people: list[Customer]) -> None:
    """Each customer's case numbers and the inbox's rows, as the store has them."""
    store = Store.connect(database_url)
    try:
        async with store.read() as tx:
            numbers = await tx.session.execute(
                select(customers_table.c.channel_user_id, cases_table.c.number)
                .select_from(
                    cases_table.join(
                        customers_table, cases_table.c.customer_id == customers_table.c.id
                    )
                )
                .where(customers_table.c.channel == "telegram")
            )
            stored = await tx.session.execute(
                select(inbox_table.c.update_id, inbox_table.c.status).where(
                    inbox_table.c.channel == "telegram"
                )
            )
    finally:
        await store.close()
    outcome.cases = {str(c.id): [] for c in people}
    for row in numbers:
        outcome.cases.setdefault(str(row["channel_user_id"]), []).append(str(row["number"]))
    statuses = {str(r["update_id"]): str(r["status"]) for r in stored}
    pushed = [uid for c in people for uid in c.pushed]
    outcome.updates_lost = [uid for uid in pushed if str(uid) not in statuses]
    outcome.updates_unprocessed = {u: s for u, s in statuses.items() if s != "done"}
