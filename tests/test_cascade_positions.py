"""The order the cascade tries its targets in, asked step by step (``Cascade._position``): the same positions and the
same retry of a target left for the next ones as the generator it replaced, with nothing to close when a call
returns from inside the loop."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

from magsag_mcp import cascade as cascade_module
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.cascade_report import CascadeState
from magsag_mcp.catalog import load_catalog
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet
from magsag_mcp.providers.fake import script
from magsag_mcp.routing import plan_call
from magsag_mcp.transport import Transport

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


def _positions(total: int, state: CascadeState, sent_after: int | None = None) -> list[int]:
    """The positions a loop over ``Cascade._position`` tries; ``sent_after``: the step after which one is sent."""
    tried, step = [], 0
    while (position := Cascade._position(step, total, state)) is not None:
        step += 1
        tried.append(position)
        if sent_after is not None and step - 1 == sent_after:
            state.sent_after_deferral = True
    return tried


def test_the_positions_in_order_then_a_target_left_for_the_next_ones_once_when_none_after_it_was_sent():
    assert _positions(3, CascadeState([])) == [0, 1, 2]
    assert _positions(0, CascadeState([])) == []
    left = CascadeState([])
    left.deferred, left.sent_after_deferral = (1, 2, None, None, None), False
    assert _positions(3, left) == [0, 1, 2, 1] and left.revisited
    sent = CascadeState([])
    sent.deferred, sent.sent_after_deferral = (0, 1, None, None, None), False
    assert _positions(3, sent, sent_after=2) == [0, 1, 2] and not sent.revisited


@pytest.mark.anyio
@pytest.mark.usefixtures("fake_scripts")
async def test_a_call_answered_at_once_runs_no_generator_of_the_cascades():
    # Before: the positions came from a generator (`_order`); a call returning from inside the loop left it suspended,
    # and its collection threw a GeneratorExit into it (some 2,700 instructions a call)
    script("a", "fine")
    cascade = Cascade(
        ProviderSet({}, Transport()),
        Pricer.from_catalog(CATALOG),
        None,
        RetryPolicy(tries_per_target=1, base_delay=0.5, max_delay=20.0, deadline=300.0),
    )
    payload = {"data": "numbers", "model_config": {"model": "fake:a"}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env={})
    generators = []

    def watch(frame, event, arg):
        code = frame.f_code
        if event == "call" and code.co_filename == cascade_module.__file__ and code.co_flags & inspect.CO_GENERATOR:
            generators.append(code.co_name)

    sys.setprofile(watch)
    try:
        out = await cascade.run(plan, run_id="r1", agent=None)
        del out
    finally:
        sys.setprofile(None)
    assert generators == []


@pytest.mark.anyio
@pytest.mark.usefixtures("fake_scripts")
async def test_the_cascade_builds_its_state_from_positional_arguments_alone(monkeypatch):
    # A class called with keywords builds a dict of them and unpacks it into __init__ (Python 3.11's type call): the
    # state's two endpoint readers, given as keywords, cost that on every call (perf81); they are set after it is made
    script("a", "fine")
    cascade = Cascade(
        ProviderSet({}, Transport()),
        Pricer.from_catalog(CATALOG),
        None,
        RetryPolicy(tries_per_target=1, base_delay=0.5, max_delay=20.0, deadline=300.0),
    )
    payload = {"data": "numbers", "model_config": {"model": "fake:a"}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env={})
    made: list[tuple[dict[str, object], CascadeState]] = []

    def spy(*args, **kwargs):
        made.append((kwargs, state := CascadeState(*args, **kwargs)))
        return state

    monkeypatch.setattr(cascade_module, "CascadeState", spy)
    out = await cascade.run(plan, run_id="r1", agent=None)
    assert out.result.text == "fine"
    [(keywords, state)] = made
    assert keywords == {}
    # what the keywords gave is on the state all the same: an Azure or a local attempt records its endpoint by them
    assert state.azure_endpoint == cascade.azure_endpoint and state.azure_endpoint is not None
    assert state.local_off_machine == cascade.local_off_machine
    assert state.plan is plan and state.run_id == "r1" and state.agent is None
