"""Properties of what an attempt costs (rates.UnitPrices, pricing.Pricer), searched by hypothesis for counterexamples:
the cost is the exact sum over token kinds of count x rate; a rate a token needs and lacks makes the cost unknown
(None), never 0; a cost never falls as a count grows; and the flat fast path prices as genai-prices itself does."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.genai_rates import from_genai_prices
from magsag_mcp.pricing import AUDIO_PROVIDERS, Pricer
from magsag_mcp.providers.anthropic_usage import cache_ttls_marked
from magsag_mcp.rates import MILLION, UnitPrices
from magsag_mcp.types import Usage

#: modest; reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=150)

#: rates as prices.yaml writes them (USD per million tokens): zero, whole, and with up to six places
rates = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False)
maybe_rates = st.none() | rates
counts = st.integers(min_value=0, max_value=10**9)


@st.composite
def usages(draw: st.DrawFn, most: int = 10**9) -> Usage:
    """A usage whose parts fit in their wholes, as pricing takes them: cache reads, writes and audio inside the input,
    audio and images inside the output, 1-hour writes inside the writes, reasoning inside the output."""
    part = st.integers(min_value=0, max_value=most)
    cached, written, audio_in = draw(part), draw(part), draw(part)
    hour = draw(st.integers(min_value=0, max_value=written))
    plain_in = draw(part)
    audio_out, image_out, text_out = draw(part), draw(part), draw(part)
    output = audio_out + image_out + text_out
    return Usage(
        input_tokens=plain_in + cached + written + audio_in,
        output_tokens=output,
        cached_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=draw(st.integers(min_value=0, max_value=output)),
        cache_write_1h_tokens=hour,
        input_audio_tokens=audio_in,
        output_audio_tokens=audio_out,
        output_image_tokens=image_out,
    )


@st.composite
def full_rates(draw: st.DrawFn) -> UnitPrices:
    return UnitPrices(*(draw(rates) for _ in range(8)))


def sum_of_parts(u: UnitPrices, usage: Usage) -> Decimal:
    """The cost as the vendors' price pages state it: each kind of token at its own rate, cache reads and 5-minute
    writes at the input rate where they have none of their own."""
    read = u.cache_read if u.cache_read is not None else u.input
    write = u.cache_write if u.cache_write is not None else u.input
    plain_in = usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens - usage.input_audio_tokens
    text_out = usage.output_tokens - usage.output_audio_tokens - usage.output_image_tokens
    return (
        plain_in * u.input
        + usage.cached_tokens * read
        + (usage.cache_write_tokens - usage.cache_write_1h_tokens) * write
        + usage.cache_write_1h_tokens * u.cache_write_1h
        + usage.input_audio_tokens * u.input_audio
        + text_out * u.output
        + usage.output_audio_tokens * u.output_audio
        + usage.output_image_tokens * u.output_image
    ) / MILLION


@PROPERTY
@given(full_rates(), usages())
def test_a_cost_is_the_exact_sum_of_each_kind_of_token_at_its_rate(units, usage):
    cost = units.cost(usage)
    assert cost == sum_of_parts(units, usage)
    # exact: no rounding of a float on the way (a Decimal that is a whole number of millionths of a millionth)
    assert isinstance(cost, Decimal) and (cost * MILLION * MILLION) == (cost * MILLION * MILLION).to_integral_value()


@PROPERTY
@given(full_rates(), usages())
def test_cache_reads_and_writes_without_rates_of_their_own_are_billed_at_the_input_rate(units, usage):
    bare = UnitPrices(
        units.input,
        units.output,
        cache_write_1h=units.cache_write_1h,
        input_audio=units.input_audio,
        output_audio=units.output_audio,
        output_image=units.output_image,
    )
    assert bare.cost(usage) == sum_of_parts(bare, usage)


@st.composite
def partial_rates(draw: st.DrawFn) -> UnitPrices:
    return UnitPrices(*(draw(maybe_rates) for _ in range(8)))


@PROPERTY
@given(partial_rates(), usages(most=3))
def test_a_cost_is_unknown_exactly_when_a_token_billed_lacks_its_rate_and_never_zero_for_it(units, usage):
    cost = units.cost(usage)
    missing = units.missing(usage)
    assert (cost is None) == (missing is not None), (cost, missing)
    if cost is not None:
        # every token billed had a rate: the same sum, a rate no token needed counting for nothing (a cache read or
        # write of no rate of its own at the input rate, as always)
        zero = Decimal(0)
        inputs = units.input if units.input is not None else zero
        filled = UnitPrices(
            inputs,
            units.output if units.output is not None else zero,
            units.cache_read if units.cache_read is not None else inputs,
            units.cache_write if units.cache_write is not None else inputs,
            *(r if r is not None else zero for r in _rates_of(units)[4:]),
        )
        assert cost == sum_of_parts(filled, usage)


def _rates_of(u: UnitPrices) -> tuple[Decimal | None, ...]:
    return (
        u.input,
        u.output,
        u.cache_read,
        u.cache_write,
        u.cache_write_1h,
        u.input_audio,
        u.output_audio,
        u.output_image,
    )


_KINDS = ("plain_in", "cached", "written", "hour", "audio_in", "text_out", "audio_out", "image_out", "reasoning")


def _grown(usage: Usage, kind: str, more: int) -> Usage:
    """``usage`` with ``more`` tokens of one kind, its wholes grown with it."""
    u = usage
    if kind == "plain_in":
        return replace(u, input_tokens=u.input_tokens + more)
    if kind == "cached":
        return replace(u, input_tokens=u.input_tokens + more, cached_tokens=u.cached_tokens + more)
    if kind == "written":
        return replace(u, input_tokens=u.input_tokens + more, cache_write_tokens=u.cache_write_tokens + more)
    if kind == "hour":
        return replace(
            u,
            input_tokens=u.input_tokens + more,
            cache_write_tokens=u.cache_write_tokens + more,
            cache_write_1h_tokens=u.cache_write_1h_tokens + more,
        )
    if kind == "audio_in":
        return replace(u, input_tokens=u.input_tokens + more, input_audio_tokens=u.input_audio_tokens + more)
    if kind == "text_out":
        return replace(u, output_tokens=u.output_tokens + more)
    if kind == "audio_out":
        return replace(u, output_tokens=u.output_tokens + more, output_audio_tokens=u.output_audio_tokens + more)
    if kind == "image_out":
        return replace(u, output_tokens=u.output_tokens + more, output_image_tokens=u.output_image_tokens + more)
    return replace(u, output_tokens=u.output_tokens + more, reasoning_tokens=u.reasoning_tokens + more)


@PROPERTY
@given(full_rates(), usages(), st.sampled_from(_KINDS), st.integers(min_value=1, max_value=10**7))
def test_more_tokens_of_any_kind_never_cost_less(units, usage, kind, more):
    assert units.cost(_grown(usage, kind, more)) >= units.cost(usage)


#: models of each vendor genai-prices prices, flat and by the prompt's size (Gemini 2.5 Pro's long-context tier)
_MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-5"),
    ("openai", "o3"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("anthropic", "claude-opus-4-1"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.0-flash"),
]


@st.composite
def text_usages(draw: st.DrawFn, most: int = 400_000) -> Usage:
    """Text, cache reads and writes (no audio nor images, which most of these models bill nothing for): a prompt up
    to twice past Gemini 2.5 Pro's 200,000-token tier."""
    part = st.integers(min_value=0, max_value=most // 2)
    # (often none written, or none for an hour: OpenAI's and Gemini's rates have no price for a write of their own)
    cached, written, plain = draw(part), draw(st.just(0) | part), draw(part)
    hour = draw(st.just(0) | st.integers(min_value=0, max_value=written))
    output = draw(st.integers(min_value=0, max_value=100_000))
    return Usage(
        input_tokens=plain + cached + written,
        output_tokens=output,
        cached_tokens=cached,
        cache_write_tokens=written,
        cache_write_1h_tokens=hour,
    )


@PROPERTY
@given(st.sampled_from(_MODELS), text_usages())
def test_the_fast_path_prices_a_known_model_as_genai_prices_does(model, usage):
    # Priced.cost skips genai-prices' own calculation for flat rates and below a tier's start (about 100 us a call):
    # where it gives a cost, it must be genai-prices' to the last digit
    from genai_prices import Usage as GUsage

    provider, name = model
    priced = from_genai_prices(provider, name)
    assert priced.cost(Usage(1000, 100, cached_tokens=10)) is not None  # (a model priced: the property says something)
    ours = priced.cost(usage)
    if ours is None:
        return  # (a kind of token genai-prices has no rate for: unknown here, where genai-prices would guess)
    theirs = priced.model_price if priced.model_price is not None else _model_price(provider, name)
    expected = theirs.calc_price(
        GUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
        )
    )["total_price"]
    assert ours == Decimal(expected), (provider, name, usage)


def _model_price(provider: str, name: str):
    from datetime import UTC, datetime

    from magsag_mcp.genai_rates import genai_model

    return genai_model(provider, name).get_prices(datetime.now(UTC))


@PROPERTY
@given(
    st.sampled_from(_MODELS),
    text_usages(),
    st.sampled_from(("plain_in", "cached", "written", "text_out")),
    st.integers(min_value=1, max_value=300_000),
)
def test_a_known_models_cost_never_falls_as_a_count_grows(model, usage, kind, more):
    # across a long-context tier's start too: past it every token is billed at the dearer rate
    pricer = Pricer()
    before = pricer.price(*model, usage).cost_usd
    after = pricer.price(*model, _grown(usage, kind, more)).cost_usd
    if before is not None and after is not None:
        assert after >= before, (model, kind, more)


@PROPERTY
@given(full_rates(), usages(most=10**6), st.sampled_from(("compat", "openai", "anthropic", "google", "local")))
def test_an_entrys_cost_is_its_rates_sum_whatever_the_provider(units, usage, provider):
    pricer = Pricer([(f"{provider}:m-entry", units)])
    quote = pricer.price(provider, "m-entry", usage)
    assert quote.cost_usd == sum_of_parts(units, usage)
    assert quote.source == "catalog:prices.yaml"


@PROPERTY
@given(full_rates(), usages(most=10**6))
def test_us_only_inference_at_anthropic_costs_a_tenth_more_exactly(units, usage):
    pricer = Pricer([("anthropic:m-entry", units)])
    anywhere = pricer.price("anthropic", "m-entry", replace(usage, inference_geo="global")).cost_usd
    in_us = pricer.price("anthropic", "m-entry", replace(usage, inference_geo="us")).cost_usd
    assert in_us == anywhere * Decimal("1.1")


_COUNT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cache_write_1h_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "output_image_tokens",
)


@PROPERTY
@given(full_rates(), usages(most=10**6), st.sampled_from(_COUNT_FIELDS), st.integers(min_value=-(10**6), max_value=-1))
def test_a_negative_count_is_of_unknown_cost_never_a_refund(units, usage, field, negative):
    pricer = Pricer([("compat:m-entry", units)])
    quote = pricer.price("compat", "m-entry", replace(usage, **{field: negative}))
    assert quote.cost_usd is None
    assert quote.warning


@PROPERTY
@given(full_rates(), st.data())
def test_parts_past_their_whole_are_of_unknown_cost_and_said_so(units, data):
    # a cache read, write or audio count above the prompt's (or audio and images above the output's) is no bill
    whole = data.draw(st.integers(min_value=0, max_value=10**6))
    past = data.draw(st.integers(min_value=whole + 1, max_value=whole + 10**6))
    field = data.draw(st.sampled_from(("cached_tokens", "cache_write_tokens", "input_audio_tokens")))
    usage = Usage(input_tokens=whole, output_tokens=data.draw(counts), **{field: past})
    quote = Pricer([("compat:m-entry", units)]).price("compat", "m-entry", usage)
    assert quote.cost_usd is None
    assert quote.warning and "unknown" in quote.warning


def _without_audio(usage: Usage) -> Usage:
    """``usage`` without its audio tokens, as a provider whose wire counts none reports it."""
    usage = replace(
        usage,
        input_tokens=usage.input_tokens - usage.input_audio_tokens,
        output_tokens=usage.output_tokens - usage.output_audio_tokens,
        input_audio_tokens=0,
        output_audio_tokens=0,
    )
    return replace(usage, reasoning_tokens=min(usage.reasoning_tokens, usage.output_tokens))


@PROPERTY
@given(full_rates(), usages(most=10**6), st.sampled_from(("compat", "openai", "anthropic", "azure", "local")))
def test_a_reservations_worst_case_bounds_what_the_answer_costs(units, usage, provider):
    # a budget reserves worst_case before the call and settles the answer's cost after: a cost above its worst case
    # is spend no reservation held, which concurrent calls could each take past a limit
    if provider not in AUDIO_PROVIDERS:  # (Anthropic's wire counts no audio: its worst case prices none)
        usage = _without_audio(usage)
    pricer = Pricer([(f"{provider}:m-entry", units)])
    worst = pricer.worst_case(provider, "m-entry", usage.input_tokens, usage.output_tokens)
    cost = pricer.price(provider, "m-entry", usage).cost_usd
    assert worst is not None and cost is not None
    assert cost <= worst, (provider, cost, worst)


@PROPERTY
@given(st.sampled_from(_MODELS), text_usages())
def test_a_known_models_worst_case_bounds_what_the_answer_costs(model, usage):
    pricer = Pricer()
    worst = pricer.worst_case(*model, usage.input_tokens, usage.output_tokens)
    cost = pricer.price(*model, usage).cost_usd
    if cost is not None:
        assert worst is not None and cost <= worst, (model, cost, worst)


@PROPERTY
@given(
    rates,
    rates,
    maybe_rates,
    maybe_rates,
    maybe_rates,
    usages(most=10**6),
    st.sampled_from(
        ["unsaid", None, {"type": "ephemeral"}, {"type": "ephemeral", "ttl": "5m"}, {"type": "ephemeral", "ttl": "1h"}]
    ),
    st.sampled_from([None, "us", "global"]),
)
def test_an_anthropic_calls_worst_case_bounds_its_cost_with_the_cache_writes_its_marker_allows(
    rate_in, rate_out, read, write, write_1h, usage, marker, geo
):
    # Anthropic writes to its cache only what the request marks, for 5 minutes unless the marker says 1h; an entry's
    # missing cache rates are Anthropic's multiples of its input rate (reads 0.1x, writes 1.25x and 2x)
    usage = replace(
        usage,
        input_tokens=usage.input_tokens - usage.input_audio_tokens,
        output_tokens=usage.output_tokens - usage.output_audio_tokens - usage.output_image_tokens,
        input_audio_tokens=0,
        output_audio_tokens=0,
        output_image_tokens=0,  # (Claude answers no audio nor pictures)
        inference_geo=geo,
    )
    usage = replace(usage, reasoning_tokens=min(usage.reasoning_tokens, usage.output_tokens))
    if marker is None:  # nothing marked: nothing written
        usage = replace(
            usage,
            input_tokens=usage.input_tokens - usage.cache_write_tokens,
            cache_write_tokens=0,
            cache_write_1h_tokens=0,
        )
    elif isinstance(marker, dict) and marker.get("ttl", "5m") == "5m":  # written for 5 minutes only
        usage = replace(
            usage,
            cache_write_tokens=usage.cache_write_tokens - usage.cache_write_1h_tokens,
            input_tokens=usage.input_tokens - usage.cache_write_1h_tokens,
            cache_write_1h_tokens=0,
        )
    units = UnitPrices(rate_in, rate_out, cache_read=read, cache_write=write, cache_write_1h=write_1h)
    pricer = Pricer([("anthropic:m-entry", units)])
    # the markers as the reservation reads them (one reader: cache_ttls_marked); unsaid, any write is possible
    asked = {} if marker == "unsaid" else {"cache_ttls": cache_ttls_marked({"cache_control": marker})}
    worst = pricer.worst_case(
        "anthropic", "m-entry", usage.input_tokens, usage.output_tokens, inference_geo=geo, **asked
    )
    cost = pricer.price("anthropic", "m-entry", usage).cost_usd
    assert worst is not None and cost is not None
    assert cost <= worst, (marker, geo, cost, worst)


@PROPERTY
@given(
    full_rates(),
    full_rates(),
    full_rates(),
    usages(most=10**6),
    st.sampled_from(["priority", "flex", "scale"]),
    st.sampled_from(["openai", "azure", "google"]),
)
def test_once_a_tier_has_served_a_call_the_worst_case_bounds_a_call_it_serves(
    standard, priority, flex, usage, tier, provider
):
    # an OpenAI project whose default is priority serves every call there, and says so only in its answers: once one
    # has, the reservations go on bounding what the provider's calls can cost on it
    usage = usage if provider in AUDIO_PROVIDERS else _without_audio(usage)  # (Gemini's wire counts no audio)
    tiers = (("priority", replace(priority, service_tiers=())), ("flex", replace(flex, service_tiers=())))
    pricer = Pricer([(f"{provider}:m-entry", replace(standard, service_tiers=tiers))])
    first = pricer.price(provider, "m-entry", replace(usage, service_tier=tier))
    if first.cost_usd is None:  # a tier the entry does not price: unknown, and said so
        assert tier == "scale" and first.warning
        return
    worst = pricer.worst_case(provider, "m-entry", usage.input_tokens, usage.output_tokens)
    assert worst is not None and first.cost_usd <= worst, (tier, first.cost_usd, worst)
