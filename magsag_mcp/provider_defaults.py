"""Routing's ``provider_defaults``: the model a vendor provider serves when ``MAGSAG_PROVIDER`` (or a call naming
only a provider) names it and neither the route nor the default chain names a model of its own.

    provider_defaults:
      openai: gpt-4o
      anthropic: claude-3-5-sonnet-20241022
      google: [gemini-1.5-pro, gemini-1.5-flash]     # a chain of its own models, tried in order

A hosting provider (azure, compat, local) serves the chain's model names as they are, so it takes none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .targets import _TARGET_KEYS, infer_provider, parse_target, provider_prefix
from .types import Target

__all__ = ["EXAMPLE_MODELS", "read_provider_defaults"]

#: a model of each vendor, for the messages that say what to write
EXAMPLE_MODELS = {"openai": "gpt-4o", "anthropic": "claude-3-5-sonnet-20241022", "google": "gemini-1.5-pro"}


def read_provider_defaults(value: Any, where: str, problems: list[str]) -> dict[str, tuple[str, list[Target]]]:
    """``provider_defaults`` as a routing file writes it (``where``: ``FILE: provider_defaults``): each provider (by
    its canonical name) with the key it was written under and its targets. What is wrong is added to ``problems``
    with its key path, and that entry left out."""
    from .providers import canonical_provider, hosts_other_models

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(
            f"{where}: a mapping of a provider to its model is expected, e.g. provider_defaults: "
            f"{{google: gemini-1.5-pro}}; got {type(value).__name__}"
        )
        return {}
    out: dict[str, tuple[str, list[Target]]] = {}
    for key, spec in value.items():
        at = f"{where}.{key}"
        try:
            provider = canonical_provider(str(key))
        except ConfigError as exc:
            problems.append(f"{at}: {exc.message}")
            continue
        if hosts_other_models(provider):
            problems.append(
                f"{at}: {provider} serves the chain's model names as they are (MAGSAG_PROVIDER={provider} runs the "
                "routed models there), so a model named for it here would never be used; provider_defaults names "
                "a model for a provider that serves only its own (openai, anthropic, google): remove this entry"
            )
            continue
        if provider in out:
            problems.append(
                f"{at}: {out[provider][0]!r} and {str(key)!r} both name provider {provider}; keep one of the two"
            )
            continue
        items = spec if isinstance(spec, list) else [] if spec is None else [spec]
        if not items:
            example = EXAMPLE_MODELS.get(provider, "MODEL")
            problems.append(f"{at}: names no model; write the {provider} model to use, e.g. {key}: {example}")
            continue
        targets = []
        for i, item in enumerate(items):
            try:
                targets.append(_own_target(provider, item))
            except ConfigError as exc:
                problems.append(f"{at}.{i}: {exc.message}" if isinstance(spec, list) else f"{at}: {exc.message}")
        if len(targets) == len(items):
            out[provider] = (str(key), targets)
    return out


def _own_target(provider: str, item: Any) -> Target:
    """``item`` (a model, ``provider:model`` or a target mapping) as a target of ``provider``, refused when it names
    another provider or another vendor's model: ``anthropic:gpt-4o`` could never succeed."""
    if isinstance(item, str):
        text = item.strip()
        spec: Any = text if provider_prefix(text) is not None else {"provider": provider, "model": text}
    elif isinstance(item, Mapping):
        spec = item if item.get("provider") or not item.keys() <= _TARGET_KEYS else {**item, "provider": provider}
    else:
        got = "nothing" if item is None else type(item).__name__
        raise ConfigError(
            f"a model name (e.g. {EXAMPLE_MODELS.get(provider, 'MODEL')}) or a target mapping is expected; got {got}"
        )
    target = parse_target(spec)
    if target.provider != provider:
        raise ConfigError(
            f"{target.label} is served by {target.provider}, not {provider}; name {_a(provider)} model, "
            f"e.g. {EXAMPLE_MODELS.get(provider, 'MODEL')}"
        )
    try:
        vendor = infer_provider(target.model)
    except ConfigError:
        return target  # a name no prefix tells the provider of (a new model): the operator's word for it
    if vendor != provider:
        raise ConfigError(
            f"{target.model!r} is {_a(vendor)} model, which {provider} does not serve; name {_a(provider)} model, "
            f"e.g. {EXAMPLE_MODELS.get(provider, 'MODEL')}"
        )
    return target


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"
