"""The fix of a 429 whose retries are spent (``cascade_waits.retries_spent``), said when the call's error is made: a
fallback that answers the call never builds it; a call that fails with that 429 says it as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import cascade as cascade_module
from magsag_mcp import cascade_waits
from magsag_mcp import errors as E
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.catalog import load_catalog
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet
from magsag_mcp.providers.fake import script
from magsag_mcp.routing import plan_call
from magsag_mcp.transport import Transport

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


@pytest.fixture
def said(monkeypatch):
    """The sentences ``retries_spent`` built (the real function, each sentence kept)."""
    built: list[str | None] = []
    real = cascade_waits.retries_spent

    def kept(*args):
        built.append(real(*args))
        return built[-1]

    monkeypatch.setattr(cascade_waits, "retries_spent", kept)
    monkeypatch.setattr(cascade_module, "retries_spent", kept, raising=False)  # (where it was called, before)
    return built


def _run(model_config):
    cascade = Cascade(
        ProviderSet({}, Transport()),
        Pricer.from_catalog(CATALOG),
        None,
        RetryPolicy(tries_per_target=1, base_delay=0.5, max_delay=20.0, deadline=300.0),
    )
    payload = {"data": "numbers", "model_config": model_config}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env={})
    return cascade.run(plan, run_id="r1", agent=None)


async def test_a_fallback_that_answers_after_a_429_builds_no_fix_for_its_spent_retries(said):
    # Before: the sentence was built at the 429 (some 4,200 instructions) and thrown away when the fallback answered
    script("a", E.RateLimitError("slow down", status=429, retry_after=0.0))
    script("b", "from b")
    out = await _run({"model": "fake:a", "fallbacks": ["fake:b"]})
    assert out.result.text == "from b"
    assert said == []


async def test_a_call_failed_by_the_429_still_says_its_retries_were_spent_and_the_fix(said):
    script("a", E.RateLimitError("slow down", status=429, retry_after=0.0))
    with pytest.raises(E.AllTargetsFailed) as failed:
        await _run({"model": "fake:a"})
    fix = (
        "fake:a was still rate limited at its only try (MAGSAG_MAX_RETRIES=0: no retry); raise MAGSAG_MAX_RETRIES, "
        "or call again later"
    )
    assert said == [fix]
    assert failed.value.message.endswith(f"; {fix}")


def test_retries_spent_at_the_bound_of_max_retries_do_not_say_raise_it():
    # MAGSAG_MAX_RETRIES takes at most 10 (settings.MAXIMA): at 10 the fix said "raise MAGSAG_MAX_RETRIES", a value
    # the next start refused
    policy = RetryPolicy(tries_per_target=11, base_delay=0.5, max_delay=20.0, deadline=300.0)
    limited = E.RateLimitError("slow down", status=429, retry_after=2.0)
    assert cascade_waits.retries_spent(policy, limited, "fake:a") == (
        "fake:a was still rate limited at its last try, the 11th (MAGSAG_MAX_RETRIES=10: 10 retries after the "
        "first); call again in 2s"
    )
    longer = E.RateLimitError("slow down", status=429, retry_after=45.0)
    assert cascade_waits.retries_spent(policy, longer, "fake:a") == (
        "fake:a was still rate limited at its last try, the 11th (MAGSAG_MAX_RETRIES=10: 10 retries after the "
        "first); raise MAGSAG_RETRY_MAX_DELAY to 45 or more (its server asked to wait 45s, longer than the retry cap "
        "of 20s), or call again in 45s"
    )
    below = RetryPolicy(tries_per_target=10, base_delay=0.5, max_delay=20.0, deadline=300.0)
    assert cascade_waits.retries_spent(below, longer, "fake:a").endswith(
        "; raise MAGSAG_MAX_RETRIES, and MAGSAG_RETRY_MAX_DELAY to 45 or more (its server asked to wait 45s, longer "
        "than the retry cap of 20s), or call again in 45s"
    )


def test_a_wait_past_the_largest_retry_cap_is_not_told_to_raise_the_cap_to_it():
    # MAGSAG_RETRY_MAX_DELAY takes at most 21600 (settings.MAXIMA): a server asking for 30000s was answered "set
    # MAGSAG_RETRY_MAX_DELAY to 30000 or more", a value the next start refused as too large. No setting waits it out,
    # and the fix says so and when to call again; a wait within the bound still names the cap that waits it.
    policy = RetryPolicy(tries_per_target=3, base_delay=0.5, max_delay=20.0, deadline=300.0)
    day = E.RateLimitError("slow down", status=429, retry_after=30000.0)
    no_setting = "no setting waits it out (MAGSAG_RETRY_MAX_DELAY takes at most 21600s); call again in 30000s"
    assert cascade_waits.over_the_cap(policy, day, "fake:a", sent=True) == (
        "fake:a was rate limited and not tried again: its server asked to wait 30000s, longer than the retry cap of "
        f"20s (MAGSAG_RETRY_MAX_DELAY); {no_setting}"
    )
    assert cascade_waits.retries_spent(policy, day, "fake:a") == (
        "fake:a was still rate limited at its last try, the 3rd (MAGSAG_MAX_RETRIES=2: 2 retries after the first); "
        f"its server asked to wait 30000s, longer than the retry cap of 20s: {no_setting}"
    )
    # (21599s: a wait of the largest cap, 21600s, needs a deadline above it, which MAGSAG_CALL_DEADLINE cannot be)
    bound = E.RateLimitError("slow down", status=429, retry_after=21599.0)
    assert "set MAGSAG_RETRY_MAX_DELAY to 21599 or more to wait it out" in cascade_waits.over_the_cap(
        policy, bound, "fake:a", sent=True
    )
    assert "raise MAGSAG_MAX_RETRIES, and MAGSAG_RETRY_MAX_DELAY to 21599 or more" in cascade_waits.retries_spent(
        policy, bound, "fake:a"
    )
    largest = E.RateLimitError("slow down", status=429, retry_after=21600.0)
    assert cascade_waits.over_the_cap(policy, largest, "fake:a", sent=True).endswith(
        "; no setting waits it out (MAGSAG_CALL_DEADLINE takes at most 21600s); call again in 21600s"
    )
    # explain_route's word on a target left alone for such a wait: the same
    rest = cascade_waits._Rest(0.0, 600.0, 30000.0, E.QuotaExhaustedError, False, "slow down", by_wait=True)
    assert cascade_waits._not_waited(policy, rest).endswith(
        "(MAGSAG_RETRY_MAX_DELAY); no setting waits it out (MAGSAG_RETRY_MAX_DELAY takes at most 21600s)"
    )
