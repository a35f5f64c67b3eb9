"""A Gemini target's ``params.thinkingConfig.thinkingBudget``: checked where the target is read, and reserved.

Gemini bills a model's thoughts as output (``usageMetadata.thoughtsTokenCount``, beside ``candidatesTokenCount``:
gemini_usage). The spec writes the budget as "the number of thoughts tokens that the model should generate", an int32;
the thinking guide (https://ai.google.dev/gemini-api/docs/thinking#set-budget) gives each 2.5 model its range besides
-1 (dynamic thinking) and 0 (none), says a model "might overflow or underflow" the budget, and writes it apart from
``maxOutputTokens``; answers on the wire have been seen counting thoughts against ``maxOutputTokens``. A reservation
holds the larger reading: ``max_tokens`` for the answer and the budget asked for the thoughts on top
(:func:`thinking_tokens_beyond_max_tokens`). Read unchecked, a budget of -5, 1.5, "high" or 10**30 went to the wire,
and a positive one was reserved as if the thoughts fitted in ``max_tokens``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .text import said_number
from .types import Target

__all__ = ["thinking_budget_refusal", "thinking_tokens_beyond_max_tokens"]

#: ThinkingConfig.thinkingBudget is an int32 (both specs' format)
THINKING_BUDGET_AT_MOST = 2**31 - 1
#: the budget that leaves how long to think to the model
DYNAMIC = -1
#: the most thinkingBudget each Gemini 2.5 model takes (the thinking guide's table, which neither spec has; the least,
#: 128 for 2.5 Pro and 512 for Flash-Lite, the API refuses with the range, a refusal of that target alone); longest
#: prefix first
_MOST_BY_MODEL = (("gemini-2.5-flash-lite", 24576), ("gemini-2.5-flash", 24576), ("gemini-2.5-pro", 32768))
#: thinkingConfig by its JSON and its proto name, and thinkingBudget the same (Google's parser reads either)
_CONFIG_NAMES = ("thinkingConfig", "thinking_config")
_BUDGET_NAMES = ("thinkingBudget", "thinking_budget")
_FIX = "give a whole number of tokens (e.g. 1024), 0 for no thinking or -1 to let the model choose"


def _budget(config: Any) -> tuple[str, Any] | None:
    """(the budget's name, its value) in a ``thinkingConfig`` value; None without one."""
    if not isinstance(config, Mapping):
        return None
    for name in _BUDGET_NAMES:
        if config.get(name) is not None:
            return name, config[name]
    return None


def thinking_budget_refusal(params: Mapping[str, Any], model: str | None = None) -> str | None:
    """Why the ``thinkingConfig`` in a target's ``params`` cannot be sent to ``model`` (None: not known, only the
    spec's bounds are checked), with the fix; None when it can be."""
    # Both names of one field: the body carries one of them (the provider's last), the reservation read the other
    # (thinkingConfig's budget 0 reserved nothing while thinking_config's 20,000 went to the wire)
    given = [name for name in _CONFIG_NAMES if params.get(name) is not None]
    if len(given) > 1:
        return _both_names("params", given)
    for config_name in _CONFIG_NAMES:
        config = params.get(config_name)
        if config is None:
            continue
        if not isinstance(config, Mapping):
            return (
                f"params.{config_name} must be a mapping such as {{thinkingBudget: 1024}} or {{thinkingLevel: LOW}}, "
                f"got a {type(config).__name__}"
            )
        named = [name for name in _BUDGET_NAMES if config.get(name) is not None]
        if len(named) > 1:
            return _both_names(f"params.{config_name}", named)
        found = _budget(config)
        if found is None:
            continue
        name, value = found
        where = f"params.{config_name}.{name}"
        if not isinstance(value, int) or isinstance(value, bool):
            shown = said_number(value) if isinstance(value, float) else f"a {type(value).__name__}"
            return f"{where} must be a whole number of thinking tokens, not {shown}: {_FIX}"
        if value < DYNAMIC:
            return f"{where} is {said_number(value)}: a budget is no fewer than 0 tokens (-1 alone is dynamic); {_FIX}"
        if value > THINKING_BUDGET_AT_MOST:
            return (
                f"{where} is {said_number(value)}, past {THINKING_BUDGET_AT_MOST:,} (the spec's 32-bit integer), "
                f"and it is reserved as output tokens; {_FIX}"
            )
        most = _most_for(model)
        if most is not None and value > most:
            return (
                f"{where} is {said_number(value)}, past {most:,}, the most {model} thinks (Gemini's thinking guide); "
                f"give at most {most:,}, or -1 to let the model choose"
            )
    return None


def _both_names(where: str, names: list[str]) -> str:
    """The refusal of ``where`` naming one field twice, by its JSON and its proto name."""
    return (
        f"{where} gives both {names[0]} and {names[1]}, two names of one field (Gemini's JSON and proto names), "
        f"and only one of them would be sent; give {names[0]} alone"
    )


def _most_for(model: str | None) -> int | None:
    if model is None:
        return None
    for prefix, most in _MOST_BY_MODEL:
        if model.startswith(prefix):
            return most
    return None


def thinking_tokens_beyond_max_tokens(target: Target) -> int:
    """The thoughts a call to Gemini ``target`` may be billed for beyond ``max_tokens``, as its reservation holds them:
    the positive ``thinkingBudget`` its params ask (see the module's note); 0 without one, for no thinking (0) and for
    dynamic thinking (-1), whose thoughts ``maxOutputTokens`` bounds on the wire and no number asked bounds apart."""
    if not target.params:
        return 0
    for config_name in _CONFIG_NAMES:
        found = _budget(target.param(config_name))
        if found is not None:
            value = found[1]
            # (checked where the target was read: a whole number of -1 to the int32's most)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
    return 0
