"""Exact costs: ``genai-prices`` data, overridden by ``catalog/prices.yaml``.

Money is :class:`~decimal.Decimal` USD. A model whose price is unknown costs ``None`` (with a
warning), never 0: summaries count it as unpriced. Cached and reasoning tokens are priced the way the
vendor prices them: our :class:`~magsag_mcp.types.Usage` counts cache reads and writes inside
``input_tokens`` and reasoning inside ``output_tokens``, which is also how genai-prices reads usage.

``prices.yaml`` (USD per million tokens, keys ``provider:model`` in any letter case, globs allowed, first match wins; a
provider alias such as ``gemini`` names its provider, and an unknown provider is refused)::

    "compat:my-model": {input: 0.5, output: 1.5, cache_read: 0.05, cache_write: 0.6}
    "anthropic:my-claude": {input: 3, output: 15, cache_read: 0.3, cache_write: 3.75, cache_write_1h: 6}
    "local:*": {input: 0.02, output: 0.02}   # a rented GPU box; unpriced, local calls cost 0
    "openai:gpt-5": {input: 1, output: 8, service_tiers: {priority: {input: 2, output: 16}}}

Optional rates of their own: ``cache_write_1h``, ``input_audio``, ``output_audio``, ``output_image``. An entry's
rates are the standard service tier's; ``service_tiers`` gives those of other tiers (OpenAI's and Azure's flex,
priority, scale; Gemini's; Anthropic's priority, sold by contract, which genai-prices does not price), and a call the
answer says another tier served is of unknown cost without them (or without genai-prices' price of the tier). Where
inference ran is no tier: Anthropic's US-only inference is billed at 1.1x whichever rates price the call, an
entry's (and its tiers') as genai-prices'.
An Azure deployment of another vendor's model (DeepSeek-R1, Grok, Kimi, Claude on Azure AI Foundry) is of unknown cost
unless an entry prices it: genai-prices lists no Azure rates for them, and gives them that vendor's own API's.
A kind of token billed at a rate of its own that arrives without that rate known makes the call's cost unknown,
flagged like an unknown model. So does a call to one of OpenAI's web-search models (gpt-4o-search-preview,
gpt-5-search-api), which searches the web on every call, billed per search beside the tokens, unless
``prices.yaml`` prices the model; and so does an answer that reports a server tool's calls billed per use (web
searches, file searches, a grounded prompt: Usage.server_tool_calls), which magsag never asks for, but for Claude's
web searches, priced at genai-prices' rate per search (a prices.yaml entry gives none: unknown). A Claude cache
write or read an entry gives no rate for is billed at Anthropic's
own multiple of the input rate (a write 1.25x, 2x for an hour; a read 0.1x): it is priced so, and a call's budget
reservation prices the writes so.

Lookups are cached per (provider, model, service tier), as pricing runs on every call, until the
model's next dated price change in genai-prices: a long-running server starts charging a new price
the day it starts.

This module finds a call's rates and prices its answer; the most a call yet to be sent can cost (what its budget
reservation holds) is :mod:`.worst_cases`', a base of :class:`Pricer`.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from .catalog_edits import prices_file_named
from .exact_money import exact_money
from .genai_rates import from_genai_prices, genai_model, other_vendors_list, window_from_genai_prices
from .kept import keep
from .per_use_fees import per_use_fee, per_use_priced_all
from .price_files import GLOBAL_STANDARD, MAX_RATE, azure_deployment_type, read_prices
from .price_files import validate_prices as validate_prices
from .price_warnings import (
    SEARCH_FEE,
    billed_by_ollama,
    cached_audio,
    fine_tune,
    joined,
    not_azures,
    not_global,
    parts_beyond_whole,
    past_the_window,
    per_use_charges,
    per_use_priced,
    split_past_written,
    tier_fix,
    time_to_live_asked,
    unknown_cost_warning,
    unsaid_time_to_live,
    unsplit_total,
    untiered_entry,
)
from .providers.anthropic_usage import CACHE_TTLS
from .providers.local_models import ollama_cloud_model
from .providers.local_reach import LocalReach
from .providers.openai_models import searches_every_call
from .rates import (
    ANTHROPIC_READ,
    ANTHROPIC_WRITE,
    ANTHROPIC_WRITE_1H,
    GEO_MULTIPLIERS,
    ZERO,
    Priced,
    UnitPrices,
    bare_model,
)
from .served_models import ServedModels
from .types import Target, Usage
from .worst_cases import AUDIO_PROVIDERS as AUDIO_PROVIDERS  # (where callers import it from)
from .worst_cases import WorstCasePricing, long_context_cost

__all__ = ["MAX_RATE", "Pricer", "PriceQuote", "UnitPrices", "validate_prices"]

#: how many (provider, model, tier) prices, context windows and Azure (deployment, answering model) choices a Pricer
#: keeps (see :func:`.kept.keep`): the model is a call's to name, and a server priced every one for as long as it ran
PRICES_KEPT = 1024


#: providers that cost nothing per token unless prices.yaml prices them: the offline fake, and ``local``
#: (a model server of the user's own: Ollama, vLLM, LM Studio)
FREE_PROVIDERS = frozenset({"fake", "local"})


#: the source of a cost the answer itself said (OpenRouter's usage.cost), where no price is known
BILLED_SOURCE = "answer:usage.cost"


@dataclass(slots=True, frozen=True)
class PriceQuote:
    cost_usd: Decimal | None
    #: "catalog:prices.yaml", "genai-prices", "free", BILLED_SOURCE, or None when unknown
    source: str | None
    warning: str | None = None
    #: an unknown cost's least, counted where its reservation held less (worst_cases.long_context_cost); else None
    at_least_usd: Decimal | None = None
    #: the notes of ``warning`` beside why the cost is unknown (an Azure deployment's "priced as"), for a caller that
    #: says the unknown in words of its own (an unreported usage's: attempt_cost.price_answered); else None
    notes: str | None = None


#: providers whose answers' ``service_tier`` changes the rate (OpenAI's API and Azure's copy of it, Gemini's
#: usageMetadata.serviceTier, Anthropic's usage.service_tier: Priority Tier is billed by contract, batch at half);
#: a compatible server's tier names (Groq's "on_demand", ...) mean nothing to genai-prices' OpenAI rates
_TIERED_PROVIDERS = frozenset({"openai", "azure", "google", "anthropic"})
#: tiers billed at the standard rate ("auto" is what the request asked for, echoed by some servers; Gemini
#: says "standard", or "unspecified" for its default, which is standard)
_STANDARD_TIERS = frozenset({None, "default", "auto", "standard", "unspecified"})
#: what marks an Azure model name as a fine-tune: ``gpt-4.1-2025-04-14.ft-0123456789abcdef`` (``BASE.ft-JOBID``)
_AZURE_FINE_TUNE = ".ft-"
#: providers serving OpenAI's web-search models (gpt-4o-search-preview, gpt-5-search-api), whose every call is
#: a web search billed per call, which no token rate prices
_SEARCH_FEE_PROVIDERS = frozenset({"openai", "azure"})
#: a context window not in the Pricer's cache (None is a window kept as unknown)
_NOT_KEPT: Any = object()


def _unreported(label: str) -> str:
    """What a quote of an answer that reported no usage says of it (beside the pricer's other notes)."""
    return f"{label} answered without reporting its token usage; its cost is unknown"


class Pricer(WorstCasePricing):
    def __init__(
        self,
        overrides: list[tuple[str, UnitPrices]] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        azure_deployment_type: str = GLOBAL_STANDARD,
        catalog_dir: Path | None = None,
        served: ServedModels | None = None,
        local_reach: LocalReach | None = None,
    ) -> None:
        self.overrides = overrides or []
        #: the catalog the overrides are read from, whose price file a fix names (None: not known)
        self.catalog_dir = catalog_dir
        #: the overrides' keys in lower case, as a model is matched against them: a price page's "GPT-5" names the
        #: model calls name gpt-5 (matched as written, an entry copied so priced nothing, and its calls were recorded
        #: at genai-prices' rates without a word)
        self._patterns = [(pattern.lower(), units) for pattern, units in self.overrides]
        #: the type of the Azure deployments calls go to (AZURE_OPENAI_DEPLOYMENT_TYPE): genai-prices' rates are
        #: Global Standard's, and price no other type
        self.azure_deployment_type = azure_deployment_type
        #: unix time now; a resolved price is kept until its model's next dated price change
        self._clock = clock
        #: per (provider, model, service tier): pricing runs on every call
        self._cache: dict[tuple[str, str, str | None], Priced] = {}
        self._windows: dict[tuple[str, str], int | None] = {}
        #: Azure (deployment, answering model) -> the model to price by, and the warning to give
        self._azure_models: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        #: (endpoint, Azure deployment) -> the models its answers named other than its own name, however priced: the
        #: process's one memory of it, which the policies read too (see azure_answered) and the ledger's rows of other
        #: processes' sightings join (:class:`~.governance.served_memory.ServedMemory`); worst_case reserves by it
        self.served = ServedModels(clock=clock) if served is None else served
        #: where a local target's prompt goes (off this machine: priced as an Ollama cloud model), which the
        #: policies read too (the service's Governance is given it)
        self.local_reach = LocalReach(os.environ) if local_reach is None else local_reach
        #: provider -> the non-standard service tiers its answers reported (see worst_case)
        self._served_tiers: dict[str, frozenset[str]] = {}
        #: provider -> the dearest inference-geo multiple its answers were billed at (see worst_case)
        self._served_geo: dict[str, Decimal] = {}

    @classmethod
    def from_catalog(cls, catalog_dir: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Pricer:
        from .errors import CatalogError

        overrides, problems = read_prices(Path(catalog_dir) if catalog_dir else None, env)
        deployment_type, problem = azure_deployment_type(os.environ if env is None else env)
        problems += [problem] if problem else []
        if problems:
            raise CatalogError("invalid prices:\n  " + "\n  ".join(problems), problems=problems)
        where = Path(catalog_dir) if catalog_dir else None
        # (the environment names the endpoint of a target without a base_url, and how long a sighting is trusted)
        served = ServedModels(os.environ if env is None else env)
        reach = LocalReach(os.environ if env is None else env)
        return cls(
            overrides, azure_deployment_type=deployment_type, catalog_dir=where, served=served, local_reach=reach
        )

    @cached_property
    def prices_file(self) -> str:
        """Where a fix says to add a price: the catalog's price file (see catalog_edits), made when first said."""
        return prices_file_named(self.catalog_dir)

    def _resolve(self, provider: str, model: str, service_tier: str | None = None, off_machine: bool = False) -> Priced:
        """The rates of ``model``; ``off_machine``: a local model whose server runs it off this machine (see
        :class:`~.providers.local_reach.LocalReach`), priced as an Ollama cloud model is."""
        key: tuple[Any, ...] = (provider, model, service_tier) if not off_machine else (provider, model, None, True)
        priced = self._cache.get(key)
        if priced is not None and self._clock() < priced.until:
            return priced
        if provider == "local" and (off_machine or ollama_cloud_model(model)):
            # An Ollama cloud model (gpt-oss:120b-cloud), named on the local server, runs on ollama.com and is billed
            # there (a plan's usage): priced as local's "free", or by a glob of the operator's own machines' rate
            # ("local:*"), its calls were recorded at 0 as if exact. Only an entry naming it prices it.
            units = self._named_entry(provider, model)
            if units is None:
                why = billed_by_ollama(f"{provider}:{model}", self.prices_file)
                return keep(self._cache, key, Priced(None, None, None, unknown_because=why), PRICES_KEPT)
        else:
            units = self._override(provider, model)
        if units is not None and service_tier is not None:
            # An entry's rates are the standard tier's: a priority call costs up to twice them (a flex one half), and
            # priced at them it was recorded, and counted against limits, as if exact. A tier is priced at the rates
            # the entry gives it, or at none.
            tiered = units.on_tier(service_tier)
            if tiered is None:
                priced = Priced(None, None, None, unknown_because=untiered_entry(provider, model, service_tier))
                return keep(self._cache, key, priced, PRICES_KEPT)
            units = tiered
        if units is not None:
            if provider == "anthropic" and units.input is not None:
                # Anthropic bills a cache write at its own multiple of the input rate (1.25x for 5 minutes, 2x for
                # an hour), whatever the entry left out: the multiples the call's reservation counted already; and a
                # cache read at 0.1x (at the input rate, a cached prompt was recorded at ten times its bill)
                units = replace(
                    units,
                    cache_read=units.cache_read if units.cache_read is not None else units.input * ANTHROPIC_READ,
                    cache_write=units.cache_write if units.cache_write is not None else units.input * ANTHROPIC_WRITE,
                    cache_write_1h=(
                        units.cache_write_1h if units.cache_write_1h is not None else units.input * ANTHROPIC_WRITE_1H
                    ),
                )
            priced = Priced(units, None, "catalog:prices.yaml")
        elif provider in FREE_PROVIDERS:
            # The offline fake provider and a model server of the user's own spend nothing per token unless the
            # catalog prices them (demos of budgets do; so may a rented GPU box). A catalog of the user's own,
            # or a prices.yaml of the user's own without "local:*", must not make local calls unpriced: a cost
            # limit would refuse every one of them.
            priced = Priced(UnitPrices(ZERO, ZERO), None, "free")
        elif provider == "azure" and self.azure_deployment_type != GLOBAL_STANDARD:
            # Azure bills a Data Zone or Regional deployment above a Global one, and a provisioned one by the hour; its
            # answers never say which type served them, and genai-prices' rates are Global's: priced at them, every
            # call of an EU Data Zone resource was recorded below its bill as if exact
            why = not_global(self.azure_deployment_type, model, self.prices_file)
            priced = Priced(None, None, None, unknown_because=why)
        elif provider == "azure" and (vendor := other_vendors_list(model)) is not None:
            # DeepSeek-R1 on Azure AI Foundry matched deepseek-reasoner at DeepSeek's own API rates ($0.55 / $2.19),
            # well below what Azure bills the deployment: recorded as exact, and reserved, at a fraction of its bill
            priced = Priced(None, None, None, unknown_because=not_azures(vendor, model, self.prices_file))
        elif provider in _SEARCH_FEE_PROVIDERS and searches_every_call(model):
            # OpenAI's web-search models search on every call, each search billed per call on top of the tokens
            # (more than a short call's tokens cost): genai-prices' token rates alone would record a fraction
            priced = Priced(None, None, None, unknown_because=SEARCH_FEE)
        else:
            priced = from_genai_prices(provider, model, service_tier, datetime.fromtimestamp(self._clock(), UTC))
            if service_tier is not None and priced.unknown_because is not None:
                priced.unknown_because += tier_fix(provider, model, service_tier, self.prices_file)
        return keep(self._cache, key, priced, PRICES_KEPT)

    def _named_entry(self, provider: str, model: str) -> UnitPrices | None:
        """The rates of the prices.yaml entry that names ``provider:model`` itself (in any letter case), not a glob."""
        label = f"{provider}:{bare_model(provider, model)}".lower()
        return next((units for pattern, units in self._patterns if pattern == label), None)

    def _override(self, provider: str, model: str) -> UnitPrices | None:
        label = f"{provider}:{bare_model(provider, model)}".lower()
        for pattern, units in self._patterns:
            if pattern == label or fnmatch.fnmatchcase(label, pattern):
                return units
        return None

    # Each public method runs in exact_money's context, as the service's calls do: a Pricer is the library's too, and
    # a caller's lowered Decimal precision (getcontext().prec = 6) rounded the cost it returned (gpt-5's 78.082669125
    # to 78.0826), and the rates it resolved and kept for later calls (Anthropic's 0.1x of an entry's input)
    def price_for(self, target: Target, usage: Usage, *, cache_ttls: frozenset[str] = frozenset()) -> PriceQuote:
        """What ``usage`` of an attempt at ``target`` cost (:meth:`price`). An Azure target's deployment is known by
        its endpoint too (its base_url, or the environment's AZURE_OPENAI_ENDPOINT, which only this pricer's memory
        holds): what it answered as is kept by both. Other targets pass none (no work for one)."""
        if target.provider == "azure":
            return self.price("azure", target.model, usage, endpoint=self.served.endpoint(target))
        if target.provider == "local" and self.local_reach.off_machine(target):
            return self.price("local", target.model, usage, off_machine=True)
        return self.price(target.provider, target.model, usage, cache_ttls=cache_ttls)

    @exact_money
    def price(
        self,
        provider: str,
        model: str,
        usage: Usage,
        *,
        endpoint: str = "",
        off_machine: bool = False,
        cache_ttls: frozenset[str] = frozenset(),
    ) -> PriceQuote:
        """What ``usage`` cost, at the rates of the service tier the vendor reports serving it on (and,
        on Azure, of the model the answer names rather than the deployment's name). ``endpoint``: an Azure
        deployment's (:meth:`price_for` passes its target's), by which what it answered as is kept.
        ``cache_ttls``: the times to live the request's cache markers asked
        (:func:`~.providers.anthropic_usage.cache_ttls_asked`), which say what the cache writes whose time to live
        the answer does not say were written for, where they ask one."""
        answering = usage.answering_model
        if provider == "azure" and answering is not None and answering != model:
            # what the deployment serves, for the policies (azure_answered), whatever this answer's price: learnt only
            # after a return for an answer of unknown cost, a deployment serving a forbidden model went on serving it
            self.served.saw((endpoint, model), answering)
        counts = usage.counts()
        unsaid = usage.cache_write_ttl_unsaid_tokens
        ttl_note = None
        if unsaid > 0 and len(cache_ttls) == 1 and (asked := next(iter(cache_ttls))) in CACHE_TTLS:
            # every marker the request sent asked one time to live, and Anthropic writes only where one asks: the
            # writes the answer left unsaid were of it, and are billed at its rate (no guess; but said, with how many,
            # as the ledger's split is the answer's and does not make the cost alone)
            ttl_note = time_to_live_asked(f"{provider}:{model}", usage, asked)
            hour = usage.cache_write_1h_tokens + (unsaid if asked == "1h" else 0)
            usage = replace(usage, cache_write_1h_tokens=hour, cache_write_ttl_unsaid_tokens=0)
        if min(counts) < 0:
            # no count at all: priced as given it would be a negative cost (spend taken off every limit)
            return PriceQuote(
                None, None, f"{provider}:{model} reported a negative token count; its cost is recorded as unknown"
            )
        if usage.total_unsplit_tokens > 0:
            # beside a counted cache, the total's extra may be thoughts (the output rate) or cache counted outside the
            # input (a tenth of the input rate, or more for a write): billed as output, a cache read of 1,000 tokens
            # was recorded at 40 times its bill as if exact. What the server says it billed (OpenRouter's usage.cost)
            # needs no split: that is the cost
            if usage.billed_usd is not None:
                return PriceQuote(usage.billed_usd, BILLED_SOURCE, None)
            return PriceQuote(None, None, unsplit_total(f"{provider}:{model}", usage))
        if usage.cached_audio_tokens:
            # counted in the audio and in the cache, a cached audio token was priced twice, at the audio rate and the
            # cached text one, where it is billed once at a cached audio rate, which no rate here gives (and the two
            # parts' sum may pass the prompt's whole: no count beyond it, as the check below would read it)
            return PriceQuote(None, None, cached_audio(f"{provider}:{model}", usage))
        if (
            usage.cached_tokens + usage.cache_write_tokens + usage.input_audio_tokens > usage.input_tokens
            or usage.output_audio_tokens + usage.output_image_tokens > usage.output_tokens
            or usage.cache_write_1h_tokens > usage.cache_write_tokens
        ):
            # counts that do not add up say nothing of what was billed: priced as given, the parts past their
            # whole were billed twice or subtracted from the rest, and genai-prices raises on them (past a tier)
            beyond = parts_beyond_whole(usage)
            return PriceQuote(None, None, f"{provider}:{model} reported {beyond}; its cost is recorded as unknown")
        label = f"{provider}:{model}"
        if usage.server_tool_calls and not per_use_priced_all(provider, usage):
            # (priced from the tokens alone, the searches were left out of the cost as if it were complete)
            return PriceQuote(None, None, per_use_charges(label, usage))
        note = None
        if provider == "azure" and answering is not None and answering != model:
            chosen, note = self._azure_model(model, answering)
            if chosen is None:
                if not usage.reported:  # (its note is all the fix there is: price_answered says the notes alone)
                    return PriceQuote(None, None, joined(_unreported(label), note), notes=note)
                return PriceQuote(None, None, note)
            model = chosen
        tier = usage.service_tier if provider in _TIERED_PROVIDERS else None
        if tier is None or tier in _STANDARD_TIERS:
            tier = None
        elif tier not in self._served_tiers.get(provider, ()):
            self._served_tiers[provider] = self._served_tiers.get(provider, frozenset()) | {tier}
        priced = self._resolve(provider, model, tier, off_machine)
        if self._past_the_window(provider, model, priced, usage.input_tokens):
            # a prompt past the window genai-prices lists was served by Anthropic's 1M-context beta, which bills the
            # whole request at long-context rates (Claude Sonnet 4: $6 / $22.50 a million past 200,000 prompt tokens)
            # where genai-prices lists one flat price: at it, the call was recorded at half its bill (counted at its
            # reservation, which holds those rates, or at its own tokens at them where they cost more: at_least_usd)
            window = self.context_window(provider, model) or 0  # (not None: _past_the_window read it)
            said = past_the_window(label, usage.input_tokens, window, self.prices_file)
            return PriceQuote(None, None, said, long_context_cost(priced.units, usage))
        fee = per_use_fee(provider, priced, usage) if usage.server_tool_calls else ZERO
        if fee is None:  # (a prices.yaml entry, a tier genai-prices gives no such rate on)
            return PriceQuote(None, None, per_use_charges(label, usage))
        if not usage.reported and priced.worst_case(1, 1) != 0:
            # no count (an answer without its usage): its zeros priced, a library caller of price() was told $0 exact.
            # What else the answer said is kept (an Azure deployment answering as another model: dropped, the
            # sighting was said nowhere)
            notes = joined(note, ttl_note)
            return PriceQuote(None, None, joined(_unreported(label), notes), notes=notes)
        cost = priced.cost(usage)
        if cost is None and usage.billed_usd is not None and priced.source is None:
            # no price known, but the server said what it billed (OpenRouter's usage.cost): that is the cost
            return PriceQuote(usage.billed_usd, BILLED_SOURCE, note)
        if cost is None:
            return PriceQuote(None, None, unknown_cost_warning(priced, f"{provider}:{model}", usage, self.prices_file))
        if (unsaid := usage.cache_write_ttl_unsaid_tokens) and cost != priced.cost(
            replace(usage, cache_write_1h_tokens=usage.cache_write_1h_tokens + unsaid)
        ):
            # writes of a time to live not said (a stream's message_delta counting past message_start's split): priced
            # as 5-minute writes, a 1-hour one was recorded, and counted against limits, at 5/8 of its bill as if exact
            return PriceQuote(None, None, unsaid_time_to_live(label, usage, cache_ttls))
        geo = GEO_MULTIPLIERS.get((provider, usage.inference_geo or ""))
        if geo is not None:
            # on a prices.yaml entry's rates too: they are the standard tier's, run anywhere, as genai-prices' are, and
            # Anthropic bills US-only inference at 1.1x its rates whatever they are (priced at the entry's bare rates,
            # every such call was recorded, and counted against limits, 10% below its bill as if exact)
            cost *= geo
            if geo > self._served_geo.get(provider, Decimal(1)):
                self._served_geo[provider] = geo
        if fee:
            # after the place's multiple, which Anthropic bills the tokens at, not a web search; said, as magsag asks
            # for no server tool: the attempt's server_tool_uses (0030) counts them, which its cost follows from
            cost += fee
            note = per_use_priced(label, usage, fee, cost)
        if note is None and ttl_note is None and not usage.cache_write_split_past_tokens:
            # (most answers: nothing to say. The notes' join and the split's look, three frames, were some 2,000
            # instructions of every priced call: the sixty-third round)
            return PriceQuote(cost, priced.source)
        notes = joined(note, ttl_note, split_past_written(label, usage, cost))
        # (a free model's answer without a usage: its caller says the unreported in words of its own, and these
        # notes beside them, as an unknown cost's above: an Azure "priced as" was dropped)
        return PriceQuote(cost, priced.source, notes, notes=None if usage.reported else notes)

    def azure_answered(self, deployment: str, endpoint: str = "") -> frozenset[str]:
        """The models Azure deployment ``deployment`` of ``endpoint`` is trusted to serve, other than its own name: a
        policy that allows the deployment by the model its name reads as allows these too, or no longer the deployment
        (see :meth:`~.governance.policy.PolicySet.allowed`)."""
        return self.served.models((endpoint, deployment))

    def _azure_model(self, deployment: str, answering: str) -> tuple[str | None, str | None]:
        """An Azure target's model is a deployment name, which the operator chose: "gpt-4" may serve
        gpt-4o, and "prod-chat" names no model at all. The answer names the model that served it, so
        that prices the call, unless the catalog prices the deployment itself. None: no price is known
        (a fine-tune's), and the note says so."""
        key = (deployment, answering)
        choice = self._azure_models.get(key)
        if choice is None:
            # (chosen again if dropped: what it adds below is the same each time)
            choice = keep(self._azure_models, key, self._choose_azure_model(deployment, answering), PRICES_KEPT)
        return choice

    def _choose_azure_model(self, deployment: str, answering: str) -> tuple[str | None, str | None]:
        if self._override("azure", deployment) is not None:
            return deployment, None
        if _AZURE_FINE_TUNE in answering and self._override("azure", answering) is None:
            # BASE.ft-JOBID: billed at a fine-tune's rates (gpt-4.1's $3 / $12, not $2 / $8), which neither the
            # deployment's name nor the base model genai-prices may match it to ("o4-mini") says
            info = genai_model("azure", answering)
            if info is None or _AZURE_FINE_TUNE not in str(getattr(info, "id", "")):
                return None, fine_tune(deployment, answering, self.prices_file)
        vendor = other_vendors_list(answering)
        if vendor is not None:
            # another vendor's model at that vendor's rates (see AZURE_RATE_LISTS): priced by the deployment's name
            # instead ("gpt-4o" answering as DeepSeek-R1), it was recorded at a model's rates that did not serve it
            why = not_azures(vendor, deployment, self.prices_file)
            return None, f"azure:{deployment} answered as {answering}, which {why}; its cost is recorded as unknown"
        if self._resolve("azure", answering).source is None:
            return deployment, None
        named, served = genai_model("azure", deployment), genai_model("azure", answering)
        if named is None or (served is not None and named.id == served.id):
            return answering, None
        return answering, (
            f"azure:{deployment} answered as {answering}; priced as {answering}, not as {named.id}, the model its "
            "deployment name reads as"
        )

    @exact_money
    def unit_prices(self, provider: str, model: str) -> UnitPrices | None:
        """The model's rates (a tiered price's up to its first tier; see :meth:`rate_tiers`), or None when
        nothing prices it."""
        priced = self._resolve(provider, model)
        return priced.units if priced.units is not None else priced.below

    @exact_money
    def rate_tiers(self, provider: str, model: str) -> list[tuple[int, UnitPrices]]:
        """A price that changes with the prompt's size (long context): (the input tokens past which every
        token is billed at them, the rates) for each tier; empty for a flat price."""
        return self._resolve(provider, model).tiers()

    def context_window(self, provider: str, model: str) -> int | None:
        """The model's context window in tokens, from genai-prices' model data; None when unknown."""
        key = (provider, model)
        # one read, not `in` then [key]: another thread's keep() may drop the entry between the two (a KeyError)
        window = self._windows.get(key, _NOT_KEPT)
        if window is not _NOT_KEPT:
            return window
        return keep(self._windows, key, window_from_genai_prices(provider, model), PRICES_KEPT)
