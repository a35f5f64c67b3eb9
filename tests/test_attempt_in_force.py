"""What the code inside an attempt finds of it: the deadline in force and the attempt's mark (the transport's
``Sends``), both kept by the :class:`Deadline` around the attempt in one context variable."""

from __future__ import annotations

from contextvars import copy_context
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.catalog import load_catalog
from magsag_mcp.deadline import Deadline, attempt_in_force, before_the_deadline
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet
from magsag_mcp.providers.fake import FakeProvider
from magsag_mcp.routing import plan_call
from magsag_mcp.transport import Sends, Transport

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
pytestmark = pytest.mark.anyio


async def test_the_attempt_a_deadline_carries_is_found_inside_it_and_inside_the_deadlines_within_it():
    mark, own = object(), object()
    assert attempt_in_force() is None and before_the_deadline(100) == 100
    async with Deadline(30, mark):
        assert attempt_in_force() is mark
        async with Deadline(60):  # given none: the attempt around it, and the nearer expiry (half of 30 at most)
            assert attempt_in_force() is mark and before_the_deadline(100) <= 15
        async with Deadline(10, own):
            assert attempt_in_force() is own and before_the_deadline(100) <= 5
        assert attempt_in_force() is mark and before_the_deadline(100) <= 15
    async with Deadline(30):  # a deadline alone carries no attempt
        assert attempt_in_force() is None
    assert attempt_in_force() is None and before_the_deadline(100) == 100


class _Watching(FakeProvider):
    """The fake provider, noting what an attempt finds: the attempt's mark, and the context's variables."""

    def __init__(self, env: dict[str, str], transport: Transport) -> None:
        super().__init__(env, transport)
        self.seen: list[tuple[Any, set[str]]] = []

    async def complete(self, request: Any, target: Any, *, progress: Any = None) -> Any:
        self.seen.append((attempt_in_force(), {var.name for var in copy_context()}))
        return await super().complete(request, target, progress=progress)


async def test_an_attempt_in_flight_finds_its_mark_unsent_and_sets_one_variable_of_ours():
    # Before: the cascade set the attempt's mark in a variable of its own (transport.ATTEMPT_SENDS) around the
    # Deadline, which set its own: two sets and two resets of the task's context an attempt (some 2,900 instructions)
    providers = ProviderSet({}, Transport())
    watching = _Watching({}, Transport())
    providers._instances["fake"] = watching
    retry = RetryPolicy(tries_per_target=1, base_delay=0.5, max_delay=20.0, deadline=300.0)
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, retry)
    payload = {"data": "numbers", "model_config": {"model": "fake:a"}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env={})
    outside = {var.name for var in copy_context()}
    out = await cascade.run(plan, run_id="r1", agent=None)
    assert out.result.text
    ((mark, names),) = watching.seen
    assert isinstance(mark, Sends) and not mark.began  # the fake provider sends nothing through the transport
    assert names - outside == {"magsag_deadline"}
    assert attempt_in_force() is None  # left with the attempt
