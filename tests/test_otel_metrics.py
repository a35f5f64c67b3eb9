"""The GenAI client metrics of a call's targets (magsag_mcp/otel_metrics.py), read from the SDK's in-memory metric
reader: calls made for real through the service against the loopback vendors.

The measurements go to instruments of the test's own meter provider (``otel_metrics._instruments``), not to a global
one: a global provider can be set once per process, and every later test's calls would then be measured into it."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics import NoOpMeter
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from magsag_mcp import otel_metrics, otel_spans
from magsag_mcp.loopback import LoopbackUpstream
from magsag_mcp.otel_metrics import DURATION_BUCKETS, TOKEN_BUCKETS, Instruments
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY

pytestmark = pytest.mark.anyio

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
QUICK = {"MAGSAG_MAX_RETRIES": "1", "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
CLAUDE = "claude-3-5-sonnet-20241022"
#: the conventions' advisory boundaries, as semantic-conventions-genai's gen-ai-metrics.md writes them
CONVENTIONS_DURATION = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
CONVENTIONS_TOKENS = [4**n for n in range(14)]


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> InMemoryMetricReader:
    """Where the calls' measurements end: instruments of a meter provider of the test's own."""
    found = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[found])
    monkeypatch.setattr(otel_metrics, "_instruments", Instruments(provider.get_meter("magsag_mcp"), NoOpMeter))
    return found


def _metrics(reader: InMemoryMetricReader) -> dict[str, object]:
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def _points(metric: object) -> dict[tuple, object]:
    """A histogram's data points by their attributes (sorted pairs)."""
    return {tuple(sorted(p.attributes.items())): p for p in metric.data.data_points}  # type: ignore[attr-defined]


async def _service(tmp_path: Path, up: LoopbackUpstream, **env: str) -> Service:
    return await Service.open(catalog=CATALOG, db=tmp_path / "ledger.db", env={**up.env(), **QUICK, **env})


async def test_a_fallback_measures_each_target_in_the_conventions_terms(tmp_path, reader):
    """gpt-4o answers 500 twice (a try and its retry), then Claude answers: two operations, each one duration (the
    failed one with error.type), Claude's input and output tokens as the ledger counted them, the conventions' units,
    bucket boundaries and attributes."""
    up = LoopbackUpstream(plans={"gpt-4o": [500, 500]})
    await up.start()
    try:
        async with await _service(tmp_path, up) as service:
            config = {"model": "gpt-4o", "provider": "openai", "fallbacks": [f"anthropic:{CLAUDE}"]}
            result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    finally:
        await up.stop()
    assert [(a.model, a.outcome) for a in result.attempts] == [("gpt-4o", "error"), ("gpt-4o", "error"), (CLAUDE, "ok")]
    found = _metrics(reader)
    duration, tokens = found["gen_ai.client.operation.duration"], found["gen_ai.client.token.usage"]
    assert (duration.unit, tokens.unit) == ("s", "{token}")
    host, port = "127.0.0.1", int(up.base_url.rsplit(":", 1)[1])
    failed = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "server.address": host,
        "server.port": port,
        "error.type": "server_error",
    }
    answered = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": CLAUDE,
        "gen_ai.response.model": result.model,
        "server.address": host,
        "server.port": port,
    }
    times = _points(duration)
    assert set(times) == {tuple(sorted(failed.items())), tuple(sorted(answered.items()))}
    first, second, third = result.attempts
    failed_time = times[tuple(sorted(failed.items()))]
    # one operation of the target's two tries: from the first's request to the retry's answer, on the monotonic clock
    # (the wall clock's started_at of each goes back where the clock is set back between them)
    assert failed_time.count == 1
    took = second.sent_clock - first.sent_clock + second.latency_ms / 1000
    assert failed_time.sum == pytest.approx(took, abs=1e-6)
    assert failed_time.sum >= second.latency_ms / 1000 > 0
    answered_time = times[tuple(sorted(answered.items()))]
    assert answered_time.count == 1 and answered_time.sum == pytest.approx(third.latency_ms / 1000)
    for point in times.values():
        assert list(point.explicit_bounds) == CONVENTIONS_DURATION == list(DURATION_BUCKETS)
    # tokens: Claude's, by type; the 500s reported none, and record none
    used = _points(tokens)
    assert set(used) == {tuple(sorted({**answered, "gen_ai.token.type": kind}.items())) for kind in ("input", "output")}
    by_type = {dict(k)["gen_ai.token.type"]: p for k, p in used.items()}
    assert by_type["input"].count == by_type["output"].count == 1
    assert by_type["input"].sum == third.input_tokens > 0
    assert by_type["output"].sum == third.output_tokens > 0
    for point in used.values():
        assert list(point.explicit_bounds) == CONVENTIONS_TOKENS == list(TOKEN_BUCKETS)
    # the value lands in its bucket: one count in the bucket whose bounds hold it
    point = by_type["output"]
    index = next(i for i, bound in enumerate(point.explicit_bounds) if third.output_tokens <= bound)
    assert point.bucket_counts[index] == 1 and sum(point.bucket_counts) == 1


async def test_a_retried_answer_is_one_operation_with_its_tries_tokens(tmp_path, reader):
    """gpt-4o answers 500, then 200: one operation (as its span is one), no error.type (it answered), its tokens the
    tries' together (the 500 billed none)."""
    up = LoopbackUpstream(plans={"gpt-4o": [500, 200]})
    await up.start()
    try:
        async with await _service(tmp_path, up) as service:
            config = {"model": "gpt-4o", "provider": "openai"}
            result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    finally:
        await up.stop()
    assert [a.outcome for a in result.attempts] == ["error", "ok"]
    found = _metrics(reader)
    (time,) = found["gen_ai.client.operation.duration"].data.data_points
    assert time.count == 1 and "error.type" not in time.attributes
    assert time.attributes["gen_ai.response.model"] == result.model
    used = {p.attributes["gen_ai.token.type"]: p for p in found["gen_ai.client.token.usage"].data.data_points}
    assert used["output"].sum == sum(a.output_tokens for a in result.attempts) == result.attempts[-1].output_tokens
    assert used["input"].count == used["output"].count == 1


async def test_an_answer_from_the_cache_is_no_operation(tmp_path, reader, fake_openai):
    """A call answered from the answer cache sent nothing to a vendor: no duration and no tokens of it, only the
    first call's, which paid for the answer."""
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        paid = await svc.invoke_skill("skill.analysis", payload, context={"cache_ttl": 3600})
        hit = await svc.invoke_skill("skill.analysis", payload, context={"cache_ttl": 3600})
    assert len(fake_openai.requests) == 1 and hit.attempts[0].cached_from == paid.run_id
    found = _metrics(reader)
    (time,) = found["gen_ai.client.operation.duration"].data.data_points
    assert time.count == 1 and time.sum == pytest.approx(paid.attempts[0].latency_ms / 1000)
    used = {p.attributes["gen_ai.token.type"]: p for p in found["gen_ai.client.token.usage"].data.data_points}
    assert used["input"].count == 1 and used["input"].sum == paid.attempts[0].input_tokens


async def test_a_call_traced_and_sampled_out_is_measured_all_the_same(tmp_path, reader, monkeypatch):
    """Metrics do not depend on the trace: a call whose span the sampler drops is measured."""
    monkeypatch.setattr(otel_spans, "_tracer", TracerProvider(sampler=ALWAYS_OFF).get_tracer("magsag_mcp"))
    up = LoopbackUpstream()
    await up.start()
    try:
        async with await _service(tmp_path, up) as service:
            await service.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
    finally:
        await up.stop()
    (time,) = _metrics(reader)["gen_ai.client.operation.duration"].data.data_points
    assert time.count == 1 and time.attributes["gen_ai.request.model"] == "gpt-4o"


async def test_with_no_meter_provider_the_call_runs_unmeasured(tmp_path, monkeypatch):
    """The API imported, no provider set: the global proxy meter stands for nothing, so nothing is measured and the
    call is the cascade's own coroutine, with no frame of ours around it."""
    assert isinstance(metrics.get_meter_provider(), _ProxyMeterProvider), "a test set a global meter provider"
    monkeypatch.setattr(otel_metrics, "_instruments", None)
    monkeypatch.setattr(otel_spans, "_tracer", trace.NoOpTracer())
    assert otel_metrics.recording() is None
    assert otel_metrics._instruments is not None  # made once, from the global provider's proxy meter
    up = LoopbackUpstream()
    await up.start()
    try:
        async with await _service(tmp_path, up) as service:
            plan = service.plan("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
            run = service.cascade.run(plan, run_id="r-unmeasured", agent=None)
            assert run.cr_code is type(service.cascade).run.__wrapped__.__code__
            assert (await run).result.text
    finally:
        await up.stop()


def test_instruments_made_before_a_provider_is_set_record_once_it_is(monkeypatch):
    """The proxy meter's instruments (made at the first call, before the app set a provider) record to the provider
    set later; and a provider that makes no measurements (the SDK's with OTEL_SDK_DISABLED) is a no-op."""
    proxy = _ProxyMeterProvider()
    instruments = Instruments(proxy.get_meter("magsag_mcp"), NoOpMeter)
    assert not instruments.may_record()
    found = InMemoryMetricReader()
    proxy.on_set_meter_provider(MeterProvider(metric_readers=[found]))
    assert instruments.may_record()
    instruments.duration.record(0.5, {"gen_ai.operation.name": "chat"})
    (time,) = _metrics(found)["gen_ai.client.operation.duration"].data.data_points
    assert time.sum == 0.5 and list(time.explicit_bounds) == CONVENTIONS_DURATION
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    disabled = Instruments(MeterProvider().get_meter("magsag_mcp"), NoOpMeter)
    assert not disabled.may_record()


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_answer_without_usage_records_its_duration_and_no_tokens(tmp_path, reader, fake_openai, stream):
    """An answer that came without its usage (many OpenAI-compatible servers send none) recorded 0 tokens of each
    type; its zeros are no count (types.Usage.reported), and the conventions: "if instrumentation cannot efficiently
    obtain number of input and/or output tokens ... it MUST NOT report usage metric". Its duration is measured."""
    fake_openai.queue(R.reply("a fine answer", no_usage=True))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o", "stream": stream}}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", payload)
    assert result.output == "a fine answer" and result.cost_usd is None
    found = _metrics(reader)
    (time,) = found["gen_ai.client.operation.duration"].data.data_points
    assert time.count == 1 and "error.type" not in time.attributes
    assert "gen_ai.client.token.usage" not in found


class _HistogramOfAnOlderAPI:
    def __init__(self) -> None:
        self.values: list[float] = []

    def record(self, amount: float, attributes: object = None) -> None:
        self.values.append(amount)


class _MeterOfAnOlderAPI:
    """A meter of opentelemetry-api before 1.30 (1.29's create_histogram, as the API's NoOpMeter and ProxyMeter
    have it): no ``explicit_bucket_boundaries_advisory``, which the keyword then fails with a TypeError."""

    def __init__(self) -> None:
        self.histograms: dict[str, _HistogramOfAnOlderAPI] = {}

    def create_histogram(self, name: str, unit: str = "", description: str = "") -> _HistogramOfAnOlderAPI:
        return self.histograms.setdefault(name, _HistogramOfAnOlderAPI())


class _MeterThatFails:
    """A meter provider's bug: its instruments cannot be made."""

    def create_histogram(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug of the app's meter provider")


async def _answered_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meter: object) -> None:
    """Two calls with ``meter`` the global provider's, untraced: each answers."""
    found = types.SimpleNamespace(get_meter=lambda *_args, **_kw: meter, NoOpMeter=NoOpMeter)
    monkeypatch.setitem(sys.modules, "opentelemetry.metrics", found)
    monkeypatch.setattr(otel_metrics, "_instruments", None)
    monkeypatch.setattr(otel_metrics, "_unmade", False)
    monkeypatch.setattr(otel_spans, "_tracer", trace.NoOpTracer())
    up = LoopbackUpstream()
    await up.start()
    try:
        async with await _service(tmp_path, up) as service:
            payload = {"data": "x", "model_config": {"model": "gpt-4o"}}
            for _ in range(2):
                result = await service.invoke_skill("skill.analysis", payload)
                assert result.output
    finally:
        await up.stop()


async def test_an_api_that_takes_no_bucket_advice_measures_the_calls_all_the_same(tmp_path, monkeypatch):
    """opentelemetry-api 1.28 and 1.29 (allowed by the MCP SDK's floor, and by the otel extra's 1.27) take no
    explicit_bucket_boundaries_advisory: with opentelemetry.metrics imported, every call failed with a TypeError,
    provider set or not. The histograms are made without the advice, and the calls measured."""
    meter = _MeterOfAnOlderAPI()
    await _answered_twice(tmp_path, monkeypatch, meter)
    assert set(meter.histograms) == {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"}
    assert len(meter.histograms["gen_ai.client.operation.duration"].values) == 2
    assert len(meter.histograms["gen_ai.client.token.usage"].values) == 4  # input and output, twice


async def test_a_meter_that_cannot_make_the_instruments_never_fails_a_call(tmp_path, monkeypatch, caplog):
    """A meter provider's bug making the histograms: the calls answer, unmeasured, the failure logged once (not
    tried again on every call)."""
    await _answered_twice(tmp_path, monkeypatch, _MeterThatFails())
    made = [r for r in caplog.records if "OpenTelemetry metrics" in r.getMessage()]
    assert len(made) == 1 and "RuntimeError" in (made[0].exc_text or "")
    assert otel_metrics.recording() is None


async def test_a_wall_clock_set_back_between_tries_measures_no_negative_duration(tmp_path, reader, monkeypatch):
    """gpt-4o answers 500, then 200, the wall clock stepped back an hour between the tries (NTP, a VM resumed): the
    operation's duration is the monotonic clock's (it was the second try's wall-clock start less the first's: minus
    an hour)."""
    from magsag_mcp.providers.openai import OpenAIProvider

    real_time, stepped = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() - stepped[0])
    send = OpenAIProvider.complete

    async def sent_as_the_clock_steps_back(self, request, target, *, progress=None):
        try:
            return await send(self, request, target, progress=progress)
        finally:
            stepped[0] += 3600.0

    monkeypatch.setattr(OpenAIProvider, "complete", sent_as_the_clock_steps_back)
    up = LoopbackUpstream(plans={"gpt-4o": [500, 200]})
    await up.start()
    try:
        async with await _service(tmp_path, up) as service:
            config = {"model": "gpt-4o", "provider": "openai"}
            result = await service.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    finally:
        await up.stop()
    assert stepped[0] == 7200.0 and [a.outcome for a in result.attempts] == ["error", "ok"]
    (took,) = _metrics(reader)["gen_ai.client.operation.duration"].data.data_points
    assert took.count == 1 and 0.0 <= took.sum < 3600.0, took.sum
