"""The flow framework's promises: a table covers every state, stored names never change, the
registry finds the flow of any state, and the dispatcher knows no flow's insides."""

from __future__ import annotations

import inspect
import re
from enum import StrEnum

import pytest

import bot.dispatcher
from bot.dispatcher import FLOWS
from bot.flows.base import Flow, FlowContext, Flows, Turn
from bot.flows.followup import Followup
from bot.flows.intake import Intake
from bot.flows.survey import Survey


async def _nothing(ctx: FlowContext) -> Turn:
    return Turn()


class Door(StrEnum):
    OPEN = "open"
    SHUT = "shut"


def test_a_state_without_a_step_is_refused_at_import() -> None:
    with pytest.raises(ValueError, match=r"no step for \['shut'\]"):
        Flow(name="door", states=Door, entry=_nothing, steps={Door.OPEN: _nothing})


def test_a_stored_state_this_version_lacks_is_none() -> None:
    door = Flow(name="door", states=Door, entry=_nothing, steps=dict.fromkeys(Door, _nothing))
    assert door.state("open") is Door.OPEN
    assert door.state("ajar") is None


def test_the_registry_finds_the_flow_of_a_state() -> None:
    assert FLOWS.owning(Intake.CONFIRM).name == "intake"
    assert FLOWS.owning(Followup.CHOOSE).name == "followup"
    with pytest.raises(LookupError):
        FLOWS.owning(Door.OPEN)
    assert FLOWS.named("intake") is FLOWS.begin
    assert FLOWS.named("survey_v0") is None


def test_the_registry_refuses_two_flows_of_one_name() -> None:
    door = Flow(name="door", states=Door, entry=_nothing, steps=dict.fromkeys(Door, _nothing))
    other = Flow(name="door", states=Intake, entry=_nothing, steps=dict.fromkeys(Intake, _nothing))
    with pytest.raises(ValueError, match="of their own"):
        Flows((door, other), begin=door, idle=door)
    with pytest.raises(ValueError, match="must be registered"):
        Flows((door,), begin=door, idle=FLOWS.idle)


def test_stored_names_are_those_of_earlier_versions() -> None:
    """Conversation rows written before the flows became tables use these strings."""
    assert [f.name for f in FLOWS.flows] == ["intake", "followup", "survey"]
    assert [s.value for s in Intake] == [
        "content", "category", "party", "reference", "contact", "outcome", "confirm", "edit",
        "press",  # issue 15: added, never renamed
    ]  # fmt: skip
    assert [s.value for s in Followup] == ["choose"]
    assert [s.value for s in Survey] == ["comment"]


def test_the_dispatcher_knows_no_flows_states_or_buttons() -> None:
    source = inspect.getsource(bot.dispatcher)
    states = {s.value for flow in FLOWS.flows for s in flow.states}
    quoted = set(re.findall(r'"([^"]*)"', source))
    assert not states & quoted
    assert not re.search(r'"[if]:', source)  # intake's and follow-up's button data
