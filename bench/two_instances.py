"""One kesu instance against two on the same PostgreSQL server, side by side in one run (issue
11: several instances behind one webhook URL).

    python bench/two_instances.py                  # 50 customers: a smoke run
    python bench/two_instances.py --customers 1000

Each run is a real ``kesu run`` per instance (tests/channels/two_instances.py) on a scratch
database of its own: Telegram by webhook behind a round-robin balancer, the Slack desk in
Socket Mode on every instance. The customers all file a complaint at once (nine messages of
the bot's each, answered one by one) against the Telegram emulator. By default it accepts
every send and counts those faster than Telegram allows (about 30 messages a second per bot,
one a second per chat): Telegram lets short bursts to one chat through, so a message sent
twice within a second reaches the customer twice, as in issue 11. ``--telegram-limits
enforce`` has it answer 429 to each of those instead, which also refuses most copies of a
message sent twice at once and so hides duplicates.

Prints JSON: per run customers, seconds until all had their case number, throughput
(customers a second), messages delivered, duplicates (copies beyond the first of a message),
cases, cards in the staff channel, cards duplicated, customers without a case, each
instance's share of the work and CPU; then two against one, and for each run the floors its
time is bounded by (Telegram's 30 a second per bot, one a second per chat, Slack's one post a
second per channel for the cards) and the CPU each process used, from which ``bottleneck``
names the likeliest limit. Cards are waited for ``--cards-within`` seconds past the filing
(by default long enough for Slack's pace). Nothing here asserts anything: read the numbers.
Needs PostgreSQL (KESU_TEST_POSTGRES_URL or --database-url); without it prints why and ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.channels.kesu_process import scratch_database  # noqa: E402
from tests.channels.two_instances import TRANSCRIPT, Fleet, Outcome, workspace  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

TELEGRAM_PER_SECOND = 30.0  # per bot, whatever the number of instances
SLACK_PER_CHANNEL = 1.0  # chat.postMessage to one channel, a second
CORES = os.cpu_count() or 1


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50, help="customers filing at once")
    parser.add_argument(
        "--instances", default="1,2", help="instance counts to run, in order (default 1,2)"
    )
    parser.add_argument(
        "--within",
        type=float,
        default=None,
        help="seconds the customers may take to file (default 60 + 0.6 a customer)",
    )
    parser.add_argument(
        "--cards-within",
        type=float,
        default=None,
        help="seconds to wait past the filing for the cards (default 20 + 1.2 a customer)",
    )
    parser.add_argument(
        "--telegram-limits",
        choices=("count", "enforce"),
        default="count",
        help="count: the emulator accepts all and counts sends over Telegram's limits; "
        "enforce: it answers them 429",
    )
    parser.add_argument("--no-slack", action="store_true", help="Telegram only, no staff desk")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("KESU_TEST_POSTGRES_URL"),
        help="PostgreSQL server (postgresql+asyncpg://…); default KESU_TEST_POSTGRES_URL",
    )
    return parser.parse_args()


def floors(outcome: Outcome, slack: bool) -> dict[str, float]:
    """Seconds the run cannot beat, whatever kesu does, by each outside limit."""
    messages = outcome.customers * len(TRANSCRIPT)
    found = {
        # every reply goes through one bot's 30 a second
        "telegram_30_per_second": messages / TELEGRAM_PER_SECOND,
        # a customer's nine replies at least a second apart (answers take time on top)
        "one_per_chat_per_second": float(len(TRANSCRIPT) - 1),
    }
    if slack:
        found["slack_cards_one_per_second"] = outcome.customers / SLACK_PER_CHANNEL
    return {k: round(v, 1) for k, v in found.items()}


def bottleneck(outcome: Outcome, result: dict[str, Any]) -> str:
    """The likeliest limit of this run's filing time, from the floors and the CPU."""
    seconds = outcome.seconds_to_file or 1.0
    kesu_cpu = sum(v for k, v in outcome.cpu_seconds.items() if k.startswith("kesu-"))
    busy = kesu_cpu + sum(outcome.cpu_seconds.get(k, 0.0) for k in ("harness", "postgres"))
    if busy / seconds > 0.8 * CORES:
        top = max(outcome.cpu_seconds, key=lambda k: outcome.cpu_seconds[k])
        return f"CPU: {busy / seconds:.1f} of {CORES} cores busy, most of it {top}"
    telegram = result["floors_seconds"]["telegram_30_per_second"]
    if seconds < 1.3 * telegram:
        return "Telegram's 30 messages a second per bot"
    if outcome.too_fast:
        return "Telegram's limits: sends refused with 429 and retried"
    per_chat = result["floors_seconds"]["one_per_chat_per_second"]
    if seconds < 2.0 * per_chat:
        return "the dialogue itself: one message a second per chat"
    return "none of the outside limits: kesu's own pace (see cpu_seconds)"


async def one_run(
    args: argparse.Namespace, instances: int, tmp: Path, cache: Path
) -> dict[str, Any]:
    tg = FakeTelegram()
    tg.enforce_limits = args.telegram_limits == "enforce"
    await tg.start()
    slack = None if args.no_slack else await workspace()
    within = args.within if args.within is not None else 60 + 0.6 * args.customers
    cards_within = args.cards_within
    if cards_within is None:
        cards_within = 20 + 1.2 * args.customers if slack is not None else 30.0
    workdir = tmp / f"{instances}-instances"
    workdir.mkdir()
    try:
        async with scratch_database(args.database_url) as url:
            fleet = Fleet(tg, slack, url, workdir, cache, instances=instances)
            outcome = await fleet.burst(
                customers=args.customers, within=within, cards_within=cards_within
            )
    finally:
        if slack is not None:
            await slack.stop()
        await tg.stop()
    result = outcome.report()
    seconds = outcome.seconds_to_settle or 1.0
    result["floors_seconds"] = floors(outcome, slack is not None)
    result["cpu_share_of_the_burst"] = {
        k: round(v / seconds, 2) for k, v in outcome.cpu_seconds.items()
    }
    result["bottleneck"] = bottleneck(outcome, result)
    if outcome.stuck:
        result["stuck_sample"] = dict(list(outcome.stuck.items())[:5])
    return result


def ratio(two: Any, one: Any) -> float | None:
    if not isinstance(two, int | float) or not isinstance(one, int | float) or not one:
        return None
    return round(two / one, 2)


async def main() -> None:
    args = arguments()
    logging.basicConfig(level=logging.ERROR)
    counts = [int(n) for n in args.instances.split(",") if n.strip()]
    head: dict[str, Any] = {
        "benchmark": "two_instances",
        "customers": args.customers,
        "telegram_limits": args.telegram_limits,
        "slack": not args.no_slack,
        "cores": CORES,
    }
    if not args.database_url:
        head["skipped"] = "needs PostgreSQL: set KESU_TEST_POSTGRES_URL or pass --database-url"
        print(json.dumps(head, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="kesu-bench-two-") as tmp:
        cache = Path(tmp) / "jieba-cache"  # built by the first start, shared after
        cache.mkdir()
        runs = [await one_run(args, instances, Path(tmp), cache) for instances in counts]
    result: dict[str, Any] = {**head, "runs": runs}
    by_count = {r["instances"]: r for r in runs}
    if 1 in by_count and 2 in by_count:
        one, two = by_count[1], by_count[2]
        result["two_vs_one"] = {
            key: ratio(two[key], one[key])
            for key in (
                "customers_per_second",
                "seconds_to_file_all",
                "seconds_to_all_cards",
                "messages_delivered",
                "duplicates",
                "cards_duplicated",
            )
        }
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    print()


if __name__ == "__main__":
    asyncio.run(main())
