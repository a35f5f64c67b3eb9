"""The catalog's price file, ``prices.yaml``: read, checked and put in the order its entries apply.

Each entry is ``provider:model`` (globs allowed; a provider alias such as ``gemini`` names its provider, an unknown
provider is refused) mapped to rates in USD per million tokens; the first entry matching a model prices it, so an
entry below one that matches all its models is refused as never applying. What the rates price, and how, is
:mod:`.pricing`'s.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .exact_money import amount_problem
from .rates import UnitPrices, bare_model

__all__ = ["MAX_RATE", "azure_deployment_type", "price_files", "read_prices", "validate_prices"]


#: the dearest rate a price may name, USD per million tokens (the dearest models cost hundreds): past it, a
#: call's cost in pico-dollars outgrows the ledger's 64-bit integers, and a larger number is a typo
MAX_RATE = 1_000_000


class _Rates(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: Decimal = Field(ge=0, le=MAX_RATE)
    output: Decimal = Field(ge=0, le=MAX_RATE)
    cache_read: Decimal | None = Field(default=None, ge=0, le=MAX_RATE)
    cache_write: Decimal | None = Field(default=None, ge=0, le=MAX_RATE)
    cache_write_1h: Decimal | None = Field(default=None, ge=0, le=MAX_RATE)
    input_audio: Decimal | None = Field(default=None, ge=0, le=MAX_RATE)
    output_audio: Decimal | None = Field(default=None, ge=0, le=MAX_RATE)
    output_image: Decimal | None = Field(default=None, ge=0, le=MAX_RATE)


#: the tier names an answer gives for the standard rate (see pricing): an entry's own rates are that tier's
_STANDARD_TIER_NAMES = ("default", "auto", "standard", "unspecified")


class _PriceEntry(_Rates):
    #: the rates of a service tier an answer may report serving the call on (OpenAI's and Azure's ``service_tier``:
    #: "flex", "priority", "scale"; Gemini's ``serviceTier``; Anthropic's ``usage.service_tier``), where they differ
    #: from the entry's own, the standard tier's: a call served on a tier the entry does not name is of unknown cost
    service_tiers: dict[str, _Rates] | None = None


def read_prices(
    catalog_dir: Path | None, env: Mapping[str, str] | None = None
) -> tuple[list[tuple[str, UnitPrices]], list[str]]:
    """``prices.yaml``, with ``${VAR}`` expanded from ``env`` (``os.environ`` when None)."""
    problems: list[str] = []
    out: list[tuple[str, UnitPrices]] = []
    if catalog_dir is None:
        return out, problems
    found = price_files(catalog_dir)
    if len(found) > 1:
        names = " and ".join(p.name for p in found)
        return out, [f"{catalog_dir}: {names} are both price files, and only one is read; keep one (prices.yaml)"]
    if not found:
        return out, problems
    path = found[0]
    from .catalog_yaml import read_yaml, yaml_kind

    data = read_yaml(path, os.environ if env is None else env, problems)
    if data is None:
        return out, problems
    if not isinstance(data, dict):
        return out, [
            f"{path}: the file holds {yaml_kind(data)}, not a mapping of 'provider:model' to prices; write one entry "
            'a line, e.g. "openai:gpt-4o": {input: 2.5, output: 10} (USD per million tokens)'
        ]
    written: list[str] = []  # each entry's key as the file writes it, in the order of ``out``
    for key, value in data.items():
        if not isinstance(key, str) or ":" not in key:
            problems.append(f"{path}: key {key!r} must be 'provider:model' (globs allowed, e.g. 'local:*')")
            continue
        as_written = key
        provider, _, model = key.partition(":")
        if not any(c in provider for c in "*?["):
            # the provider as targets name it: an alias ("gemini", "claude", "ollama") prices its provider's
            # calls, and a name no target can have would price nothing
            from .errors import ConfigError
            from .providers import canonical_provider

            try:
                provider = canonical_provider(provider)
                key = f"{provider}:{bare_model(provider, model)}"
            except ConfigError as exc:
                problems.append(f"{path}: {key}: {exc.message}")
                continue
        try:
            entry = _PriceEntry.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
                said = amount_problem(err, "USD per million tokens") or _rate_problem(err)
                if err["type"] == "extra_forbidden":  # a misspelt rate: the one meant, and the ones there are
                    from .suggest import unknown_field

                    hint = unknown_field(_PriceEntry, err["loc"])
                    meant = _rate_meant(str(err["loc"][-1]))
                    if meant is not None:  # another price list's name for it, which spelling alone may miss
                        hint = f" (did you mean {meant!r}?);{hint.partition(';')[2]}"
                    said = err["msg"] + hint
                problems.append(f"{path}: {key}.{loc}: {said}")
            continue
        standard = [tier for tier in entry.service_tiers or () if tier.lower() in _STANDARD_TIER_NAMES]
        if standard:
            problems.append(
                f"{path}: {key}.service_tiers.{standard[0]}: the {standard[0]!r} tier is billed at the standard rate, "
                "which is the entry's own input and output; write those there, and only other tiers here"
            )
            continue
        before = _shadowing(key, [pattern for pattern, _ in out])
        if before is not None:
            # first match wins: an entry below one that matches all its models prices nothing (a "local:..."
            # written under the shipped "local:*" would leave those calls at $0, unsaid)
            if out[before][0].lower() == key.lower():
                fix = "it names the same models; keep one of the two"
            else:
                fix = "the first entry that matches a model prices it; move this one above that entry"
            problems.append(
                f"{path}: {as_written}: never applies: the entry {written[before]!r} above it matches every model "
                f"it does ({fix})"
            )
            continue
        rates = entry.model_dump(exclude={"service_tiers"})
        # an answer's tier is read in lower case (OpenAI's is; Gemini's serviceTier is lowered): so is an entry's
        tiers = tuple(
            (tier.lower(), UnitPrices(**given.model_dump())) for tier, given in (entry.service_tiers or {}).items()
        )
        out.append((key, UnitPrices(**rates, service_tiers=tiers)))
        written.append(as_written)
    return out, problems


def _rate_problem(err: Mapping[str, Any]) -> str:
    """pydantic's error on a rate or a service tier's rates, said as what was written and what to write instead.
    Its own words named neither the value nor the fix ("Input should be greater than or equal to 0" of a -0.3), or
    named a class of ours ("Input should be a valid dictionary or instance of _Rates" of a tier written as 2)."""
    value, kind = err.get("input"), err["type"]
    if kind == "greater_than_equal":
        return f"{value} is negative: a rate is 0 or more (USD per million tokens; 0 for a model that costs nothing)"
    if kind in ("model_type", "dict_type"):
        shown = repr(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
        return (
            f"{shown} is not a set of rates; write a mapping of rates in USD per million tokens, "
            "e.g. {input: 0.5, output: 1.5}"
        )
    return f"{err['msg']} (USD per million tokens)"


#: what other price lists call a rate prices.yaml names otherwise (genai-prices' ``input_mtok`` is told by its suffix):
#: OpenAI's price pages' "cached input", Anthropic's usage's ``cache_creation``, OpenRouter's ``prompt`` and
#: ``completion``. The nearest spelling took "cached_input" for cache_write and "cache_creation" for cache_read.
_OTHER_NAMES = {
    "prompt": "input",
    "completion": "output",
    "cached": "cache_read",
    "cached_input": "cache_read",
    "input_cached": "cache_read",
    "cache_hit": "cache_read",
    "cache_creation": "cache_write",
    "cache_creation_input": "cache_write",
    "cache_write_5m": "cache_write",
    "cache_creation_1h": "cache_write_1h",
    "audio_input": "input_audio",
    "audio_output": "output_audio",
    "image_output": "output_image",
}


def _rate_meant(key: str) -> str | None:
    """The rate a key prices.yaml does not take stands for, as another price list names it; None when unsure."""
    name = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")
    for suffix in ("_mtok", "_tokens", "_per_million"):
        name = name.removesuffix(suffix)
    return name if name in _PriceEntry.model_fields else _OTHER_NAMES.get(name)


def _shadowing(key: str, earlier: list[str]) -> int | None:
    """The index of the first of the ``earlier`` price keys that matches every model ``key`` does: the same
    key (written under an alias, or with Gemini's ``models/``), or a glob matching ``key`` when that names
    one model. (Whether one glob covers another is not told here.) Letter case aside, as a model is matched."""
    glob = any(c in key for c in "*?[")
    key = key.lower()
    for i, pattern in enumerate(earlier):
        pattern = pattern.lower()
        if pattern == key or (not glob and fnmatch.fnmatchcase(key, pattern)):
            return i
    return None


def price_files(catalog_dir: Path) -> list[Path]:
    """The catalog's price file: ``prices.yaml``, also when named ``prices.yml`` (as the catalog's folders take
    ``.yml``) or in other letter cases (``Prices.yaml``); unread, its prices would be gone without a word."""
    try:
        return sorted(
            p for p in catalog_dir.iterdir() if p.name.lower() in ("prices.yaml", "prices.yml") and p.is_file()
        )
    except OSError:
        return []


def validate_prices(catalog_dir: Path, env: Mapping[str, str] | None = None) -> list[str]:
    problem = azure_deployment_type(os.environ if env is None else env)[1]
    return read_prices(Path(catalog_dir), env)[1] + ([problem] if problem else [])


#: the setting that says which of Azure's deployment types the resource's deployments are
AZURE_DEPLOYMENT_TYPE_ENV = "AZURE_OPENAI_DEPLOYMENT_TYPE"
#: the deployment type genai-prices' Azure rates (and OpenAI's, which it falls back to) are the prices of
GLOBAL_STANDARD = "GlobalStandard"
#: Azure's deployment types that serve calls as they come, as its API and portal name them (the SKU's name): Data Zone
#: and Regional (Standard) deployments are billed above Global ones, and provisioned ones by the hour, not the token
AZURE_DEPLOYMENT_TYPES = (
    GLOBAL_STANDARD,
    "DataZoneStandard",
    "Standard",
    "GlobalProvisionedManaged",
    "DataZoneProvisionedManaged",
    "ProvisionedManaged",
)


def azure_deployment_type(env: Mapping[str, str]) -> tuple[str, str | None]:
    """``AZURE_OPENAI_DEPLOYMENT_TYPE`` as Azure names the type (spaces, dashes, underscores and case aside: the
    portal writes "Data Zone Standard"), GlobalStandard when unset; and the problem with a value that names none."""
    given = (env.get(AZURE_DEPLOYMENT_TYPE_ENV) or "").strip()
    if not given:
        return GLOBAL_STANDARD, None
    squeezed = re.sub(r"[\s_-]+", "", given).lower()
    for known in AZURE_DEPLOYMENT_TYPES:
        if squeezed == known.lower():
            return known, None
    return GLOBAL_STANDARD, (
        f"{AZURE_DEPLOYMENT_TYPE_ENV}={given!r} is not one of Azure's deployment types; set it to one of "
        f"{', '.join(AZURE_DEPLOYMENT_TYPES)} (the deployment's type in the Azure portal), or leave it unset for "
        f"{GLOBAL_STANDARD}"
    )
