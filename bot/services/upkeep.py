"""One-off work a start does on stored cases: what a release added to the case row and an
earlier one never wrote, and what a changed policy no longer covers."""

from __future__ import annotations

import logging

from bot.domain.cases import Status
from bot.domain.policy import Policy
from bot.nlp.analyse import keywords_of
from bot.nlp.classifier import Classifier
from storage.db import Store
from storage.repositories import Tx

log = logging.getLogger(__name__)

BATCH = 200
_OPEN = [s.value for s in Status if s.is_open]


async def backfill_keywords(store: Store, classifier: Classifier) -> int:
    """Keywords for cases opened before they were stored: computed once, for the case's own
    category, so cards and reports never run jieba again. Returns how many were filled."""
    after, filled = 0, 0
    while True:
        async with store.read() as tx:
            rows = await tx.cases.without_keywords(after, BATCH)
        if not rows:
            break
        found = [(int(r["id"]), keywords_of(classifier, r["content"], r["category"])) for r in rows]

        async def write(tx: Tx, found: list[tuple[int, list[str]]] = found) -> None:
            for case_id, words in found:
                await tx.cases.set_keywords(case_id, words)

        await store.write(write)
        after, filled = found[-1][0], filled + len(found)
    if filled:
        log.info("keywords computed once for %d cases stored before they were kept", filled)
    return filled


async def cases_above_chain(store: Store, policy: Policy) -> list[str]:
    """Open cases at an escalation level the policy's chain no longer has (it was shortened):
    they are handled by its top level, and the operators are told which they are."""
    async with store.read() as tx:
        rows = await tx.cases.above_level(policy.top_level, _OPEN)
    return [f"{r['number']} (level {r['escalation_level']})" for r in rows]
