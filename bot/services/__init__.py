"""The use cases: what may happen to a case, in one transaction per call (``cases.py``), with
the customer's messages about it (``notify.py``) as part of the change. The staff desk and
the flows call these; they call no SDK."""

from bot.services.cases import CaseService
from bot.services.model import (
    OUTCOMES,
    CaseEvent,
    CaseListener,
    CaseNotFound,
    Change,
    NewComplaint,
    NotDelivered,
    Receipt,
)
from bot.services.opening import REPEAT_WINDOW
from bot.services.rules import collective_severity

__all__ = [
    "OUTCOMES",
    "REPEAT_WINDOW",
    "CaseEvent",
    "CaseListener",
    "CaseNotFound",
    "CaseService",
    "Change",
    "NewComplaint",
    "NotDelivered",
    "Receipt",
    "collective_severity",
]
