"""What a model's tokens cost: flat unit rates, tiered rates, and genai-prices' data behind both.

:mod:`.pricing` decides which of these prices a call (a catalog override or genai-prices); this module
turns rates and a :class:`~magsag_mcp.types.Usage` into USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .types import Usage

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)

#: our provider names -> genai-prices provider ids (None: catalog prices only)
GENAI_PROVIDER: dict[str, str | None] = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "google": "google",
    "local": None,
    "compat": None,
}


@dataclass(slots=True, frozen=True)
class UnitPrices:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    def cost(self, usage: Usage) -> Decimal:
        cached = usage.cached_tokens
        written = usage.cache_write_tokens
        plain = max(0, usage.input_tokens - cached - written)
        total = plain * self.input + usage.output_tokens * self.output
        total += cached * (self.cache_read if self.cache_read is not None else self.input)
        total += written * (self.cache_write if self.cache_write is not None else self.input)
        return total / MILLION


class Priced:
    """How one (provider, model) is priced: flat unit prices, or genai-prices' own calculation.

    A tiered price (a higher rate for every token once the prompt passes a size) is flat below its
    first tier: ``below`` holds those base rates and ``threshold`` the prompt size up to which they
    apply, so that the usual call skips genai-prices' general calculation (about 100 us a call)."""

    __slots__ = ("units", "model_price", "source", "below", "threshold")

    def __init__(
        self,
        units: UnitPrices | None,
        model_price: Any,
        source: str | None,
        below: UnitPrices | None = None,
        threshold: int = -1,
    ) -> None:
        self.units = units
        self.model_price = model_price
        self.source = source
        self.below = below
        self.threshold = threshold

    def cost(self, usage: Usage) -> Decimal | None:
        if self.units is not None:
            return self.units.cost(usage)
        if self.below is not None and usage.input_tokens <= self.threshold:
            return self.below.cost(usage)
        if self.model_price is not None:
            from genai_prices import Usage as GUsage

            g = GUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cached_tokens,
                cache_write_tokens=usage.cache_write_tokens,
            )
            return Decimal(self.model_price.calc_price(g)["total_price"])
        return None


def genai_model(provider: str, model: str) -> Any:
    """genai-prices' model info (prices, context window), or None when it does not know the model."""
    provider_id = GENAI_PROVIDER.get(provider)
    if provider_id is None:
        return None
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    return info


def window_from_genai_prices(provider: str, model: str) -> int | None:
    window = getattr(genai_model(provider, model), "context_window", None)
    return int(window) if window else None


def from_genai_prices(provider: str, model: str) -> Priced:
    info = genai_model(provider, model)
    if info is None:
        return Priced(None, None, None)
    from datetime import UTC, datetime

    price = info.get_prices(datetime.now(UTC))
    fields = (price.input_mtok, price.output_mtok, price.cache_read_mtok, getattr(price, "cache_write_mtok", None))
    if all(f is None or isinstance(f, Decimal | int) for f in fields) and price.input_mtok is not None:
        # Flat prices: compute directly (genai-prices' general path costs ~60 us a call).
        return Priced(_units(fields), None, "genai-prices")
    # Tiered (e.g. by prompt length): genai-prices applies a tier's rate to every token once the
    # prompt's input tokens exceed its start, so up to the lowest start every rate is its base.
    from genai_prices.types import TieredPrices

    if price.input_mtok is None or not all(f is None or isinstance(f, Decimal | int | TieredPrices) for f in fields):
        return Priced(None, price, "genai-prices")
    starts = [tier.start for f in fields if isinstance(f, TieredPrices) for tier in f.tiers]
    bases = tuple(f.base if isinstance(f, TieredPrices) else f for f in fields)
    return Priced(None, price, "genai-prices", _units(bases), min(starts, default=-1))


def _units(fields: tuple[Any, Any, Any, Any]) -> UnitPrices:
    """(input, output, cache read, cache write) per million tokens, as genai-prices gives them."""
    return UnitPrices(
        Decimal(fields[0]),
        Decimal(fields[1] or 0),
        None if fields[2] is None else Decimal(fields[2]),
        None if fields[3] is None else Decimal(fields[3]),
    )
