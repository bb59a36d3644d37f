"""Several real ``kesu run`` processes on one PostgreSQL database, as issue 11 deploys them
(not a test itself): Telegram by webhook behind one round-robin load balancer, the Slack desk
in Socket Mode on every instance, and a burst of customers filing complaints at once.
tests/channels/test_two_instances.py asserts on it, bench/two_instances.py measures it.

    fleet = Fleet(tg, slack, database_url, workdir, cache_dir, instances=2)
    outcome = await fleet.burst(customers=30, within=45)   # starts, runs, stops the fleet

What it records, and where from:

* what each customer received, in order (the Telegram emulator's log, sorted per chat), read
  against :data:`TRANSCRIPT`: each message of the intake exactly once, in the dialogue's order;
* each case's cards: top-level posts in the staff channel naming the case (the Slack emulator);
* cases per customer (the database);
* with ``claims``: an agent claims the first cards as they appear, over Socket Mode (each click
  goes to the next instance's connection in turn); each claimed case's thread should say so
  once;
* which instance did what: webhook deliveries each answered (the balancer), Bot API sends and
  Slack posts each made (a one-backend proxy in front of each emulator per instance, so the
  call is known to come from that process), Socket Mode envelopes each connection took;
* the emulators' pace counters: sends faster than Telegram allows (about 30 a second per bot,
  one a second per chat) and staff-channel posts closer than Slack's one a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from storage.db import Store
from storage.schema import cases as cases_table
from storage.schema import customers as customers_table
from storage.schema import inbox as inbox_table
from storage.schema import outbox as outbox_table
from tests.channels.kesu_process import STAFF_CHANNEL, KesuProcess, free_port
from tests.channels.kill_scenario import COMPLAINTS, REPLIES_PER_DIALOGUE, Customer, Mailroom
from tests.fakes.balancer import Balancer
from tests.fakes.slack import FakeSlack, Message, Reply, text_of
from tests.fakes.telegram import FakeTelegram, Sent

#: What a customer going through the intake hears, in this order, each message once: a name
#: for the transcript, and words only that message of the nine says.
TRANSCRIPT: list[tuple[str, tuple[str, ...]]] = [
    ("greeting, anything to add?", ("还有要补充的吗",)),
    ("the category", ("对吗", "请选择")),
    ("which branch?", ("被投诉的网点",)),
    ("order number?", ("订单号",)),
    ("phone number?", ("联系电话",)),
    ("phone noted", ("已记录",)),
    ("what outcome?", ("希望得到怎样的处理",)),
    ("the restatement", ("请核对",)),
    ("the case number", ("编号是",)),
]
assert len(TRANSCRIPT) == REPLIES_PER_DIALOGUE
AGENT = "UAGENT001"  # a member of the staff channel, in the conftest's workspace and ours
CLAIMED = "认领了本案"  # the thread line a claim adds under the card


def step_of(message: Sent) -> int | None:
    """Which message of :data:`TRANSCRIPT` this is (None: none of them)."""
    for index, (_, words) in enumerate(TRANSCRIPT):
        if any(word in message.text for word in words):
            return index
    return None


def transcript(pile: list[Sent]) -> str:
    """A customer's chat as lines: the step each message is, and how it starts."""
    lines = []
    seen: Counter[int | None] = Counter()
    for n, message in enumerate(pile, 1):
        step = step_of(message)
        seen[step] += 1
        name = TRANSCRIPT[step][0] if step is not None else "(not in the intake)"
        again = "   <- again" if step is not None and seen[step] > 1 else ""
        first_line = message.text.splitlines()[0][:40] if message.text else ""
        lines.append(f"  {n:2}. {name:28} {first_line}{again}")
    return "\n".join(lines)


def cpu_seconds(pid: int) -> float:
    """user + system CPU a live process has used (Linux /proc); 0.0 if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """user + system CPU of every ``postgres`` process on this machine (the server and its
    backends; backends that ended since are not counted)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
    return total


async def workspace() -> FakeSlack:
    """A started Slack emulator with the staff channel and two agents (as the ``slack``
    fixture of tests/channels/conftest.py has it), for callers without that fixture."""
    slack = FakeSlack()
    await slack.start()
    slack.add_user("UAGENT001", "wang")
    slack.add_user("UCOLLEAG1", "li")
    slack.add_channel(STAFF_CHANNEL, "kesu-desk", ["UAGENT001", "UCOLLEAG1"], private=True)
    return slack


@dataclass
class Instance:
    """One kesu process and the proxies that tell its calls apart."""

    index: int
    kesu: KesuProcess
    bot_api: Balancer  # in front of the Telegram emulator, for this process only
    web_api: Balancer | None  # in front of the Slack emulator, for this process only
    cpu: float = 0.0  # CPU seconds used, when it was stopped or killed
    cpu_at_start: float = 0.0  # ... once it served
    killed_at: tuple[float, float] | None = None  # time.monotonic(), time.time()
    exit_status: int | None = None

    def telegram_sent(self) -> set[tuple[int, str]]:
        """(chat, text) of every message this process had the Bot API send."""
        return {
            (int(p.get("chat_id", 0)), str(p.get("text", "")))
            for p in (f.params for f in self.bot_api.calls(0, "/sendMessage"))
        }

    def slack_posted(self) -> list[str]:
        """The text of every message this process posted to Slack."""
        assert self.web_api is not None
        return [str(f.params.get("text", "")) for f in self.web_api.calls(0, "/chat.postMessage")]


@dataclass
class Outcome:
    """What one burst came to. ``report()`` is the JSON the benchmark prints."""

    instances: int
    customers: int
    kills: int = 0
    seconds_to_file: float = 0.0  # until every customer heard a case number (all_filed)
    all_filed: bool = False  # or until the time was up
    seconds_to_cards: float | None = None  # until every case had its card (None: not all)
    seconds_to_settle: float = 0.0  # until nothing was left to send
    piles: dict[int, list[Sent]] = field(default_factory=dict)  # customer → what they got
    stuck: dict[int, str] = field(default_factory=dict)  # customer → what they wait for
    numbers_heard: dict[int, str] = field(default_factory=dict)
    cases: dict[int, list[str]] = field(default_factory=dict)  # customer → case numbers stored
    cards: dict[str, list[Message]] = field(default_factory=dict)  # case number → its cards
    claims: dict[str, Reply] = field(default_factory=dict)  # case number → the click's ack
    claim_lines: dict[str, int] = field(default_factory=dict)  # case → "claimed" thread lines
    outbox_pending: int = 0  # rows still to send at the end
    inbox_unprocessed: int = 0  # updates stored, not processed at the end
    killed_at: float | None = None  # time.monotonic() of the SIGKILL (the emulators' clock
    killed_at_wall: float | None = None  # for Telegram; time.time(), Slack's)
    sent_not_recorded_at_kill: int = 0  # Telegram sends the store had not recorded then
    # Duplicates a kill explains: two copies, one sent by the killed instance (before the
    # kill, or in flight at it), the second arriving after the kill; and every other duplicate
    # (customer → texts).
    doubled_at_kill: int = 0
    doubled_otherwise: dict[int, list[str]] = field(default_factory=dict)
    cards_doubled_at_kill: int = 0
    cards_doubled_otherwise: dict[str, int] = field(default_factory=dict)
    webhook_updates: list[int] = field(default_factory=list)  # 2xx answers per instance
    webhook_failures: int = 0  # POSTs Telegram had to make again
    balancer_refusals: int = 0
    telegram_sends: list[int] = field(default_factory=list)  # sendMessage per instance
    slack_posts: list[int] = field(default_factory=list)  # chat.postMessage + update
    slack_envelopes: list[int] = field(default_factory=list)  # per Socket Mode connection
    too_fast: int = 0  # sends Telegram would have refused (~30/s per bot or 1/s per chat)
    too_fast_chat: int = 0  # of which: two to one chat under a second apart
    staff_posts_under_1s: int = 0  # staff-channel posts under a second after the one before
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    exit_statuses: list[int | None] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    # -- the customers' side -----------------------------------------------------------------

    def steps(self, customer: int) -> list[int | None]:
        return [step_of(m) for m in self.piles.get(customer, [])]

    @property
    def not_as_transcribed(self) -> dict[int, list[int | None]]:
        """Customers who did not get each of the nine messages once, in order."""
        want = list(range(len(TRANSCRIPT)))
        return {c: s for c in self.piles if (s := self.steps(c)) != want}

    @property
    def duplicates(self) -> dict[int, int]:
        """Customer → messages received more than once (each extra copy counts)."""
        found = {}
        for customer, pile in self.piles.items():
            seen = Counter((m.text, json.dumps(m.reply_markup, sort_keys=True)) for m in pile)
            extra = sum(n - 1 for n in seen.values())
            if extra:
                found[customer] = extra
        return found

    @property
    def messages_delivered(self) -> int:
        return sum(len(p) for p in self.piles.values())

    # -- the store and the staff channel -----------------------------------------------------

    @property
    def customers_without_case(self) -> list[int]:
        return [c for c, numbers in self.cases.items() if not numbers]

    @property
    def customers_with_two_cases(self) -> list[int]:
        return [c for c, numbers in self.cases.items() if len(numbers) > 1]

    @property
    def all_cases(self) -> list[str]:
        return sorted(n for numbers in self.cases.values() for n in numbers)

    @property
    def cases_without_card(self) -> list[str]:
        return [n for n in self.all_cases if not self.cards.get(n)]

    @property
    def cards_doubled(self) -> dict[str, int]:
        """Case number → cards posted for it, where more than one."""
        return {n: len(posts) for n, posts in self.cards.items() if len(posts) > 1}

    def report(self) -> dict[str, Any]:
        duplicates = self.duplicates
        filed = len(self.numbers_heard) / self.seconds_to_file if self.seconds_to_file else 0.0
        return {
            "instances": self.instances,
            "customers": self.customers,
            "kills": self.kills,
            "seconds_to_file_all": round(self.seconds_to_file, 2) if self.all_filed else None,
            "customers_filed": len(self.numbers_heard),
            "customers_per_second": round(filed, 2),
            "seconds_to_all_cards": (
                None if self.seconds_to_cards is None else round(self.seconds_to_cards, 2)
            ),
            "seconds_until_nothing_left_to_send": round(self.seconds_to_settle, 2),
            "messages_delivered": self.messages_delivered,
            "messages_expected": self.customers * len(TRANSCRIPT),
            "duplicates": sum(duplicates.values()),
            "customers_with_a_duplicate": len(duplicates),
            "customers_not_as_transcribed": len(self.not_as_transcribed),
            "customers_stuck": len(self.stuck),
            "cases": len(self.all_cases),
            "customers_without_case": len(self.customers_without_case),
            "customers_with_two_cases": len(self.customers_with_two_cases),
            "cards": sum(len(p) for p in self.cards.values()),
            "cards_duplicated": sum(n - 1 for n in self.cards_doubled.values()),
            "cases_without_card": len(self.cases_without_card),
            "claims": len(self.claims),
            "claims_acknowledged": sum(r.ok for r in self.claims.values()),
            "claim_lines_doubled": sum(1 for n in self.claim_lines.values() if n > 1),
            "claim_lines_missing": sum(1 for n in self.claim_lines.values() if n == 0),
            "outbox_pending_at_end": self.outbox_pending,
            "inbox_unprocessed_at_end": self.inbox_unprocessed,
            "sent_not_recorded_at_kill": self.sent_not_recorded_at_kill,
            "duplicates_explained_by_the_kill": self.doubled_at_kill,
            "duplicates_not_explained_by_a_kill": sum(map(len, self.doubled_otherwise.values())),
            "cards_duplicated_by_the_kill": self.cards_doubled_at_kill,
            "per_instance": {
                "webhook_updates_answered": self.webhook_updates,
                "telegram_sends": self.telegram_sends,
                "slack_posts_and_updates": self.slack_posts,
            },
            "slack_envelopes_per_connection": self.slack_envelopes,
            "webhook_posts_failed": self.webhook_failures,
            "balancer_refused_connections": self.balancer_refusals,
            "telegram_sends_over_its_limits": self.too_fast,
            "telegram_sends_to_one_chat_under_1s": self.too_fast_chat,
            "staff_channel_posts_under_1s_apart": self.staff_posts_under_1s,
            "cpu_seconds": {k: round(v, 1) for k, v in self.cpu_seconds.items()},
            "exit_statuses": self.exit_statuses,
        }

    def explain(self, most: int = 3) -> str:
        """The numbers, then the first few customers whose chat went wrong, as transcripts,
        then each process's warnings and errors: everything a failing assertion should show."""
        lines = [json.dumps(self.report(), ensure_ascii=False)]
        for customer, _ in list(self.not_as_transcribed.items())[:most]:
            lines.append(f"customer {customer} received:")
            lines.append(transcript(self.piles[customer]))
        if self.kills and self.doubled_otherwise:
            some = dict(list(self.doubled_otherwise.items())[:5])
            lines.append(f"duplicates no kill explains (customer: texts): {some}")
        if self.stuck:
            lines.append(f"stuck (customer: waiting for): {dict(list(self.stuck.items())[:10])}")
        bad_cases = {c: n for c, n in self.cases.items() if len(n) != 1}
        if bad_cases:
            lines.append(f"cases per customer, where not 1: {bad_cases}")
        doubled = self.cards_doubled
        if doubled:
            lines.append(f"cards per case, where more than 1: {dict(list(doubled.items())[:10])}")
        if self.cases_without_card:
            lines.append(f"cases without a card: {self.cases_without_card[:10]}")
        odd = {n: k for n, k in self.claim_lines.items() if k != 1}
        if odd:
            lines.append(f"claimed cases whose thread says so other than once: {odd}")
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            interesting = [
                line for line in text if " ERROR " in line or " WARNING " in line
            ] or text[-10:]
            lines.append(f"--- {log.name}: warnings and errors (or its tail) ---")
            lines.extend(interesting[-20:])
        return "\n".join(lines)


class Fleet:
    """``instances`` kesu processes on one database: one balancer in front of their webhook
    listeners, every one with the Slack desk in Socket Mode (when ``slack`` is given)."""

    def __init__(
        self,
        tg: FakeTelegram,
        slack: FakeSlack | None,
        database_url: str,
        workdir: Path,
        cache_dir: Path,
        *,
        instances: int = 2,
    ) -> None:
        self.tg = tg
        self.slack = slack
        self.database_url = database_url
        self.workdir = workdir
        self.cache_dir = cache_dir
        self.ports = [free_port() for _ in range(instances)]
        self.balancer = Balancer(
            [f"http://127.0.0.1:{port}" for port in self.ports], fail_timeout=5.0
        )
        self.instances: list[Instance] = []

    @property
    def public_url(self) -> str:
        """What every instance registers: the balancer's address, as https (Telegram and
        kesu's settings accept nothing else; the emulator is pointed at the http one)."""
        return f"https://127.0.0.1:{self.balancer.port}/telegram"

    async def start(self, *, at_once: bool = True, migrate_first: bool = True) -> None:
        """The balancer, then the processes: all at once (as ``docker compose up --scale``
        would), or each once the one before serves.

        ``migrate_first`` runs ``kesu db upgrade`` before, as a deployment's migration step
        would: every ``kesu run`` upgrades the schema as it starts, and two of them at once
        on an empty PostgreSQL database race to create the same tables (one dies with
        ``duplicate key value violates unique constraint "pg_type_typname_nsp_index"``)."""
        await self.balancer.start()
        for index, port in enumerate(self.ports):
            bot_api = Balancer([self.tg.url], name=f"bot-api-{index}")
            await bot_api.start()
            web_api = None
            if self.slack is not None:
                web_api = Balancer([self.slack.api_url.removesuffix("/api/")], name=f"web-{index}")
                await web_api.start()
            kesu = KesuProcess(
                self.tg,
                self.database_url,
                self.workdir,
                self.cache_dir,
                name=f"kesu-{index}",
                webhook_port=port,
                public_webhook_url=self.public_url,
                deliver_to=f"{self.balancer.url}/telegram",
                slack=self.slack,
                telegram_api_url=bot_api.url,
                slack_api_url=None if web_api is None else f"{web_api.url}/api/",
            )
            self.instances.append(Instance(index, kesu, bot_api, web_api))
        if migrate_first:
            await self.migrate()
        if at_once:
            await asyncio.gather(*(i.kesu.start() for i in self.instances))
        else:
            for instance in self.instances:
                await instance.kesu.start()

    async def migrate(self) -> None:
        """``python -m bot db upgrade`` with the first instance's settings."""
        kesu = self.instances[0].kesu
        kesu.workdir.mkdir(parents=True, exist_ok=True)
        upgrade = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "db", "upgrade",
            cwd=kesu.workdir, env=kesu.environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        said, _ = await upgrade.communicate()
        if upgrade.returncode != 0:
            raise AssertionError(f"kesu db upgrade failed:\n{said.decode(errors='replace')}")

    async def kill(self, index: int) -> None:
        instance = self.instances[index]
        instance.cpu = cpu_seconds(instance.kesu.pid)
        instance.killed_at = (time.monotonic(), time.time())
        instance.exit_status = await instance.kesu.kill()

    async def stop(self) -> None:
        """SIGTERM to each process still running (their exit statuses kept), then the
        proxies."""
        for instance in self.instances:
            if instance.kesu.running:
                instance.cpu = cpu_seconds(instance.kesu.pid)
                instance.exit_status = await instance.kesu.stop()

    async def close(self) -> None:
        for instance in self.instances:
            await instance.kesu.close()
            await instance.bot_api.stop()
            if instance.web_api is not None:
                await instance.web_api.stop()
        await self.balancer.stop()

    async def burst(
        self,
        *,
        customers: int,
        within: float,
        first_user: int = 700_000,
        kill_at: float | None = None,
        at_once: bool = True,
        claims: int = 0,
        cards_within: float | None = None,
    ) -> Outcome:
        """Start the fleet; ``customers`` go through the intake at once; with ``kill_at``
        (a share of all replies, 0 < kill_at < 1) the last instance is SIGKILLed once that
        many replies have arrived; an agent claims the first ``claims`` cases as their cards
        appear. Waits at most ``within`` seconds in all (start-up excluded) for every
        dialogue to end, every case to have its card and nothing to be left to send (with
        ``cards_within``: that long for the cards and the rest once the dialogues ended);
        stops the fleet with SIGTERM and reads the outcome. CPU is counted from the start of
        the burst, start-up excluded."""
        outcome = Outcome(len(self.ports), customers)
        mail = Mailroom(self.tg)
        sorter = asyncio.create_task(mail.run())
        people = [
            Customer(self.tg, mail, first_user + i, f"{COMPLAINTS[i % len(COMPLAINTS)]}(第{i}位)")
            for i in range(customers)
        ]
        dialogues: list[asyncio.Task[None]] = []
        claimer: asyncio.Task[None] | None = None
        try:
            await self.start(at_once=at_once)
            outcome.logs = [i.kesu.log for i in self.instances]
            cpu_before = (time.process_time(), postgres_cpu_seconds())
            for instance in self.instances:
                instance.cpu_at_start = cpu_seconds(instance.kesu.pid)
            began = time.monotonic()
            deadline = began + within
            dialogues = [asyncio.create_task(c.run()) for c in people]
            if claims:
                claimer = asyncio.create_task(self._claim(claims, outcome))
            if kill_at is not None:
                mark = int(customers * len(TRANSCRIPT) * kill_at)
                with contextlib.suppress(AssertionError):
                    await self.tg.wait_for(lambda: len(self.tg.sent) >= mark, within)
                await self.kill(len(self.instances) - 1)
                outcome.kills = 1
                killed_at = self.instances[-1].killed_at
                assert killed_at is not None
                outcome.killed_at, outcome.killed_at_wall = killed_at
                outcome.sent_not_recorded_at_kill = len(self.tg.sent) - await self._recorded()
            await asyncio.wait(dialogues, timeout=max(0.0, deadline - time.monotonic()))
            outcome.seconds_to_file = time.monotonic() - began
            outcome.all_filed = all(c.done for c in people)
            if cards_within is not None:
                deadline = time.monotonic() + cards_within
            numbers = [c.number for c in people if c.number is not None]
            if self.slack is not None:
                with contextlib.suppress(AssertionError):
                    await self._until(lambda: self._all_carded(numbers), deadline)
                    outcome.seconds_to_cards = time.monotonic() - began
            if claimer is not None:
                await asyncio.wait([claimer], timeout=max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(AssertionError):
                await self._settled(deadline)
            outcome.seconds_to_settle = time.monotonic() - began
            await asyncio.sleep(1.0)  # a message doubled at the very end would arrive now
            outcome.cpu_seconds["harness"] = time.process_time() - cpu_before[0]
            outcome.cpu_seconds["postgres"] = postgres_cpu_seconds() - cpu_before[1]
            await self.stop()
        finally:
            tasks = [*dialogues, sorter, *([claimer] if claimer is not None else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.close()
        mail.sort()
        for c in people:
            outcome.piles[c.id] = list(mail.piles.get(c.id, []))
            if not c.done:
                outcome.stuck[c.id] = c.waiting_for
            if c.number is not None:
                outcome.numbers_heard[c.id] = c.number
        await self._read(outcome, people)
        return outcome

    # -- waiting -----------------------------------------------------------------------------

    @staticmethod
    async def _until(predicate: Any, deadline: float) -> None:
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("waited in vain")
            await asyncio.sleep(0.05)

    def _all_carded(self, numbers: list[str]) -> bool:
        assert self.slack is not None
        posted = {m.text.split(" ", 1)[0] for m in self.slack.top_level(STAFF_CHANNEL)}
        return all(n in posted for n in numbers)

    async def _claim(self, claims: int, outcome: Outcome) -> None:
        """The agent claims each of the first ``claims`` cards once it is there."""
        assert self.slack is not None
        slack = self.slack
        while len(outcome.claims) < claims:
            cards = [m for m in slack.top_level(STAFF_CHANNEL) if "kesu_claim" in str(m.blocks)]
            fresh = [m for m in cards if m.text.split(" ", 1)[0] not in outcome.claims]
            if not fresh:
                await asyncio.sleep(0.05)
                continue
            card = fresh[0]
            number = card.text.split(" ", 1)[0]
            outcome.claims[number] = await slack.click(AGENT, "kesu_claim", number, message=card)

    async def _settled(self, deadline: float) -> None:
        """Until the outbox has nothing pending and the inbox nothing unprocessed."""
        while True:
            pending, unprocessed = await self._left()
            if pending == 0 and unprocessed == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError("still to send or process")
            await asyncio.sleep(0.2)

    async def _left(self) -> tuple[int, int]:
        store = Store.connect(self.database_url)
        try:
            async with store.read() as tx:
                pending = await tx.session.execute(
                    select(func.count())
                    .select_from(outbox_table)
                    .where(outbox_table.c.status == "pending")
                )
                unprocessed = await tx.session.execute(
                    select(func.count())
                    .select_from(inbox_table)
                    .where(inbox_table.c.status != "done")
                )
                return int(pending.scalar_one()), int(unprocessed.scalar_one())
        finally:
            await store.close()

    async def _recorded(self) -> int:
        """Telegram outbox rows recorded as sent."""
        store = Store.connect(self.database_url)
        try:
            async with store.read() as tx:
                sent = await tx.session.execute(
                    select(func.count())
                    .select_from(outbox_table)
                    .where(outbox_table.c.channel == "telegram", outbox_table.c.status == "sent")
                )
                return int(sent.scalar_one())
        finally:
            await store.close()

    # -- reading the outcome -----------------------------------------------------------------

    async def _read(self, outcome: Outcome, people: list[Customer]) -> None:
        store = Store.connect(self.database_url)
        try:
            async with store.read() as tx:
                rows = await tx.session.execute(
                    select(customers_table.c.channel_user_id, cases_table.c.number)
                    .select_from(
                        cases_table.join(
                            customers_table, cases_table.c.customer_id == customers_table.c.id
                        )
                    )
                    .where(customers_table.c.channel == "telegram")
                )
                numbers = [(str(r["channel_user_id"]), str(r["number"])) for r in rows]
        finally:
            await store.close()
        outcome.cases = {c.id: [] for c in people}
        for user, number in numbers:
            outcome.cases.setdefault(int(user), []).append(number)
        outcome.outbox_pending, outcome.inbox_unprocessed = await self._left()
        if self.slack is not None:
            staff = self.slack.top_level(STAFF_CHANNEL)
            for number in outcome.all_cases:
                outcome.cards[number] = [m for m in staff if m.text.split(" ", 1)[0] == number]
            times = sorted(
                c.at
                for c in self.slack.calls
                if c.method in ("chat.postMessage", "chat.update")
                and c.outcome == "ok"
                and c.params.get("channel") == STAFF_CHANNEL
            )
            for number in outcome.claims:
                outcome.claim_lines[number] = sum(
                    1
                    for card in outcome.cards.get(number, [])
                    for line in self.slack.thread(STAFF_CHANNEL, card.ts)
                    if CLAIMED in text_of(line)
                )
            outcome.staff_posts_under_1s = sum(1 for a, b in itertools.pairwise(times) if b - a < 1)
            outcome.slack_envelopes = self.slack.envelopes_by_socket
        outcome.webhook_updates = self.balancer.count("/telegram")
        outcome.balancer_refusals = self.balancer.refusals
        outcome.webhook_failures = sum(
            1
            for _, status in self.tg.webhook_deliveries
            if not (isinstance(status, int) and status < 300)
        )
        for i in self.instances:
            outcome.telegram_sends.append(len(i.bot_api.calls(0, "/sendMessage")))
            if i.web_api is not None:
                posts = i.web_api.calls(0, "/chat.postMessage") + i.web_api.calls(0, "/chat.update")
                outcome.slack_posts.append(len(posts))
            outcome.cpu_seconds[i.kesu.name] = max(0.0, i.cpu - i.cpu_at_start)
            outcome.exit_statuses.append(i.exit_status)
        outcome.too_fast = self.tg.too_fast
        outcome.too_fast_chat = self.tg.too_fast_chat
        self._sort_duplicates(outcome)

    def _sort_duplicates(self, outcome: Outcome) -> None:
        """Duplicates the kill explains (sent by the killed process, sent again after the
        kill: once), apart from the rest."""
        killed = next((i for i in self.instances if i.killed_at is not None), None)
        by_killed = killed.telegram_sent() if killed is not None else set()
        for customer, pile in outcome.piles.items():
            copies: dict[tuple[str, str], list[Sent]] = {}
            for m in pile:
                key = (m.text, json.dumps(m.reply_markup, sort_keys=True))
                copies.setdefault(key, []).append(m)
            for (text, _), sent in copies.items():
                if len(sent) < 2:
                    continue
                if (
                    killed is not None
                    and outcome.killed_at is not None
                    and len(sent) == 2
                    and outcome.killed_at < sent[1].at
                    and (customer, text) in by_killed
                ):
                    outcome.doubled_at_kill += 1
                else:
                    outcome.doubled_otherwise.setdefault(customer, []).extend(
                        [text[:30]] * (len(sent) - 1)
                    )
        posted = killed.slack_posted() if killed is not None and killed.web_api else []
        for number, cards in outcome.cards.items():
            if len(cards) < 2:
                continue
            if (
                outcome.killed_at_wall is not None
                and len(cards) == 2
                and outcome.killed_at_wall < float(cards[1].ts)
                and any(text.split(" ", 1)[0] == number for text in posted)
            ):
                outcome.cards_doubled_at_kill += 1
            else:
                outcome.cards_doubled_otherwise[number] = len(cards)
