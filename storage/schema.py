"""The schema, in one place. Migrations under ``storage/migrations`` must build exactly this
(``tests/storage/test_migrations.py`` compares them on every backend).

Portable SQL only (SQLite and PostgreSQL): instants are stored as naive UTC and handed back
aware, JSON columns use the generic type, ids are BIGINT on PostgreSQL and INTEGER (rowid) on
SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware in, aware out; stored as naive UTC so SQLite and PostgreSQL sort identically."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware instants only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


Id = BigInteger().with_variant(Integer, "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),  # telegram, slack, web …
    Column("channel_user_id", String(128), nullable=False),  # the platform's id, as text
    Column("display_name", String(256)),
    Column("real_name", String(128)),
    Column("phone", String(32)),
    Column("email", String(256)),
    Column("member_id", String(128)),  # the company's own member / user id
    Column("location", String(256)),
    Column("language", String(16)),  # zh-hans, zh-hant, en …
    Column("blocked_at", UtcDateTime),  # the customer blocked the bot (Telegram 403)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "channel_user_id"),
)

# One row per (prefix, day): the last sequence number handed out. Incremented with an upsert
# inside the transaction that inserts the case, so a rolled-back case leaves no gap.
case_sequences = Table(
    "case_sequences",
    metadata,
    Column("prefix", String(8), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", String(1), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("risk", String(16), nullable=False),
    Column("category", String(64), nullable=False),
    Column("subject", String(256), nullable=False),  # 投诉主题: a few keywords
    Column("content", Text, nullable=False),  # 投诉内容: verbatim, never rewritten
    Column("party", String(256)),  # 被投诉对象
    Column("reference", String(256)),  # order number or similar
    Column("desired_outcome", String(64)),
    Column("contact", String(256)),  # contact given for this case
    Column("assignee", String(128)),
    Column("escalation_level", Integer, nullable=False),
    Column("reopen_count", Integer, nullable=False),
    Column("repeat_of", Id, ForeignKey("cases.id")),  # 重复投诉: the earlier case
    Column("resolution", Text),
    Column("outcome", String(32)),  # how it was resolved: resolved, partial, explained …
    Column("headcount", Integer),  # people behind a collective complaint (集体投诉)
    Column("language", String(16)),  # the customer's language for this complaint's messages
    Column("received_at", UtcDateTime, nullable=False),
    # The SLA clock: started at opening and again at reopening; every deadline is computed from
    # it and the time it stood still waiting for the customer, on each clock.
    Column("sla_started_at", UtcDateTime, nullable=False),
    Column("paused_seconds", Integer, nullable=False, server_default="0"),
    Column("paused_business_seconds", Integer, nullable=False, server_default="0"),
    Column("keywords", JSON),  # the words that made the category, computed once at submission
    Column("first_response_due", UtcDateTime, nullable=False),
    Column("resolution_due", UtcDateTime, nullable=False),
    Column("first_responded_at", UtcDateTime),
    Column("resolved_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("clock_paused_at", UtcDateTime),  # waiting for the customer (等待客户)
    Column("version", Integer, nullable=False),  # optimistic concurrency: two clicks, one wins
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The clock's steps (bot/domain/steps.py): which set of deadlines is current, bumped by
    # every change that moves one; and the earliest step not done, NULL when nothing is due.
    Column("deadline_version", Integer, nullable=False, server_default="1"),
    Column("next_due", UtcDateTime),
    # Since when the case is at its escalation level, moved on by time paused waiting for the
    # customer: the level's review time (主管 1 h) and escalate_after run from it. NULL only
    # for rows older than migration 0008 that it could not date.
    Column("level_since", UtcDateTime),
    # When the desk last wrote to the customer about the case (a reply, the resolution, an
    # escalation notice …; moved on by a pause): an open case silent too long reminds its
    # assignee (定期更新进展).
    Column("customer_heard_at", UtcDateTime),
    # When the customer was asked to confirm the resolution: their window runs from it (after
    # the supervisor's approval when the policy reviews resolutions first).
    Column("confirm_asked_at", UtcDateTime),
    # The revisit survey of the latest closure (bot/domain/survey.py SurveyState); NULL: the
    # closure was not drawn for one (or the case never closed).
    Column("survey", String(16)),
    # The party (被投诉对象) as cases count together for 热点 (bot/nlp/text.py party_key).
    Column("party_key", String(256)),
    # Since when the severity flag is what it is (raised): 热点 / 重大 reports count from it.
    Column("severity_since", UtcDateTime),
    # The sweep's "what is due now?": only cases with something due are in it.
    Index(
        None,
        "next_due",
        sqlite_where=text("next_due IS NOT NULL"),
        postgresql_where=text("next_due IS NOT NULL"),
    ),
    Index(None, "status", "first_response_due"),
    Index(None, "status", "resolution_due"),
    Index(None, "customer_id", "status"),
    Index(None, "category", "party_key", "received_at"),  # 热点: one party, one category
    Index(None, "received_at"),
)

# The clock's steps done, one row per (case, deadline version, step): the unique key, not
# timing, makes each step happen once on any number of instances. ``mark``: NULL = acted on
# time; late = acted after its instant had long passed; skipped = replaced by a later point of
# the same deadline (after downtime); carried = done in the previous deadline version.
# The customer's answers to a revisit survey: one row per (case, closure round, question), so
# an answer given twice keeps the first.
survey_answers = Table(
    "survey_answers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("round", Integer, nullable=False),  # the case's reopen_count when it closed
    Column("question", String(16), nullable=False),
    Column("value", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    UniqueConstraint("case_id", "round", "question"),
)

# Burst alerts (预警机制: 投诉突增): one row per alert; while ``ended_at`` is NULL the category's
# alert is active, and the partial unique index lets one instance raise it, once.
burst_alerts = Table(
    "burst_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("category", String(64), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("intake", Integer, nullable=False),  # the last hour's complaints when it was raised
    Column("usual", Float, nullable=False),  # the mean of the same hour in earlier weeks
    Column("peak", Integer, nullable=False),  # the most seen in an hour while it lasted
    Column("ended_at", UtcDateTime),
    Index(
        "ix_burst_alerts_active",
        "category",
        unique=True,
        sqlite_where=text("ended_at IS NULL"),
        postgresql_where=text("ended_at IS NULL"),
    ),
    Index(None, "started_at"),
)

case_steps = Table(
    "case_steps",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("step", String(32), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("mark", String(16)),
    UniqueConstraint("case_id", "version", "step"),
)

# Append-only audit trail: never updated, never deleted.
case_events = Table(
    "case_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),  # "customer:telegram:42", "slack:U123" …
    Column("action", String(32), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("changes", JSON, nullable=False),  # {"field": [old, new], …}
    Column("note", Text),  # the reason, the opinion, the explanation
    Index(None, "case_id", "id"),
    Index(None, "at"),
)

# Where each customer is in a dialogue; written after every step so a restart resumes there.
conversations = Table(
    "conversations",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("chat_id", String(128), primary_key=True),
    Column("flow", String(32), nullable=False),
    Column("state", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Every outbound message, written in the transaction of the change that caused it.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("recipient", String(128), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("dedupe_key", String(256), unique=True),  # the same logical message is queued once
    Column("status", String(16), nullable=False),  # pending, sent, failed, superseded
    Column("attempts", Integer, nullable=False),
    Column("not_before", UtcDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("platform_message_id", String(128)),
    # Failed tries that were the message's own fault (not flood control, an outage or a
    # configuration error): enough of them make it a dead letter.
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("since", UtcDateTime),  # when delivery was last (re)started; its age counts from here
    Index(None, "status", "not_before"),
    Index(None, "status", "channel", "recipient", "id"),  # the oldest pending message per chat
)

# Who sends to a recipient now, until when (``owner`` set), or until when the next message to
# it must wait for the platform's per-chat pace (``owner`` empty): one sender per recipient on
# any number of instances, so each message goes once and in order.
outbox_leases = Table(
    "outbox_leases",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("recipient", String(128), primary_key=True),
    Column("owner", String(64)),
    Column("until", UtcDateTime, nullable=False),
)

# A platform's overall rate, shared by every instance: the first free send slot (Telegram
# about 30 a second per bot), pushed back by flood control (a 429 holds the whole bot).
outbox_pace = Table(
    "outbox_pace",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("next_at", UtcDateTime, nullable=False),
)

# Evidence (证据): photos and documents a customer sent, by the platform's file id.
attachments = Table(
    "attachments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("file_id", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("size", BigInteger),
    Column("mime", String(128)),
    Column("name", String(256)),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "case_id"),
)

# Ids of staff actions already applied (a Slack form's view id): pressed twice, applied once.
# Pruned with the inbox's retention.
inbound_updates = Table(
    "inbound_updates",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("update_id", String(128), primary_key=True),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "received_at"),
)

# The inbox: every inbound update, committed before the platform is told it arrived, then
# processed per chat in the platform's order. A processed row keeps only what recognising a
# redelivery needs; its payload (names, phones, complaints) is cleared.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("update_id", String(128), nullable=False),
    Column("chat", String(128), nullable=False),  # the ordering scope: one customer's chat
    # The message's own id: an update id the platform reuses for another message (Telegram
    # after a week without updates) is a new update, not a redelivery.
    Column("fingerprint", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),  # the platform's order within the chat
    Column("received_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # pending, done, parked, dropped
    Column("payload", JSON),
    Column("attempts", Integer, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),  # a failed row waits until then
    Column("error", Text),
    Column("processed_at", UtcDateTime),
    UniqueConstraint("channel", "update_id", "chat", "fingerprint"),
    Index(None, "channel", "chat", "status", "seq"),  # a chat's oldest unprocessed row
    Index(None, "status", "due_at"),  # the chats with work due
    Index(None, "received_at"),  # pruning
)

# Which worker processes a chat's inbox rows now, until when: one at a time per chat, on any
# number of instances; an expired lease (a killed process) is taken over.
inbox_leases = Table(
    "inbox_leases",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("chat", String(128), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("until", UtcDateTime, nullable=False),
)

# Names for sent messages ("card:42" → the Slack ts of case 42's card), so a later message can
# edit it or answer in its thread, and a staff reply in a thread finds its case.
message_refs = Table(
    "message_refs",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("ref", String(128), primary_key=True),
    Column("platform_message_id", String(128), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "channel", "platform_message_id"),
)

Row = dict[str, Any]
