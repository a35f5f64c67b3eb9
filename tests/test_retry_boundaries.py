"""The retry decisions at their edges, on a virtual clock: a server's wait equal to the cap is waited (only one beyond
it is not); a wait that reaches the call's deadline is not slept; a timeout is retried only when the wait and a whole
timeout more fit in what the deadline leaves; a provider's own quota class already retryable is retried as it is.

Each of these was found by hand-made mutants (``>`` made ``>=``, a term dropped) that every other test let pass."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp import retry
from magsag_mcp.providers.fake import script
from magsag_mcp.providers.http_errors import error_for, long_wait
from tests.cascade_helpers import make, plan
from tests.providers.test_long_waits import _cascade

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


def _429(wait: str) -> E.ProviderError:
    return error_for(429, "slow down", headers={"Retry-After": wait}, provider="fake", model="a")


async def test_a_server_wait_equal_to_the_retry_cap_is_waited_out_and_its_jitter_kept_within_the_cap():
    # "a server's wait beyond the cap is not slept": one of exactly the cap is not beyond it
    script("a", _429("20"), "after the wait")
    cascade, clock = _cascade(max_delay=20.0)
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.result.text == "after the wait"
    assert clock.sleeps == [20.0]  # the jitter added to it is cut back to the cap


async def test_a_wait_that_would_reach_the_deadline_exactly_is_not_slept(monkeypatch):
    # a retry sent at the deadline has no time left to answer in: the wait is not slept, the call fails at once
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: low)  # no jitter: the wait is the server's 10s
    script("a", _429("10"), "too late")
    cascade, clock = _cascade(max_delay=20.0, deadline=10.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == []
    assert "would reach the call's deadline, 10s away" in info.value.message, info.value.message


@pytest.mark.parametrize("timeout_s", [9.5, 9.8], ids=["reaches", "passes"])
async def test_a_timeout_is_not_retried_when_the_wait_and_another_timeout_reach_the_deadline(monkeypatch, timeout_s):
    # the backoff (0.5s, its jitter's top) and another timeout together: 10s exactly (9.5), or past the deadline
    # (9.8, where the timeout alone fits in the 10s left)
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)
    script("a", E.ProviderTimeoutError("fake:a: no answer in time", timeout_s=timeout_s), "too late")
    cascade, clock = _cascade(max_delay=20.0, deadline=10.0)
    with pytest.raises(E.ProviderTimeoutError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and len(info.value.attempts) == 1
    (warning,) = info.value.attempts[0].warnings[-1:]
    assert "not retried: the call's deadline leaves" in warning and "no more than the wait (0.5s)" in warning


class _RetryableOwnQuota(E.QuotaExhaustedError):
    """A provider's own 429 class that retries on any target (its class says so), as a plugin may define."""

    retryable = True
    retried_only_on_last_target = False


async def test_a_long_wait_of_a_provider_s_own_retryable_class_is_retried_where_it_came_not_left_for_the_next():
    # already retryable, it is the provider's to say where: made last-target-only, the call left a for b, which
    # its class did not ask for
    quota = long_wait(_RetryableOwnQuota("fake:a: HTTP 429: slow down", status=429, retry_after=90.0))
    assert retry.RetryPolicy(max_delay=120.0).honour_long_wait(quota) is quota
    script("a", quota, "from a after the wait")
    script("b", "from b")
    cascade, clock = _cascade(max_delay=120.0)
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.result.text == "from a after the wait" and len(clock.sleeps) == 1
    assert [(a.model, a.outcome) for a in out.attempts] == [("a", "error"), ("a", "ok")]


def _refused() -> E.ProviderConnectionError:
    refused = E.ProviderConnectionError("connection refused", provider="fake", model="b")
    refused.reached = False  # (nothing sent: the target left for it is come back to)
    return refused


async def test_a_target_come_back_to_is_retried_there_not_left_again_for_the_one_that_could_not_be_sent():
    # a is left for b after its 429; b cannot be sent, so a is come back to. Rate limited again there, it is retried
    # on it (its third try): the target after it was tried already, and leaving it again ended the call on a's 429
    limited = E.RateLimitError("slow down", status=429, retry_after=1.0)
    script("a", limited, E.RateLimitError("slow down", status=429, retry_after=1.0), "a at its third try")
    script("b", _refused(), _refused(), _refused())
    cascade, clock = make(tries=3)
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.result.text == "a at its third try"
    assert [(a.model, a.outcome, a.attempt_number) for a in out.attempts] == [
        ("a", "error", 1),
        ("b", "error", 1),
        ("b", "error", 2),
        ("b", "error", 3),
        ("a", "error", 2),
        ("a", "ok", 3),
    ]
