"""The most a call can cost before it is sent, which its budget reservation holds, and why none is known.

:class:`WorstCasePricing` is :class:`~magsag_mcp.pricing.Pricer`'s half that bounds a call yet to be made: the
dearest rates its tokens may be billed at (a service tier its provider's answers came on, where inference runs, the
cache writes its marker allows). The other half, :mod:`.pricing`, prices an answer and learns from it what these
bounds reach for (the tiers served, the geos billed, the models an Azure deployment answered as).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .exact_money import exact_money
from .genai_rates import genai_model
from .providers.anthropic_usage import cache_ttls_marked
from .rates import GEO_MULTIPLIERS

if TYPE_CHECKING:
    from .providers.local_reach import LocalReach
    from .rates import Priced, UnitPrices
    from .served_models import ServedModels
    from .types import Target, Usage

#: tiers billed above the standard rates: once a provider has served one, a call whose price on it is unknown has no
#: worst case (a cheaper tier, flex or batch, bounds nothing above the standard rates)
_DEARER_TIERS = frozenset({"priority"})
#: what a request asks for that keeps it off a dearer tier, by provider: Anthropic's ``service_tier: standard_only``
#: (its "auto" uses Priority Tier where the organisation has it), OpenAI's ``service_tier`` "default" ("processed with
#: the standard pricing", where "auto" takes the project's own default, which may be priority) and Gemini's
#: ``serviceTier`` "standard"; and flex, billed below the standard rates. Only Anthropic's was taken: a call asking
#: OpenAI for "default" after a priority answer was refused by a strict limit as of unknown worst case
_STANDARD_ONLY = {
    "anthropic": frozenset({"standard_only"}),
    "openai": frozenset({"default", "flex"}),
    "google": frozenset({"standard", "flex"}),
}
#: the providers that are one vendor's own API (a model of another's named with one is most likely a mistake)
_VENDOR_PROVIDERS = ("openai", "anthropic", "google")
#: providers whose answers' usage counts audio tokens (Chat Completions' ``audio_tokens``), priced at audio rates: a
#: worst case elsewhere (Gemini, whose wire counts none, and whose audio answers are refused) prices none at them
AUDIO_PROVIDERS = frozenset({"openai", "azure", "compat", "local"})


class WorstCasePricing:
    """A :class:`~magsag_mcp.pricing.Pricer`'s worst cases: what its answers taught it (the state below, kept by
    ``Pricer.price``) bounds what a call may spend."""

    # (the Pricer's, kept by its price and its Azure model choice; typed here for the methods below)
    #: provider -> the non-standard service tiers its answers reported
    _served_tiers: dict[str, frozenset[str]]
    #: provider -> the dearest inference-geo multiple its answers were billed at
    _served_geo: dict[str, Decimal]
    #: (endpoint, Azure deployment) -> the models its answers named (this process's, and the ledger's trusted rows)
    served: ServedModels
    #: where a local target's prompt goes (:class:`~.providers.local_reach.LocalReach`)
    local_reach: LocalReach

    if TYPE_CHECKING:

        def _resolve(
            self, provider: str, model: str, service_tier: str | None = None, off_machine: bool = False
        ) -> Priced: ...

        def _azure_model(self, deployment: str, answering: str) -> tuple[str | None, str | None]: ...

        def context_window(self, provider: str, model: str) -> int | None: ...

    def reserved_worst_case(
        self,
        target: Target,
        input_tokens: int,
        output_tokens: int,
        cache_ttls: frozenset[str] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        picture_tokens: int = 0,
    ) -> Decimal | None:
        """The most an attempt at ``target`` of these tokens may cost, as its reservation holds it: at the multiple of
        where its request asks inference to run, keeping off a dearer tier where it asks to (:func:`request_asks`),
        with the cache writes its cache markers ask for (``cache_ttls``:
        :func:`~.providers.anthropic_usage.cache_ttls_asked` of the request sent; not given, read from the same params
        by the same reader; none without a marker), and for an Azure deployment by what it was seen serving at its
        endpoint (its base_url or the environment's AZURE_OPENAI_ENDPOINT: another resource's deployment of its name is
        not it); None when the model's price is unknown. ``params``: the vendor params the request sends
        (``LLMRequest.extra``: the call's own, the target's filling what it left open), which the provider sends and
        the answer's price follows; not given (a call yet to be planned, the catalog's check), the target's params.
        ``picture_tokens``: the part of ``input_tokens`` that is pictures, counted at the most their vendor bills
        (attempt_cost.input_tokens_reserved_parts), which the reach of the text's estimate adds once (see
        PROMPT_PER_ESTIMATE_AT_MOST).
        Admission, the bound of an unknown cost, ``explain``, ``check_budget``'s call and the catalog's check against
        the limits all ask this, so that what they show is what a call reserves."""
        asked = target.params if params is None else params
        # most targets have no params: neither where inference runs, a tier nor a cache marker
        inference_geo, service_tier = request_asks(asked) if asked else (None, None)
        return self.worst_case(
            target.provider,
            target.model,
            input_tokens,
            output_tokens,
            inference_geo=inference_geo,
            cache_ttls=_marked(target, cache_ttls, asked),
            # (Anthropic's standard_only, OpenAI's default keep a call off a dearer tier its organisation's answers
            # were served on; Gemini's serviceTier: standard, as its request writes it)
            service_tier=service_tier,
            # (most targets are no Azure deployment's: no endpoint to work out)
            endpoint=self.served.endpoint(target) if target.provider == "azure" else "",
            # (a local model run off this machine, by Ollama's cloud, is priced as a cloud model: see LocalReach)
            off_machine=target.provider == "local" and self.local_reach.off_machine(target) is not None,
            picture_tokens=picture_tokens,
        )

    @exact_money
    def worst_case(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        *,
        inference_geo: Any = None,
        cache_ttls: frozenset[str] | None = None,
        service_tier: Any = None,
        endpoint: str = "",
        off_machine: bool = False,
        picture_tokens: int = 0,
    ) -> Decimal | None:
        """The most a call can cost: every input token billed at its dearest rate (a 1-hour cache
        write costs more than an uncached token), ``output_tokens`` generated. ``inference_geo``: where
        the request asks inference to run (a target's ``params.inference_geo``), billed at its multiple.
        ``service_tier``: the tier the request asks for (a target's ``params.service_tier``).
        ``cache_ttls``: the times to live the request's cache markers ask
        (:func:`~.providers.anthropic_usage.cache_ttls_marked`, empty for none): Anthropic writes a prompt to its
        cache, and bills the write, only where the request marks it, at the marker's time to live; unsaid (None),
        any write is possible.

        Calls cannot ask for a dearer service tier (``priority`` and ``scale`` are refused), but an
        OpenAI project whose default tier is priority serves every call on it, at up to twice the
        standard rate, and says so only in the answer. Once an answer from a provider has reported
        such a tier, that provider's calls are reserved at the dearest tier seen, so that budget
        reservations go on bounding what concurrent calls can spend; where a dearer tier it served has no
        known price for the model (Anthropic's Priority Tier, sold by contract), the worst case is unknown
        (None: a cost limit refuses it, as :meth:`why_unpriced` says), not the standard rates' as if a bound,
        unless the request keeps off it (Anthropic's ``service_tier: standard_only``, OpenAI's ``default``, Gemini's
        ``serviceTier: standard``, or flex: see _STANDARD_ONLY).

        An Azure deployment's name is the operator's choice ("gpt-4o-mini" may serve gpt-4o, "prod-chat"
        names no model), and its answers are priced by the model they name. Once a deployment has
        answered as a model, its calls are reserved at the dearer of the two (or at that model's, where
        the name has no price), and unknown where that model has no known price (a fine-tune's). What a
        deployment answered as is kept by its ``endpoint`` too (:meth:`reserved_worst_case` passes its target's):
        another resource's deployment of the same name may serve another model."""
        asked = GEO_MULTIPLIERS.get((provider, inference_geo)) if isinstance(inference_geo, str) else None
        # the models the deployment answered as (by this process or, in the ledger, another), as they are priced
        served = self.served.models((endpoint, model)) if provider == "azure" else ()
        # (a comprehension is a function made and called in 3.11: none for the calls with nothing served)
        priced_as = [self._azure_model(model, answering)[0] for answering in served] if served else ()
        if None in priced_as:
            return None  # it answered as a model of no known price (a fine-tune's)
        writes = _cache_writes(provider, cache_ttls)
        standard = service_tier is not None and service_tier in _STANDARD_ONLY.get(provider, ())
        # (the prompt the estimate may stand for: see PROMPT_PER_ESTIMATE_AT_MOST; its pictures at their most already)
        reach = (input_tokens - picture_tokens) * PROMPT_PER_ESTIMATE_AT_MOST + picture_tokens
        worst = self._worst(provider, model, input_tokens, output_tokens, reach, asked, writes, standard, off_machine)
        for other in priced_as:
            if other is not None and other != model:
                dearer = self._worst(provider, other, input_tokens, output_tokens, reach, asked, writes)
                if dearer is not None and (worst is None or dearer > worst):
                    worst = dearer
        return worst

    def _worst(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        reach: int,
        asked: Decimal | None = None,
        writes: str | None = "1h",
        standard: bool = False,
        off_machine: bool = False,
    ) -> Decimal | None:
        """:meth:`worst_case` of one model name, at the dearest service tier its provider has served (and the
        dearest inference geo: the one the request asks for (``asked``), or once an answer has run where
        inference costs more), with the cache ``writes`` the call can make (see UnitPrices.ceiling); None where a
        dearer tier served has no known price for it. ``standard``: the request keeps to the standard tier. ``reach``:
        the most tokens the vendor may count of the prompt of ``input_tokens`` estimated (see worst_case)."""
        priced = self._resolve(provider, model, None, off_machine)
        audio = provider in AUDIO_PROVIDERS
        implied = provider == "anthropic"  # a write's rate a prices.yaml entry lacks: Anthropic's multiple of input
        # (the prompt the estimate may stand for, ``reach``), where the 1M-context beta may serve it at all: any other
        # Claude refuses a prompt past its window, which is then billed nothing
        long = self._past_the_window(provider, model, priced, reach) and _served_past_its_window(provider, model)
        worst = _worst_of(priced, input_tokens, output_tokens, reach, audio, writes, implied, long)
        for tier in () if standard else self._served_tiers.get(provider, ()):
            dearer = _worst_of(
                self._resolve(provider, model, tier), input_tokens, output_tokens, reach, audio, writes, implied, long
            )
            if dearer is None and tier in _DEARER_TIERS:
                return None  # (the standard rates bound no call it may serve: see why_unpriced)
            if worst is not None and dearer is not None and dearer > worst:
                worst = dearer
        served = self._served_geo.get(provider)
        geo = asked if served is None else served if asked is None else max(served, asked)  # the dearer one
        if geo is not None and worst is not None:  # whichever rates price it (see GEO_MULTIPLIERS)
            worst *= geo
        return worst

    def _past_the_window(self, provider: str, model: str, priced: Priced, input_tokens: int) -> bool:
        """Whether a prompt of ``input_tokens`` to an Anthropic model genai-prices prices flat passes the context
        window it lists: served only under the 1M-context beta, billed whole at its long-context rates (Pricer.price
        records such an answer's cost as unknown, counted at this worst case)."""
        if provider != "anthropic" or priced.units is None or priced.source != "genai-prices":
            return False
        window = self.context_window(provider, model)
        return window is not None and input_tokens > window

    @exact_money
    def why_unpriced(self, provider: str, model: str) -> str | None:
        """Why no call of a model genai-prices knows is priced (it searches the web on every call, billed per
        search), or of one another vendor's API serves (``openai:claude-...``: the provider mistaken), as said
        after its name; None when it is priced, or simply unknown."""
        priced = self._resolve(provider, model)
        if priced.source is not None and not priced.unknown_because:
            for tier in self._served_tiers.get(provider, ()):
                on_tier = self._resolve(provider, model, tier)
                if tier in _DEARER_TIERS and on_tier.source is None and on_tier.unknown_because:
                    # ("answered on service tier 'priority', which ...; add ...": said of a call yet to be made)
                    why = on_tier.unknown_because.removeprefix(f"answered on service tier {tier!r}, ")
                    return f"may be served on service tier {tier!r}, as {provider}'s answers have been, {why}"
        if priced.unknown_because or priced.source is not None or provider not in _VENDOR_PROVIDERS:
            return priced.unknown_because
        for vendor in _VENDOR_PROVIDERS:
            if vendor != provider and self._resolve(vendor, model).source is not None:
                return f"is {vendor}'s model, not {provider}'s: did you mean provider {vendor!r}?"
        return None


def request_asks(params: Mapping[str, Any] | tuple[tuple[str, Any], ...]) -> tuple[Any, Any]:
    """(where inference is asked to run, the service tier asked) of vendor ``params``: a request's
    (``LLMRequest.extra``, a mapping) or a target's ((name, value) pairs). Anthropic's ``inference_geo`` and
    ``service_tier``, OpenAI's ``service_tier``, Gemini's ``serviceTier`` as its request writes it. The one reader of
    them for a worst case, as :func:`~.providers.anthropic_usage.cache_ttls_marked` is of the cache markers: a target's
    params alone left out what the call's own request set."""
    if isinstance(params, tuple):
        params = dict(params)
    return params.get("inference_geo"), params.get("service_tier") or params.get("serviceTier")


#: how many times its estimate a prompt's tokens may be at most: the estimate is half the prompt's UTF-8 bytes
#: (:func:`~.predictions.tokens_at_most`, four bytes a token being usual), and a token is at least one byte (every
#: vendor's tokenizer falls back to bytes), so a prompt estimated at N tokens is at most 2N. A reservation prices a
#: prompt at the long-context rates wherever 2N passes the window or the tier (not only where N does): estimated just
#: below it (199,000 of Gemini 2.5 Pro's 200,000), a prompt of digits or rare characters passing it was billed every
#: token at twice the rate its reservation held. The tokens themselves are reserved as estimated
PROMPT_PER_ESTIMATE_AT_MOST = 2

#: genai-prices' ids of the Claudes it prices flat, with a 200,000-token window, that Anthropic's 1M-context beta
#: (``anthropic-beta: context-1m-2025-08-07``) serves past that window, billing the whole request at its long-context
#: rates: Claude Sonnet 4. (Sonnet 4.5's long-context tier genai-prices lists itself; Opus 4.6 and later have a 1M
#: window at one price.) Every other Claude (3.5 and 3.7 Sonnet, Opus 4 and 4.1, Haiku 4.5) refuses a prompt past its
#: window: reserved at the long-context rates, one estimated past half its window was held at twice what it can cost,
#: and a call limit its flat rates fit refused it
_SERVED_PAST_THE_WINDOW = frozenset({"claude-sonnet-4-0"})


def _served_past_its_window(provider: str, model: str) -> bool:
    """Whether ``model`` (an Anthropic one genai-prices prices flat) may be served, and billed, past the window
    genai-prices lists (see _SERVED_PAST_THE_WINDOW)."""
    return getattr(genai_model(provider, model), "id", None) in _SERVED_PAST_THE_WINDOW


#: Anthropic's long-context rates past a 1M-context beta model's 200,000 prompt tokens, as multiples of its own:
#: every input rate (cache reads and writes too) doubled, the output rate half again (Claude Sonnet 4: $6 / $22.50)
_LONG_INPUT, _LONG_OUTPUT = Decimal(2), Decimal("1.5")


def long_context_cost(units: UnitPrices | None, usage: Usage) -> Decimal | None:
    """What ``usage`` of a Claude whose prompt passed the window genai-prices lists for its flat ``units`` is billed
    at the 1M-context beta's long-context rates (every input rate, cache reads and writes too, doubled; the output
    rates half again), at the multiple of where it ran (1.1x for US-only inference); None where a rate it needs is
    unknown. Pricer.price's least of such an answer's unknown cost (PriceQuote.at_least_usd), which it is counted at
    where its reservation held less: that held the long-context rates for the prompt estimated, and the vendor may
    count up to twice as many tokens (see PROMPT_PER_ESTIMATE_AT_MOST)."""
    if units is None:
        return None
    long = replace(
        units,
        input=_times(units.input, _LONG_INPUT),
        cache_read=_times(units.cache_read, _LONG_INPUT),
        cache_write=_times(units.cache_write, _LONG_INPUT),
        cache_write_1h=_times(units.cache_write_1h, _LONG_INPUT),
        input_audio=_times(units.input_audio, _LONG_INPUT),
        output=_times(units.output, _LONG_OUTPUT),
        output_audio=_times(units.output_audio, _LONG_OUTPUT),
        output_image=_times(units.output_image, _LONG_OUTPUT),
    )
    cost = long.cost(usage)
    geo = GEO_MULTIPLIERS.get(("anthropic", usage.inference_geo or ""))
    return cost * geo if cost is not None and geo is not None else cost


def _times(rate: Decimal | None, multiple: Decimal) -> Decimal | None:
    return None if rate is None else rate * multiple


def _worst_of(
    priced: Priced,
    input_tokens: int,
    output_tokens: int,
    reach: int,
    audio: bool,
    writes: str | None,
    implied: bool,
    long: bool,
) -> Decimal | None:
    """``priced``'s worst case; ``reach``: the most tokens the vendor may count of the prompt estimated (see
    WorstCasePricing.worst_case); ``long``: a prompt past its window (see WorstCasePricing._past_the_window), at the
    long-context rates. Reserved at the flat ones, such a call was counted, its cost unknown, at half its bill."""
    if priced.units is None:
        worst = priced.worst_case(input_tokens, output_tokens, audio=audio, writes=writes, implied=implied)
        if worst is None or not input_tokens <= priced.threshold < reach:
            return worst
        # a tiered price (genai-prices': Gemini 2.5 Pro's, Claude Sonnet 4.5's) whose tier the prompt may pass: its
        # tokens at the rates of each tier it may reach, as the whole prompt is billed past one
        for start, rates in priced.tiers():
            if start < reach:
                past = rates.ceiling(audio, writes, implied).text_cost(input_tokens, output_tokens)
                if past is None:  # (a rate the tier lacks: no bound, as past the tier)
                    return None
                worst = max(worst, past)
        return worst
    if not long:
        return priced.worst_case(input_tokens, output_tokens, audio=audio, writes=writes, implied=implied)
    ceiling = priced.units.ceiling(audio, writes, implied)
    if ceiling.input is None or ceiling.output is None:
        return None
    return replace(ceiling, input=ceiling.input * _LONG_INPUT, output=ceiling.output * _LONG_OUTPUT).text_cost(
        input_tokens, output_tokens
    )


def _marked(
    target: Target, cache_ttls: frozenset[str] | None, params: Mapping[str, Any] | tuple[tuple[str, Any], ...]
) -> frozenset[str]:
    """``cache_ttls`` as given, or the times to live ``params`` (the request's, else the target's) mark (an Anthropic
    target's: no other provider's writes wait on a marker)."""
    if cache_ttls is not None or not params or target.provider != "anthropic":
        return cache_ttls or frozenset()
    return cache_ttls_marked(params)


def _cache_writes(provider: str, cache_ttls: frozenset[str] | None) -> str | None:
    """The dearest cache write a call can be billed (see UnitPrices.ceiling): Anthropic writes only what the
    request marks, for 5 minutes unless a marker's ``ttl`` is "1h" (a marker of either, on a system block, a tool or
    a message's block as well as the top-level one: the dearest any asks); other vendors cache on their own, and
    markers left unsaid (None) may ask any."""
    if provider != "anthropic" or cache_ttls is None:
        return "1h"
    if not cache_ttls:
        return None
    return "5m" if cache_ttls == {"5m"} else "1h"
