"""The lifecycle table: every allowed move, and a clear refusal for everything else."""

from __future__ import annotations

import pytest

from bot.domain.cases import (
    Action,
    DomainError,
    IllegalTransition,
    Severity,
    Status,
    allowed_actions,
    next_escalation_level,
    transition,
)

LEGAL = [
    (Status.NEW, Action.CLAIM, Status.CLAIMED),
    (Status.REOPENED, Action.CLAIM, Status.CLAIMED),
    (Status.CLAIMED, Action.RELEASE, Status.NEW),
    (Status.NEW, Action.ASSIGN, Status.CLAIMED),
    (Status.IN_PROGRESS, Action.ASSIGN, Status.IN_PROGRESS),
    (Status.CLAIMED, Action.START, Status.IN_PROGRESS),
    (Status.CLAIMED, Action.RESOLVE, Status.RESOLVED),
    (Status.IN_PROGRESS, Action.RESOLVE, Status.RESOLVED),
    (Status.RESOLVED, Action.CLOSE, Status.CLOSED),
    (Status.RESOLVED, Action.REOPEN, Status.REOPENED),
    (Status.CLOSED, Action.REOPEN, Status.REOPENED),
    (Status.NEW, Action.MARK_INVALID, Status.INVALID),
    (Status.IN_PROGRESS, Action.MARK_INVALID, Status.INVALID),
    (Status.IN_PROGRESS, Action.ESCALATE, Status.IN_PROGRESS),
    (Status.CLOSED, Action.CORRECT, Status.CLOSED),
    (Status.IN_PROGRESS, Action.PAUSE_CLOCK, Status.IN_PROGRESS),
    (Status.INVALID, Action.NOTE, Status.INVALID),
]

ILLEGAL = [
    (Status.NEW, Action.RESOLVE),  # resolve an unclaimed case
    (Status.CLOSED, Action.CLAIM),  # claim a closed one
    (Status.CLAIMED, Action.CLAIM),  # a second claimer
    (Status.NEW, Action.CLOSE),
    (Status.NEW, Action.REOPEN),
    (Status.INVALID, Action.REOPEN),
    (Status.CLOSED, Action.ESCALATE),
    (Status.RESOLVED, Action.MARK_INVALID),
    (Status.IN_PROGRESS, Action.START),
    (Status.CLOSED, Action.OPEN),
]


@pytest.mark.parametrize(("state", "action", "result"), LEGAL)
def test_allowed_transitions(state: Status, action: Action, result: Status) -> None:
    assert transition(state, action) is result
    assert action in allowed_actions(state)


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_illegal_transition_names_state_and_action(state: Status, action: Action) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(state, action, "TS20261117001")
    message = str(info.value)
    assert action.value in message
    assert state.value in message
    assert "TS20261117001" in message
    assert info.value.status is state
    assert info.value.action is action


def test_every_state_can_take_a_note_and_open_is_never_a_transition() -> None:
    for state in Status:
        assert Action.NOTE in allowed_actions(state)
        assert Action.OPEN not in allowed_actions(state)


def test_open_states() -> None:
    assert {s for s in Status if not s.is_open} == {Status.CLOSED, Status.INVALID}


def test_escalation_climbs_and_stops_at_the_top() -> None:
    assert next_escalation_level(0, 4) == 1
    assert next_escalation_level(2, 4) == 3
    with pytest.raises(DomainError, match="top of the escalation chain"):
        next_escalation_level(3, 4, "TS20261117001")


def test_severity_ranks_from_general_to_major() -> None:
    ranks = [s.rank for s in (Severity.GENERAL, Severity.IMPORTANT, Severity.HOT, Severity.MAJOR)]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == 4


def test_refusals_name_who_takes_an_action_staff_cannot() -> None:
    from bot.desk.wording import explain  # noqa: PLC0415 (the desk's words for the same refusal)

    refused = IllegalTransition(Status.RESOLVED, Action.ESCALATE, "TS20261117001")
    assert "close (by the customer or the system)" in str(refused)
    assert "customer_message (by the customer)" in str(refused)
    said = explain(refused)
    assert "结案" not in said.split("现在可以")[1]  # staff never close: the customer does
    assert "现在可以:更正、备注、回复客户" in said
    assert "等待客户确认" in said
    in_progress = explain(IllegalTransition(Status.IN_PROGRESS, Action.CLOSE, "TS20261117001"))
    assert in_progress.endswith("现在可以:转派、解决、标记无效、升级、更正、备注、回复客户")
