"""The catalog checks of prices: a routed target no price is known for under a cost limit, a ``prices.yaml`` rate
written in another unit, a target a limit refuses on every call. Run by ``magsag catalog validate`` (and
``doctor``), beside :mod:`catalog_checks`; each returns problems, one line each, naming the file and the fix.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .catalog_checks import placed_targets
from .catalog_edits import prices_file_named
from .governance.policy import THRESHOLD_OF
from .rates import UnitPrices


def unpriced_routed_targets(catalog: Catalog, limits: list[Any], pricer: Any, policies: Any = None) -> list[str]:
    """Routing targets with no known price (a misspelt model name, an Azure deployment named for no
    model, a model genai-prices does not know yet) while a cost limit that does not ``allow_unpriced``
    applies: that limit refuses them on every call it covers, so the chain's fallback is not there. Each is named
    where it is first written, and the limit's policy where it is (``policies``, a PolicySet, knows that)."""
    strict = [lim for lim in limits if not lim.allow_unpriced]
    if not strict:
        return []
    # the limit covering the most calls: a call's or the day's covers every call
    lim = min(strict, key=lambda lim: ("call", "day", "month", "run", "agent_day", "agent_month").index(lim.kind))
    seen: set[tuple[str, str]] = set()
    policy_at = f" ({policies.place(lim.policy)})" if policies is not None and lim.policy in policies.places else ""
    problems = []
    for where, target in placed_targets(catalog):
        if (target.provider, target.model) in seen:
            continue
        seen.add((target.provider, target.model))
        if pricer.worst_case(target.provider, target.model, 1, 1) is None:
            problems.append(
                f"{where}: target {target.label} has no known price, so the "
                f"{lim.kind.replace('_', '-')} limit of policy {lim.policy!r} refuses it on every call it covers; "
                f"check the model's name, or add its price to {prices_file_named(catalog.root)} "
                f'("{target.label}": {{input: ..., output: ...}}), or set allow_unpriced: true on {lim.policy}'
                f"{policy_at}"
            )
    return problems


#: how far below the list price a ``prices.yaml`` rate may be before it reads as written in another unit: no discount
#: comes near 99%, while a price per thousand tokens is 1,000 times below the price per million (per token, 10**6)
UNIT_SLIP = 100
#: the lowest rate other than 0 that reads as USD per million tokens, for a model with no list price to compare with:
#: the cheapest genai-prices lists is $0.0011 (a cache read), while a price per token is a millionth of the price per
#: million (OpenRouter's models API, and many gateways' pages, give theirs per token: "0.00000012")
PER_TOKEN_BELOW = Decimal("0.0001")


#: the rates a prices.yaml entry (and each of its service tiers) may give, in UnitPrices' order
_RATE_NAMES = tuple(f.name for f in fields(UnitPrices) if f.name != "service_tiers")


def misread_price_units(catalog: Catalog, pricer: Any) -> list[str]:
    """``prices.yaml`` entries naming one model that genai-prices knows, with a rate a hundred times or more below
    its list price: written per thousand tokens (the unit of many price pages) or per token, not per million. The
    catalog's price wins, so budgets reserved and counted a thousandth of what calls cost, and validate said ok. An
    entry with no list price to compare with (a glob, a model genai-prices does not list) with a rate other than 0
    below any a model is priced at per million tokens: written per token."""
    from .genai_rates import from_genai_prices
    from .price_files import price_files

    found = price_files(catalog.root)
    where = found[0] if found else catalog.root / "prices.yaml"
    problems = []
    for key, units in pricer.overrides:
        provider, _, model = key.partition(":")
        # a glob prices many models, at rates of their own: no one list price is its
        listed = None if any(c in key for c in "*?[") else from_genai_prices(provider, model)
        flat = None if listed is None else listed.units if listed.units is not None else listed.below
        if flat is None:
            rates = [(f.name, getattr(units, f.name)) for f in fields(units) if f.name != "service_tiers"]
            rates += [
                (f"service_tiers.{tier}.{f.name}", getattr(given, f.name))
                for tier, given in units.service_tiers
                for f in fields(given)
                if f.name != "service_tiers"
            ]
            tiny = [(name, rate) for name, rate in rates if rate and rate < PER_TOKEN_BELOW]
            if tiny:
                name, rate = tiny[0]
                per_million = (rate * 1_000_000).normalize()
                problems.append(
                    f"{where}: {key}: {name} {rate:f} is below any rate per million tokens a model is priced at, and "
                    f"reads as USD per token ({per_million:f} per million): prices.yaml takes USD per million tokens, "
                    "and budgets would reserve and count a millionth of what calls cost; write the price per million "
                    "tokens"
                )
            continue
        # every rate the list prices too, not input and output alone: a cache read written per thousand tokens
        # (gpt-5's 0.000125 for 0.125) recorded an agent's mostly cached prompts at a thousandth of their bill, and
        # validated ok. A service tier's rates too, against the standard list price: no tier is billed a hundredth of
        # it (flex and batch are half)
        compared = [(name, getattr(units, name), getattr(flat, name)) for name in _RATE_NAMES]
        for tier, rates in units.service_tiers:
            compared += [
                (f"service_tiers.{tier}.{name}", getattr(rates, name), getattr(flat, name)) for name in _RATE_NAMES
            ]
        slips = [
            f"{name} {given:f} is {listed_rate / given:,.0f} times below its list price of {listed_rate:f}"
            for name, given, listed_rate in compared
            if given and listed_rate and listed_rate >= given * UNIT_SLIP
        ]
        if slips:
            problems.append(
                f"{where}: {key}: {' and '.join(slips)} (genai-prices); prices.yaml takes USD per million tokens, and "
                "a price per thousand tokens is 1,000 times too low: budgets would reserve and count that much less "
                "than calls cost; write the price per million tokens"
            )
    return problems


def unaffordable_routed_targets(
    catalog: Catalog, limits: list[Any], pricer: Any, classes: Any = None, policies: Any = None
) -> list[str]:
    """Routed targets whose answer alone, at the skill's ``max_tokens`` (or the target's ``params.max_tokens``), may
    cost more than a limit every call is held to (a call's, a run's, the day's, the month's): budgets reserve an
    attempt's worst case, so such a target is refused on every call of the skill, whatever was spent, and a skill all
    of whose targets are is refused outright. A ``max_tokens`` raised past that (or written in characters) validated
    ok."""
    from .attempt_cost import output_tokens_reserved
    from .errors import ConfigError
    from .routing import route
    from .types import LLMRequest

    every_call = [lim for lim in limits if lim.kind in ("call", "run", "day", "month")]
    if not every_call:
        return []
    lim = min(every_call, key=lambda lim: lim.amount)
    # where the limit is set, for "raise the limit" (a PolicySet knows; limits made in code are in no file)
    at = (
        f" ({policies.place(lim.policy, f'thresholds.{THRESHOLD_OF[lim.kind]}')})"
        if policies is not None and (lim.policy in policies.places)
        else ""
    )
    problems = []
    for skill_id, skill in sorted(catalog.skills.items()):
        try:
            chosen = route(catalog, skill_id, env={}, data_class_models=classes)
        except ConfigError:
            continue  # a model no provider serves: the catalog's own checks name it
        for cand in chosen.candidates:
            target = cand.target
            own = dict(target.params).get("max_tokens") if target.params else None
            tokens = output_tokens_reserved(LLMRequest([], max_tokens=own or skill.max_tokens), target)
            # at the multiple of where the target asks inference to run (US-only: 1.1x), as its calls are reserved
            worst = pricer.reserved_worst_case(target, 0, tokens)
            if worst is not None and worst > lim.amount:
                where = catalog.skill_files.get(skill_id, catalog.root / "skills")
                of = "its params.max_tokens" if own else "the skill's max_tokens"
                problems.append(
                    f"{where}: {skill_id}: routed target {target.label} may cost up to ${worst:f} for {of} ({tokens:,} "
                    f"output tokens) alone, above the {lim.kind} limit ${lim.amount:f} of policy {lim.policy!r}{at}, "
                    "so budgets refuse it on every call; lower max_tokens (output tokens, not characters), route the "
                    "task to a cheaper model, or raise the limit"
                )
    return problems


def uncached_read_notes(catalog_root: Path, pricer: Any) -> list[str]:
    """Notes (not problems: the entry's price is the user's to set) on ``prices.yaml`` entries of a model that
    genai-prices lists with a cache read rate, where the entry gives none: its cached input tokens are priced at the
    entry's input rate (see :meth:`~.rates.UnitPrices.cost`), up to ten times the vendor's bill for them (gpt-5's
    $0.125 per million, priced at $1.25), while an Anthropic entry's are priced at Anthropic's 0.1x (pricing.py).
    So for each of its service tiers' rates (a call the tier served is priced at them alone, not the entry's own),
    against genai-prices' cache read on that tier. Each names the entry, the rate genai-prices lists and the line to
    write."""
    from .price_files import price_files

    found = price_files(catalog_root)
    where = found[0] if found else catalog_root / "prices.yaml"
    notes = []
    for key, units in pricer.overrides:
        provider, _, model = key.partition(":")
        # Anthropic's are priced at its 0.1x whatever the entry leaves out; a glob has no one list price
        if provider == "anthropic" or any(c in key for c in "*?["):
            continue
        read = _listed_read(provider, model, None, units)
        if read is not None:
            times = _times(units.input, read)
            given = ", ".join(f"{name}: {rate:f}" for name in _RATE_NAMES if (rate := getattr(units, name)) is not None)
            tiers = ", service_tiers: {...}" if units.service_tiers else ""
            notes.append(
                f"{where}: {key}: no cache_read rate, so its cached input tokens are priced at its input rate "
                f"{units.input:f}, {times} times the cache_read {read:f} genai-prices lists for the "
                f'model; if the vendor bills yours at that, add it: "{key}": {{{given}, cache_read: {read:f}{tiers}}}'
            )
        for tier, rates in units.service_tiers:
            read = _listed_read(provider, model, tier, rates)
            if read is None:
                continue
            given = ", ".join(f"{name}: {rate:f}" for name in _RATE_NAMES if (rate := getattr(rates, name)) is not None)
            notes.append(
                f"{where}: {key}: service_tiers.{tier} has no cache_read rate, so the cached input tokens of a call "
                f"the {tier} tier serves are priced at its input rate {rates.input:f}, {_times(rates.input, read)} "
                f"times the cache_read {read:f} genai-prices lists for the model on that tier; if the vendor bills "
                f'yours at that, add it: "{key}": {{..., service_tiers: {{{tier}: {{{given}, cache_read: {read:f}}}}}}}'
            )
    return notes


def _listed_read(provider: str, model: str, tier: str | None, given: UnitPrices) -> Decimal | None:
    """The cache read rate genai-prices lists for the model on ``tier`` (None: the standard one), where ``given`` (an
    entry's or a tier's rates) has none and prices cached input above it at its input rate; else None."""
    from .genai_rates import from_genai_prices

    if given.cache_read is not None or given.input is None:
        return None
    listed = from_genai_prices(provider, model, tier)
    flat = listed.units if listed.units is not None else listed.below
    read = None if flat is None else flat.cache_read
    return None if read is None or given.input <= read else read


def _times(rate: Decimal, read: Decimal) -> str:
    """How many times ``read`` a ``rate`` is, to a tenth ("10", "2.5")."""
    return f"{(rate / read).quantize(Decimal('0.1')):f}".removesuffix(".0")


#: the providers whose genai-prices list is the vendor's own list of its models, so that a name it lacks is most likely
#: a misspelling: not Azure's (a deployment's name is the operator's, "prod-chat"), nor local's or compat's (none)
_VENDOR_LISTS = ("openai", "anthropic", "google")


def unlisted_model_notes(catalog_root: Path, pricer: Any) -> list[str]:
    """Notes (not problems: a model newer than genai-prices' list is what prices.yaml is for) on ``prices.yaml`` keys
    naming one model of OpenAI, Anthropic or Google that genai-prices does not list: a misspelling
    (``openai:gpt-5-mnii``) prices no call, as no call names that model, and validated ok while gpt-5-mini's calls went
    on at genai-prices' rates. Each names the model genai-prices lists that is nearest, where one is near."""
    from .genai_rates import GENAI_PROVIDER, genai_model
    from .price_files import price_files
    from .suggest import nearest

    found = price_files(catalog_root)
    where = found[0] if found else catalog_root / "prices.yaml"
    notes = []
    for key, _ in pricer.overrides:
        provider, _, model = key.partition(":")
        # a glob names no one model; a name with a "/" is a tuned model's resource name (tunedModels/...), no list's
        if provider not in _VENDOR_LISTS or any(c in key for c in "*?[/") or genai_model(provider, model) is not None:
            continue
        close = nearest(model.lower(), _listed_models(GENAI_PROVIDER[provider]))
        meant = f' (did you mean "{provider}:{close}"?)' if close else ""
        notes.append(
            f"{where}: {key}: genai-prices lists no {provider} model {model!r}{meant}, so the entry prices only calls "
            f"to a model of exactly that name; if it is misspelt, write the model's name as calls name it; if {model} "
            "is newer than genai-prices' list, the entry is what prices it: keep it, and this note goes once "
            "genai-prices lists the model (pip install -U genai-prices)"
        )
    return notes


def _listed_models(provider_id: Any) -> list[str]:
    """The ids of the models genai-prices lists for ``provider_id`` (its own list, not those it falls back to)."""
    from genai_prices import data_snapshot

    return [m.id for p in data_snapshot.get_snapshot().providers if p.id == provider_id for m in p.models]


def price_file_notes(catalog_root: Path, pricer: Any) -> list[str]:
    """Every note on the catalog's ``prices.yaml`` (``magsag catalog validate``'s and ``doctor``'s)."""
    return uncached_read_notes(catalog_root, pricer) + unlisted_model_notes(catalog_root, pricer)


def price_notes(catalog_root: Any, env: Any = None) -> list[str]:
    """The notes :func:`price_file_notes` makes of the catalog's ``prices.yaml`` (``magsag catalog validate``'s):
    none where its prices cannot be read, which validate lists as problems."""
    from .errors import CatalogError
    from .pricing import Pricer

    try:
        pricer = Pricer.from_catalog(catalog_root, env)
    except CatalogError:
        return []
    return price_file_notes(Path(catalog_root), pricer)
