"""The cascade's skips and failures: targets skipped before sending (no key, no endpoint, a feature, a window), the
errors a call fails with and what they carry, answers that cannot be used, and what an attempt costs to make."""

from __future__ import annotations

import dataclasses
import gc
import types
from decimal import Decimal

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cascade_guard import attempt_context
from magsag_mcp.cascade_report import labels
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.fake import script
from magsag_mcp.targets import parse_target
from tests.cascade_helpers import CATALOG, NoPolicies, RefusesModel, make, plan

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


class WindowPricer(Pricer):
    """The catalog's prices, with context windows set by the test (fake models have none)."""

    windows = {"small": 8_000, "same": 8_000, "big": 32_000}

    def context_window(self, provider, model):
        return self.windows.get(model)


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
    assert err.message == (
        "skill.analysis: your temperature is wrong; fake rejected the request itself (bad_request), not this model, "
        "so its fallback was not tried, as it would reject it alike: fix what it names in the call's payload, "
        "model_config or context, and call again"
    )
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


async def test_all_failed_names_each_target_once_with_its_tries():
    """A call to one local model whose server was down failed "every target failed: local:llama3.1:70b
    connection_error; local:llama3.1:70b connection_error; local:llama3.1:70b connection_error": each retry a part of
    its own, read as three targets where the call had one. Each target is named once, with its tries counted and the
    kinds of failure it met in order; the attempts are all still in the error and the ledger."""
    script("a", E.ServerError("x"), E.ServerError("x"), E.ServerError("x"))
    script("b", E.ServerError("x"), E.RateLimitError("slow down", status=429))
    script("c", E.QuotaExhaustedError("quota", status=429))
    cascade, _ = make()
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": ["fake:b", "fake:c"]}), run_id="r", agent=None)
    said = info.value.message
    assert said.startswith(
        "skill.analysis: every target failed: fake:a server_error (3 tries); fake:b server_error, then rate_limited "
        "(2 tries); fake:c quota_exhausted; last error: quota"
    ), said
    assert len(info.value.attempts) == 6


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


def test_a_configured_target_is_passed_without_its_capabilities_when_the_call_needs_no_feature():
    # skip_reason is asked of every target of every call, and most calls need no feature a target may lack: a
    # configured target is then passed without its capabilities or the guard's policy check looked up
    cascade, _ = make()
    asked: list[str] = []

    class Guard(NoPolicies):
        def __getattribute__(self, name):
            asked.append(name)
            return super().__getattribute__(name)

    cascade.guard = Guard()  # type: ignore[assignment]
    provider = cascade.providers.get("fake")
    capabilities = provider.capabilities
    provider.capabilities = lambda target: asked.append("capabilities") or capabilities(target)  # type: ignore[method-assign]
    plain = plan({"model": "fake:a"})
    assert cascade.skip_reason(plain.candidates[0], plain) is None and asked == []

    # a call that needs one asks the target's capabilities; the policy only of a target that lacks one
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with_tools = plan({"model": "fake:a", "tools": tools})
    assert cascade.skip_reason(with_tools.candidates[0], with_tools) is None and asked == ["capabilities"]
    no_tools = parse_target({"provider": "fake", "model": "a", "params": {"capabilities": {"tools": False}}})
    lacking = dataclasses.replace(with_tools.candidates[0], target=no_tools)
    reason, err = cascade.skip_reason(lacking, with_tools)
    assert reason == "cannot honour tools (the call needs it)" and isinstance(err, E.UnsupportedFeatureError)
    assert asked == ["capabilities", "capabilities", "allowed"]


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


def test_planning_an_attempt_and_parsing_its_targets_run_no_import_statement():
    p = plan({"provider": "openai", "model": "gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]})
    cand = p.candidates[0]

    def attempt_and_targets() -> None:
        attempt_context(p, cand, p.request, "r", "a", None, [])
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


async def test_a_fallback_to_the_same_model_at_another_endpoint_says_which_answered():
    # Two regions of one deployment (or two servers of one local model): the second answered after the first
    # failed, and the result said nothing of a fallback; the trace named both "fake:a", as if one target had
    # been retried until it answered.
    from magsag_mcp.breaker import BreakerPolicy
    from magsag_mcp.cascade_report import result_warnings

    script("a", *[E.ServerError("boom", status=503)] * 3, "from the second region")
    cascade, _ = make()
    cascade.rests.breaker = BreakerPolicy(failures=1)  # (the call that failed at the first endpoint opens it)
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
        # (the call its three 503s failed opened the circuit breaker on the first endpoint alone: see test_breaker.py)
        "fake:a at https://east.example: 1 call in a row that it failed with an error saying its server is unwell "
        "opened the circuit breaker; the calls that follow leave it alone for 30s, then one call sends it "
        "(MAGSAG_BREAKER_FAILURES=1, MAGSAG_BREAKER_COOLDOWN=30)",
        "answered by fallback fake:a at https://west.example:8443 after fake:a at https://east.example failed "
        "(server_error, server_error, server_error)",
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


async def test_a_targets_kinds_are_said_in_the_order_met_ending_with_its_last():
    """A target failing with a server error, then a rate limit, then a server error again was said "server_error, then
    rate_limited (3 tries)": each kind once however often it came, so the last kind said was not the one it ended with
    (the call's "last error" a server error). Repeats in a row are said once; a kind that comes back is said again."""
    script("a", E.ServerError("x"), E.ServerError("x"), E.RateLimitError("slow", status=429, retry_after=1.0),
           E.ServerError("down"))
    cascade, _ = make(tries=4)
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    said = info.value.message
    assert said.startswith(
        "skill.analysis: every target failed: fake:a server_error, then rate_limited, then server_error (4 tries); "
        "last error: down"
    ), said
    assert [a.error_class for a in info.value.attempts] == ["server_error"] * 2 + ["rate_limited", "server_error"]


async def test_a_calls_latency_is_its_answering_attempts(monkeypatch):
    """The fake provider times no request: its call said latency_ms 0.0 beside its attempt's 0.18 ms, a call quicker
    than the one attempt it made. The call's latency is its answering attempt's, as the cascade timed it (here on the
    test's virtual clock, which the answer moves on 250 ms)."""
    from magsag_mcp.providers.fake import FakeProvider

    cascade, clock = make()
    answer = FakeProvider.complete

    async def answer_in_a_quarter_second(self, request, target, *, progress=None):
        clock.now += 0.25
        return await answer(self, request, target, progress=progress)

    monkeypatch.setattr(FakeProvider, "complete", answer_in_a_quarter_second)
    out = await cascade.run(plan({"model": "fake:a"}), run_id="r", agent=None)
    (attempt,) = out.attempts
    assert attempt.latency_ms == out.result.latency_ms == 250.0, (attempt.latency_ms, out.result.latency_ms)


async def test_all_failed_tells_apart_two_targets_of_one_model():
    """The same model twice in a call's chain (other params, or another server) was one entry of the error, its tries
    summed: "every target failed: fake:a server_error, then quota_exhausted (2 tries)", read as one target retried.
    Each is its own entry, named as the trace names it (with its endpoint where that differs) and, where that name
    is still shared, by its place in the chain."""
    script("a", E.ServerError("x"), E.QuotaExhaustedError("quota", status=429))
    cascade, _ = make(tries=1)
    second = {"provider": "fake", "model": "a", "params": {"temperature": 0.9}}
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({"model": "fake:a", "fallbacks": [second]}), run_id="r", agent=None)
    said = info.value.message
    assert said.startswith(
        "skill.analysis: every target failed: fake:a at its configured endpoint (primary) server_error; fake:a at its "
        "configured endpoint (fallback 1) quota_exhausted;"
    ), said

    script("a", E.ServerError("x"), E.QuotaExhaustedError("quota", status=429))
    one, two = ({"provider": "fake", "model": "a", "base_url": f"http://{host}:8000/v1"} for host in ("h1", "h2"))
    with pytest.raises(E.AllTargetsFailed) as info:
        await cascade.run(plan({**one, "fallbacks": [two]}), run_id="r", agent=None)
    said = info.value.message
    assert said.startswith(
        "skill.analysis: every target failed: fake:a at http://h1:8000 server_error; fake:a at http://h2:8000 "
        "quota_exhausted;"
    ), said


async def test_all_failed_names_the_paths_of_two_targets_of_one_model_behind_one_host():
    """Two deployments of one model behind one gateway host, at other paths below it, were told apart by their place
    in the chain alone ("fake:a at https://gw.example (primary)"): the error names what differs, the path, as the
    trace does."""
    script("a", E.ServerError("x"), E.QuotaExhaustedError("quota", status=429))
    cascade, _ = make(tries=1)
    one, two = ({"provider": "fake", "model": "a", "base_url": f"https://gw.example/{team}/v1/"} for team in "xy")
    with pytest.raises(E.AllTargetsFailed) as info:
        out = plan({**one, "fallbacks": [two]})
        await cascade.run(out, run_id="r", agent=None)
    said = info.value.message
    assert said.startswith(
        "skill.analysis: every target failed: fake:a at https://gw.example/x/v1 server_error; fake:a at "
        "https://gw.example/y/v1 quota_exhausted;"
    ), said
    assert labels(out) == ["fake:a at https://gw.example/x/v1", "fake:a at https://gw.example/y/v1"]
    # one of them elsewhere: the host tells it apart, the two at one host their paths
    three = {"provider": "fake", "model": "a", "base_url": "https://other.example/v1"}
    assert labels(plan({**one, "fallbacks": [two, three]})) == [
        "fake:a at https://gw.example/x/v1",
        "fake:a at https://gw.example/y/v1",
        "fake:a at https://other.example",
    ]


def test_the_paths_that_tell_two_targets_apart_mask_a_gateways_token_as_the_trace_does():
    """The path below a shared host went into the labels (the trace, warnings, the every-target-failed message, the
    ledger) through the key patterns alone: a gateway's token in the path (``/v1/<token>/openai``), shaped like no
    vendor's key, was shown whole, where the trace's ``base_url`` masks it."""
    token = "Zx9kQ2mP7vL4tR8wN3bY6cH1"
    one = {"provider": "fake", "model": "a", "base_url": f"https://gw.example/v1/{token}/openai"}
    two = {"provider": "fake", "model": "a", "base_url": "https://gw.example/team-b/v1"}
    shown = labels(plan({**one, "fallbacks": [two]}))
    assert shown == ["fake:a at https://gw.example/v1/[REDACTED]/openai", "fake:a at https://gw.example/team-b/v1"]
    assert not any(token in label for label in shown)


def test_docs_python_says_a_token_in_the_path_of_a_targets_label_is_masked_as_it_is():
    """docs/python.md said how two targets of one model at one host are named (the path below it), not that a segment
    of that path shaped like a token is masked: a user reading a label with ``[REDACTED]`` in it had no word of why.
    Its example is the label a gateway with its key in the path gets."""
    from tests.docs_helpers import doc

    said = " ".join(doc("python.md").split())
    example = "openai:gpt-4o at https://gw.example/v1/[REDACTED]/openai"
    assert f"`{example}`" in said and "shaped like a token" in said and "the model's own segment kept" in said
    token = "Zx9kQ2mP7vL4tR8wN3bY6cH1"
    one = {"provider": "openai", "model": "gpt-4o", "base_url": f"https://gw.example/v1/{token}/openai"}
    two = {"provider": "openai", "model": "gpt-4o", "base_url": "https://gw.example/team-a/v1"}
    assert labels(plan({**one, "fallbacks": [two]})) == [example, "openai:gpt-4o at https://gw.example/team-a/v1"]
