"""What a model's tokens cost: flat unit rates, and tiered rates.

:mod:`.pricing` decides which of these prices a call (a catalog override or genai-prices, whose data
:mod:`.genai_rates` reads); this module turns rates and a :class:`~magsag_mcp.types.Usage` into USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from .types import Usage

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)
#: what Anthropic bills a cache write at, as a multiple of the model's input rate: 5 minutes, and 1 hour
ANTHROPIC_WRITE, ANTHROPIC_WRITE_1H = Decimal("1.25"), Decimal(2)
#: what Anthropic bills a cache read (a hit) at, as a multiple of the model's input rate
ANTHROPIC_READ = Decimal("0.1")
#: (provider, where inference ran) -> the multiple of every token rate it is billed at, which genai-prices
#: does not know: Anthropic bills US-only inference (``inference_geo: "us"``, asked for by the request or the
#: workspace's default) at 1.1x on the models that take it (Claude Opus 4.6 and later; older ones refuse it).
#: A multiple of the rates, not a rate card of its own as a service tier is: it applies to whichever rates price
#: the call, genai-prices' or a prices.yaml entry's (whose rates are the standard tier's, run anywhere)
GEO_MULTIPLIERS: dict[tuple[str, str], Decimal] = {("anthropic", "us"): Decimal("1.1")}


@dataclass(slots=True, frozen=True)
class UnitPrices:
    """USD per million tokens.

    Cache reads and (5-minute) cache writes without a rate of their own are priced at the input rate,
    as genai-prices prices them. Tokens of a kind the vendor bills at a rate of its own (1-hour cache
    writes, audio) are never priced at another rate: without theirs, the cost is unknown (``None``).
    So are tokens of any kind with no rate at all (genai-prices knows only an input price for some
    models): a missing rate is not a rate of 0."""

    input: Decimal | None
    output: Decimal | None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    #: Anthropic's 1-hour cache writes: 2x the input rate where 5-minute writes are 1.25x
    cache_write_1h: Decimal | None = None
    #: audio in and out (OpenAI's audio models): several times the text rates
    input_audio: Decimal | None = None
    output_audio: Decimal | None = None
    #: pictures out (Gemini's image models): ten times the text rate or more
    output_image: Decimal | None = None
    #: a prices.yaml entry's rates for the service tiers it names (tier, rates): the fields above are the standard
    #: tier's, and a call another tier served is priced at that tier's, or at no price the entry gives
    service_tiers: tuple[tuple[str, UnitPrices], ...] = ()

    def on_tier(self, tier: str) -> UnitPrices | None:
        """The rates of service tier ``tier`` (not the standard one), where these name it; else None."""
        for name, rates in self.service_tiers:
            if name == tier:
                return rates
        return None

    def cost(self, usage: Usage) -> Decimal | None:
        cached = usage.cached_tokens
        written = usage.cache_write_tokens
        audio_in = usage.input_audio_tokens
        audio_out = usage.output_audio_tokens
        image_out = usage.output_image_tokens
        plain = usage.input_tokens - cached - written - audio_in
        plain = plain if plain > 0 else 0  # max(0, plain) without a builtin's call (~1,200 instructions an answer)
        rate_in, rate_out = self.input, self.output
        if rate_in is None or rate_out is None:
            if self.missing(usage) is not None:
                return None
            # no token is billed at the missing rate: it counts for nothing
            rate_in = ZERO if rate_in is None else rate_in
            rate_out = ZERO if rate_out is None else rate_out
        total = plain * rate_in + (usage.output_tokens - audio_out - image_out) * rate_out
        if image_out:
            if self.output_image is None:
                return None
            total += image_out * self.output_image
        if audio_in or audio_out:
            if audio_in:
                if self.input_audio is None:
                    return None
                total += audio_in * self.input_audio
            if audio_out:
                if self.output_audio is None:
                    return None
                total += audio_out * self.output_audio
        if cached:
            total += cached * (self.cache_read if self.cache_read is not None else rate_in)
        if written:
            hour = usage.cache_write_1h_tokens
            if hour:
                if self.cache_write_1h is None:
                    return None
                total += hour * self.cache_write_1h
            total += (written - hour) * (self.cache_write if self.cache_write is not None else rate_in)
        return total / MILLION

    def text_cost(self, input_tokens: int, output_tokens: int) -> Decimal | None:
        """:meth:`cost` of ``Usage(input_tokens, output_tokens)`` (text alone, nothing cached), without a Usage made
        and read: what every attempt's worst case is priced at, before it is sent."""
        rate_in, rate_out = self.input, self.output
        if rate_in is None or rate_out is None:  # whether the tokens without a rate make it unknown: cost() says
            return self.cost(Usage(input_tokens, output_tokens))
        plain = input_tokens if input_tokens > 0 else 0  # max(0, input_tokens), without a builtin's call
        return (plain * rate_in + output_tokens * rate_out) / MILLION

    def missing(self, usage: Usage) -> tuple[str, str] | None:
        """When :meth:`cost` is None: which tokens have no rate, and the ``prices.yaml`` key for it."""
        cached, written, hour = usage.cached_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens
        if self.input is None:
            if usage.input_tokens - cached - written - usage.input_audio_tokens > 0:
                return "input tokens", "input"
            if cached and self.cache_read is None:
                return "cached input tokens", "cache_read"
            if written - hour > 0 and self.cache_write is None:
                return "cache writes", "cache_write"
        if self.output is None and usage.output_tokens - usage.output_audio_tokens - usage.output_image_tokens > 0:
            return "output tokens", "output"
        if usage.cache_write_1h_tokens and self.cache_write_1h is None:
            return "1-hour cache writes", "cache_write_1h"
        if usage.input_audio_tokens and self.input_audio is None:
            return "audio input tokens", "input_audio"
        if usage.output_audio_tokens and self.output_audio is None:
            return "audio output tokens", "output_audio"
        if usage.output_image_tokens and self.output_image is None:
            return "image output tokens", "output_image"
        return None

    def ceiling(self, audio: bool = True, writes: str | None = "1h", implied: bool = False) -> UnitPrices:
        """Every token at the dearest rate a token of its direction can be billed at (a 1-hour cache
        write costs more than a plain one, audio more than text): what a worst case, which cannot know
        how the prompt will be cached or what the answer will hold, must price them at to stay an
        upper bound. ``audio``: whether the call's usage can count audio tokens at all (its provider's
        wire reads them); without, the audio rates bound nothing the call is priced at. ``writes``: the
        dearest cache write the call can make ("1h", "5m"), or None when it can make none (a request to
        Anthropic that marks nothing for the cache). ``implied``: a write whose rate the price lacks is billed
        at the vendor's own multiple of the input rate (Anthropic: 1.25x for 5 minutes, 2x for an hour),
        which bounds it; unbounded, a prices.yaml entry without cache rates reserved a marked call at the
        input rate, up to half of what it is billed."""
        write, write_1h = self.cache_write, self.cache_write_1h
        if implied and self.input is not None:
            write = write if write is not None else self.input * ANTHROPIC_WRITE
            write_1h = write_1h if write_1h is not None else self.input * ANTHROPIC_WRITE_1H
        rates_in = [
            r
            for r in (
                # a cache read is below the input rate at every vendor, but prices.yaml takes any: one above it left
                # out, a prompt read all from the cache cost more than the worst case its budget reserved
                self.cache_read,
                write if writes is not None else None,
                write_1h if writes == "1h" else None,
                self.input_audio if audio else None,
            )
            if r is not None
        ]
        rates_out = [r for r in (self.output_audio if audio else None, self.output_image) if r is not None]
        # without a text rate, plain tokens (which every call has) cannot be priced: nor can the worst case
        top_in = None if self.input is None else max([self.input, *rates_in])
        top_out = None if self.output is None else max([self.output, *rates_out])
        return UnitPrices(top_in, top_out)


class Priced:
    """How one (provider, model) is priced: flat unit prices, or genai-prices' own calculation.

    A tiered price (a higher rate for every token once the prompt passes a size) is flat below its
    first tier: ``below`` holds those base rates and ``threshold`` the prompt size up to which they
    apply, so that the usual call skips genai-prices' general calculation (about 100 us a call)."""

    __slots__ = (
        "units",
        "model_price",
        "source",
        "below",
        "threshold",
        "ceiling",
        "ceilings",
        "unknown_because",
        "until",
        "per_use",
    )

    def __init__(
        self,
        units: UnitPrices | None,
        model_price: Any,
        source: str | None,
        below: UnitPrices | None = None,
        threshold: int = -1,
        *,
        unknown_because: str | None = None,
        until: float = math.inf,
    ) -> None:
        self.units = units
        self.model_price = model_price
        self.source = source
        self.below = below
        self.threshold = threshold
        #: when nothing prices it although genai-prices knows the model: why, as the warning says it after the
        #: model's name (a service tier it has no price for; a per-search fee its token rates leave out)
        self.unknown_because = unknown_because
        #: unix time of the model's next dated price change (genai-prices' start dates): resolve again then
        self.until = until
        #: genai-prices' rates of the server tool calls billed per use beside the tokens (its price key, such as
        #: ``web_searches_kcount``, -> USD per 1,000 uses); empty where it gives none (a prices.yaml entry)
        self.per_use: dict[str, Decimal] = {}
        flat = units if units is not None else below
        #: flat rates at their dearest for the prompt (see UnitPrices.ceiling), for worst cases
        self.ceiling = flat.ceiling() if flat is not None else None
        #: (audio, writes, implied) -> the ceiling of a call that can be billed audio and such cache writes (see
        #: UnitPrices.ceiling), for the calls that cannot be billed all of them
        self.ceilings: dict[tuple[bool, str | None, bool], UnitPrices | None] = {}

    def cost(self, usage: Usage) -> Decimal | None:
        if self.units is not None:
            return self.units.cost(usage)
        below = self.below
        if below is not None:
            if usage.input_tokens <= self.threshold:
                return below.cost(usage)
            # A kind of token without a rate has none in any tier: genai-prices would price it at
            # another kind's rate (1-hour cache writes at the 5-minute one).
            if below.missing(usage) is not None:
                return None
        if self.model_price is not None:
            from genai_prices import Usage as GUsage

            g = GUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cached_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                cache_write_1h_tokens=usage.cache_write_1h_tokens,
                input_audio_tokens=usage.input_audio_tokens,
                output_audio_tokens=usage.output_audio_tokens,
                output_image_tokens=usage.output_image_tokens,
            )
            return Decimal(self.model_price.calc_price(g)["total_price"])
        return None

    def tiers(self) -> list[tuple[int, UnitPrices]]:
        """A tiered price's rates past each tier: (the prompt size in input tokens past which they apply to
        every token, the rates), in ascending order; empty for a flat price."""
        if self.below is None or self.model_price is None:
            return []
        from genai_prices.types import TieredPrices

        fields = [getattr(self.model_price, key, None) for key in RATE_KEYS]
        starts = sorted({tier.start for f in fields if isinstance(f, TieredPrices) for tier in f.tiers})
        return [
            (start, unit_prices(tuple(rate_past(f, start) if isinstance(f, TieredPrices) else f for f in fields)))
            for start in starts
        ]

    def missing(self, usage: Usage) -> tuple[str, str] | None:
        flat = self.units if self.units is not None else self.below
        return flat.missing(usage) if flat is not None else None

    def worst_case(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        audio: bool = True,
        writes: str | None = "1h",
        implied: bool = False,
    ) -> Decimal | None:
        """The most ``input_tokens`` in and ``output_tokens`` out can cost, however the prompt is cached.
        ``audio``, ``writes`` and ``implied``: what the call can be billed beside text (see
        :meth:`UnitPrices.ceiling`)."""
        ceiling = self.ceiling
        if (audio, writes, implied) != (True, "1h", False):
            key = (audio, writes, implied)
            if key not in self.ceilings:
                flat = self.units if self.units is not None else self.below
                self.ceilings[key] = flat.ceiling(audio, writes, implied) if flat is not None else None
            ceiling = self.ceilings[key]
        if ceiling is None:
            return None
        if self.units is not None or input_tokens <= self.threshold:
            return ceiling.text_cost(input_tokens, output_tokens)
        # Past a tier: genai-prices' tier rates, with the whole prompt billed each way it can be.
        ways = [Usage(input_tokens, output_tokens)]
        if writes is not None and self.below is not None and self.below.cache_write is not None:
            ways.append(Usage(input_tokens, output_tokens, cache_write_tokens=input_tokens))
        if writes == "1h" and self.below is not None and self.below.cache_write_1h is not None:
            ways.append(
                Usage(input_tokens, output_tokens, cache_write_tokens=input_tokens, cache_write_1h_tokens=input_tokens)
            )
        if audio and self.below is not None and self.below.input_audio is not None:
            ways.append(Usage(input_tokens, output_tokens, input_audio_tokens=input_tokens))
        if audio and self.below is not None and self.below.output_audio is not None:
            ways += [replace(way, output_audio_tokens=output_tokens) for way in ways]
        if self.below is not None and self.below.output_image is not None:
            ways += [replace(way, output_image_tokens=output_tokens, output_audio_tokens=0) for way in ways]
        costs = [c for c in map(self.cost, ways) if c is not None]
        return max(costs) if costs else None


def bare_model(provider: str, model: str) -> str:
    """The model a name prices as: Gemini's resource name for a model (``models/gemini-2.5-pro``) is the bare
    id, which genai-prices and prices.yaml entries name. ``models/`` alone names no model: kept as it is, not ''."""
    if provider == "google" and model.startswith("models/") and model != "models/":
        return model[len("models/") :]
    return model


#: genai-prices' price keys of the server tool calls billed per use (USD per 1,000), read beside the token rates
PER_USE_KEYS = ("web_searches_kcount",)


def per_use_rates(price: Any) -> dict[str, Decimal]:
    """The per-use rates (:data:`PER_USE_KEYS`) genai-prices' ``price`` gives, by price key."""
    rates = {}
    for key in PER_USE_KEYS:
        rate = getattr(price, key, None)
        if isinstance(rate, Decimal | int):
            rates[key] = Decimal(rate)
    return rates


#: genai-prices' price keys, in the order of UnitPrices' fields
RATE_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "input_audio_mtok",
    "output_audio_mtok",
    "output_image_mtok",
)


def rate_past(price: Any, start: int) -> Any:
    """A tiered rate for a prompt just past ``start`` tokens: the last of its tiers that starts at or before it."""
    rate = price.base
    for tier in price.tiers:  # ascending (genai-prices sorts them)
        if tier.start <= start:
            rate = tier.price
    return rate


def unit_prices(fields: tuple[Any, ...]) -> UnitPrices:
    """Rates per million tokens in the order of ``RATE_KEYS``, as genai-prices gives them."""
    rates = [None if f is None else Decimal(f) for f in fields]
    return UnitPrices(rates[0], rates[1], rates[2], rates[3], rates[4], rates[5], rates[6], rates[7])
