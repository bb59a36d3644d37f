"""The revisit survey's answers (``survey_answers``): the first answer to each question of a
closure round is kept; a second press changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.sql import Executable

from storage.repositories.base import Repo, insert_for, per_dialect
from storage.repositories.outbox import PENDING, SENT
from storage.schema import outbox, survey_answers


@per_dialect
def _answer(dialect: str) -> Executable:
    table = survey_answers
    return (
        insert_for(dialect, table)
        .on_conflict_do_nothing(index_elements=[table.c.case_id, table.c.round, table.c.question])
        .returning(table.c.id)
    )


_ANSWERS = (
    select(survey_answers.c.question, survey_answers.c.value)
    .where(
        survey_answers.c.case_id == bindparam("case_id"),
        survey_answers.c.round == bindparam("round"),
    )
    .order_by(survey_answers.c.id)
)
#: Messages that went or will go to one chat since an instant (a capped window's count): the
#: (status, channel, recipient, id) index serves each status.
_SENT_SINCE = select(func.count().label("n")).where(
    outbox.c.status.in_((PENDING, SENT)),
    outbox.c.channel == bindparam("channel"),
    outbox.c.recipient == bindparam("recipient"),
    outbox.c.created_at >= bindparam("since", type_=outbox.c.created_at.type),
)


class SurveyAnswers(Repo):
    async def add(
        self, case_id: int, round_: int, question: str, value: str, now: datetime
    ) -> bool:
        """Whether this answer was recorded (False: the question was answered before)."""
        params = {"case_id": case_id, "round": round_, "question": question, "value": value,
                  "at": now}  # fmt: skip
        return (
            await self.session.execute(_answer(self.session.dialect), params)
        ).first() is not None

    async def of(self, case_id: int, round_: int) -> dict[str, str]:
        """Question → answer, for one closure round of the case."""
        rows = await self.session.execute(_ANSWERS, {"case_id": case_id, "round": round_})
        return {str(r["question"]): str(r["value"]) for r in rows}

    async def sent_since(self, channel: str, recipient: str, since: datetime) -> int:
        """Messages sent or queued to the chat from ``since`` on — the answer to the customer's
        words at that instant counts (whether a channel that allows a few messages per window
        of the customer's, like WeChat's 5, still lets us ask)."""
        params = {"channel": channel, "recipient": recipient, "since": since}
        return int((await self.session.execute(_SENT_SINCE, params)).scalar_one())
