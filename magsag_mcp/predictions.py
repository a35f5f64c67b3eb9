"""Chat Completions' Predicted Outputs (a target's ``params.prediction``): checked as the spec writes it, sent only
where the wire format has the field, and counted by budgets.

The spec's ``PredictionContent`` is ``{"type": "content", "content": <a string, or a non-empty array of text parts>}``.
The prediction's tokens the answer does not use are billed as completion tokens beyond ``max_tokens``
(``usage.completion_tokens_details.rejected_prediction_tokens``: "counted in the total completion tokens for purposes
of billing"), so a budget reservation counts the prediction's tokens as output on top of ``max_tokens``
(:func:`prediction_tokens`), bounded from its size by the rule the prompt's tokens are (:func:`tokens_at_most`). Both
accepted and rejected prediction tokens are inside ``completion_tokens``, which is priced as it is billed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .text import has_surrogate
from .types import Target

#: the example a refusal shows of a prediction as the spec writes it
_EXAMPLE = "{type: content, content: '<the text the answer is expected to repeat>'}"


def tokens_at_most(utf8_bytes: int) -> int:
    """A safe over-estimate of the tokens of text of ``utf8_bytes`` bytes, without a tokenizer: half its UTF-8 byte
    count, plus 8. English runs about four bytes per token and CJK about three, so this errs high, which is the right
    way for a budget reservation to err (the prompt's rule, :func:`~magsag_mcp.call_request.estimate_input_tokens`,
    and a prediction's)."""
    return utf8_bytes // 2 + 8


def check_prediction(value: Any) -> None:
    """``params.prediction`` as the spec's ``PredictionContent`` writes it, field by field; ConfigError naming the
    field that is wrong and how to write it."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"params.prediction must be a mapping such as {_EXAMPLE}, got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in ("type", "content"))
    if unknown:
        raise ConfigError(f"params.prediction takes type and content alone, e.g. {_EXAMPLE}; unknown: {unknown}")
    if value.get("type") != "content":
        raise ConfigError(
            f"params.prediction.type must be 'content' (the only type Chat Completions takes), got "
            f"{_short(value.get('type'))}"
        )
    content = value.get("content")
    if has_surrogate(content):
        # (its size, which budgets count, is read from its UTF-8, which such a text has none of; nor could it be sent)
        raise ConfigError(
            "params.prediction.content holds an unpaired UTF-16 surrogate (half of a character, as text cut by UTF-16 "
            "units leaves it), which no request can carry; give the text whole"
        )
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise ConfigError(
            "params.prediction.content must be the predicted text, or a non-empty list of text parts such as "
            f"[{{type: text, text: '...'}}], got {_short(content)}"
        )
    for i, part in enumerate(content):
        where = f"params.prediction.content[{i}]"
        if not isinstance(part, Mapping) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ConfigError(f"{where} must be a text part such as {{type: text, text: '...'}}, got {_short(part)}")
        extra = sorted(str(key) for key in part if key not in ("type", "text"))
        if extra:
            # (the spec's text part takes a prompt_cache_breakpoint too, which marks a prompt's prefix: a prediction is
            # no prompt, and what a cache write there would bill no reservation counts)
            raise ConfigError(f"{where} takes type and text alone, e.g. {{type: text, text: '...'}}; unknown: {extra}")


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 100 else f"(a {type(value).__name__} of {len(shown):,} characters as written)"


def prediction_bytes(value: Any) -> int:
    """The UTF-8 size of a checked prediction's text (its parts' texts together)."""
    content = value["content"]
    if isinstance(content, str):
        return len(content.encode())
    return sum(len(part["text"].encode()) for part in content)


def prediction_tokens(target: Target) -> int:
    """The most output tokens ``target``'s ``params.prediction`` may be billed for beyond ``max_tokens`` (its tokens
    the answer does not use); 0 without one."""
    if not target.params:  # (most targets: no params to look in)
        return 0
    value = target.param("prediction")
    if value is None:
        return 0
    return tokens_at_most(prediction_bytes(value))


def refuse_unsent_prediction(target: Target) -> None:
    """ConfigError (:func:`unsent_prediction`) when ``target`` has a prediction its API has no field for."""
    why = unsent_prediction(target)
    if why is not None:
        raise ConfigError(why)


def unsent_prediction(target: Target) -> str | None:
    """Why ``target``'s ``params.prediction`` cannot be sent, where the API it is called with has no ``prediction``
    field (the Responses API, Anthropic's Messages, Gemini); None where it has, or without one. Said before anything
    is sent, rather than left to the vendor's 400 (or to a server that drops a field it does not know, while budgets
    reserve for it): parsing a target asks, and so does the cascade of a target MAGSAG_PROVIDER swapped in."""
    from .providers import takes_prediction, uses_responses

    if not target.params or target.param("prediction") is None or takes_prediction(target):
        return None
    if target.provider == "local":
        why, fix = "is called with the Responses API first, which has no prediction field", "set params.api: chat"
    elif uses_responses(target):
        why = "is called with the Responses API, which has no prediction field"
        fix = "set params.api: chat where the model is served by Chat Completions"
    else:
        why, fix = f"is called with {target.provider}'s own API, which has no prediction field", "leave prediction out"
    return (
        f"params.prediction: {target.label} {why}; Predicted Outputs are a Chat Completions field (OpenAI, Azure "
        f"OpenAI, compatible and local servers called with Chat Completions): {fix}"
    )
