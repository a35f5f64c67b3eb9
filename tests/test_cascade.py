"""The cascade: retries with backoff that honour the server's wait, fallback, skips, and the trace."""

from __future__ import annotations

import dataclasses
import gc
import types
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.catalog import load_catalog
from magsag_mcp.durations import seconds
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet
from magsag_mcp.providers.fake import script
from magsag_mcp.routing import plan_call
from magsag_mcp.targets import parse_target
from magsag_mcp.transport import Transport

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


class Clock:
    """Virtual time: sleeping advances the clock instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make(env=None, *, tries=3, deadline=300.0):
    clock = Clock()
    cascade = Cascade(
        ProviderSet(env or {}, Transport()),
        Pricer.from_catalog(CATALOG),
        None,
        RetryPolicy(tries_per_target=tries, base_delay=0.5, max_delay=20.0, deadline=deadline),
        sleep=clock.sleep,
        clock=clock,
    )
    return cascade, clock


def plan(model_config, skill="skill.analysis", payload=None):
    catalog = load_catalog(CATALOG, env={})
    payload = dict(payload or {"data": "numbers"})
    payload["model_config"] = model_config
    return plan_call(catalog, skill, payload, context=None, env={})


async def test_retry_honours_retry_after_then_succeeds():
    script("a", E.RateLimitError("slow down", status=429, retry_after=7.0), "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r1", agent=None)
    assert out.result.text == "fine"
    assert 7.0 <= clock.sleeps[0] <= 7.5  # the server's wait plus a little jitter
    assert [(a.outcome, a.attempt_number, a.error_class) for a in out.attempts] == [
        ("error", 1, "rate_limited"),
        ("ok", 2, None),
    ]
    assert out.trace["attempts"][0]["error_class"] == "rate_limited"


async def test_exponential_backoff_with_jitter_without_server_wait():
    script("a", E.ServerError("boom"), E.ServerError("boom"), "ok")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.result.text == "ok"
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0


async def test_fallback_after_retries_are_used_up():
    script("a", *[E.ServerError("boom", status=500)] * 3)
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.target.model == "b"
    assert [(a.model, a.outcome) for a in out.attempts] == [("a", "error")] * 3 + [("b", "ok")]
    assert [a.fallback_position for a in out.attempts] == [0, 0, 0, 1]


@pytest.mark.parametrize(
    "error",
    [
        E.RateLimitError("slow down", status=429, retry_after=7.0),
        E.RateLimitError("slow down", status=429),
        E.OverloadedError("busy", status=529),
        E.OverloadedError("busy", status=503, retry_after=2.0),
    ],
    ids=["429-retry-after", "429", "529", "503"],
)
async def test_a_rate_limit_or_an_overload_tries_the_next_target_before_waiting(error):
    # A call with a fallback, whose first target was rate limited (or overloaded), sat out the server's wait
    # (7 s, twice, at the default two retries) on the target that had just refused it, and sent it the call
    # again, before the fallback that was there for this was tried: the guide's "except RateLimitError: fall
    # back to alternative provider". The next target is tried at once, and the attempt says why it was not retried.
    script("a", error, "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"
    assert [(a.model, a.attempt_number) for a in out.attempts] == [("a", 1), ("b", 1)]
    assert f": {error.kind}, not retried: the next target is tried first" in out.attempts[0].warnings[0]


async def test_a_rate_limit_on_the_last_target_left_is_retried_after_its_wait():
    script("a", E.RateLimitError("slow down", status=429, retry_after=3.0))
    script("b", E.OverloadedError("busy", status=529, retry_after=2.0), E.RateLimitError("slow", status=429), "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert (out.target.model, out.result.text) == ("b", "fine")
    assert [(a.model, a.attempt_number) for a in out.attempts] == [("a", 1), ("b", 1), ("b", 2), ("b", 3)]
    assert len(clock.sleeps) == 2 and 2.0 <= clock.sleeps[0] <= 2.5


class RefusesModel:
    """A guard whose budget refuses one model: the others are admitted (at no reservation)."""

    def __init__(self, refused: str) -> None:
        self.refused = refused

    async def admit(self, ctx):
        if ctx.target.model == self.refused:
            raise E.BudgetExceeded(f"{ctx.target.label} would pass the run's limit", policy="cost_limits")
        return object()

    async def settle(self, admission, actual_cost, bound=None) -> None: ...

    async def release(self, admission) -> None: ...

    def waiting(self, admission) -> None: ...


@pytest.mark.parametrize(
    "error",
    [E.RateLimitError("slow down", status=429, retry_after=1.0), E.ProviderTimeoutError("no answer", timeout_s=1.0)],
    ids=["429", "timeout"],
)
async def test_a_target_left_for_the_next_is_retried_when_the_next_is_refused_before_it_is_sent(error):
    # The rate-limited target was not retried because a fallback was left, and the fallback's budget refused it:
    # the call failed as budget_exceeded, though the first target, retried after its wait, would have answered.
    script("a", error, "fine")
    cascade, clock = make()
    cascade.guard = RefusesModel("b")
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.result.text == "fine"
    assert [(a.model, a.outcome, a.attempt_number) for a in out.attempts] == [
        ("a", "error", 1),
        ("b", "budget_exceeded", 1),
        ("a", "ok", 2),
    ]
    assert len(clock.sleeps) == 1


async def test_a_target_left_for_the_next_has_its_hold_shrunk_for_the_wait_before_its_retry():
    # A target is retried after a wait with its failed attempt's hold shrunk to what it cost (a 429's $0), so that
    # the wait crowds no other call out of a limit. Come back to after its fallback's budget refused it (the call is
    # near a limit then), it waited with its hold at its worst case.
    script("a", E.RateLimitError("slow down", status=429, retry_after=1.0), "fine")
    cascade, clock = make()
    events: list[tuple[str, str]] = []

    class Guard(RefusesModel):
        async def admit(self, ctx):
            admission = await super().admit(ctx)
            events.append(("admit", ctx.target.model))
            return admission

        def waiting(self, admission) -> None:
            events.append(("waiting", f"after {len(clock.sleeps)} sleeps"))

    cascade.guard = Guard("b")
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.result.text == "fine" and len(clock.sleeps) == 1
    assert events == [("admit", "a"), ("waiting", "after 0 sleeps"), ("admit", "a")]


async def test_a_target_left_for_the_next_is_not_retried_once_the_next_was_sent():
    script("a", E.RateLimitError("slow down", status=429, retry_after=1.0), "never asked")
    script("b", *[E.ServerError("boom", status=500)] * 3)
    cascade, clock = make()
    with pytest.raises(E.ServerError) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert [a.model for a in info.value.attempts] == ["a", "b", "b", "b"]  # b was tried: a is not asked again


async def test_quota_exhausted_moves_on_without_waiting():
    script("a", E.QuotaExhaustedError("quota", status=429, retry_after=3600))
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"


async def test_wait_longer_than_the_deadline_moves_on():
    script("a", E.RateLimitError("later", status=429, retry_after=50.0))
    cascade, clock = make(deadline=10.0)
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"


@pytest.mark.parametrize(
    "error",
    [
        E.RateLimitError("later", status=429, retry_after=30.0),
        E.OverloadedError("busy", status=503, retry_after=45.0),
    ],
    ids=["429", "503"],
)
async def test_a_server_wait_longer_than_the_retry_cap_moves_on_and_says_why(error):
    # The cap (MAGSAG_RETRY_MAX_DELAY, 20 s here) bounded only the backoff: a server's 30 s was slept in full.
    script("a", error)
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"
    why = f"not retried: the server asked to wait {error.retry_after:g}s, longer than the retry cap of 20s"
    assert why in out.attempts[0].warnings[0] and "MAGSAG_RETRY_MAX_DELAY" in out.attempts[0].warnings[0]
    assert any(why in w for w in out.trace["warnings"])


async def test_a_server_wait_within_the_cap_is_waited_with_jitter_that_never_passes_the_cap():
    script("a", *[E.RateLimitError("later", status=429, retry_after=19.9)] * 2, "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.result.text == "fine"
    assert len(clock.sleeps) == 2 and all(19.9 <= s <= 20.0 for s in clock.sleeps)
    assert out.attempts[0].warnings == []


async def test_a_timeout_moves_on_without_a_retry_or_a_wait():
    script("a", E.ProviderTimeoutError("no answer", timeout_s=120.0))
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert clock.sleeps == [] and out.target.model == "b"
    assert [(a.model, a.attempt_number) for a in out.attempts] == [("a", 1), ("b", 1)]
    assert "the next target is tried first" in out.attempts[0].warnings[0]


async def test_a_timeout_on_the_last_target_is_retried_while_a_whole_timeout_fits_the_deadline():
    cascade, clock = make(deadline=300.0)

    async def times_out(*args, **kwargs):
        clock.now += 120  # the read timeout ran out in silence
        raise E.ProviderTimeoutError("no answer", provider="fake", model="a", timeout_s=120.0)

    cascade.providers.get("fake").complete = times_out
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    # 120 s, then a retry (180 s were left), then no third: 60 s cannot hold another 120 s timeout
    attempts = info.value.attempts
    assert [a.attempt_number for a in attempts] == [1, 2] and len(clock.sleeps) == 1
    assert "timeout after 120s, not retried: the call's deadline leaves" in attempts[1].warnings[-1]


async def test_a_timeout_is_retried_when_every_later_target_would_be_skipped():
    script("a", E.ProviderTimeoutError("no answer", timeout_s=10.0), "fine")
    cascade, clock = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["openai:gpt-4o"]}), run_id="r", agent=None)
    # openai has no key here: it would be skipped, so fake:a is the last target that can answer
    assert out.result.text == "fine" and len(clock.sleeps) == 1
    assert [(a.model, a.attempt_number, a.outcome) for a in out.attempts] == [("a", 1, "error"), ("a", 2, "ok")]


async def test_context_too_long_moves_on():
    script("a", E.ContextTooLongError("too long", status=400))
    cascade, _ = make()
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.target.model == "b"


class WindowPricer(Pricer):
    """The catalog's prices, with context windows set by the test (fake models have none)."""

    windows = {"small": 8_000, "same": 8_000, "big": 32_000}

    def context_window(self, provider, model):
        return self.windows.get(model)


async def test_context_too_long_skips_targets_whose_window_is_no_larger():
    script("small", E.ContextTooLongError("prompt is too long", status=400))
    cascade, _ = make()
    cascade.pricer = WindowPricer(Pricer.from_catalog(CATALOG).overrides)
    mc = {"model": "fake:small", "fallbacks": ["fake:same", "fake:unknown", "fake:big"]}
    out = await cascade.run(plan(mc), run_id="r", agent=None)
    assert out.target.model == "unknown"  # an unknown window may be larger: it is tried
    assert [s["target"] for s in out.trace["skipped"]] == ["fake:same"]
    assert "no larger than that of fake:small (8,000)" in out.trace["skipped"][0]["reason"]


def test_context_windows_come_from_genai_prices():
    pricer = Pricer.from_catalog(CATALOG)
    assert pricer.context_window("openai", "gpt-4o") == 128_000
    assert pricer.context_window("google", "gemini-1.5-pro") > pricer.context_window("openai", "gpt-4o")
    assert pricer.context_window("compat", "my-model") is None


async def test_bad_request_stops_the_cascade():
    script("a", E.BadRequestError("your temperature is wrong", status=400))
    cascade, _ = make()
    with pytest.raises(E.BadRequestError) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    err = info.value
    assert isinstance(err, E.AllTargetsFailed)
    assert "stopped at a request the provider rejected" in err.message
    assert [a.model for a in err.attempts] == ["a"]  # b was never tried


async def test_all_failed_carries_every_attempt_and_keeps_the_last_class():
    script("a", E.ServerError("x"), E.ServerError("x"), E.ServerError("x"))
    script("b", E.QuotaExhaustedError("quota", status=429))
    cascade, _ = make()
    with pytest.raises(E.RateLimitError) as info:  # the guide's `except RateLimitError` keeps working
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    err = info.value
    assert isinstance(err, E.AllTargetsFailed) and isinstance(err, E.QuotaExhaustedError)
    assert len(err.attempts) == 4
    data = err.to_dict()
    assert data["type"] == "all_targets_failed" and data["last_error_type"] == "quota_exhausted"
    assert len(data["attempts"]) == 4 and data["trace"]["candidates"][1]["model"] == "b"


async def test_unconfigured_provider_is_skipped_with_the_reason():
    cascade, _ = make(env={})
    out = await cascade.run(plan({"model": "gpt-4o", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.target.model == "b"
    assert out.trace["skipped"][0]["target"] == "openai:gpt-4o"
    assert "OPENAI_API_KEY" in out.trace["skipped"][0]["reason"]
    assert out.attempts[0].outcome == "skipped"


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"OPENAI_BASE_URL": "not-a-url"}, "openai: the base URL is not an http(s) URL with a host; set its base URL"),
        ({"OPENAI_BASE_URL": "http://me:pw@127.0.0.1:9/v1"}, "openai: the base URL carries user:password@"),
        ({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1?x=1"}, "openai: the base URL has a ?query or #fragment"),
        ({"OPENAI_API_KEY": "sk-pasted-with-its-newline\n"}, "openai: a header value has a line break in it"),
    ],
)
async def test_a_target_whose_endpoint_cannot_carry_a_request_is_skipped_before_sending(env, reason):
    # Configuration, not a connection failure: never sent, never retried, never billed, and the
    # cascade moves on. The URL is not quoted (it may hold a secret).
    cascade, clock = make(env={"OPENAI_API_KEY": "sk-test-0123456789", **env})
    script("b", "fallback answer")
    out = await cascade.run(plan({"model": "gpt-4o", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.result.text == "fallback answer" and clock.sleeps == []
    [skipped] = out.trace["skipped"]
    assert skipped["target"] == "openai:gpt-4o" and skipped["reason"].startswith(f"not configured: {reason}")
    assert "pw@" not in skipped["reason"] and out.attempts[0].cost_usd == 0


async def test_target_lacking_a_needed_feature_is_skipped():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    no_tools = {"provider": "fake", "model": "a", "params": {"capabilities": {"tools": False}}}
    cascade, _ = make()
    out = await cascade.run(
        plan({"model": "fake:a", "tools": tools, "fallbacks": [no_tools, "fake:b"]}), run_id="r", agent=None
    )
    assert out.target.model == "a"  # the first "fake:a" supports tools
    p = plan({"model": "fake:x", "tools": tools})
    lacking = p.candidates[0].target.__class__("fake", "x", None, (("capabilities", {"tools": False}),))
    p.candidates[0] = dataclasses.replace(p.candidates[0], target=lacking)
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(p, run_id="r", agent=None)
    assert "cannot honour tools" in info.value.message


async def test_a_call_whose_targets_are_all_unconfigured_fails_with_the_providers_own_error():
    # It used to fail as "unsupported_feature", which names a missing capability, not a missing key:
    # `except AuthenticationError` did not catch "no API key", and the kind misled the reader.
    cascade, _ = make(env={})
    with pytest.raises(E.AuthenticationError) as info:
        await cascade.run(plan({"model": "gpt-4o"}), run_id="r", agent=None)
    err = info.value
    assert isinstance(err, E.AllTargetsFailed) and not isinstance(err, E.UnsupportedFeatureError)
    assert err.to_dict()["last_error_type"] == "authentication_error" and "OPENAI_API_KEY" in err.message
    assert [(a.outcome, a.error_class) for a in err.attempts] == [("skipped", "skipped")]

    # no endpoint (Azure, compat) or an unusable base URL: not_configured
    cascade, _ = make(env={"AZURE_OPENAI_API_KEY": "0123456789abcdef0123"})
    with pytest.raises(E.NotConfiguredError) as info:
        await cascade.run(plan({"model": "azure:my-deployment"}), run_id="r", agent=None)
    assert info.value.to_dict()["last_error_type"] == "not_configured" and "AZURE_OPENAI_ENDPOINT" in info.value.message
    cascade, _ = make(env={"OPENAI_API_KEY": "sk-test-0123456789", "OPENAI_BASE_URL": "not-a-url"})
    with pytest.raises(E.NotConfiguredError):
        await cascade.run(plan({"model": "gpt-4o"}), run_id="r", agent=None)

    # a provider nobody registered is a configuration problem too
    cascade, _ = make()
    p = plan({"model": "fake:a"})
    p.candidates[0] = dataclasses.replace(p.candidates[0], target=p.candidates[0].target.__class__("nope", "m"))
    with pytest.raises(E.NotConfiguredError):
        await cascade.run(p, run_id="r", agent=None)


async def test_a_call_whose_only_target_lacks_a_feature_fails_as_unsupported_feature():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    cascade, _ = make()
    p = plan({"model": "fake:x", "tools": tools})
    lacking = p.candidates[0].target.__class__("fake", "x", None, (("capabilities", {"tools": False}),))
    p.candidates[0] = dataclasses.replace(p.candidates[0], target=lacking)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await cascade.run(p, run_id="r", agent=None)
    assert info.value.to_dict()["last_error_type"] == "unsupported_feature"


async def test_invalid_json_from_the_model_moves_on():
    script("a", {"text": "not json at all"})
    cascade, _ = make()
    p = plan(
        {"model": "fake:a", "fallbacks": ["fake:b"]},
        skill="skill.extraction",
        payload={"text": "Invoice 42", "fields": ["id"]},
    )
    out = await cascade.run(p, run_id="r", agent=None)
    assert out.target.model == "b" and isinstance(out.result.parsed, dict)
    assert out.attempts[0].error_class == "invalid_output"


async def test_progress_events_for_attempts_fallbacks_and_retries():
    script("a", E.ServerError("x"))
    events = []

    async def progress(event, data):
        events.append(event)

    cascade, _ = make(tries=1)
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None, progress=progress)
    assert events[:3] == ["attempt", "fallback", "attempt"]


async def test_a_provider_bug_is_a_failed_attempt_not_a_crash():
    class Broken(Exception):
        pass

    # Changed on purpose: a bug of ours was recorded as the vendor's malformed_response and fake:b was called (and,
    # with a real vendor, billed) for it. It is now an internal_error, and the call stops there (see InternalError).
    script("a", Broken("parser blew up"))
    cascade, _ = make()
    with pytest.raises(E.InternalError) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    (attempt,) = info.value.attempts
    assert (attempt.model, attempt.error_class) == ("a", "internal_error")
    assert "a bug in magsag-mcp, not the provider's: Broken (parser blew up)" in attempt.error_message


async def test_untried_targets_after_the_deadline_are_listed():
    script("a", E.ServerError("x"))
    cascade, clock = make(tries=1, deadline=5.0)

    async def slow_fail(*args, **kwargs):
        clock.now += 10
        raise E.ServerError("slow", provider="fake", model="a")

    cascade.providers.get("fake").complete = slow_fail
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert "deadline" in info.value.message and "fake:b skipped" in info.value.message


async def _cut_by_the_deadline(pricer: Pricer) -> None:
    """A call to fake:slow, which would answer after 60 s, under a call deadline of 0.2 s."""
    cascade = Cascade(
        ProviderSet({}, Transport()),
        pricer,
        None,
        RetryPolicy(tries_per_target=3, base_delay=0.01, max_delay=0.02, deadline=0.2),
    )
    slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 60_000}}
    p = plan({"model": "fake:slow"})
    p.candidates[0] = dataclasses.replace(p.candidates[0], target=parse_target(slow))
    await cascade.run(p, run_id="r-slow", agent=None)


async def test_the_deadline_bounds_an_attempt_in_flight(tmp_path):
    # A target that would answer after 60 s, under a 0.2 s call deadline: the attempt is cut and
    # recorded as a timeout; the call does not wait for the answer. The fake model is priced, as a
    # vendor's model is (an unpriced fake model is free, like a local one).
    (tmp_path / "prices.yaml").write_text('"fake:slow": {input: 2, output: 8}\n')
    with pytest.raises(E.AllTargetsFailed) as info:
        await _cut_by_the_deadline(Pricer.from_catalog(tmp_path))
    # Had the deadline not cut the attempt, the slow answer would have arrived and the call succeeded.
    assert [(a.outcome, a.error_class) for a in info.value.attempts] == [("error", "timeout")]
    assert "deadline of 0.2s" in info.value.attempts[0].error_message
    # the request was in flight: the vendor may bill it, so its cost is unknown, not 0
    assert info.value.attempts[0].cost_usd is None
    assert info.value.attempts[0].cost_bound_usd > 0
    assert "the provider may bill it; its cost is unknown" in info.value.attempts[0].warnings[0]


async def test_a_free_model_cut_in_flight_costs_nothing():
    # The same cut on a model priced at 0 (the fake provider, unpriced, like a local server): whatever it
    # generated costs 0, so the cost is known, and no "unknown cost" warning is given.
    with pytest.raises(E.AllTargetsFailed) as info:
        await _cut_by_the_deadline(Pricer.from_catalog(CATALOG))
    (attempt,) = info.value.attempts
    assert (attempt.error_class, attempt.cost_usd, attempt.cost_bound_usd) == ("timeout", Decimal(0), None)
    assert not any("cost is unknown" in w for w in attempt.warnings)


async def test_json_that_breaks_the_requested_schema_moves_on():
    schema = {"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]}
    script("a", '{"total": "lots"}')
    script("b", '{"total": 3}')
    cascade, _ = make()
    mc = {
        "model": "fake:a",
        "fallbacks": ["fake:b"],
        "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}},
    }
    out = await cascade.run(plan(mc), run_id="r", agent=None)
    assert out.target.model == "b" and out.result.parsed == {"total": 3}
    first = out.attempts[0]
    assert first.error_class == "invalid_output"
    assert "does not match the requested schema: at $.total: 'lots' is not of type 'number'" in first.error_message


async def test_an_unusable_answer_is_recorded_at_what_it_cost():
    # The model answered (billed) but not in JSON: the failed attempt carries its tokens and cost.
    from magsag_mcp.pricing import UnitPrices

    script("a", "Sure! Here is your JSON: {oops")
    script("b", '{"ok": true}')
    cascade, _ = make()
    cascade.pricer = Pricer([("fake:*", UnitPrices(Decimal("1"), Decimal("2")))])
    mc = {"model": "fake:a", "fallbacks": ["fake:b"], "response_format": {"type": "json_object"}}
    out = await cascade.run(plan(mc), run_id="r", agent=None)
    bad = out.attempts[0]
    assert (bad.outcome, bad.error_class) == ("error", "invalid_output")
    assert bad.input_tokens > 0 and bad.output_tokens > 0
    expected = (Decimal(bad.input_tokens) * 1 + Decimal(bad.output_tokens) * 2) / 1_000_000
    assert bad.cost_usd == expected


async def test_a_server_wait_past_the_deadline_says_why_it_was_not_retried():
    # The only "not retried" with no word why: the last target's 429 failed the call at once, its trace
    # silent on the 8 s wait it skipped because only 5 s of the call's deadline were left.
    script("a", E.RateLimitError("later", status=429, retry_after=8.0))
    cascade, clock = make(deadline=5.0)
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == []
    warning = info.value.attempts[0].warnings[-1]
    assert "not retried" in warning and "deadline" in warning and "MAGSAG_CALL_DEADLINE" in warning


async def test_a_long_run_of_retries_keeps_its_backoff_capped():
    # MAGSAG_MAX_RETRIES has no upper bound: past try 1025 the exponential backoff was an int too large
    # for a float, and the call crashed with OverflowError instead of waiting the cap and trying again
    script("a", *[E.ServerError("boom", status=500)] * 1100, "fine")
    cascade, clock = make(tries=2000, deadline=1e9)
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert out.result.text == "fine" and len(out.attempts) == 1101
    assert all(0 <= s <= 20.0 for s in clock.sleeps)


def _imports_run(fn) -> list[str]:
    """Where ``fn`` ran an import statement of a package's name (each costs thousands of instructions)."""
    import sys

    seen: list[str] = []

    def watch(frame, event, _arg):
        if event == "call" and frame.f_code.co_name == "_handle_fromlist":
            seen.append(f"{frame.f_back.f_code.co_filename}:{frame.f_back.f_lineno}")

    sys.setprofile(watch)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return seen


def test_planning_an_attempt_and_parsing_its_targets_run_no_import_statement():
    p = plan({"provider": "openai", "model": "gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]})
    cascade, _ = make()
    cand = p.candidates[0]

    def attempt_and_targets() -> None:
        cascade._context(p, cand, p.request, "r", "a", None, [])
        parse_target({"provider": "openai", "model": "openai:gpt-4o"})
        parse_target("anthropic:claude-3-5-haiku-latest")

    attempt_and_targets()  # first use may import
    assert _imports_run(attempt_and_targets) == []


async def test_an_attempt_in_flight_reads_no_enum_member(monkeypatch):
    """asyncio.timeout keeps its state in an Enum: on Python 3.11 each read of a member goes through
    EnumType's __getattr__ hook (about 1,500 instructions; nine an attempt). The deadline an attempt runs
    under (Deadline) reads none."""
    import enum

    script("a", "fine", "fine")
    cascade, _ = make()
    p = plan({"model": "fake:a"})
    await cascade.run(p, run_id="r", agent=None)  # first use may import
    seen: list[str] = []

    def reading(cls, name):
        seen.append(name)  # cls.__name__ would be read through this too
        return type.__getattribute__(cls, name)

    monkeypatch.setattr(enum.EnumType, "__getattribute__", reading, raising=False)
    out = await cascade.run(p, run_id="r", agent=None)
    monkeypatch.undo()
    assert out.result.text == "fine"
    assert seen == []


@pytest.mark.parametrize("on", [True, False])
def test_an_attempt_switched_to_streaming_carries_every_field_of_its_request(on):
    """The cascade rebuilds the request positionally (dataclasses.replace costs ~27,000 instructions):
    every field, including any added later, must reach the copy as it was, stream alone changed."""
    from magsag_mcp.cascade import _with_stream
    from magsag_mcp.types import LLMRequest

    values = {f.name: object() for f in dataclasses.fields(LLMRequest)}
    copy = _with_stream(LLMRequest(**values), on)
    for name, value in values.items():
        assert getattr(copy, name) is (on if name == "stream" else value), name


async def test_a_refused_retry_is_recorded_as_the_try_it_was():
    # A retry the budget refused was recorded as try 0, after try 1 of the same target: the ledger read as if
    # the target's first try had been refused. It is try 2; a fallback refused on its first try is try 1.
    class RefusesRetries:
        async def admit(self, ctx):
            if ctx.prior_admissions:
                raise E.BudgetExceeded("call limit would be exceeded", policy="cap")
            return object()

        async def settle(self, admission, actual_cost, bound=None) -> None:
            pass

        async def release(self, admission) -> None:
            pass

        def waiting(self, admission) -> None:
            pass

    script("a", E.ServerError("boom", status=500))
    cascade, _ = make()
    cascade.guard = RefusesRetries()
    with pytest.raises(E.BudgetExceeded) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    attempts = info.value.attempts
    assert [(a.model, a.outcome, a.fallback_position, a.attempt_number) for a in attempts] == [
        ("a", "error", 0, 1),
        ("a", "budget_exceeded", 0, 2),
        ("b", "budget_exceeded", 1, 1),
    ]


async def test_a_fallback_to_the_same_model_at_another_endpoint_says_which_answered():
    # Two regions of one deployment (or two servers of one local model): the second answered after the first
    # failed, and the result said nothing of a fallback; the trace named both "fake:a", as if one target had
    # been retried until it answered.
    from magsag_mcp.cascade_report import result_warnings

    script("a", *[E.ServerError("boom", status=503)] * 3, "from the second region")
    cascade, _ = make()
    second = {"provider": "fake", "model": "a", "base_url": "https://user:secret@west.example:8443/v1"}
    p = plan({"model": "fake:a", "base_url": "https://east.example", "fallbacks": [second]})
    out = await cascade.run(p, run_id="r", agent=None)
    assert [(a["target"], a["try"]) for a in out.trace["attempts"]] == [
        ("fake:a at https://east.example", 1),
        ("fake:a at https://east.example", 2),
        ("fake:a at https://east.example", 3),
        ("fake:a at https://west.example:8443", 1),
    ]
    assert result_warnings(p, out.attempts, []) == [
        "answered by fallback fake:a at https://west.example:8443 after fake:a at https://east.example failed "
        "(server_error, server_error, server_error)"
    ]
    assert "secret" not in str(out.trace)
    # a plan naming each provider:model once keeps the plain names
    script("a", E.ServerError("boom", status=503))
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert [(a["target"], a["try"]) for a in out.trace["attempts"]] == [("fake:a", 1), ("fake:a", 2)]


async def test_a_server_wait_the_call_could_not_honour_reaches_every_form_of_the_error():
    # The wait a 429 asked for was an attribute in Python only: the MCP tool error and the CLI's JSON
    # (err.to_dict()) carried no retry_after, so their callers could not tell when to come back.
    script("a", E.RateLimitError("later", status=429, retry_after=15.0))
    cascade, clock = make(deadline=10.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and info.value.retry_after == 15.0
    assert info.value.to_dict()["retry_after"] == 15.0
    script("a", E.ServerError("boom", status=500))
    cascade, _ = make(tries=1)
    with pytest.raises(E.ServerError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert "retry_after" not in info.value.to_dict()


async def test_a_progress_callback_returning_a_value_that_is_no_awaitable_is_not_awaited():
    # Service.invoke_skill(progress=...) from async code, with a sync callback that returns what it wrote
    # (a file's write): before, the cascade awaited the int and the call failed with a TypeError.
    cascade, _ = make()
    seen: list[str] = []
    out = await cascade.run(
        plan({"model": "fake:a"}), run_id="r", agent=None, progress=lambda event, data: seen.append(event) or 1
    )
    assert seen[0] == "attempt" and out.target.model == "a"


async def test_a_cached_routes_trace_shows_its_candidates_without_remaking_them(monkeypatch):
    """A route resolved once per skill is the same candidates on every call: the trace's dicts and labels of them are
    made by its first call and copied by the next, each call's dicts its own to change; a plan whose candidates
    changed since (or a target with an endpoint of its own, redacted with each call's secrets) has them made anew."""
    from magsag_mcp.routing import Candidate

    catalog = load_catalog(CATALOG, env={})
    routes: dict = {}

    def cached_plan():
        return plan_call(catalog, "skill.analysis", {"data": "numbers"}, context=None, env={}, route_cache=routes)

    script("gpt-4o", "one", "two", "three")
    cascade, _ = make({"OPENAI_API_KEY": "sk-test"})
    cascade.providers.get = lambda name: cascade.providers.__class__.get(cascade.providers, "fake")
    first = await cascade.run(cached_plan(), run_id="r1", agent=None)
    made = []
    to_dict = Candidate.to_dict
    monkeypatch.setattr(Candidate, "to_dict", lambda self: made.append(self) or to_dict(self))
    second = await cascade.run(cached_plan(), run_id="r2", agent=None)
    assert made == []  # copied, not made again
    assert second.trace["candidates"] == first.trace["candidates"]
    shown = {"provider": "openai", "model": "gpt-4o", "source": "route", "explicit": False}
    assert second.trace["candidates"][0] == shown
    first.trace["candidates"][0]["model"] = "changed by the caller"
    third_plan = cached_plan()
    third_plan.candidates[0] = dataclasses.replace(third_plan.candidates[0], source="call")
    third = await cascade.run(third_plan, run_id="r3", agent=None)
    assert third.trace["candidates"][0] == {**shown, "source": "call"}
    assert second.trace["candidates"][0]["model"] == "gpt-4o"
    assert len(made) == len(third_plan.candidates)  # made anew for the plan that changed


async def test_a_trace_of_targets_with_an_endpoint_of_their_own_is_made_on_each_call():
    """A target's endpoint is shown redacted with the secrets of the call that shows it: never kept for the next."""
    catalog = load_catalog(CATALOG, env={})
    named: dict = {}
    mc = {"provider": "fake", "model": "a", "base_url": "http://127.0.0.1:9/v1"}
    script("a", "one")
    cascade, _ = make()
    payload = {"data": "n", "model_config": mc}
    p = plan_call(catalog, "skill.analysis", payload, context=None, env={}, named_routes=named)
    out = await cascade.run(p, run_id="r1", agent=None)
    assert p.resolution is not None and p.resolution.shown is None
    assert out.trace["candidates"][0]["base_url"] == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("sk-test-0123456789\x1b[0m", "an escape"),  # a key captured from a CLI's coloured output
        ("sk-test-0123456789\x00", "a NUL"),
        ("sk-test-0123\x7f456789", "a DEL"),
    ],
)
async def test_a_key_with_a_control_character_aiohttp_refuses_is_skipped_before_sending(fake_openai, key, said):
    # aiohttp refuses any control character but a tab in a header value (a ValueError as it writes the request), not
    # line breaks alone: checked before sending, the target is skipped for the next, as one with a line break is,
    # where the call was stopped by the transport's config_error and no fallback was tried
    cascade, clock = make(env={"OPENAI_API_KEY": key, "OPENAI_BASE_URL": fake_openai.url + "/v1"})
    script("b", "fallback answer")
    out = await cascade.run(plan({"model": "gpt-4o", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert out.result.text == "fallback answer" and clock.sleeps == []
    [skipped] = out.trace["skipped"]
    assert skipped["target"] == "openai:gpt-4o"
    assert skipped["reason"].startswith("not configured: openai: a header value has a control character in it")
    assert said in skipped["reason"] and key not in skipped["reason"] and out.attempts[0].cost_usd == 0


async def test_the_last_target_left_resting_is_sent_once_its_rest_has_passed():
    # The next call, with no other target to try, waits out what is left of the wait its server asked for (within
    # the retry cap and the deadline), then sends it: not at once, to be refused again.
    script("a", E.RateLimitError("slow down", status=429, retry_after=12.0), "after the rest")
    script("b", "from b")
    cascade, clock = make()
    first = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    assert first.result.text == "from b" and clock.sleeps == []
    clock.now += 5.0
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert out.result.text == "after the rest"
    assert len(clock.sleeps) == 1 and 7.0 <= clock.sleeps[0] <= 7.5  # the 7 s left of the 12, and a little jitter
    assert [(a.outcome, a.attempt_number) for a in out.attempts] == [("skipped", 0), ("ok", 1)]
    assert "not sent: its server asked 5s ago to be left alone for 12s (rate_limited), 7s of that left" in (
        out.attempts[0].error_message
    )
    assert out.attempts[0].warnings[0] == out.attempts[0].error_message
    assert out.attempts[0].warnings[1].startswith("fake:a: sent after 7")


async def test_waiting_out_a_rest_is_reported_as_a_wait_before_its_first_try_not_as_a_retry():
    # progress said "retrying fake:a in 7s" before "calling fake:a (candidate 1, try 1)": a retry of a target this
    # call had not sent yet; the event is still `retry` (what callers know), marked `resting`, and MCP says it waits
    from magsag_mcp.mcp_server.progress import EVENTS

    script("a", E.RateLimitError("slow down", status=429, retry_after=12.0), "after the rest")
    script("b", "from b")
    cascade, clock = make()
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    clock.now += 5.0
    seen: list[tuple[str, dict]] = []
    out = await cascade.run(
        plan({"model": "fake:a"}), run_id="r2", agent=None, progress=lambda event, data: seen.append((event, data))
    )
    assert out.result.text == "after the rest"
    (event, data), (then, attempt) = seen[:2]
    assert (event, data["target"], data["resting"], then, attempt["try"]) == ("retry", "fake:a", True, "attempt", 1)
    said = EVENTS["retry"][1](data)
    assert said.startswith(f"waiting {seconds(data['wait_s'])} before calling fake:a") and "retrying" not in said
    assert EVENTS["retry"][1]({"target": "fake:a", "wait_s": 0.5}) == "retrying fake:a in 0.5s"


async def test_a_resting_target_come_back_to_after_its_fallbacks_is_reported_as_a_wait_before_its_first_try():
    # a resting target with a fallback after it is left for the fallback, and come back to when none was sent: its
    # wait was reported as "retrying fake:a in 7s", then "calling fake:a (candidate 1, try 1)", as dc56e8a had it
    # for the last target left: not marked resting, a retry of a target this call had not sent
    from magsag_mcp.mcp_server.progress import EVENTS

    script("a", E.RateLimitError("slow down", status=429, retry_after=12.0), "after the rest")
    script("b", E.RateLimitError("slow down", status=429, retry_after=45.0))
    cascade, clock = make()
    with pytest.raises(E.RateLimitError):  # (a refused for 12s, b for 45s: past the retry cap, neither waited)
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    clock.now += 5.0
    seen: list[tuple[str, dict]] = []
    out = await cascade.run(
        plan({"model": "fake:a", "fallbacks": ["fake:b"]}),
        run_id="r2",
        agent=None,
        progress=lambda event, data: seen.append((event, data)),
    )
    assert out.result.text == "after the rest" and [a.outcome for a in out.attempts] == ["skipped", "skipped", "ok"]
    (event, data), (then, attempt) = [(e, d) for e, d in seen if e in ("retry", "attempt")][:2]
    assert (event, data["target"], data.get("resting"), then, attempt["try"]) == ("retry", "fake:a", True, "attempt", 1)
    said = EVENTS["retry"][1](data)
    assert said.startswith(f"waiting {seconds(data['wait_s'])} before calling fake:a") and "retrying" not in said


async def test_a_rest_longer_than_the_retry_cap_fails_the_next_call_without_sending_it():
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.0), "too early")
    script("b", "from b")
    cascade, clock = make()
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    clock.now += 5.0
    with pytest.raises(E.RateLimitError) as info:  # the refusal's class, as the caller's `except` expects
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    err = info.value
    assert isinstance(err, E.AllTargetsFailed) and err.retry_after == 40.0 and clock.sleeps == []
    assert [a.outcome for a in err.attempts] == ["skipped"] and "40s of that left" in err.message
    assert "longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY)" in err.attempts[0].warnings[1]
    script("b", "from b again")  # the fallback serves the call meanwhile; "too early" was never asked for
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r3", agent=None)
    assert out.result.text == "from b again" and [a.outcome for a in out.attempts] == ["skipped", "ok"]


async def test_a_quota_resets_rest_is_kept_but_a_day_long_one_is_asked_again_after_ten_minutes():
    # OpenAI's requests-per-day bucket at 0, its reset "6m0s" (a quota: not retried); Azure's "retry after 86400
    # seconds": left alone for 10 minutes at most, then asked again in case the quota was raised meanwhile
    script("a", E.QuotaExhaustedError("rpd", status=429, retry_after=360.0), "a after its reset")
    script("c", E.QuotaExhaustedError("daily", status=429, retry_after=86400.0), "c after ten minutes")
    cascade, clock = make()
    for model in ("a", "c"):
        script("b", "from b")
        await cascade.run(plan({"model": f"fake:{model}", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    clock.now += 359.0
    for model in ("a", "c"):
        with pytest.raises(E.QuotaExhaustedError) as info:
            await cascade.run(plan({"model": f"fake:{model}"}), run_id="r", agent=None)
        assert [a.outcome for a in info.value.attempts] == ["skipped"] and clock.sleeps == []
    clock.now += 1.0
    assert (await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)).result.text == "a after its reset"
    with pytest.raises(E.QuotaExhaustedError) as info:
        await cascade.run(plan({"model": "fake:c"}), run_id="r", agent=None)
    assert "left alone for 86400s, kept for 600s (quota_exhausted), 240s of that left" in info.value.message
    clock.now += 240.0
    assert (await cascade.run(plan({"model": "fake:c"}), run_id="r", agent=None)).result.text == "c after ten minutes"


async def test_a_target_left_alone_is_come_back_to_when_its_fallback_could_not_be_sent():
    # b's server refused the connection (nothing sent): the call comes back to a, after the rest of its wait, as to
    # a target left for the next one
    script("a", E.RateLimitError("slow down", status=429, retry_after=10.0), "a after its wait")
    script("b", "from b")
    cascade, clock = make(tries=1)
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    refused = E.ProviderConnectionError("connection refused", provider="fake", model="b")
    refused.reached = False
    script("b", refused)
    clock.now += 4.0
    out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r2", agent=None)
    assert out.result.text == "a after its wait"
    assert [(a.model, a.outcome, a.attempt_number) for a in out.attempts] == [
        ("a", "skipped", 0),
        ("b", "error", 1),
        ("a", "ok", 1),
    ]
    assert len(clock.sleeps) == 1 and 6.0 <= clock.sleeps[0] <= 6.5


async def test_a_target_left_alone_that_a_policy_forbids_this_call_is_refused_by_the_policy_without_a_wait():
    # Left alone after another call's 429, the target is one this call's policy forbids (another agent, another data
    # class): the policy refuses it at once, rather than the call waiting out its rest to be refused then
    class Forbids(RefusesModel):
        forbidden = False

        def allowed(self, target, data_class):
            return (not (self.forbidden and target.model == "a"), "p", "not for this call")

        async def admit(self, ctx):
            if not self.allowed(ctx.target, ctx.data_class)[0]:
                raise E.PolicyDenied(f"{ctx.target.label} is not allowed", policy="p")
            return await super().admit(ctx)

    script("a", E.RateLimitError("slow down", status=429, retry_after=8.0))
    script("b", "from b")
    cascade, clock = make()
    cascade.guard = guard = Forbids("nothing")
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    guard.forbidden = True
    clock.now += 1.0
    with pytest.raises(E.PolicyDenied):
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert clock.sleeps == []


async def test_a_failed_attempt_is_freed_with_its_call_not_left_to_the_garbage_collector(fake_openai):
    # A 500, then the fallback answers. The call kept the first attempt's error (the call's last error), and its
    # traceback began at the cascade's frame, which held the call's state: a cycle. Every failed attempt left the error,
    # four frames and what they held (some 48 objects) to the garbage collector, which then ran every few calls.
    from tests.fakes import openai_replies as R
    from tests.fakes.openai_server import DEFAULT_KEY

    fake_openai.queue(R.server_error())
    cascade, _ = make(env={"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": fake_openai.url + "/v1"}, tries=1)
    script("b", "fallback answer")
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable is kept in gc.garbage, to be looked at
    try:
        out = await cascade.run(plan({"model": "gpt-4o", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
        assert out.result.text == "fallback answer"
        assert [(a.model, a.outcome, a.error_class) for a in out.attempts] == [
            ("gpt-4o", "error", "server_error"),
            ("b", "ok", None),
        ]
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, BaseException | types.FrameType)]
        assert left == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        await cascade.providers.transport.aclose()


async def test_a_budget_refusal_is_freed_with_its_call_not_left_to_the_garbage_collector():
    # The refusal is kept as a failed attempt's error is (the call's error, should no later target answer), and its
    # traceback began at the cascade's frame too
    script("b", "fallback answer")
    cascade, _ = make()
    cascade.guard = RefusesModel("a")
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        out = await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
        assert out.result.text == "fallback answer"
        assert [(a.model, a.outcome) for a in out.attempts] == [("a", "budget_exceeded"), ("b", "ok")]
        gc.collect()
        assert [type(o).__name__ for o in gc.garbage if isinstance(o, BaseException | types.FrameType)] == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def test_a_call_failed_by_a_wait_over_the_retry_cap_says_so_with_the_fix():
    # "skill.analysis: every target failed: fake:a rate_limited; last error: ...: slow down" said neither why the
    # last target was not tried again nor what to do, which the attempt's warning knew; the error's class and the
    # attempt's row are as they were
    script("a", E.RateLimitError("fake:a: HTTP 429: slow down", status=429, retry_after=45.0))
    cascade, clock = make()
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    err = info.value
    assert isinstance(err, E.AllTargetsFailed) and err.kind == "all_targets_failed" and clock.sleeps == []
    assert err.details["last_error_type"] == "rate_limited" and err.retry_after == 45.0
    assert err.message == (
        "skill.analysis: every target failed: fake:a rate_limited; last error: fake:a: HTTP 429: slow down; fake:a was "
        "rate limited and not tried again: its server asked to wait 45s, longer than the retry cap of 20s "
        "(MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 45 or more to wait it out, or call again in 45s"
    )
    (row,) = err.attempts
    assert (row.error_class, row.error_message) == ("rate_limited", "fake:a: HTTP 429: slow down")
    assert row.warnings == [
        "fake:a: not retried: the server asked to wait 45s, longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY)"
    ]


async def test_a_wait_over_the_cap_and_the_deadline_names_both_settings():
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.5))
    cascade, _ = make(deadline=40.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert info.value.message.endswith(
        "longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 46 or more to wait "
        "it out, and MAGSAG_CALL_DEADLINE above it (now 40s), or call again in 45.5s"
    )


async def test_a_wait_over_the_cap_past_what_the_deadline_leaves_names_the_deadline_too():
    # a first wait of 15s taken, then one of 50s over the cap: 50s is less than the 60s deadline, yet more than the
    # ~45s it leaves; raising MAGSAG_RETRY_MAX_DELAY alone (the fix once named) would fail the call on its deadline
    script(
        "a",
        E.RateLimitError("slow down", status=429, retry_after=15.0),
        E.RateLimitError("slow down", status=429, retry_after=50.0),
    )
    cascade, clock = make(deadline=60.0)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    (slept,) = clock.sleeps
    assert info.value.message.endswith(
        "longer than the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 50 or more to wait "
        f"it out, and MAGSAG_CALL_DEADLINE above it and the {seconds(slept)} the call took before it (now 60s), or "
        "call again in 50s"
    )


async def test_a_call_still_rate_limited_at_its_last_try_says_its_retries_were_spent():
    script("a", *[E.RateLimitError("slow down", status=429, retry_after=2.0)] * 3)
    cascade, clock = make()
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    err = info.value
    assert len(clock.sleeps) == 2 and [a.error_class for a in err.attempts] == ["rate_limited"] * 3
    assert err.message.endswith(
        "; last error: slow down; fake:a was still rate limited at its last try, the 3rd (MAGSAG_MAX_RETRIES=2: 2 "
        "retries after the first); raise MAGSAG_MAX_RETRIES, or call again in 2s"
    )


async def test_a_last_try_whose_wait_is_over_the_retry_cap_names_the_cap_with_the_retries():
    # no retry left, and the 429's wait (45s) over the cap of 20s: a retry more (MAGSAG_MAX_RETRIES, the fix once
    # named alone) would not be taken either, refused as too long a wait
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.0))
    cascade, clock = make(tries=1)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and info.value.message.endswith(
        "; fake:a was still rate limited at its only try (MAGSAG_MAX_RETRIES=0: no retry); raise MAGSAG_MAX_RETRIES, "
        "and MAGSAG_RETRY_MAX_DELAY to 45 or more (its server asked to wait 45s, longer than the retry cap of 20s), "
        "or call again in 45s"
    )


async def test_a_fallback_that_failed_last_is_what_the_error_says_not_the_rate_limit_before_it():
    # the note is of the last error only: a fallback's 500 after a rate limit is the call's last word
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.0))
    script("b", *[E.ServerError("boom")] * 3)
    cascade, _ = make()
    with pytest.raises(E.ServerError) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r", agent=None)
    assert info.value.message.endswith("; last error: boom") and "MAGSAG_" not in info.value.message


async def test_a_rest_over_the_retry_cap_names_the_fix_in_the_error():
    script("a", E.RateLimitError("slow down", status=429, retry_after=45.0))
    script("b", "from b")
    cascade, clock = make()
    await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b"]}), run_id="r1", agent=None)
    clock.now += 5.0
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r2", agent=None)
    assert info.value.message.endswith(
        "; fake:a was not sent: its server's wait, rate limited, has 40s left, longer than the retry cap of 20s "
        "(MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 40 or more to wait it out, or call again in 40s"
    )


async def test_a_429_of_a_named_quota_with_a_long_wait_says_the_wait_and_that_no_setting_waits_it():
    # (a QuotaExhaustedError not marked quota_by_wait is a quota its server named: one taken for a quota by its wait
    # alone is test_long_waits'; this one said "a wait that long is taken for a spent quota" of it)
    quota = "fake:a: HTTP 429: You exceeded your current quota"
    script("a", E.QuotaExhaustedError(quota, status=429, retry_after=120.0))
    cascade, _ = make()
    with pytest.raises(E.QuotaExhaustedError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert info.value.details["last_error_type"] == "quota_exhausted"
    assert info.value.message.endswith(
        "; fake:a was refused on a spent quota that its server named, and not tried again: its server asked to wait "
        "120s, but a named quota is not waited for, whatever MAGSAG_RETRY_MAX_DELAY says; check the quota and billing "
        "of the key's plan with the vendor, or add a fallback served by another quota (another provider or key) to "
        "the call"
    )


async def test_a_call_with_no_retries_rate_limited_at_its_only_try_says_so():
    script("a", E.RateLimitError("slow down", status=429))  # no wait named: "later"
    cascade, clock = make(tries=1)
    with pytest.raises(E.RateLimitError) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    assert clock.sleeps == [] and info.value.message.endswith(
        "; fake:a was still rate limited at its only try (MAGSAG_MAX_RETRIES=0: no retry); raise MAGSAG_MAX_RETRIES, "
        "or call again later"
    )


async def test_a_backoff_of_1e30_seconds_is_said_not_raised_as_a_decimal_error(monkeypatch):
    # MAGSAG_RETRY_BASE_DELAY=1e30 with MAGSAG_RETRY_MAX_DELAY=1e30: the backoff past the deadline was said through a
    # Decimal of 28 digits, and the call failed with decimal.InvalidOperation instead of its error
    from magsag_mcp import retry

    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)  # the jitter's top: a backoff of 1e30 s
    script("a", E.ServerError("boom", status=500))
    clock = Clock()
    policy = RetryPolicy(tries_per_target=3, base_delay=1e30, max_delay=1e30, deadline=300.0)
    providers = ProviderSet({}, Transport())
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, policy, sleep=clock.sleep, clock=clock)
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    (warning,) = info.value.attempts[0].warnings
    # (changed on purpose: the wait was said in 31 digits, "1000000000000000000000000000000s", which no reader counts)
    assert warning == (
        "fake:a: not retried: the wait of more than 31 days would pass the call's deadline, 300s away "
        "(MAGSAG_CALL_DEADLINE)"
    ), warning
    assert clock.sleeps == []
