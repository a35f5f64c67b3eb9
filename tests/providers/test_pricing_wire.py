"""What a call costs, from the vendor's own answer (a spec-checking loopback fake) to the recorded USD:
usage fields that change the price (cache lifetimes, service tiers, audio, the answering model) must
reach the pricer, and be priced at the vendor's rate for them or recorded as unknown, never at another."""

from __future__ import annotations

import csv
import io
import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli.data import runs_to_csv
from magsag_mcp.pricing import Pricer, UnitPrices
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import AzureProvider, OpenAIProvider
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Message, Target, Usage

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000
CATALOG = Path(__file__).resolve().parents[2] / "catalog"


async def _anthropic(serve, transport, usage: dict, *, stream: bool, model: str = "claude-sonnet-4-5") -> Usage:
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok", "usage": usage})
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    result = await provider.complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream), Target("anthropic", model, url)
    )
    assert fake.violations == []
    return result.usage


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_anthropic_one_hour_cache_writes_cost_their_own_rate(serve, transport, stream):
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 5-minute write, $6 1-hour write
    usage = await _anthropic(
        serve,
        transport,
        {
            "input_tokens": 1000,
            "output_tokens": 500,
            "cache_read_input_tokens": 20_000,
            "cache_creation_input_tokens": 100_000,
            "cache_creation": {"ephemeral_5m_input_tokens": 40_000, "ephemeral_1h_input_tokens": 60_000},
        },
        stream=stream,
    )
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (100_000, 60_000)
    quote = Pricer.from_catalog(None).price("anthropic", "claude-sonnet-4-5", usage)
    assert quote.cost_usd == (1000 * 3 + 500 * 15 + 20_000 * D("0.3") + 40_000 * D("3.75") + 60_000 * 6) / D(M)


async def test_one_hour_cache_writes_past_a_prompt_tier_are_priced_by_genai_prices_with_their_count(serve, transport):
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price

    usage = await _anthropic(
        serve,
        transport,
        {
            "input_tokens": 150_000,
            "output_tokens": 500,
            "cache_creation_input_tokens": 100_000,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 100_000},
        },
        stream=False,
    )
    theirs = calc_price(
        GUsage(input_tokens=250_000, output_tokens=500, cache_write_tokens=100_000, cache_write_1h_tokens=100_000),
        "claude-sonnet-4-5",
        provider_id="anthropic",
    ).total_price
    # past 200k the whole prompt is billed at the long-context rates: 1-hour writes at $12
    assert Pricer.from_catalog(None).price("anthropic", "claude-sonnet-4-5", usage).cost_usd == theirs
    assert theirs == (150_000 * 6 + 500 * D("22.5") + 100_000 * 12) / D(M)


def test_one_hour_cache_writes_without_a_one_hour_rate_cost_anthropics_2x_not_the_five_minute_rate():
    # Anthropic bills a 1-hour write at 2x the input rate: an entry without cache_write_1h is priced so
    pricer = Pricer([("anthropic:my-claude", UnitPrices(D(3), D(15), D("0.3"), D("3.75")))])
    hour = Usage(2000, 10, cache_write_tokens=1000, cache_write_1h_tokens=1000)
    quote = pricer.price("anthropic", "my-claude", hour)
    assert quote.cost_usd == (1000 * 3 + 1000 * D(6) + 10 * 15) / D(M) and quote.source == "catalog:prices.yaml"
    # a provider with no such multiple of its own: the 1-hour writes are of unknown cost, never the 5-minute rate
    compat = Pricer([("compat:my-claude", UnitPrices(D(3), D(15), D("0.3"), D("3.75")))])
    quote = compat.price("compat", "my-claude", hour)
    assert quote.cost_usd is None and quote.source is None
    assert "1-hour cache writes" in quote.warning and "cache_write_1h" in quote.warning
    # 5-minute writes alone are priced as before
    five = Usage(2000, 10, cache_write_tokens=1000)
    assert pricer.price("anthropic", "my-claude", five).cost_usd == (1000 * 3 + 1000 * D("3.75") + 10 * 15) / D(M)


def test_the_worst_case_stays_above_a_prompt_written_to_the_one_hour_cache():
    pricer = Pricer.from_catalog(None)
    for tokens in (10_000, 250_000):  # below and past the long-context tier
        worst = pricer.worst_case("anthropic", "claude-sonnet-4-5", tokens, 1000)
        all_hour = Usage(tokens, 1000, cache_write_tokens=tokens, cache_write_1h_tokens=tokens)
        assert worst == pricer.price("anthropic", "claude-sonnet-4-5", all_hour).cost_usd, tokens
        assert worst > pricer.price("anthropic", "claude-sonnet-4-5", Usage(tokens, 1000)).cost_usd


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_us_only_inference_costs_its_geo_rate(serve, transport, stream):
    # Anthropic bills inference_geo "us" (the request's, or the workspace's default) at 1.1x every token rate of
    # the models that take it (Claude Opus 4.6 and later); the answer's usage.inference_geo says where it ran.
    # claude-opus-4-6: $5 in, $25 out, $0.50 cache read, $6.25 5-minute write
    tokens = {"input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 20_000}
    tokens["cache_creation_input_tokens"] = 10_000
    # (split, as the API's answer does: a usage without cache_creation says no time to live of its writes)
    tokens["cache_creation"] = {"ephemeral_5m_input_tokens": 10_000, "ephemeral_1h_input_tokens": 0}
    standard = (1000 * 5 + 500 * 25 + 20_000 * D("0.5") + 10_000 * D("6.25")) / D(M)
    pricer = Pricer.from_catalog(None)
    worst = pricer.worst_case("anthropic", "claude-opus-4-6", 5000, 1000)
    pinned = await _anthropic(
        serve, transport, {**tokens, "inference_geo": "us"}, stream=stream, model="claude-opus-4-6"
    )
    assert pricer.price("anthropic", "claude-opus-4-6", pinned).cost_usd == standard * D("1.1")
    anywhere = await _anthropic(
        serve, transport, {**tokens, "inference_geo": "global"}, stream=stream, model="claude-opus-4-6"
    )
    assert pricer.price("anthropic", "claude-opus-4-6", anywhere).cost_usd == standard
    # once answers have run in the US, reservations hold the dearer rate
    assert pricer.worst_case("anthropic", "claude-opus-4-6", 5000, 1000) == worst * D("1.1")
    # a catalog entry's rates are the standard ones, run anywhere: US-only inference is 1.1x them too
    overridden = Pricer([("anthropic:claude-opus-4-6", UnitPrices(D(1), D(2)))])
    assert overridden.price("anthropic", "claude-opus-4-6", Usage(1000, 100, inference_geo="us")).cost_usd == (
        D("0.00132")
    )


async def _openai(serve, transport, step: dict, *, model: str, stream: bool, params: tuple = ()) -> Usage:
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    fake.queue(step)
    provider = OpenAIProvider({"OPENAI_API_KEY": KEY}, transport)
    result = await provider.complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream), Target("openai", model, url + "/v1", params)
    )
    assert fake.violations == []
    return result.usage


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_openai_answers_are_priced_at_the_service_tier_that_served_them(serve, transport, api, stream):
    pricer = Pricer.from_catalog(None)
    if api == "chat":
        usage_in = {"prompt_tokens": 100_000, "completion_tokens": 20_000, "reasoning_tokens": 15_000}
    else:
        usage_in = {"input_tokens": 100_000, "output_tokens": 20_000, "reasoning_tokens": 15_000}
    params = (("service_tier", "flex"),) + ((("api", "responses"),) if api == "responses" else ())
    # o3 on flex: $1 in, $4 out (half the standard $2 / $8)
    flex = await _openai(
        serve,
        transport,
        {"text": "ok", "usage": usage_in, "service_tier": "flex"},
        model="o3",
        stream=stream,
        params=params,
    )
    assert flex.service_tier == "flex"
    assert pricer.price("openai", "o3", flex).cost_usd == (100_000 * 1 + 20_000 * 4) / D(M)
    # asked for "auto", served on a project whose default is priority: the answer says so, and it costs that
    # (gpt-4o priority: $4.25 in, $17 out, where standard is $2.50 / $10)
    served = await _openai(
        serve,
        transport,
        {"text": "ok", "usage": usage_in, "service_tier": "priority"},
        model="gpt-4o",
        stream=stream,
        params=params[1:],
    )
    assert pricer.price("openai", "gpt-4o", served).cost_usd == (100_000 * D("4.25") + 20_000 * 17) / D(M)
    standard = await _openai(
        serve,
        transport,
        {"text": "ok", "usage": usage_in, "service_tier": "default"},
        model="gpt-4o",
        stream=stream,
        params=params[1:],
    )
    assert pricer.price("openai", "gpt-4o", standard).cost_usd == (100_000 * D("2.5") + 20_000 * 10) / D(M)


def test_a_service_tier_genai_prices_cannot_price_makes_the_cost_unknown():
    pricer = Pricer.from_catalog(None)
    scale = pricer.price("openai", "gpt-4o", Usage(1000, 100, service_tier="scale"))
    assert scale.cost_usd is None and scale.source is None
    assert "service tier 'scale'" in scale.warning and "unknown" in scale.warning
    # a tier genai-prices prices for some models only: gpt-4o has no flex price
    assert pricer.price("openai", "gpt-4o", Usage(1000, 100, service_tier="flex")).cost_usd is None
    # a catalog price is the standard tier's: another tier is priced at the rates the entry gives it, or unknown
    overridden = Pricer([("openai:gpt-4o", UnitPrices(D(1), D(2)))])
    assert overridden.price("openai", "gpt-4o", Usage(1000, 100, service_tier="scale")).cost_usd is None
    scaled = Pricer([("openai:gpt-4o", UnitPrices(D(1), D(2), service_tiers=(("scale", UnitPrices(D(1), D(2))),)))])
    assert scaled.price("openai", "gpt-4o", Usage(1000, 100, service_tier="scale")).cost_usd == D("0.0012")


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_chat_audio_tokens_are_priced_at_audio_rates_or_unknown(serve, transport, stream):
    usage_in = {"prompt_tokens": 1000, "completion_tokens": 2100, "input_audio_tokens": 0, "output_audio_tokens": 2000}
    usage = await _openai(serve, transport, {"text": "ok", "usage": usage_in}, model="gpt-audio", stream=stream)
    assert (usage.input_audio_tokens, usage.output_audio_tokens) == (0, 2000)
    pricer = Pricer.from_catalog(None)
    # gpt-audio: $2.50 text in, $10 text out, $64 audio out
    assert pricer.price("openai", "gpt-audio", usage).cost_usd == (1000 * D("2.5") + 100 * 10 + 2000 * 64) / D(M)
    # genai-prices has no audio rates for gpt-4o-audio-preview: its audio is not priced as text
    quote = pricer.price("openai", "gpt-4o-audio-preview", usage)
    assert quote.cost_usd is None and "audio output tokens" in quote.warning


def test_the_worst_case_of_an_audio_model_covers_an_all_audio_answer():
    pricer = Pricer.from_catalog(None)
    worst = pricer.worst_case("openai", "gpt-audio", 1000, 500)
    all_audio = Usage(1000, 500, input_audio_tokens=1000, output_audio_tokens=500)
    assert worst == pricer.price("openai", "gpt-audio", all_audio).cost_usd == (1000 * 32 + 500 * 64) / D(M)


async def _azure(serve, transport, deployment: str, served_by: str, *, stream: bool) -> Usage:
    fake = FakeOpenAI(KEY, azure=True)
    url = await serve(fake)
    fake.queue({"text": "ok", "model": served_by, "usage": {"prompt_tokens": 100_000, "completion_tokens": 10_000}})
    env = {"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_API_VERSION": "2025-01-01-preview"}
    result = await AzureProvider(env, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream), Target("azure", deployment, url)
    )
    assert fake.violations == []
    return result.usage


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_azure_is_priced_by_the_model_that_answered_not_the_deployment_name(serve, transport, stream):
    pricer = Pricer.from_catalog(None)
    gpt_4o = (100_000 * D("2.5") + 10_000 * 10) / D(M)
    # a deployment named "gpt-4" (genai-prices: $30 / $60) serving gpt-4o ($2.50 / $10)
    usage = await _azure(serve, transport, "gpt-4", "gpt-4o-2024-11-20", stream=stream)
    assert usage.answering_model == "gpt-4o-2024-11-20"
    quote = pricer.price("azure", "gpt-4", usage)
    assert quote.cost_usd == gpt_4o and quote.source == "genai-prices"
    assert "answered as gpt-4o-2024-11-20" in quote.warning and "not as gpt-4" in quote.warning
    # a deployment name that is no model: priced by the answer, without a word
    usage = await _azure(serve, transport, "prod-chat", "gpt-4o-2024-11-20", stream=stream)
    quote = pricer.price("azure", "prod-chat", usage)
    assert (quote.cost_usd, quote.warning) == (gpt_4o, None)
    # a deployment named for the model that answers: the same price, no warning
    usage = await _azure(serve, transport, "gpt-4o", "gpt-4o-2024-11-20", stream=stream)
    assert pricer.price("azure", "gpt-4o", usage) == pricer.price("azure", "prod-chat", usage)


def test_an_azure_deployment_is_reserved_at_the_model_its_answers_name():
    # Answers are priced by the model that served them, but reservations were priced by the deployment's
    # name: "gpt-4o-mini" serving gpt-4o reserved a sixteenth of what each call may cost, so concurrent
    # calls could pass a limit many times over; "prod-chat" (no price) stayed unbounded.
    pricer = Pricer.from_catalog(None)
    mini = pricer.worst_case("azure", "gpt-4o-mini", 1000, 1000)
    gpt_4o = (1000 * D("2.5") + 1000 * 10) / D(M)
    assert mini == (1000 * D("0.15") + 1000 * D("0.6")) / D(M)
    assert pricer.worst_case("azure", "prod-chat", 1000, 1000) is None
    pricer.price("azure", "gpt-4o-mini", Usage(10, 10, answering_model="gpt-4o-2024-11-20"))
    pricer.price("azure", "prod-chat", Usage(10, 10, answering_model="gpt-4o-2024-11-20"))
    assert pricer.worst_case("azure", "gpt-4o-mini", 1000, 1000) == gpt_4o
    assert pricer.worst_case("azure", "prod-chat", 1000, 1000) == gpt_4o
    # a cheaper answering model does not lower a deployment's bound; other deployments are not affected
    pricer.price("azure", "gpt-4o", Usage(10, 10, answering_model="gpt-4o-mini-2024-07-18"))
    assert pricer.worst_case("azure", "gpt-4o", 1000, 1000) == gpt_4o
    assert pricer.worst_case("azure", "gpt-4", 1000, 1000) == (1000 * 30 + 1000 * 60) / D(M)
    # a catalog price for the deployment is what the operator pays, whatever answers
    priced = Pricer([("azure:prod-chat", UnitPrices(D(1), D(1)))])
    priced.price("azure", "prod-chat", Usage(10, 10, answering_model="gpt-4o-2024-11-20"))
    assert priced.worst_case("azure", "prod-chat", 1000, 1000) == 2000 / D(M)


def test_a_catalog_price_for_an_azure_deployment_wins_over_the_answering_model():
    pricer = Pricer([("azure:prod-chat", UnitPrices(D(1), D(1)))])
    usage = Usage(1_000_000, 0, answering_model="gpt-4o-2024-11-20")
    assert pricer.price("azure", "prod-chat", usage).cost_usd == 1
    # an unknown answering model leaves the deployment's own price (or its absence) in charge
    assert Pricer.from_catalog(None).price("azure", "gpt-4o", Usage(10, 10, answering_model="x-9")).cost_usd > 0


@pytest.mark.parametrize(
    ("deployment", "fine_tune"),
    [
        ("gpt-4.1", "gpt-4.1-2025-04-14.ft-0123456789abcdef"),  # genai-prices knows no such fine-tune
        ("o4-mini", "o4-mini-2025-04-16.ft-0123456789abcdef"),  # genai-prices takes it for o4-mini itself
        ("prod-chat", "o4-mini-2025-04-16.ft-0123456789abcdef"),
    ],
)
def test_an_azure_fine_tune_is_not_priced_as_its_base_model(deployment: str, fine_tune: str):
    # A fine-tune is billed at rates of its own (gpt-4.1's $3 / $12, not $2 / $8; o4-mini's reinforcement
    # fine-tunes $4 / $16, not $1.10 / $4.40). Azure's answer names it (BASE.ft-JOBID); it was priced as the
    # deployment's name or as the base model genai-prices matched, a third or more below the bill, without a word,
    # and budgets went on counting it so. Unless prices.yaml prices the deployment, its cost is now unknown, and
    # the deployment has no known worst case (a cost limit refuses it, saying to price it).
    pricer = Pricer.from_catalog(None)
    quote = pricer.price("azure", deployment, Usage(1_000_000, 1_000_000, answering_model=fine_tune))
    assert quote.cost_usd is None and quote.source is None
    assert fine_tune in quote.warning and "fine-tune" in quote.warning
    assert f'"azure:{deployment}": {{input:' in quote.warning
    assert pricer.worst_case("azure", deployment, 1000, 1000) is None
    # priced in the catalog, the deployment costs what the operator says it does
    priced = Pricer([(f"azure:{deployment}", UnitPrices(D(3), D(12)))])
    assert priced.price("azure", deployment, Usage(1_000_000, 1_000_000, answering_model=fine_tune)).cost_usd == 15
    assert priced.worst_case("azure", deployment, 1000, 1000) == 15000 / D(M)
    # a fine-tune genai-prices prices as one (gpt-4o-mini's, at $0.30 / $1.20) is priced so
    mini = "gpt-4o-mini-2024-07-18.ft-0123456789abcdef"
    assert pricer.price("azure", "gpt-4o-mini", Usage(1_000_000, 1_000_000, answering_model=mini)).cost_usd == D("1.5")


async def test_a_missing_output_price_makes_the_cost_unknown_not_free(serve, transport):
    # genai-prices knows only an input price ($2) for azure:davinci
    usage = await _azure(serve, transport, "davinci", "davinci", stream=False)
    pricer = Pricer.from_catalog(None)
    quote = pricer.price("azure", "davinci", usage)
    assert quote.cost_usd is None and quote.source is None and "output tokens" in quote.warning
    # with no output tokens nothing is billed at the missing rate: the input is priced
    assert pricer.price("azure", "davinci", Usage(10_000, 0)).cost_usd == D("0.02")
    # and the worst case, which always has output, is unknown (a cost limit then refuses it)
    assert pricer.worst_case("azure", "davinci", 1000, 100) is None


def test_a_missing_input_price_makes_the_cost_unknown_when_input_is_billed_at_it():
    only_cache = UnitPrices(None, D(10), cache_read=D(1))
    assert only_cache.cost(Usage(100, 10)) is None and only_cache.missing(Usage(100, 10))[1] == "input"
    assert only_cache.cost(Usage(100, 10, cached_tokens=100)) == (100 * 1 + 10 * 10) / D(M)
    assert only_cache.cost(Usage(100, 10, cache_write_tokens=100)) is None


def test_a_gemini_model_named_by_its_resource_name_is_priced_as_the_model():
    pricer = Pricer.from_catalog(None)
    usage = Usage(1000, 100)
    bare = pricer.price("google", "gemini-2.5-flash", usage)
    assert bare.cost_usd == (1000 * D("0.3") + 100 * D("2.5")) / D(M)
    assert pricer.price("google", "models/gemini-2.5-flash", usage) == bare
    assert pricer.context_window("google", "models/gemini-2.5-flash") == pricer.context_window(
        "google", "gemini-2.5-flash"
    )


def test_a_catalog_price_for_a_gemini_model_prices_it_under_its_resource_name_too(tmp_path):
    """genai-prices prices google:models/gemini-2.5-pro as gemini-2.5-pro, but a prices.yaml entry for the one
    name did not price the other: the operator's own price gave way to genai-prices' list price."""
    (tmp_path / "prices.yaml").write_text(
        '"gemini:gemini-2.5-pro": {input: 1, output: 2}\n"google:models/gemini-2.5-flash": {input: 3, output: 4}\n'
    )
    pricer = Pricer.from_catalog(tmp_path)
    usage = Usage(1_000_000, 1_000_000)
    for name, cost in (("gemini-2.5-pro", 3), ("gemini-2.5-flash", 7)):
        for model in (name, f"models/{name}"):
            quote = pricer.price("google", model, usage)
            assert (quote.cost_usd, quote.source) == (cost, "catalog:prices.yaml"), model
    # only Gemini's own resource names: another provider's model may have a slash of its own
    assert pricer.price("google", "tunedModels/gemini-2.5-pro", usage).source is None


def test_once_a_provider_has_answered_on_a_dearer_tier_its_calls_are_reserved_at_that_tier():
    pricer = Pricer.from_catalog(None)
    standard = pricer.worst_case("openai", "gpt-4o", 1000, 1000)
    assert standard == (1000 * D("2.5") + 1000 * 10) / D(M)
    # an answer on a cheaper or the standard tier changes nothing
    for tier in ("flex", "default", "auto", None):
        pricer.price("openai", "o3", Usage(10, 10, service_tier=tier))
    assert pricer.worst_case("openai", "gpt-4o", 1000, 1000) == standard
    # a project whose default tier is priority: every model of the provider may be served on it
    pricer.price("openai", "o3", Usage(10, 10, service_tier="priority"))
    assert pricer.worst_case("openai", "gpt-4o", 1000, 1000) == (1000 * D("4.25") + 1000 * 17) / D(M)
    # a tier genai-prices does not price leaves the bound where it was (the cost is then unknown, and
    # recorded with the reservation as its bound); other providers are not affected
    pricer.price("openai", "o3", Usage(10, 10, service_tier="scale"))
    assert pricer.worst_case("openai", "gpt-4o", 1000, 1000) == (1000 * D("4.25") + 1000 * 17) / D(M)
    assert pricer.worst_case("azure", "gpt-4o", 1000, 1000) == standard


async def test_a_call_limit_holds_for_a_project_served_on_priority(tmp_path, serve):
    """Reserved at the standard rate, a call served on a project's default priority tier could cost up
    to 1.7x its reservation, so concurrent calls could together pass a limit. After the first such
    answer, the reservation is the priority worst case, and a call limit between the two refuses
    the call before anything is sent."""
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o", "max_tokens": 1000}}
    async with await Service.open(db=tmp_path / "probe.db", env=env) as svc:
        plan = svc.explain("skill.analysis", payload)
    tokens_in = plan["estimated_input_tokens"]
    standard = (tokens_in * D("2.5") + 1000 * 10) / D(M)
    priority = (tokens_in * D("4.25") + 1000 * 17) / D(M)
    assert D(plan["targets"][0]["estimated_max_cost_usd"]) == standard
    catalog = tmp_path / "catalog"
    shutil.copytree(Path(__file__).resolve().parents[2] / "catalog", catalog)
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: per_call\n    thresholds: {{max_cost_per_call_usd: {(standard + priority) / 2}}}\n"
    )
    fake.queue({"text": "served on priority", "service_tier": "priority"}, {"text": "never sent"})
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        first = await svc.invoke_skill("skill.analysis", payload)
        assert first.result.text == "served on priority"
        assert D(svc.explain("skill.analysis", payload)["targets"][0]["estimated_max_cost_usd"]) == priority
        with pytest.raises(E.BudgetExceeded, match="call limit"):
            await svc.invoke_skill("skill.analysis", payload)
    assert len(fake.requests) == 1 and fake.violations == []


async def test_the_ledger_keeps_what_set_each_attempts_price(tmp_path, serve):
    """The service tier that served an answer, its 1-hour cache writes and its audio tokens each change
    the price; recorded without them, a row's cost could not be checked against its tokens, and two like
    calls that cost differently (one served on priority) could not say why."""
    openai, anthropic = FakeOpenAI(KEY), FakeAnthropic(KEY)
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(openai) + "/v1",
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": await serve(anthropic),
    }
    audio = {"prompt_tokens": 1000, "completion_tokens": 2100, "input_audio_tokens": 0, "output_audio_tokens": 2000}
    openai.queue({"text": "ok", "usage": audio, "service_tier": "priority"})
    cache = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_creation_input_tokens": 100_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 40_000, "ephemeral_1h_input_tokens": 60_000},
    }
    anthropic.queue({"text": "ok", "usage": cache})
    catalog = tmp_path / "catalog"  # the shipped policy does not allow gpt-audio
    shutil.copytree(Path(__file__).resolve().parents[2] / "catalog", catalog)
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        for run, model in (("r-audio", "openai:gpt-audio"), ("r-cache", "anthropic:claude-sonnet-4-5")):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": model}}, run_id=run)
        runs = {r["run_id"]: r for r in await svc.query_runs()}
    [audio_attempt] = runs["r-audio"]["attempts"]
    assert audio_attempt["service_tier"] == "priority"
    assert (audio_attempt["input_audio_tokens"], audio_attempt["output_audio_tokens"]) == (0, 2000)
    [cache_attempt] = runs["r-cache"]["attempts"]
    assert (cache_attempt["cache_write_tokens"], cache_attempt["cache_write_1h_tokens"]) == (100_000, 60_000)
    # (Anthropic's answer says the standard tier served it, as the spec's usage.service_tier does)
    assert cache_attempt["service_tier"] == "standard" and cache_attempt["output_audio_tokens"] == 0
    rows = {r["run_id"]: r for r in csv.DictReader(io.StringIO(runs_to_csv(list(runs.values()))))}
    assert rows["r-audio"]["service_tier"] == "priority" and rows["r-cache"]["cache_write_1h_tokens"] == "60000"
    assert openai.violations == [] and anthropic.violations == []


async def test_an_answer_on_a_tier_of_unknown_price_counts_against_limits_at_its_reservation(tmp_path, serve):
    """An answer served on a tier genai-prices has no price for (gpt-4o on "scale") costs an unknown amount.
    Its attempt was admitted at a known worst case; recorded without a bound, limits counted it at $0 once the
    record replaced the reservation, so such answers could go on past a run or day limit unseen."""
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o", "max_tokens": 1000}}
    fake.queue({"text": "served on scale", "service_tier": "scale"})
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        reserved = D(svc.explain("skill.analysis", payload)["targets"][0]["estimated_max_cost_usd"])
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-scale", agent="ana")
        assert result.cost_usd is None
        [run] = await svc.query_runs({"run_id": "r-scale"})
        status = await svc.check_budget(agent="ana", run_id="r-scale")
    [attempt] = run["attempts"]
    assert attempt["cost_usd"] is None and D(attempt["cost_bound_usd"]) == reserved > 0
    run_limit = next(lim for lim in status["limits"] if lim["limit"] == "run")
    assert D(run_limit["unknown_cost_bound_usd"]) == reserved and run_limit["reserved_usd"] == "0"
    assert fake.violations == []


async def test_a_call_that_asks_for_us_only_inference_is_reserved_at_its_geo_rate(tmp_path, serve):
    """A target's params may ask Anthropic for inference_geo "us", billed at 1.1x. Reserved at the standard
    rate until an answer had said where it ran, the first calls (and all those running beside them) could
    each cost 10% more than their reservation; a call limit between the two let it through."""
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    model = {"provider": "anthropic", "model": "claude-opus-4-6", "max_tokens": 1000}
    pinned = {"data": "x", "model_config": {**model, "params": {"inference_geo": "us"}}}
    async with await Service.open(db=tmp_path / "probe.db", env=env) as svc:
        standard = D(
            svc.explain("skill.analysis", {"data": "x", "model_config": model})["targets"][0]["estimated_max_cost_usd"]
        )
        us = D(svc.explain("skill.analysis", pinned)["targets"][0]["estimated_max_cost_usd"])
    assert us == standard * D("1.1")
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: per_call\n    thresholds: {{max_cost_per_call_usd: {(standard + us) / 2}}}\n"
    )
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.BudgetExceeded, match="call limit"):
            await svc.invoke_skill("skill.analysis", pinned)
    assert fake.requests == [] and fake.violations == []


async def test_a_responses_call_is_reserved_for_the_16_output_tokens_it_is_sent_with(tmp_path, serve):
    """The Responses API takes max_output_tokens of at least 16, so max_tokens 5 is sent as 16; reserved for
    the 5 asked for, the answer could cost more than its reservation, and a call limit between the two let
    the call through."""
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    config = {"provider": "openai", "model": "gpt-4o", "max_tokens": 5, "params": {"api": "responses"}}
    payload = {"data": "x", "model_config": config}
    pricer = Pricer.from_catalog(None)
    async with await Service.open(db=tmp_path / "probe.db", env=env) as svc:
        plan = svc.explain("skill.analysis", payload)
    tokens_in = plan["estimated_input_tokens"]
    asked, sent = (pricer.worst_case("openai", "gpt-4o", tokens_in, n) for n in (5, 16))
    assert D(plan["targets"][0]["estimated_max_cost_usd"]) == sent > asked
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: per_call\n    thresholds: {{max_cost_per_call_usd: {(asked + sent) / 2}}}\n"
    )
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.BudgetExceeded, match="call limit"):
            await svc.invoke_skill("skill.analysis", payload)
    assert fake.requests == [] and fake.violations == []


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_gemini_image_output_tokens_are_priced_at_the_image_rate(serve, transport, stream):
    """Gemini's image models bill the pictures they answer with at an image rate of their own ($30 per
    million tokens on gemini-2.5-flash-image, where text output is $2.50); usageMetadata counts them in
    candidatesTokenCount and says how many in candidatesTokensDetails. Priced at the text rate, such an
    answer was recorded at a twelfth of its cost."""
    fake = FakeGemini(KEY)
    url = await serve(fake)
    details = [{"modality": "TEXT", "tokenCount": 10}, {"modality": "IMAGE", "tokenCount": 1290}]
    usage = {"promptTokenCount": 10, "candidatesTokenCount": 1300, "candidatesTokensDetails": details}
    fake.queue({"text": "here it is", "image": True, "usage": usage})
    provider = GeminiProvider({"GEMINI_API_KEY": KEY}, transport)
    result = await provider.complete(
        LLMRequest([Message("user", "draw a cat")], max_tokens=2000, stream=stream),
        Target("google", "gemini-2.5-flash-image", url),
    )
    assert fake.violations == [] and result.text == "here it is"
    pricer = Pricer.from_catalog(None)
    cost = pricer.price("google", "gemini-2.5-flash-image", result.usage).cost_usd
    assert cost == (10 * D("0.3") + 10 * D("2.5") + 1290 * 30) / D(M)
    # a model with no image rate: the pictures' cost is unknown, not the text rate's
    assert pricer.price("google", "gemini-2.5-flash", result.usage).cost_usd is None
    # and a reservation covers an answer that is all picture
    assert pricer.worst_case("google", "gemini-2.5-flash-image", 1000, 1000) == (1000 * D("0.3") + 1000 * 30) / D(M)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_gemini_answers_are_priced_at_the_service_tier_that_served_them(serve, transport, stream):
    """Gemini's usageMetadata.serviceTier says which tier served the answer ("standard", "flex", "priority"),
    and the tier sets the rate. Read by nobody, a flex or priority answer was recorded at the standard rate, as
    if exact: half or twice what it cost."""
    fake = FakeGemini(KEY)
    url = await serve(fake)
    model = "gemini-3.8-flash-tts"  # genai-prices prices its flex and priority tiers
    provider = GeminiProvider({"GEMINI_API_KEY": KEY}, transport)
    usages = {}
    for tier in ("standard", "flex", "priority"):
        fake.queue(
            {"text": "ok", "usage": {"promptTokenCount": 1000, "candidatesTokenCount": 100, "serviceTier": tier}}
        )
        result = await provider.complete(
            LLMRequest([Message("user", "hi")], max_tokens=200, stream=stream), Target("google", model, url)
        )
        usages[tier] = result.usage
    assert fake.violations == [] and usages["flex"].service_tier == "flex"
    nov_2026 = 1_793_000_000.0  # 2026-10-26: the prices genai-prices dates from 2026-10-15
    pricer = Pricer(clock=lambda: nov_2026)
    assert pricer.price("google", model, usages["standard"]).cost_usd == (1000 * D("0.5") + 100 * 9) / D(M)
    assert pricer.price("google", model, usages["flex"]).cost_usd == (1000 * D("0.25") + 100 * D("4.5")) / D(M)
    assert pricer.price("google", model, usages["priority"]).cost_usd == (1000 * D("0.9") + 100 * D("16.2")) / D(M)
    # a tier genai-prices has no price for: unknown, not the standard rate
    assert pricer.price("google", "gemini-2.5-flash", usages["flex"]).cost_usd is None


def test_a_negative_token_count_makes_the_cost_unknown_not_negative():
    """A server's usage is its word, and a compatible server's may be broken: a negative count priced as given
    recorded a negative cost (-$2 here), which took spend off every limit it counted against, and a negative
    cached count billed the prompt at more tokens than it had."""
    pricer = Pricer([("compat:m", UnitPrices(D(1), D(2)))])
    for usage in (
        Usage(100, -1_000_000),
        Usage(-10_000_000, 10),
        Usage(1000, 10, cached_tokens=-5_000_000),
        Usage(1000, 10, cache_write_tokens=500, cache_write_1h_tokens=-500),
        Usage(1000, 10, reasoning_tokens=-1),
    ):
        quote = pricer.price("compat", "m", usage)
        assert quote.cost_usd is None and "negative" in quote.warning, usage
    assert pricer.price("compat", "m", Usage(1000, 10)).cost_usd == D("0.00102")


async def test_a_usage_whose_parts_exceed_their_whole_is_recorded_at_unknown_cost(tmp_path, serve):
    """A gateway's usage may say more cached tokens than prompt tokens. Past a long-context tier (gpt-5.4 over
    272K) genai-prices raised a bare ValueError on it: the paid answer was lost and its run recorded at $0
    with cost_complete true. Below a tier it was priced as given: parts past their whole were billed as
    extra tokens or taken off the rest (here the answer's text, at a negative count)."""
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-5.4", "max_tokens": 100}}
    usage = {"prompt_tokens": 300_000, "completion_tokens": 10, "cached_tokens": 400_000}
    fake.queue({"text": "paid for", "usage": usage})
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-parts")
        [run] = await svc.query_runs({"run_id": "r-parts"})
    assert result.result.text == "paid for" and result.cost_usd is None
    assert any("400000 cached" in w and "300000 input tokens" in w for w in result.result.warnings)
    [attempt] = run["attempts"]
    assert attempt["cost_usd"] is None and D(attempt["cost_bound_usd"]) > 0
    assert run["cost_complete"] is False and run["unpriced_calls"] == 1
    assert fake.violations == []
    pricer = Pricer.from_catalog(None)
    for usage_ in (
        Usage(1000, 10, cached_tokens=800, cache_write_tokens=300),
        Usage(1000, 10, output_image_tokens=1000),
        Usage(1000, 10, cache_write_tokens=100, cache_write_1h_tokens=200),
    ):
        for model in ("gemini-2.5-flash-image", "gemini-2.5-pro"):
            quote = pricer.price("google", model, usage_)
            assert quote.cost_usd is None and "recorded as unknown" in quote.warning, (model, usage_)
    parts = Usage(1000, 1000, cached_tokens=600, cache_write_tokens=400, output_image_tokens=1000)
    assert pricer.price("google", "gemini-2.5-flash-image", parts).cost_usd is not None


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_usage_count_that_is_no_number_leaves_the_cost_unknown_and_the_attempt_recorded(
    tmp_path, serve, stream
):
    """A compatible server's usage with a count that is not a number ("cached_tokens": "lots") raised
    ValueError out of the answer's parsing: the answer, generated and billed, was thrown away as malformed
    and asked for again (billed again), and the call failed. It is an answer without a usable usage: kept,
    its cost unknown and counted at its bound."""
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    fake.queue({"text": "fine", "usage": {"cached_tokens": "lots"}})
    payload = {"data": "x", "model_config": {"provider": "openai", "model": "gpt-4o", "stream": stream}}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-lots")
        [run] = await svc.query_runs({"run_id": "r-lots"})
    assert result.output == "fine" and result.cost_usd is None
    [attempt] = run["attempts"]
    assert attempt["outcome"] == "ok" and attempt["cost_usd"] is None and D(attempt["cost_bound_usd"]) > 0


def test_each_wire_reads_a_usage_it_cannot_count_as_unreported():
    from magsag_mcp.providers import anthropic, gemini_usage, openai_chat, openai_responses

    for broken in ("many", [3], {"n": 1}):
        assert openai_chat._usage({"prompt_tokens": broken, "completion_tokens": 3}, {}).reported is False
        assert openai_responses._usage({"input_tokens": broken, "output_tokens": 3}, {}).reported is False
        assert anthropic._usage({"input_tokens": broken, "output_tokens": 3}).reported is False
        assert gemini_usage.gemini_usage({"promptTokenCount": broken, "candidatesTokenCount": 3}).reported is False
    for details in ("none", [1]):
        assert openai_chat._usage({"prompt_tokens": 3, "prompt_tokens_details": details}, {}).reported is False
        assert openai_responses._usage({"input_tokens": 3, "output_tokens_details": details}, {}).reported is False
        assert anthropic._usage({"input_tokens": 3, "output_tokens_details": details}).reported is False
    # the counts that are numbers are read as before
    assert openai_chat._usage({"prompt_tokens": 3, "completion_tokens": 4.0}, {}).output_tokens == 4


def test_each_wire_reads_an_infinite_usage_count_as_unreported():
    # A server's "prompt_tokens": Infinity (or 1e999), which Python's JSON parser reads as a float: int() of it
    # raised OverflowError out of the answer's parsing, and the answer, generated and billed, was thrown
    # away as malformed (NaN, a ValueError, was already read as no usage).
    from magsag_mcp.providers import anthropic, gemini_usage, openai_chat, openai_responses

    for broken in (float("inf"), float("-inf"), float("nan")):
        assert openai_chat._usage({"prompt_tokens": broken, "completion_tokens": 3}, {}).reported is False
        assert openai_chat._usage({"prompt_tokens": 3, "total_tokens": broken}, {}).reported is False
        assert openai_responses._usage({"input_tokens": broken, "output_tokens": 3}, {}).reported is False
        assert anthropic._usage({"input_tokens": broken, "output_tokens": 3}).reported is False
        assert gemini_usage.gemini_usage({"promptTokenCount": broken, "candidatesTokenCount": 3}).reported is False


async def test_a_local_call_is_reserved_for_the_responses_minimum_it_is_first_sent_with(tmp_path):
    """A local server is tried with the Responses API first, so max_tokens 5 is sent as 16 there too; a
    priced local model was reserved for the 5 asked for (only openai with api: responses was raised)."""
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "prices.yaml").write_text('"local:*": {input: 1, output: 1}\n')
    env = {"MAGSAG_LOCAL_LLM_BASE_URL": "http://127.0.0.1:9/v1"}
    payload = {"data": "x", "model_config": {"provider": "local", "model": "llama3.1:8b", "max_tokens": 5}}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        plan = svc.explain("skill.analysis", payload)
    tokens_in = plan["estimated_input_tokens"]
    sent = Pricer.from_catalog(catalog).worst_case("local", "llama3.1:8b", tokens_in, 16)
    assert D(plan["targets"][0]["estimated_max_cost_usd"]) == sent == D(tokens_in + 16) / 1_000_000


async def test_a_cost_under_a_millionth_of_a_dollar_is_written_as_a_plain_decimal(tmp_path, serve):
    """A short call on a cheap model costs under $0.000001 (gemini-2.0-flash: 3 tokens in, 1 out is $0.0000007).
    The call's result wrote it as Python prints such a Decimal, "7E-7", where query_runs and summarize write
    "0.0000007" for the same attempt: a script comparing or summing the two saw different strings."""
    fake = FakeGemini(KEY)
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": await serve(fake)}
    fake.queue({"text": "ok", "usage": {"promptTokenCount": 3, "candidatesTokenCount": 1}})
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    payload = {"data": "x", "model_config": {"provider": "google", "model": "gemini-2.0-flash", "max_tokens": 5}}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-tiny")
        [run] = await svc.query_runs({"run_id": "r-tiny"})
    out = result.to_dict()
    assert out["cost_usd"] == out["attempts"][0]["cost_usd"] == run["cost_usd"] == "0.0000007"
    assert fake.violations == []


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_reasoning_a_server_counts_beside_the_completion_is_billed_as_output(tmp_path, serve, api, stream):
    """xAI's Chat Completions count reasoning beside ``completion_tokens``, not in it: its total is prompt +
    completion + reasoning (grok-4-fast-reasoning: 279 + 6 + 89 = 374), and all of it is billed as output. Read
    as OpenAI's (reasoning inside the completion), the 89 reasoning tokens were recorded and priced as none."""
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "prices.yaml").write_text('"compat:grok-4-fast-reasoning": {input: 0.2, output: 0.5}\n')
    shutil.rmtree(catalog / "policies")  # the shipped policy allows no grok model
    fake = FakeOpenAI(KEY)
    env = {"MAGSAG_COMPAT_BASE_URL": await serve(fake) + "/v1", "MAGSAG_COMPAT_API_KEY": KEY}
    counts = ("prompt_tokens", "completion_tokens") if api == "chat" else ("input_tokens", "output_tokens")
    usage = {counts[0]: 279, counts[1]: 6, "reasoning_tokens": 89, "total_tokens": 374}
    fake.queue({"text": "fine", "usage": usage})
    config = {"provider": "compat", "model": "grok-4-fast-reasoning", "stream": stream, "params": {"api": api}}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r-grok")
        summary = await svc.summarize({"run_id": "r-grok"})
    assert fake.violations == []
    u = result.usage
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens, u.total_tokens) == (279, 95, 89, 374)
    assert result.cost_usd == (279 * D("0.2") + 95 * D("0.5")) / M
    assert summary["model_stats"]["grok-4-fast-reasoning"]["output_tokens"] == 95
    # a server that counts reasoning inside the completion (OpenAI's own) is read as before
    from magsag_mcp.providers import openai_chat, openai_responses

    inside = {"prompt_tokens": 279, "completion_tokens": 95, "total_tokens": 374}
    chat = openai_chat._usage({**inside, "completion_tokens_details": {"reasoning_tokens": 89}}, {})
    inside = {"input_tokens": 279, "output_tokens": 95, "total_tokens": 374}
    responses = openai_responses._usage({**inside, "output_tokens_details": {"reasoning_tokens": 89}}, {})
    assert chat.output_tokens == responses.output_tokens == 95


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_thinking_a_gateway_counts_in_the_total_alone_is_billed_as_output_on_either_api(
    tmp_path, serve, api, stream
):
    """Gemini's OpenAI endpoint, and gateways translating Gemini, count a thinking model's thoughts in total_tokens
    alone (20 + 424 + 572 = 1016). The Responses API's usage carries total_tokens too (ResponseUsage requires it), so
    a gateway speaking it can leave them there: read through the Responses API the 572 thinking tokens, billed as
    output, were recorded and priced as none, where Chat Completions made them good from the total."""
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "prices.yaml").write_text('"compat:gemini-2.5-flash": {input: 0.3, output: 2.5}\n')
    shutil.rmtree(catalog / "policies")  # (the shipped policy is not what this is about)
    fake = FakeOpenAI(KEY)
    env = {"MAGSAG_COMPAT_BASE_URL": await serve(fake) + "/v1", "MAGSAG_COMPAT_API_KEY": KEY}
    counts = ("prompt_tokens", "completion_tokens") if api == "chat" else ("input_tokens", "output_tokens")
    fake.queue({"text": "fine", "usage": {counts[0]: 20, counts[1]: 424, "total_tokens": 1016}})
    config = {"provider": "compat", "model": "gemini-2.5-flash", "stream": stream, "params": {"api": api}}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id="r-think")
        summary = await svc.summarize({"run_id": "r-think"})
    assert fake.violations == []
    u = result.usage
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens, u.total_tokens) == (20, 996, 572, 1016)
    assert result.cost_usd == (20 * D("0.3") + 996 * D("2.5")) / M
    assert summary["model_stats"]["gemini-2.5-flash"]["output_tokens"] == 996


def test_an_anthropic_or_gemini_usage_without_its_prompt_count_is_unreported_not_a_free_prompt():
    """Chat Completions and Responses read a count a gateway leaves out as no count (cost unknown, counted at its
    bound); Anthropic's and Gemini's read it as 0: {"output_tokens": 40} priced a 100,000-token prompt at $0."""
    from magsag_mcp.providers import anthropic, gemini_usage

    assert anthropic._usage({"output_tokens": 40}).reported is False
    assert anthropic._usage({"input_tokens": 100_000}).reported is False
    assert gemini_usage.gemini_usage({"candidatesTokenCount": 40, "thoughtsTokenCount": 7}).reported is False
    # what the APIs send is read as before: Gemini leaves out a count of 0 (an empty answer's candidates)
    assert anthropic._usage({"input_tokens": 9, "output_tokens": 0}).total_tokens == 9
    assert gemini_usage.gemini_usage({"promptTokenCount": 9, "totalTokenCount": 9}).total_tokens == 9
    assert gemini_usage.gemini_usage({"promptTokenCount": 9, "thoughtsTokenCount": 5}).output_tokens == 5
