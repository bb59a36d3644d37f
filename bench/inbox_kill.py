"""kill -9 of a real ``kesu run`` during a 200-customer burst: what is lost, what is doubled.

Prints JSON, one run per receiving mode (long polling, webhook) and store (SQLite, and
PostgreSQL when KESU_TEST_POSTGRES_URL is set: a scratch database per run, dropped after).
In each run 200 customers (BENCH_CUSTOMERS) go through the whole intake at once against a
real ``kesu run`` talking to the Telegram emulator, with Telegram's real pace (29 messages a
second, one a second per chat); the process is killed with SIGKILL BENCH_KILLS times (default
3), spread over the burst, and started again at once on the same database. Per run:

- customers, kills, and at each kill the messages sent but not yet recorded (the only ones
  the README allows to arrive twice), the updates not yet stored (Telegram delivers them
  again) and those stored but not yet processed;
- updates_lost (sent by a customer, never stored), customers_stuck (dialogue never ended),
  customers_without_case, customers_with_two_cases: all should be 0;
- messages_doubled (a customer received the same message twice), updates redelivered to a
  restarted process and recognised, webhook POSTs Telegram had to repeat;
- each start-up's seconds and the run's seconds until every dialogue ended (the floor is
  Telegram's pace: 1,800 replies at 29/s is 62 s).

Nothing here asserts a speed, or anything else: read the numbers.
"""

from __future__ import annotations

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
from tests.channels.kill_scenario import burst_with_kills  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "200"))
KILLS = int(os.environ.get("BENCH_KILLS", "3"))
WITHIN = 600.0  # seconds a run may take before the customers still waiting count as stuck


async def one_run(
    database_url: str, workdir: Path, cache_dir: Path, *, webhook: bool
) -> dict[str, Any]:
    tg = FakeTelegram()
    await tg.start()
    try:
        outcome = await burst_with_kills(
            tg,
            database_url,
            workdir,
            cache_dir,
            customers=CUSTOMERS,
            kills=KILLS,
            webhook=webhook,
            within=WITHIN,
        )
    finally:
        await tg.stop()
    result = outcome.report()
    result["last_process_exit_status"] = outcome.exit_status
    if outcome.stuck or outcome.updates_lost or outcome.updates_unprocessed:
        result["details"] = outcome.explain().splitlines()
    return result


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    pg = os.environ.get("KESU_TEST_POSTGRES_URL")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kesu-bench-kill-") as tmp:
        cache_dir = Path(tmp) / "jieba-cache"  # built by the first start, shared after
        cache_dir.mkdir()
        for mode in ("polling", "webhook"):
            webhook = mode == "webhook"
            workdir = Path(tmp) / f"sqlite-{mode}"
            workdir.mkdir()
            url = f"sqlite:///{workdir / 'kesu.db'}"
            runs.append(await one_run(url, workdir, cache_dir, webhook=webhook))
            if pg:
                workdir = Path(tmp) / f"postgresql-{mode}"
                workdir.mkdir()
                async with scratch_database(pg) as url:
                    runs.append(await one_run(url, workdir, cache_dir, webhook=webhook))
    result = {
        "benchmark": "inbox_kill",
        "customers": CUSTOMERS,
        "kills_per_run": KILLS,
        "runs": runs,
    }
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    print()


if __name__ == "__main__":
    asyncio.run(main())
