"""The spans of a call's targets (magsag_mcp/otel_attempts.py, otel_requests.py) and the call's span sampled out
(otel_spans.py), read from the SDK's in-memory exporter: calls made for real through the service against loopback
vendors (the spec-checking OpenAI and Anthropic fakes, and magsag's loopback upstream).

- ``gen_ai.request.*`` say what the request was sent with, not what the call asked (a setting a model refuses is
  fitted first: left out, sent again without it, raised to the API's minimum);
- the conventions' token breakdown (cache reads and writes, reasoning);
- one span for a target's tries (the conventions' span "with all retries"), each try an event of it;
- a sampled-out call is current all the same: a child span and a traceparent sent on carry its decision."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import StatusCode

from magsag_mcp import otel_spans
from magsag_mcp.loopback import LoopbackUpstream
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY
from tests.pricing_audit import catalog_without_policies
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
QUICK = {"MAGSAG_MAX_RETRIES": "1", "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
ANTHROPIC_KEY = "sk-test-key-123456"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Where the calls' spans end: a provider of the test's own (a global one can be set once per process)."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(otel_spans, "_tracer", provider.get_tracer("magsag_mcp"))
    return spans


def _spans(exporter: InMemorySpanExporter, name: str) -> list:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def test_the_request_attributes_say_what_was_sent_not_what_the_call_asked(tmp_path, exporter, fake_openai):
    """A temperature of 0.2 asked of three models that refuse it, each fitted its own way before it is answered:
    gpt-5 by the rules (not sent, and no stop sequences either), gpt-6 by its own 400 (a name the rules do not know,
    served as gpt-5: sent again without it), and gpt-5 on the Responses API, whose max_output_tokens is at least 16
    (5 asked, 16 sent). The spans said 0.2, the stop sequence and 5: what the models never got."""
    fake_openai.deployments["gpt-6"] = "gpt-5"
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY, **QUICK}
    asked = {"provider": "openai", "temperature": 0.2, "max_tokens": 5}
    sent: list[list[dict]] = []  # each call's request bodies, in order
    async with await Service.open(catalog=catalog_without_policies(tmp_path), db=tmp_path / "l.db", env=env) as svc:
        for config in (
            {**asked, "model": "gpt-5", "stop": ["END"]},
            {**asked, "model": "gpt-6"},
            {**asked, "model": "gpt-5", "params": {"api": "responses"}},
        ):
            before = len(fake_openai.requests)
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
            sent.append([r.body for r in fake_openai.requests[before:]])
    (by_rules,), (refused, resent), (clamped,) = sent
    assert "temperature" not in by_rules and "stop" not in by_rules
    assert refused["temperature"] == 0.2 and "temperature" not in resent  # (the 400 for it, and the request again)
    assert clamped["max_output_tokens"] == 16 and "temperature" not in clamped
    spans = [s.attributes for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert len(spans) == 3
    for a in spans:
        assert "gen_ai.request.temperature" not in a and "gen_ai.request.stop_sequences" not in a
    assert spans[0]["gen_ai.request.max_tokens"] == spans[1]["gen_ai.request.max_tokens"] == 5
    assert spans[2]["gen_ai.request.max_tokens"] == 16
    assert spans[1]["magsag.attempt.tries"] == 1  # (sent again within its one try: the 400 is not billed)


async def test_a_setting_the_model_took_is_said_as_it_was_sent(tmp_path, exporter, fake_openai):
    """gpt-4o takes what the call asked: the span says it, of the conventions' types, and the target's params too."""
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    config = {"provider": "openai", "model": "gpt-4o", "temperature": 1, "stop": "END", "params": {"seed": 7}}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    (span,) = _spans(exporter, "chat gpt-4o")
    sent = fake_openai.requests[-1].body
    assert sent["temperature"] == 1 and sent["seed"] == 7
    a = span.attributes
    assert a["gen_ai.request.temperature"] == 1.0 and isinstance(a["gen_ai.request.temperature"], float)
    assert a["gen_ai.request.stop_sequences"] == ("END",) and a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.max_tokens"] == sent["max_completion_tokens"]  # (the skill's, as OpenAI takes it)


async def test_cache_and_reasoning_tokens_are_the_conventions_breakdown(tmp_path, exporter, fake_openai, serve):
    """The conventions' usage parts (semantic-conventions-genai v0.1.0, client-inference.md): cache reads and writes
    of the input (Anthropic's cache_read_input_tokens and cache_creation_input_tokens, counted in input_tokens as the
    conventions ask), reasoning of the output (OpenAI's reasoning_tokens); none where the answer reported none."""
    claude = FakeAnthropic(ANTHROPIC_KEY)
    claude.queue(
        {
            "text": "ok",
            "usage": {
                "input_tokens": 1_000,
                "output_tokens": 800,
                "cache_read_input_tokens": 20_000,
                "cache_creation_input_tokens": 3_000,
                "cache_creation": {"ephemeral_5m_input_tokens": 3_000, "ephemeral_1h_input_tokens": 0},
            },
        }
    )
    fake_openai.queue(R.reply("Paris", usage=R.tokens(input=120, cached=100, output=9, reasoning=4)), R.reply("ok"))
    env = {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": await serve(claude),
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": DEFAULT_KEY,
    }
    async with await Service.open(catalog=catalog_without_policies(tmp_path), db=tmp_path / "l.db", env=env) as svc:
        for config in (
            {"provider": "anthropic", "model": "claude-sonnet-4-5"},
            {"provider": "openai", "model": "o3"},
            {"provider": "openai", "model": "gpt-4o"},
        ):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    assert claude.violations == []
    (anthropic,) = _spans(exporter, "chat claude-sonnet-4-5")
    a = anthropic.attributes
    assert a["gen_ai.usage.input_tokens"] == 24_000 and a["gen_ai.usage.output_tokens"] == 800
    assert a["gen_ai.usage.cache_read.input_tokens"] == 20_000
    assert a["gen_ai.usage.cache_write.input_tokens"] == 3_000
    assert "gen_ai.usage.reasoning.output_tokens" not in a
    (o3,) = _spans(exporter, "chat o3")
    a = o3.attributes
    assert a["gen_ai.usage.input_tokens"] == 120 and a["gen_ai.usage.cache_read.input_tokens"] == 100
    assert a["gen_ai.usage.output_tokens"] == 9 and a["gen_ai.usage.reasoning.output_tokens"] == 4
    assert "gen_ai.usage.cache_write.input_tokens" not in a
    (plain,) = _spans(exporter, "chat gpt-4o")
    assert not [k for k in plain.attributes if k.count(".") > 2 and k.startswith("gen_ai.usage.")]


async def test_a_targets_retries_are_one_span_with_each_try_an_event(tmp_path, exporter):
    """gpt-4o answers 500, then 200: one span of the logical operation, from its first try's start to its last's end
    (the conventions' span "with all retries"), its outcome the answer's, each try an event. Then a call whose
    gpt-4o fails twice falls back to Claude: two spans, the first failed with both tries as its events."""
    up = LoopbackUpstream(plans={"gpt-4o": [500, 200, 500, 500]})
    await up.start()
    try:
        async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={**up.env(), **QUICK}) as svc:
            config = {"model": "gpt-4o", "provider": "openai"}
            retried = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r1")
            config = {**config, "fallbacks": ["anthropic:claude-3-5-sonnet-20241022"]}
            fell_back = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r2")
    finally:
        await up.stop()
    first, failed = _spans(exporter, "chat gpt-4o")
    (answered,) = _spans(exporter, "chat claude-3-5-sonnet-20241022")
    call_1, call_2 = _spans(exporter, "magsag skill.analysis")
    assert [a.outcome for a in retried.attempts] == ["error", "ok"]
    # one span, its two tries within it, and its outcome the last try's
    assert first.parent.span_id == call_1.context.span_id
    assert first.attributes["magsag.attempt.tries"] == 2 and call_1.attributes["magsag.attempts"] == 2
    assert first.status.status_code == StatusCode.UNSET and "error.type" not in first.attributes
    assert first.attributes["gen_ai.response.model"] == retried.model
    tried, answer = first.events
    assert (tried.name, answer.name) == ("magsag.try", "magsag.try")
    assert tried.attributes["magsag.attempt.try"] == 1 and tried.attributes["error.type"] == "server_error"
    assert "planned HTTP 500" in tried.attributes["magsag.try.error"]
    assert answer.attributes["magsag.attempt.try"] == 2 and answer.attributes["magsag.try.outcome"] == "ok"
    assert first.start_time == tried.timestamp < answer.timestamp < first.end_time
    ok_try = retried.attempts[-1]
    assert first.attributes["gen_ai.usage.output_tokens"] == ok_try.output_tokens > 0
    assert answer.attributes["magsag.try.output_tokens"] == ok_try.output_tokens
    assert first.attributes["magsag.cost_usd"] == float(retried.cost_usd)  # (a 500 costs nothing)
    # a fallback: another model, another span; the failed target's span failed, with its two tries
    assert failed.parent.span_id == answered.parent.span_id == call_2.context.span_id
    assert failed.attributes["magsag.attempt.tries"] == 2 and failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "server_error"
    assert [e.attributes["magsag.attempt.try"] for e in failed.events] == [1, 2]
    assert failed.end_time <= answered.start_time
    assert answered.attributes["magsag.attempt.tries"] == 1 and call_2.attributes["magsag.attempts"] == 3
    assert fell_back.text


class _DropsMagsagRoots(Sampler):
    """Samples out a root span named "magsag ...", and samples in any other root: a call sampled out where the spans
    of a client instrumented beneath it would be kept, were they a trace of their own."""

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        decision = Decision.DROP if name.startswith("magsag ") else Decision.RECORD_AND_SAMPLE
        return SamplingResult(decision, attributes if decision is Decision.RECORD_AND_SAMPLE else None)

    def get_description(self) -> str:
        return "DropsMagsagRoots"


async def test_a_sampled_out_call_is_current_so_what_it_sends_says_so(tmp_path, monkeypatch):
    """The call's span is sampled out. Beneath it, what an instrumented HTTP client does as each request is sent (a
    span of its own, the W3C traceparent written on the request): the span is a child of the call's, in its trace,
    sampled out with it (a parent-based sampler), and the traceparent sent on names that trace, not sampled. The call's
    span was not made current, so they began a trace of their own, sampled in: a downstream service traced a call
    its caller had dropped."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(root=_DropsMagsagRoots(), remote_parent_sampled=ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(otel_spans, "_tracer", provider.get_tracer("magsag_mcp"))
    http_client = provider.get_tracer("an-instrumented-http-client")
    seen: list[tuple[trace.SpanContext, dict[str, str]]] = []
    up = LoopbackUpstream()
    await up.start()
    try:
        async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={**up.env(), **QUICK}) as svc:
            transport = svc.providers.get("openai").transport
            post_json = transport.post_json

            async def instrumented(url, body, **kwargs):  # as an aiohttp client instrumentation wraps each request
                with http_client.start_as_current_span("POST") as span:
                    headers: dict[str, str] = {}
                    propagate.inject(headers)
                    seen.append((span.get_span_context(), headers))
                    return await post_json(url, body, **kwargs)

            monkeypatch.setattr(transport, "post_json", instrumented)
            result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
    finally:
        await up.stop()
    assert result.text
    assert exporter.get_finished_spans() == ()  # the call sampled out, and everything beneath it
    ((child, headers),) = seen
    assert not child.trace_flags.sampled
    version, trace_id, _parent, flags = headers["traceparent"].split("-")
    # in the call's trace, its sampled flag (0x01) clear: what the SDK sends, 02, is the W3C "random" flag alone
    assert trace_id == format(child.trace_id, "032x") and not int(flags, 16) & 0x01


async def test_an_answer_from_the_cache_is_no_client_span_but_an_event_of_the_call(tmp_path, exporter, fake_openai):
    """A call answered from the answer cache sent nothing: no `chat MODEL` span (a client's request to the vendor's
    server, with the original answer's response id, that never was), but an event of the call's span naming the run
    that paid for the answer; the call's span says the target that answered, and that nothing was sent."""
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        paid = await svc.invoke_skill("skill.analysis", payload, context={"cache_ttl": 3600})
        hit = await svc.invoke_skill("skill.analysis", payload, context={"cache_ttl": 3600})
    assert len(fake_openai.requests) == 1 and hit.cost_usd == 0
    (sent,) = _spans(exporter, "chat gpt-4o")  # the first call's, alone
    first, second = _spans(exporter, "magsag skill.analysis")
    assert sent.parent.span_id == first.context.span_id
    assert second.attributes["magsag.attempts"] == 0 and second.attributes["magsag.cost_usd"] == 0.0
    assert second.attributes["magsag.target"] == "openai:gpt-4o"
    (event,) = [e for e in second.events if e.name == "magsag.cache_hit"]
    assert event.attributes["magsag.cached_from"] == paid.run_id
    assert event.attributes["magsag.target"] == "openai:gpt-4o"
    assert event.attributes["magsag.saved_usd"] == float(paid.cost_usd)


async def test_a_streamed_request_says_so_and_an_unstreamed_one_does_not(tmp_path, exporter):
    """gen_ai.request.stream, set "if and only if the request is streaming" (unset: it was not): read from the body's
    "stream": true (OpenAI, Anthropic), and for Gemini, whose streamed request says so in its URL
    (:streamGenerateContent), from the request it was sent."""
    up = LoopbackUpstream()
    await up.start()
    targets = {"openai": "gpt-4o", "anthropic": "claude-3-5-sonnet-20241022", "google": "gemini-1.5-pro"}
    try:
        async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={**up.env(), **QUICK}) as svc:
            for provider, model in targets.items():
                for stream in (True, False):
                    config = {"model": model, "provider": provider, "stream": stream}
                    result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
                    assert result.text
    finally:
        await up.stop()
    for model in targets.values():
        (streamed, whole) = [s for s in exporter.get_finished_spans() if s.name.endswith(f" {model}")]
        assert streamed.attributes["gen_ai.request.stream"] is True, model
        assert "gen_ai.request.stream" not in whole.attributes, model
