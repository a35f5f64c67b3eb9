"""A call's input estimate, made once for all its attempts (``attempt_cost.estimated_once``): a fallback or a retry
reserves what the first attempt's estimate said, without walking the prompt again; another call, or a request whose
parts are other objects, is estimated afresh."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from magsag_mcp import attempt_cost
from magsag_mcp import errors as E
from magsag_mcp.attempt_cost import estimated_once
from magsag_mcp.call_request import estimate_input_tokens
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.cascade_report import CascadeState
from magsag_mcp.catalog import load_catalog
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet
from magsag_mcp.providers.fake import script
from magsag_mcp.routing import plan_call
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


class _Admits:
    """A guard that admits every attempt, reserving nothing, and keeps what each asked to reserve."""

    def __init__(self) -> None:
        self.contexts: list = []

    async def admit(self, ctx):
        self.contexts.append(ctx)
        return None


@pytest.fixture
def estimates(monkeypatch):
    """The requests ``estimate_input_tokens`` walked (the real estimate, each call of it kept)."""
    walked: list[LLMRequest] = []

    def counted(request: LLMRequest) -> int:
        walked.append(request)
        return estimate_input_tokens(request)

    monkeypatch.setattr(attempt_cost, "estimate_input_tokens", counted)
    return walked


@pytest.mark.anyio
@pytest.mark.usefixtures("fake_scripts")
async def test_a_fallback_reserves_the_first_attempts_estimate_without_making_it_again(estimates):
    # Before: each attempt's context estimated the request again (some 4,500 instructions a fallback)
    script("a", E.ServerError("boom", status=500))
    script("b", "from b")
    guard = _Admits()
    cascade = Cascade(
        ProviderSet({}, Transport()),
        Pricer.from_catalog(CATALOG),
        guard,
        RetryPolicy(tries_per_target=1, base_delay=0.5, max_delay=20.0, deadline=300.0),
    )
    catalog = load_catalog(CATALOG, env={})

    def plan():
        payload = {"data": "numbers " * 50, "model_config": {"model": "fake:a", "fallbacks": ["fake:b"]}}
        return plan_call(catalog, "skill.analysis", payload, context=None, env={})

    first = plan()
    out = await cascade.run(first, run_id="r1", agent=None)
    assert out.result.text == "from b"
    expected = estimate_input_tokens(first.request)
    assert [c.estimated_input_tokens for c in guard.contexts] == [expected, expected]
    assert len(estimates) == 1
    # the next call is estimated again (its request is its own), never given the last call's estimate
    script("a", E.ServerError("boom", status=500))
    script("b", "from b")
    second = plan()
    second.request.messages.append(Message(role="user", content="and one more question " * 20))
    await cascade.run(second, run_id="r2", agent=None)
    assert len(estimates) == 2
    assert guard.contexts[-1].estimated_input_tokens == estimate_input_tokens(second.request) > expected


def test_a_copy_sharing_the_parts_keeps_the_estimate_and_another_part_makes_it_again(estimates):
    request = LLMRequest(messages=[Message(role="user", content="hello " * 40)], system="be brief")
    state = CascadeState([])
    tokens = estimated_once(request, state)
    assert tokens == estimate_input_tokens(request)
    # a target's params and a stream flag copy the request, sharing its prompt's parts: not estimated again
    assert estimated_once(replace(request, stream=True, max_tokens=50, extra={"seed": 1}), state) == tokens
    assert len(estimates) == 1
    # each part the estimate reads, another object: estimated again, and the new figure kept
    others = [
        {"system": "be brief, and answer in French"},
        {"messages": [Message(role="user", content="hi")]},
        {"tools": []},
        {"json_schema": {"type": "object"}},
        {"json_output": True},
        {"json_schema_description": "the answer's fields"},
    ]
    for n, change in enumerate(others, start=2):
        changed = replace(request, **change)
        assert estimated_once(changed, state) == estimate_input_tokens(changed)
        assert len(estimates) == n, change
    assert estimated_once(request, CascadeState([])) == tokens  # another call's state: its own estimate
    assert len(estimates) == len(others) + 2
