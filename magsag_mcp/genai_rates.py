"""genai-prices' data as this project reads it: a model's info looked up (bounded, unlike genai-prices' own cache), the
rates it gives a model at a moment and on a service tier, until when they stay right, and whose list an Azure
deployment's rates come from. :mod:`.rates` turns the rates into USD; :mod:`.pricing` decides which rates price a call.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from .rates import RATE_KEYS, Priced, bare_model, per_use_rates, unit_prices

#: our provider names -> genai-prices provider ids (None: catalog prices only)
GENAI_PROVIDER: dict[str, str | None] = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "google": "google",
    "local": None,
    "compat": None,
}


def genai_model(provider: str, model: str) -> Any:
    """genai-prices' model info (prices, context window), or None when it does not know the model."""
    provider_id = GENAI_PROVIDER.get(provider)
    if provider_id is None:
        return None
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    if snapshot is not _FOUND_IN[0]:  # (a snapshot set since: UpdatePrices, set_custom_snapshot)
        _FOUND_IN[0] = snapshot
        _found.cache_clear()
    return _found(provider_id, bare_model(provider, model))


#: the genai-prices snapshot :func:`_found`'s answers came from
_FOUND_IN: list[Any] = [None]


@functools.lru_cache(maxsize=1024)
def _found(provider_id: str, model: str) -> Any:
    """genai-prices' model info for ``model`` in provider ``provider_id``'s list (and the lists it falls back to), or
    None. Looked up here, not by DataSnapshot.find_provider_model: that keeps every model name it is asked about (its
    provider cache, without a bound), and a server asked about each model its clients named grew it for ever."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    listed = data_snapshot.find_provider_by_id(snapshot.providers, provider_id)
    return None if listed is None else listed.find_model(model, all_providers=snapshot.providers)


def listed_by(provider: str, info: Any) -> str | None:
    """The genai-prices provider whose list holds ``info`` (a model :func:`genai_model` found for ``provider``): the
    provider's own, or another vendor's its lookup fell back to (genai-prices' Azure list falls back to OpenAI's,
    Anthropic's, DeepSeek's, xAI's and Moonshot's, and prices such a model at that vendor's own API rates)."""
    provider_id = GENAI_PROVIDER.get(provider)
    if provider_id is None or info is None:
        return None
    from genai_prices import data_snapshot

    lists = {p.id: p for p in data_snapshot.get_snapshot().providers}
    own = lists.get(provider_id)
    for listed in (provider_id, *(getattr(own, "fallback_model_providers", None) or ())):
        if listed in lists and any(model is info for model in lists[listed].models):
            return listed
    return None


def window_from_genai_prices(provider: str, model: str) -> int | None:
    window = getattr(genai_model(provider, model), "context_window", None)
    return int(window) if window else None


def from_genai_prices(
    provider: str, model: str, service_tier: str | None = None, now: datetime | None = None
) -> Priced:
    """The model's rates in genai-prices at ``now``, on ``service_tier`` (None: the standard tier)."""
    info = genai_model(provider, model)
    if info is None:
        return Priced(None, None, None)
    now = now or datetime.now(UTC)
    if provider == "azure" and service_tier is not None and (listed := listed_by(provider, info)) != "azure":
        # Azure bills a tier (its priority processing) at rates of its own, which its API's spec does not give: the
        # variant genai-prices' Azure lookup found is the list it fell back to's (OpenAI's priority for its own API),
        # and priced at it an Azure priority call was recorded, and counted against limits, at OpenAI's bill as exact
        why = f"answered on service tier {service_tier!r}, which Azure bills at rates of its own; genai-prices has "
        return Priced(None, None, None, unknown_because=why + f"only {listed}'s for its own API, not Azure's")
    priced = _rates_at(info, service_tier, now)
    priced.until = _next_price_change(info, now, with_variants=service_tier is not None)
    return priced


def _next_price_change(info: Any, now: datetime, *, with_variants: bool) -> float:
    """Unix time of the next moment ``info``'s price can change (a dated price, a time-of-day price
    such as an off-peak rate), or infinity: until then a resolved price stays right."""
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    constraints = [c.constraint for c in info.prices] if isinstance(info.prices, list) else []
    if with_variants:
        constraints += [v.constraint for v in info.price_variants or ()]
    soonest = math.inf
    stamp = now.timestamp()
    for constraint in constraints:
        if isinstance(constraint, StartDateConstraint):
            # genai-prices compares UTC dates: the new price starts at UTC midnight of its date
            at = datetime(*constraint.start_date.timetuple()[:3], tzinfo=UTC).timestamp()
            if at > stamp:
                soonest = min(soonest, at)
        elif isinstance(constraint, TimeOfDateConstraint):
            for edge in (constraint.start_time, constraint.end_time):
                # the edge's time of day in UTC, as genai-prices' own active() compares it: put on now's UTC date in
                # its own zone, an edge west of UTC landed a day after its next time, one east of it in the past
                in_utc = datetime.combine(now.date(), edge, edge.tzinfo or UTC).astimezone(UTC).timetz()
                today = datetime.combine(now.astimezone(UTC).date(), in_utc)
                at = today.timestamp()
                soonest = min(soonest, at if at > stamp else (today + timedelta(days=1)).timestamp())
    return soonest


def _rates_at(info: Any, service_tier: str | None, now: datetime) -> Priced:
    if service_tier is None:
        price = info.get_prices(now)
    else:
        # genai-prices falls back to the standard price for a tier it has no variant for: that would
        # price a dearer tier (priority, scale) at the standard rate. Only a tier it prices is priced.
        # a batch's answer (Anthropic's service_tier "batch") is priced as genai-prices prices batch processing
        context = {"processing": "batch"} if service_tier == "batch" else {"service_tier": service_tier}
        if not any(
            v.when == context and (v.constraint is None or v.constraint.active(now)) for v in info.price_variants or ()
        ):
            return Priced(
                None,
                None,
                None,
                unknown_because=f"answered on service tier {service_tier!r}, which genai-prices has no price for",
            )
        price = info.get_prices(now, context)
    priced = _token_rates(price)
    priced.per_use = per_use_rates(price)
    return priced


def _token_rates(price: Any) -> Priced:
    """genai-prices' ``price`` (a model's at a moment, on a tier) as the token rates of a :class:`Priced`."""
    fields = tuple(getattr(price, key, None) for key in RATE_KEYS)
    if all(f is None or isinstance(f, Decimal | int) for f in fields):
        # Flat prices: compute directly (genai-prices' general path costs ~60 us a call).
        return Priced(unit_prices(fields), None, "genai-prices")
    # Tiered (e.g. by prompt length): genai-prices applies a tier's rate to every token once the
    # prompt's input tokens exceed its start, so up to the lowest start every rate is its base.
    from genai_prices.types import TieredPrices

    if not all(f is None or isinstance(f, Decimal | int | TieredPrices) for f in fields):
        return Priced(None, price, "genai-prices")
    starts = [tier.start for f in fields if isinstance(f, TieredPrices) for tier in f.tiers]
    bases = tuple(f.base if isinstance(f, TieredPrices) else f for f in fields)
    return Priced(None, price, "genai-prices", unit_prices(bases), min(starts, default=-1))


#: the genai-prices lists whose rates are an Azure deployment's: Azure's own (Phi, ...), and OpenAI's, which Azure
#: bills its OpenAI models' Global Standard deployments at. Its lookups fall back to Anthropic's, DeepSeek's, xAI's
#: and Moonshot's lists too: those vendors' own API rates, not what Azure AI Foundry bills their models at
AZURE_RATE_LISTS = frozenset({"azure", "openai"})


def other_vendors_list(model: str) -> str | None:
    """The vendor whose own API's rates genai-prices gives an Azure deployment of ``model`` (DeepSeek's for
    DeepSeek-R1), where they are not Azure's (see AZURE_RATE_LISTS); None when they are, or it has none."""
    listed = listed_by("azure", genai_model("azure", model))
    return None if listed is None or listed in AZURE_RATE_LISTS else listed
