"""Repositories: async methods over one open transaction, one module per table or concern.

A use case runs inside one transaction (``Store.write``), whose :class:`Tx` carries every
repository, so a case row, its event and its outbound messages commit together or not at all.
Rows travel as plain dicts; ``bot`` turns them into domain objects.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from storage.repositories.attachments import Attachments
from storage.repositories.base import (
    DatabaseError,
    IntegrityViolation,
    NotFound,
    Session,
    StaleRow,
    StorageError,
)
from storage.repositories.bursts import BurstAlerts
from storage.repositories.cases import Cases
from storage.repositories.conversations import Conversations
from storage.repositories.customers import Customers
from storage.repositories.events import Events
from storage.repositories.inbound import InboundUpdates
from storage.repositories.inbox import Inbox
from storage.repositories.outbox import Outbox
from storage.repositories.refs import MessageRefs
from storage.repositories.steps import CaseSteps
from storage.repositories.surveys import SurveyAnswers

__all__ = [
    "Attachments",
    "BurstAlerts",
    "CaseSteps",
    "Cases",
    "Conversations",
    "Customers",
    "DatabaseError",
    "Events",
    "InboundUpdates",
    "Inbox",
    "IntegrityViolation",
    "MessageRefs",
    "NotFound",
    "Outbox",
    "Session",
    "StaleRow",
    "StorageError",
    "SurveyAnswers",
    "Tx",
]


class Tx:
    """Every repository bound to one transaction."""

    __slots__ = (
        "attachments",
        "bursts",
        "cases",
        "conversations",
        "customers",
        "events",
        "inbound",
        "inbox",
        "outbox",
        "refs",
        "session",
        "steps",
        "surveys",
    )

    def __init__(self, session: Session) -> None:
        self.session = session
        self.customers = Customers(session)
        self.cases = Cases(session)
        self.events = Events(session)
        self.conversations = Conversations(session)
        self.outbox = Outbox(session)
        self.inbound = InboundUpdates(session)
        self.inbox = Inbox(session)
        self.attachments = Attachments(session)
        self.refs = MessageRefs(session)
        self.steps = CaseSteps(session)
        self.surveys = SurveyAnswers(session)
        self.bursts = BurstAlerts(session)

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested transaction: what is written inside is undone alone if it raises."""
        return self.session.savepoint()
