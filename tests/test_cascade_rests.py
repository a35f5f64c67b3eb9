"""The cascade's rests carried across calls: how long a target is left alone, what a call come back to it waits, and
how many rests are kept (see cascade_waits.py). Time is the cascade's clock seam: no test sleeps."""

from __future__ import annotations

from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.fake import script
from tests.test_cascade import make, plan

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


def _refused(model: str) -> E.ProviderConnectionError:
    refused = E.ProviderConnectionError("connection refused", provider="fake", model=model)
    refused.reached = False  # nothing sent: the target left for it is come back to
    return refused


async def _come_back_to_a(*, a_rest: float, b_rest: float) -> tuple[Any, Any]:
    """a and b each told to rest (a 429 asking ``a_rest`` and ``b_rest`` seconds) at 0; at 1 a call of a, b as its
    fallback: a is skipped for b, b's rest waited out and its connection refused, and a come back to. (Its result,
    the clock.)"""
    script("a", E.RateLimitError("slow down", status=429, retry_after=a_rest), "a after its rest")
    script("b", E.RateLimitError("slow down", status=429, retry_after=b_rest), _refused("b"))
    script("z", "z", "z")
    cascade, clock = make(tries=1)
    for first in ("a", "b"):
        await cascade.run(plan({"model": f"fake:{first}", "fallbacks": ["fake:z"]}), run_id="r", agent=None)
    clock.now += 1.0
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r2", agent=None)
    return out, clock


async def test_a_target_left_alone_is_come_back_to_after_what_is_left_of_its_rest_not_what_was_left_when_skipped():
    # a rests 12s (until 12), b 4s (until 4). At 1 a call skips a (11s left) for b, waits out b's 3s, and b's server
    # refuses the connection: come back to a, the call waited the 11s that were left when a was skipped, from 4.x on,
    # sending it some 3s after its rest had passed, where the 7.x s left then were enough
    out, clock = await _come_back_to_a(a_rest=12.0, b_rest=4.0)
    assert out.result.text == "a after its rest"
    outcomes = [(a.model, a.outcome) for a in out.attempts]
    assert outcomes == [("a", "skipped"), ("b", "skipped"), ("b", "error"), ("a", "ok")]
    b_wait, a_wait = clock.sleeps
    assert 3.0 <= b_wait <= 3.5
    # what was left of a's rest once b had failed, and a little jitter: sent once its rest had passed, not 3s later
    left = 12.0 - (1.0 + b_wait)
    assert left <= a_wait <= left + 0.5 and 12.0 <= clock.now <= 12.5


async def test_a_rest_over_the_retry_cap_when_skipped_is_waited_out_once_what_is_left_of_it_fits():
    # a rests 26s, b 8s. At 1 a is skipped with 25s left, over the retry cap of 20s; b's 7s are waited out and its
    # connection refused: come back to a, 17.x s are left, within the cap. The call failed, the 25s read as over it
    out, clock = await _come_back_to_a(a_rest=26.0, b_rest=8.0)
    assert out.result.text == "a after its rest" and 26.0 <= clock.now <= 26.5
    assert "25s of that left" in out.attempts[0].error_message  # (what was said when it was skipped)


def test_the_rests_kept_are_bounded_forgetting_those_nearest_their_end_first():
    # past 256 rests, only those whose rest had passed were forgotten: with every one still live (calls naming
    # endpoints of their own, each refused for minutes) the map grew with every refusal, rebuilt whole at each
    from magsag_mcp.cascade_waits import _PRUNE_AT, TargetRests
    from magsag_mcp.types import Target

    rests = TargetRests()
    now = 1000.0
    endpoints = [Target("openai", "gpt-4o", f"http://10.0.{i // 250}.{i % 250}:8000/v1") for i in range(3 * _PRUNE_AT)]
    # the even ones asked for 300s, the odd ones for 60s: all live when the last is noted
    for i, target in enumerate(endpoints):
        rests.note(target, E.RateLimitError("slow down", retry_after=300.0 if i % 2 == 0 else 60.0), now + i * 0.01)
    now += len(endpoints) * 0.01
    assert len(rests._rests) <= _PRUNE_AT
    assert rests.resting(endpoints[-1], now) is not None  # the latest refusal is kept: the next call would repeat it
    kept = [i for i, target in enumerate(endpoints) if rests.resting(target, now) is not None]
    # what was forgotten is what was nearest its end: the 60s rests, while any of them was left
    assert all(i % 2 == 0 for i in kept[:-1]) and len(kept) == _PRUNE_AT
