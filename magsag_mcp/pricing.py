"""Exact costs: ``genai-prices`` data, overridden by ``catalog/prices.yaml``.

Money is :class:`~decimal.Decimal` USD. A model whose price is unknown costs ``None`` (with a
warning), never 0: summaries count it as unpriced. Cached and reasoning tokens are priced the way the
vendor prices them: our :class:`~magsag_mcp.types.Usage` counts cache reads and writes inside
``input_tokens`` and reasoning inside ``output_tokens``, which is also how genai-prices reads usage.

``prices.yaml`` (USD per million tokens, keys ``provider:model``, globs allowed, first match wins)::

    "compat:my-model": {input: 0.5, output: 1.5, cache_read: 0.05, cache_write: 0.6}
    "local:*": {input: 0, output: 0}

Lookups are cached per (provider, model): pricing runs on every call.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .types import Usage

__all__ = ["Pricer", "PriceQuote", "UnitPrices", "validate_prices"]

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)

#: our provider names -> genai-prices provider ids (None: catalog prices only)
_GENAI_PROVIDER: dict[str, str | None] = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "google": "google",
    "local": None,
    "compat": None,
}


class _PriceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cache_read: Decimal | None = Field(default=None, ge=0)
    cache_write: Decimal | None = Field(default=None, ge=0)


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


@dataclass(slots=True, frozen=True)
class PriceQuote:
    cost_usd: Decimal | None
    #: "catalog:prices.yaml", "genai-prices", "free", or None when unknown
    source: str | None
    warning: str | None = None


class _Priced:
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


def _load_overrides(catalog_dir: Path | None) -> tuple[list[tuple[str, UnitPrices]], list[str]]:
    problems: list[str] = []
    out: list[tuple[str, UnitPrices]] = []
    if catalog_dir is None:
        return out, problems
    path = catalog_dir / "prices.yaml"
    if not path.is_file():
        return out, problems
    from .catalog import read_yaml

    data = read_yaml(path, os.environ, problems)
    if data is None:
        return out, problems
    if not isinstance(data, dict):
        return out, [f"{path}: must be a mapping of 'provider:model' to prices"]
    for key, value in data.items():
        if not isinstance(key, str) or ":" not in key:
            problems.append(f"{path}: key {key!r} must be 'provider:model' (globs allowed, e.g. 'local:*')")
            continue
        try:
            entry = _PriceEntry.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
                problems.append(f"{path}: {key}.{loc}: {err['msg']} (USD per million tokens)")
            continue
        out.append((key, UnitPrices(entry.input, entry.output, entry.cache_read, entry.cache_write)))
    return out, problems


def validate_prices(catalog_dir: Path) -> list[str]:
    return _load_overrides(Path(catalog_dir))[1]


class Pricer:
    def __init__(self, overrides: list[tuple[str, UnitPrices]] | None = None) -> None:
        self.overrides = overrides or []
        self._cache: dict[tuple[str, str], _Priced] = {}
        self._windows: dict[tuple[str, str], int | None] = {}

    @classmethod
    def from_catalog(cls, catalog_dir: str | os.PathLike[str] | None) -> Pricer:
        from .errors import CatalogError

        overrides, problems = _load_overrides(Path(catalog_dir) if catalog_dir else None)
        if problems:
            raise CatalogError("invalid prices:\n  " + "\n  ".join(problems), problems=problems)
        return cls(overrides)

    def _resolve(self, provider: str, model: str) -> _Priced:
        key = (provider, model)
        priced = self._cache.get(key)
        if priced is not None:
            return priced
        label = f"{provider}:{model}"
        for pattern, units in self.overrides:
            if pattern == label or fnmatch.fnmatchcase(label, pattern):
                priced = _Priced(units, None, "catalog:prices.yaml")
                break
        else:
            # The offline fake provider spends nothing unless the catalog prices it (demos of budgets do).
            priced = (
                _Priced(UnitPrices(ZERO, ZERO), None, "free")
                if provider == "fake"
                else _from_genai_prices(provider, model)
            )
        self._cache[key] = priced
        return priced

    def price(self, provider: str, model: str, usage: Usage) -> PriceQuote:
        priced = self._resolve(provider, model)
        cost = priced.cost(usage)
        if cost is None:
            return PriceQuote(
                None,
                None,
                f"no price known for {provider}:{model}; its cost is recorded as unknown. "
                f'Add it to catalog/prices.yaml, e.g. "{provider}:{model}": {{input: 0.5, output: 1.5}}',
            )
        return PriceQuote(cost, priced.source)

    def worst_case(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> Decimal | None:
        """The most a call can cost: every input token uncached, ``output_tokens`` generated."""
        return self._resolve(provider, model).cost(Usage(input_tokens=input_tokens, output_tokens=output_tokens))

    def unit_prices(self, provider: str, model: str) -> UnitPrices | None:
        return self._resolve(provider, model).units

    def context_window(self, provider: str, model: str) -> int | None:
        """The model's context window in tokens, from genai-prices' model data; None when unknown."""
        key = (provider, model)
        if key not in self._windows:
            self._windows[key] = _window_from_genai_prices(provider, model)
        return self._windows[key]


def _genai_model(provider: str, model: str) -> Any:
    """genai-prices' model info (prices, context window), or None when it does not know the model."""
    provider_id = _GENAI_PROVIDER.get(provider)
    if provider_id is None:
        return None
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    return info


def _window_from_genai_prices(provider: str, model: str) -> int | None:
    window = getattr(_genai_model(provider, model), "context_window", None)
    return int(window) if window else None


def _from_genai_prices(provider: str, model: str) -> _Priced:
    info = _genai_model(provider, model)
    if info is None:
        return _Priced(None, None, None)
    from datetime import UTC, datetime

    price = info.get_prices(datetime.now(UTC))
    fields = (price.input_mtok, price.output_mtok, price.cache_read_mtok, getattr(price, "cache_write_mtok", None))
    if all(f is None or isinstance(f, Decimal | int) for f in fields) and price.input_mtok is not None:
        # Flat prices: compute directly (genai-prices' general path costs ~60 us a call).
        return _Priced(_units(fields), None, "genai-prices")
    # Tiered (e.g. by prompt length): genai-prices applies a tier's rate to every token once the
    # prompt's input tokens exceed its start, so up to the lowest start every rate is its base.
    from genai_prices.types import TieredPrices

    if price.input_mtok is None or not all(f is None or isinstance(f, Decimal | int | TieredPrices) for f in fields):
        return _Priced(None, price, "genai-prices")
    starts = [tier.start for f in fields if isinstance(f, TieredPrices) for tier in f.tiers]
    bases = tuple(f.base if isinstance(f, TieredPrices) else f for f in fields)
    return _Priced(None, price, "genai-prices", _units(bases), min(starts, default=-1))


def _units(fields: tuple[Any, Any, Any, Any]) -> UnitPrices:
    """(input, output, cache read, cache write) per million tokens, as genai-prices gives them."""
    return UnitPrices(
        Decimal(fields[0]),
        Decimal(fields[1] or 0),
        None if fields[2] is None else Decimal(fields[2]),
        None if fields[3] is None else Decimal(fields[3]),
    )
