"""The OpenTelemetry spans of a call (magsag_mcp/otel_spans.py), read from the SDK's in-memory exporter: calls made
for real against the loopback vendors, through the service, the Python API's sync bridge and the MCP server.

The spans go to a tracer of the test's own provider (``otel_spans._tracer``), not to a global one: a global
provider can be set once per process, and every later test's calls would then be traced into it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from magsag_mcp import otel_spans
from magsag_mcp.errors import PolicyDenied
from magsag_mcp.loopback import LoopbackUpstream
from magsag_mcp.service import Service
from tests.governance_helpers import GUIDE_POLICY, policy

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
#: what the call asks for: words that must not reach a span unless content is asked for
PROMPT = "Q3 revenue of Jane Roe's account 4411"
#: a fallback from OpenAI's gpt-4o (which the plan below fails with a 500) to Claude
FALLBACK = {"model": "gpt-4o", "provider": "openai", "fallbacks": ["anthropic:claude-3-5-sonnet-20241022"]}
QUICK = {"MAGSAG_MAX_RETRIES": "1", "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}

pytestmark = pytest.mark.anyio


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> tuple[InMemorySpanExporter, trace.Tracer]:
    """The exporter the calls' spans end in, and a tracer of the same provider for the caller's own spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(otel_spans, "_tracer", provider.get_tracer("magsag_mcp"))
    return exporter, provider.get_tracer("the-app")


async def _service(tmp_path: Path, up: LoopbackUpstream, catalog: Path = CATALOG, **env: str) -> Service:
    return await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env={**up.env(), **QUICK, **env})


def _by_name(exporter: InMemorySpanExporter) -> dict[str, object]:
    return {s.name: s for s in exporter.get_finished_spans()}


async def test_a_fallback_makes_a_call_span_and_two_attempt_spans(tmp_path, spans):
    exporter, app = spans
    up = LoopbackUpstream(plans={"gpt-4o": [500]})
    await up.start()
    try:
        service = await _service(tmp_path, up, MAGSAG_MAX_RETRIES="0")  # a 500 moves on at once
        async with service:
            with app.start_as_current_span("agent step") as step:
                result = await service.invoke_skill(
                    "skill.analysis", {"data": PROMPT, "model_config": FALLBACK}, agent="ana"
                )
    finally:
        await up.stop()
    found = _by_name(exporter)
    call = found["magsag skill.analysis"]
    failed, answered = found["chat gpt-4o"], found["chat claude-3-5-sonnet-20241022"]
    # the tree: the caller's span, the call's, an attempt's each
    assert call.parent.span_id == step.get_span_context().span_id
    assert call.context.trace_id == step.get_span_context().trace_id
    assert failed.parent.span_id == call.context.span_id == answered.parent.span_id
    assert call.kind == SpanKind.INTERNAL and failed.kind == answered.kind == SpanKind.CLIENT
    # the attempts in the order they were made, within the call's span
    assert call.start_time <= failed.start_time <= failed.end_time <= answered.start_time <= answered.end_time
    assert answered.end_time <= call.end_time
    # the first attempt failed: its error's kind, the redacted message as its status
    assert failed.attributes["error.type"] == "server_error"
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["gen_ai.provider.name"] == "openai"
    assert failed.attributes["magsag.fallback.position"] == 0
    # one try of it (no retries here): the span's count, and the try as its event
    assert failed.attributes["magsag.attempt.tries"] == 1
    (only,) = failed.events
    assert only.name == "magsag.try" and only.attributes["magsag.attempt.try"] == 1
    assert only.attributes["magsag.try.outcome"] == "error" and only.attributes["error.type"] == "server_error"
    assert "gen_ai.response.model" not in failed.attributes
    # the answer: the conventions' attributes, its tokens and cost as the result has them
    a = answered.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.model"] == "claude-3-5-sonnet-20241022"
    assert a["gen_ai.response.model"] == result.model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == result.usage.input_tokens > 0
    assert a["gen_ai.usage.output_tokens"] == result.usage.output_tokens > 0
    assert a["magsag.fallback.position"] == 1
    assert "error.type" not in a and answered.status.status_code == StatusCode.UNSET
    # where each attempt was sent (the loopback vendor's host and port), and what it asked: the skill's max_tokens
    for attempt in (failed, answered):
        assert attempt.attributes["server.address"] == "127.0.0.1"
        assert attempt.attributes["server.port"] == int(up.base_url.rsplit(":", 1)[1])
        assert attempt.attributes["gen_ai.request.max_tokens"] == 1500
    assert "gen_ai.output.type" not in a  # (the call named no output format)
    priced = result.attempts[-1].cost_usd
    assert priced > 0 and Decimal(repr(a["magsag.cost_usd"])) == priced  # the double reads back as the decimal
    # the call: ours, the total cost, which target answered; no gen_ai usage of its own (a backend summing the
    # conventions' tokens over spans would count the call's twice)
    c = call.attributes
    assert c["magsag.skill"] == "skill.analysis" and c["magsag.run_id"] == result.run_id and c["magsag.agent"] == "ana"
    assert Decimal(repr(c["magsag.cost_usd"])) == result.cost_usd
    assert c["magsag.target"] == "anthropic:claude-3-5-sonnet-20241022" and c["magsag.fallback.position"] == 1
    assert c["magsag.attempts"] == 2
    assert not any(k.startswith("gen_ai.usage") for k in c)
    assert call.status.status_code == StatusCode.UNSET
    # nothing of the prompt or answer by default, nor a key
    everything = json.dumps([dict(s.attributes) for s in exporter.get_finished_spans()])
    assert "Jane Roe" not in everything and result.text[:20] not in everything
    assert "gen_ai.input.messages" not in everything and "loopback-not-a-real-key" not in everything


async def test_a_governance_refusal_fails_the_call_span_with_the_skip_as_an_event(tmp_path, spans):
    exporter, _ = spans
    catalog = shutil.copytree(CATALOG, tmp_path / "catalog")
    policy(catalog, GUIDE_POLICY)  # gpt-4o, gpt-4o-mini and claude-3-5-sonnet only
    up = LoopbackUpstream()
    await up.start()
    try:
        service = await _service(tmp_path, up, catalog)
        async with service:
            with pytest.raises(PolicyDenied) as refused:
                await service.invoke_skill(
                    "skill.analysis", {"data": PROMPT, "model_config": {"model": "gpt-3.5-turbo", "provider": "openai"}}
                )
    finally:
        await up.stop()
    assert up.calls.total() == 0
    (call,) = exporter.get_finished_spans()  # nothing was sent: no attempt span
    assert call.name == "magsag skill.analysis"
    assert call.attributes["error.type"] == "policy_denied"
    assert call.status.status_code == StatusCode.ERROR and call.status.description == refused.value.message
    assert call.attributes["magsag.attempts"] == 0
    assert call.attributes["magsag.run_id"] == refused.value.run_id
    assert call.attributes["magsag.cost_usd"] == 0.0  # nothing spent, and that is known
    (event,) = call.events
    assert event.name == "magsag.target_skipped"
    assert event.attributes["magsag.target"] == "openai:gpt-3.5-turbo"
    assert event.attributes["magsag.skip.outcome"] == "policy_denied"
    assert "production_models" in event.attributes["magsag.skip.reason"]


async def test_an_unknown_price_leaves_the_cost_out_and_flags_it(tmp_path, spans):
    exporter, _ = spans
    catalog = shutil.copytree(CATALOG, tmp_path / "catalog")
    shutil.rmtree(catalog / "policies")  # (the shipped policy allows no model of unknown price)
    up = LoopbackUpstream()
    await up.start()
    try:
        service = await _service(tmp_path, up, catalog)
        async with service:
            config = {"model": "my-own-model", "provider": "compat"}
            result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    finally:
        await up.stop()
    assert result.cost_usd is None
    found = _by_name(exporter)
    for span in (found["magsag skill.analysis"], found["chat my-own-model"]):
        assert "magsag.cost_usd" not in span.attributes  # never 0
        assert span.attributes["magsag.cost_unknown"] is True
    assert found["chat my-own-model"].attributes["gen_ai.provider.name"] == "compat"


async def test_content_is_recorded_only_when_asked_and_never_a_key(tmp_path, spans):
    exporter, _ = spans
    up = LoopbackUpstream()
    await up.start()
    key = up.env()["OPENAI_API_KEY"]
    try:
        service = await _service(tmp_path, up, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")
        async with service:
            config = {"model": "gpt-4o", "provider": "openai"}
            result = await service.invoke_skill(
                "skill.analysis", {"data": f"{PROMPT}; my key is {key}", "model_config": config}
            )
    finally:
        await up.stop()
    attempt = _by_name(exporter)["chat gpt-4o"]
    messages = json.loads(attempt.attributes["gen_ai.input.messages"])
    assert messages[-1]["role"] == "user" and messages[-1]["parts"][0]["type"] == "text"
    assert PROMPT in messages[-1]["parts"][0]["content"]
    (answer,) = json.loads(attempt.attributes["gen_ai.output.messages"])
    assert answer == {
        "role": "assistant",
        "parts": [{"type": "text", "content": result.text}],
        "finish_reason": "stop",
    }
    everything = json.dumps([dict(s.attributes) for s in exporter.get_finished_spans()])
    assert key not in everything


def test_the_sync_api_makes_the_call_a_child_of_the_callers_span(tmp_path, spans):
    """Magsag's calls run on its own loop's thread: the caller's context goes with each call across the bridge."""
    from magsag_mcp import Magsag

    exporter, app = spans
    with LoopbackUpstream().running() as up:
        with Magsag(catalog=CATALOG, db=tmp_path / "ledger.db", env={**up.env(), **QUICK}) as mg:
            with app.start_as_current_span("request handler") as handler:
                mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
            mg.skills.invoke("skill.analysis", {"data": "y", "model_config": {"model": "gpt-4o"}})
    first, second = [s for s in exporter.get_finished_spans() if s.name == "magsag skill.analysis"]
    assert first.parent.span_id == handler.get_span_context().span_id
    assert first.context.trace_id == handler.get_span_context().trace_id
    assert second.parent is None  # called outside any span: a trace of its own, not the last call's child


def test_an_async_call_from_another_loop_is_a_child_of_the_callers_span(tmp_path, spans):
    """``ainvoke`` awaited on the caller's loop runs on the Magsag's: the caller's task's context goes with it."""
    import asyncio

    from magsag_mcp import Magsag

    exporter, app = spans

    async def handle(mg: Magsag) -> int:
        with app.start_as_current_span("async handler") as handler:
            await mg.skills.ainvoke("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
        return handler.get_span_context().span_id

    with LoopbackUpstream().running() as up:
        with Magsag(catalog=CATALOG, db=tmp_path / "ledger.db", env={**up.env(), **QUICK}) as mg:
            handler = asyncio.run(handle(mg))
    assert _by_name(exporter)["magsag skill.analysis"].parent.span_id == handler


async def test_an_mcp_call_joins_the_trace_its_meta_names(tmp_path, spans):
    """The MCP SDK reads the W3C traceparent of a request's ``_meta`` (what its client sends from the caller's span)
    and makes it current for the tool's handler: the call's span joins that trace with nothing read by magsag."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    exporter, _ = spans
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"  # (the W3C spec's example)
    up = LoopbackUpstream()
    await up.start()
    try:
        server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={**up.env(), **QUICK})
        async with Client(server) as client:
            args = {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": {"model": "gpt-4o"}}}
            meta = {"traceparent": f"00-{trace_id}-{span_id}-01"}
            assert not (await client.call_tool("invoke_skill", args, meta=meta)).is_error
    finally:
        await up.stop()
    call = _by_name(exporter)["magsag skill.analysis"]
    assert format(call.context.trace_id, "032x") == trace_id
    assert format(call.parent.span_id, "016x") == span_id and call.parent.is_remote


async def test_with_no_tracer_provider_the_call_runs_untraced(tmp_path, monkeypatch):
    """The API imported, no provider set (the MCP SDK imports it in every server): its no-op span, and then the
    cascade's own coroutine, awaited with no frame of ours around it, and no import statement run (each costs
    thousands of instructions: see test_call_overhead.py)."""
    import builtins
    import enum

    monkeypatch.setattr(otel_spans, "_tracer", trace.get_tracer_provider().get_tracer("magsag_mcp"))
    assert not trace.get_current_span().is_recording()
    up = LoopbackUpstream()
    await up.start()
    try:
        service = await _service(tmp_path, up)
        async with service:
            payload = {"data": "x", "model_config": {"model": "gpt-4o"}}
            await service.invoke_skill("skill.analysis", payload)  # (a first call may import)
            plan = service.plan("skill.analysis", payload)
            imported: list[str] = []
            real_import = builtins.__import__

            def watching(name, *args, **kwargs):
                imported.append(f"{name} at {sys._getframe(1).f_code.co_filename}:{sys._getframe(1).f_lineno}")
                return real_import(name, *args, **kwargs)

            enums: list[str] = []

            def reading(cls, name):  # an Enum member read on 3.11: ~1,500 instructions (test_cascade_failures.py)
                enums.append(name)
                return type.__getattribute__(cls, name)

            builtins.__import__ = watching  # (not monkeypatch's setattr, which imports as it undoes)
            enum.EnumType.__getattribute__ = reading  # type: ignore[method-assign]
            try:
                run = service.cascade.run(plan, run_id="r-untraced", agent=None)
            finally:
                builtins.__import__ = real_import
                del enum.EnumType.__getattribute__
            assert run.cr_code is type(service.cascade).run.__wrapped__.__code__
            outcome = await run
    finally:
        await up.stop()
    assert imported == [] and enums == [] and outcome.result.text


def test_the_traced_run_takes_the_cascades_keywords_as_they_are():
    """The wrapper on Cascade.run takes run's own keywords, and passes them on as keywords: gathered as **options, a
    dict of eight was made and unpacked again on every call, traced or not (some 5,800 instructions a call, callgrind:
    benchmarks/ROUNDS.md's forty-seventh round). Its signature is run's, so that a keyword added to run is added here
    too (a call passing it would otherwise be refused with a TypeError)."""
    import inspect

    from magsag_mcp.cascade import Cascade

    wrapper = inspect.signature(Cascade.run, follow_wrapped=False)
    assert all(p.kind is not p.VAR_KEYWORD for p in wrapper.parameters.values()), wrapper
    bare = inspect.signature(Cascade.run.__wrapped__)  # type: ignore[attr-defined]
    # (after the cascade, which the wrapper calls cascade and run self)
    assert [(p.name, p.kind, p.default) for p in list(wrapper.parameters.values())[1:]] == [
        (p.name, p.kind, p.default) for p in list(bare.parameters.values())[1:]
    ]


def test_without_opentelemetry_the_package_imports_and_calls(tmp_path):
    """OpenTelemetry absent (its import blocked): magsag imports and calls as before, and never tries to import it."""
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys

        tried = []

        class NoOpenTelemetry(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "opentelemetry":
                    tried.append(name)
                    raise ImportError(f"No module named {{name!r}} (blocked by the test)")

        sys.meta_path.insert(0, NoOpenTelemetry())
        from magsag_mcp import Magsag
        from magsag_mcp.loopback import LoopbackUpstream

        with LoopbackUpstream().running() as up:
            env = {{**up.env(), "MAGSAG_MAX_RETRIES": "1"}}
            with Magsag(catalog={str(CATALOG)!r}, db={str(tmp_path / "ledger.db")!r}, env=env) as mg:
                result = mg.skills.invoke("skill.analysis", {{"data": "x", "model_config": {{"model": "gpt-4o"}}}})
        assert result["text"], result
        assert not tried and not any(m.startswith("opentelemetry") for m in sys.modules), tried
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(CATALOG.parent)}  # (this checkout's package, wherever pytest runs)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


async def test_the_call_span_starts_when_the_call_runs_not_when_it_is_made(tmp_path, monkeypatch):
    """Cascade.run's coroutine starts its span as it runs: made and never awaited, it leaves no span started (one
    started at the call was never ended, never exported, and held its context); made in one span and awaited in
    another, the span is the child of the one current where it ran, and starts then."""
    import time

    from opentelemetry.sdk.trace import SpanProcessor

    CALL = "magsag skill.analysis"

    class Started(SpanProcessor):
        def __init__(self) -> None:
            self.names: list[str] = []

        def on_start(self, span, parent_context=None) -> None:
            self.names.append(span.name)

    exporter, started = InMemorySpanExporter(), Started()
    provider = TracerProvider()
    provider.add_span_processor(started)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(otel_spans, "_tracer", provider.get_tracer("magsag_mcp"))
    app = provider.get_tracer("the-app")
    up = LoopbackUpstream()
    await up.start()
    try:
        service = await _service(tmp_path, up)
        async with service:
            plan = service.plan("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
            never = service.cascade.run(plan, run_id="r-never", agent=None)
            never.close()  # (a caller that gave up before awaiting it)
            assert CALL not in started.names
            with app.start_as_current_span("where it was made"):
                later = service.cascade.run(plan, run_id="r-later", agent=None)
                made = time.time_ns()
            assert CALL not in started.names
            with app.start_as_current_span("where it ran") as ran:
                outcome = await later
    finally:
        await up.stop()
    assert outcome.result.text
    call = _by_name(exporter)["magsag skill.analysis"]
    assert call.attributes["magsag.run_id"] == "r-later"
    assert call.parent.span_id == ran.get_span_context().span_id
    assert call.start_time >= made
    assert started.names.count(CALL) == 1


async def test_an_attempt_span_says_what_the_request_asked_in_the_conventions_names(tmp_path, spans):
    """The conventions' gen_ai.request.* (those the call set, a target's params included), gen_ai.output.type where
    it asked for JSON, and server.address/server.port of the base URL the attempt went to, its host and port alone."""
    exporter, _ = spans
    up = LoopbackUpstream()
    await up.start()
    try:
        service = await _service(tmp_path, up)
        host = up.env()["OPENAI_BASE_URL"]  # (http://127.0.0.1:PORT/v1)
        target = {
            "provider": "openai",
            "model": "gpt-4o",
            "base_url": host,
            # (a frequency_penalty that is no number: top_k "high" was the one, which is now refused where the target is
            # read, as every vendor's top_k is a whole number: test_param_numbers)
            "params": {"top_p": 0.9, "seed": 7, "presence_penalty": 0.5, "frequency_penalty": "high"},
        }
        config = {
            **target,
            "temperature": 0.2,
            "max_tokens": 64,
            "stop": ["END"],
            "response_format": {"type": "json_object"},
        }
        async with service:
            await service.invoke_skill("skill.analysis", {"data": "answer in JSON", "model_config": config})
    finally:
        await up.stop()
    a = _by_name(exporter)["chat gpt-4o"].attributes
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.request.top_p"] == 0.9 and a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.presence_penalty"] == 0.5
    assert "gen_ai.request.frequency_penalty" not in a  # not a number: not the conventions' frequency_penalty
    assert a["gen_ai.output.type"] == "json"
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == int(up.base_url.rsplit(":", 1)[1])


async def test_a_call_handed_to_a_task_is_the_child_of_the_span_current_where_the_task_was_made(tmp_path, spans):
    """What docs/python.md says of a call given to a task: the task runs in the context it was made in (asyncio copies
    it at create_task), so its call's span is the child of the span current there, not where the task is awaited."""
    import asyncio

    exporter, app = spans
    up = LoopbackUpstream()
    await up.start()
    try:
        service = await _service(tmp_path, up)
        async with service:
            plan = service.plan("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
            with app.start_as_current_span("where the task was made") as made:
                task = asyncio.create_task(service.cascade.run(plan, run_id="r-task", agent=None))
            with app.start_as_current_span("where it was awaited") as awaited:
                outcome = await task
    finally:
        await up.stop()
    assert outcome.result.text
    call = _by_name(exporter)["magsag skill.analysis"]
    assert call.parent.span_id == made.get_span_context().span_id != awaited.get_span_context().span_id


async def test_a_wall_clock_set_back_between_tries_leaves_no_span_ending_before_it_began(tmp_path, spans, monkeypatch):
    """The wall clock stepped back an hour after each try (NTP correcting a clock that ran fast, a VM resumed): the
    spans' durations are the monotonic clock's, and none ends before it began (the call's span ended on the wall clock
    then, the target's at its last try's wall-clock start: each a span of minus an hour)."""
    from opentelemetry.sdk import trace as sdk_trace

    from magsag_mcp.providers.openai import OpenAIProvider

    exporter, _ = spans
    real_time, stepped = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() - stepped[0])
    monkeypatch.setattr(sdk_trace, "time_ns", lambda: int((real_time() - stepped[0]) * 1_000_000_000))
    send = OpenAIProvider.complete

    async def sent_as_the_clock_steps_back(self, request, target, *, progress=None):
        try:
            return await send(self, request, target, progress=progress)
        finally:
            stepped[0] += 3600.0  # once each try has ended

    monkeypatch.setattr(OpenAIProvider, "complete", sent_as_the_clock_steps_back)
    up = LoopbackUpstream(plans={"gpt-4o": [500]})  # a 500, then the answer: two tries of one target
    await up.start()
    try:
        async with await _service(tmp_path, up) as service:
            result = await service.invoke_skill(
                "skill.analysis", {"data": PROMPT, "model_config": {"model": "gpt-4o", "provider": "openai"}}
            )
    finally:
        await up.stop()
    assert stepped[0] == 7200.0 and [a.outcome for a in result.attempts] == ["error", "ok"]
    found = _by_name(exporter)
    call, target = found["magsag skill.analysis"], found["chat gpt-4o"]
    assert target.attributes["magsag.attempt.tries"] == 2
    for span in (call, target):
        assert span.end_time >= span.start_time, (span.name, (span.end_time - span.start_time) / 1e9)
    # the tries as events, in the order they were made, within their target's span
    first, second = target.events
    assert target.start_time == first.timestamp <= second.timestamp <= target.end_time
    # each no longer than it took on the monotonic clock: the hour set back is in none of them
    assert (call.end_time - call.start_time) / 1e9 < 3600.0


async def test_a_wall_clock_set_back_before_a_fallback_keeps_its_span_within_the_calls_and_after_the_first(
    tmp_path, spans, monkeypatch
):
    """The wall clock stepped back an hour once the first target failed: the fallback's span started on its try's
    wall-clock start, an hour before the call's span began and before the first target's; each target's span is placed
    on the call's, by the monotonic clock."""
    from opentelemetry.sdk import trace as sdk_trace

    from magsag_mcp.providers.openai import OpenAIProvider

    exporter, _ = spans
    real_time, stepped = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() - stepped[0])
    monkeypatch.setattr(sdk_trace, "time_ns", lambda: int((real_time() - stepped[0]) * 1_000_000_000))
    send = OpenAIProvider.complete

    async def sent_as_the_clock_steps_back(self, request, target, *, progress=None):
        try:
            return await send(self, request, target, progress=progress)
        finally:
            stepped[0] += 3600.0  # once OpenAI's try has ended, before Claude's

    monkeypatch.setattr(OpenAIProvider, "complete", sent_as_the_clock_steps_back)
    up = LoopbackUpstream(plans={"gpt-4o": [500]})
    await up.start()
    try:
        async with await _service(tmp_path, up, MAGSAG_MAX_RETRIES="0") as service:
            result = await service.invoke_skill("skill.analysis", {"data": PROMPT, "model_config": FALLBACK})
    finally:
        await up.stop()
    assert stepped[0] == 3600.0 and [a.outcome for a in result.attempts] == ["error", "ok"]
    found = _by_name(exporter)
    call, failed, answered = (
        found["magsag skill.analysis"],
        found["chat gpt-4o"],
        found["chat claude-3-5-sonnet-20241022"],
    )
    assert call.start_time <= failed.start_time <= failed.end_time <= answered.start_time, (
        (failed.start_time - call.start_time) / 1e9,
        (answered.start_time - failed.end_time) / 1e9,
    )
    assert answered.start_time <= answered.end_time <= call.end_time
