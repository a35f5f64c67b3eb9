"""What a target's ``params`` may hold: the vendor fields they pass through, checked before any call is sent. Refused
here: a field the router writes itself (:data:`ROUTER_FIELDS`), one the vendor would bill beyond what magsag can
price or reserve (:data:`UNPRICED_PARAMS`, a premium service tier, an audio answer, Anthropic's fast mode), and a
wrong value of a param the router reads itself (``api``, ``capabilities``, ``max_tokens``, ``stop``,
``temperature``) or that budgets count (``prediction``: see predictions.py). Parsing a target, and its credential
params, is in targets.py, which re-exports these."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .gemini_thinking import thinking_budget_refusal
from .max_tokens_limit import max_tokens_refusal
from .predictions import check_prediction
from .text import of_length, said_number

#: request fields the router writes itself. Params pass extra vendor fields (top_p, seed, ...) through;
#: they must not replace these, or the vendor would get a model, an output limit or a fan-out (n) that
#: governance and the budget reservation never saw.
ROUTER_FIELDS = frozenset(
    {
        "model", "messages", "input", "instructions", "contents", "system", "systemInstruction",
        "system_instruction", "max_completion_tokens", "max_output_tokens", "maxOutputTokens", "stream",
        "stream_options", "tools", "tool_choice", "toolConfig", "tool_config", "functions", "function_call",
        "response_format", "text", "generationConfig", "generation_config", "n", "best_of", "candidateCount",
        "candidate_count", "responseMimeType", "response_mime_type", "responseSchema", "response_schema",
        "responseJsonSchema", "response_json_schema", "stopSequences", "stop_sequences",
        # Gemini's GenerationConfig.responseFormat (the discovery document of 2026-05): the answer's MIME type and
        # JSON schema again (its text), and an audio answer's format; at the top of the body, where a target's params
        # go, Gemini refuses it (400 "Unknown name"), and so does OpenAI
        "responseFormat",
    }
)  # fmt: skip


_GATEWAY_FALLBACKS = (
    "a gateway (OpenRouter, a LiteLLM proxy) would answer from these models when the one asked fails: models no policy "
    "checked, billed at prices the budget reservation never saw; name fallbacks in model_config.fallbacks, which "
    "governance checks"
)

#: params that would make the vendor bill what magsag can neither price nor reserve for
UNPRICED_PARAMS = {
    "previous_response_id": "the Responses API would bill the earlier conversation as input, which the budget "
    "reservation cannot see (and a fallback to another provider could not carry); send the history as messages",
    "conversation": "the Responses API would bill the stored conversation as input, which the budget reservation "
    "cannot see (and a fallback to another provider could not carry); send the history as messages",
    "prompt": "the Responses API would bill the stored prompt template's messages as input, which the budget "
    "reservation cannot see (and a fallback to another provider could not carry); send them as messages",
    "cachedContent": "Gemini would add the cached context to the prompt, which the budget reservation cannot see "
    "(and a fallback to another provider could not carry); send it as part of the request",
    "cached_content": "Gemini would add the cached context to the prompt, which the budget reservation cannot see "
    "(and a fallback to another provider could not carry); send it as part of the request",
    # a gateway's own fallbacks, read from the body (OpenRouter's model routing, a LiteLLM proxy's request fallbacks):
    # the call would be answered by a model no policy checked, and priced and reserved as the one asked
    "models": _GATEWAY_FALLBACKS,
    "fallbacks": _GATEWAY_FALLBACKS,
}
#: OpenAI service tiers billed above the standard rate that budget reservations price a call at. "fast"
#: (Chat Completions and Responses) is priority processing under another name: the answer reports
#: "priority"; "ultrafast" (Responses) is an access-controlled tier dearer still.
#: Gemini's ``serviceTier`` ("standard", "flex", "priority") names its premium tier "priority" too.
_PREMIUM_TIERS = frozenset({"priority", "scale", "fast", "ultrafast"})


#: Anthropic's ``speed`` is a field of its beta Messages API alone (BetaCreateMessageParams, with the header
#: ``anthropic-beta: fast-mode-2026-02-01``), which magsag does not send: passed through, the API refused the field
#: after the call was sent, and "fast" is billed at premium rates genai-prices does not list, which budgets would
#: reserve and record at the standard ones
_ANTHROPIC_SPEED = (
    "params.speed {value}: Anthropic takes speed only in its fast-mode beta (anthropic-beta: fast-mode-2026-02-01), "
    "which magsag does not send, and bills fast mode at premium rates that no price here knows, so budgets would count "
    "too little; leave speed out (calls run at the standard speed)"
)

#: the longest value a refusal quotes back: a param's value may be any size, and a 10 KB ``speed`` was written
#: whole into the error, the server's log line and catalog validate's list of problems
QUOTED_AT_MOST = 100


def _quoted(value: Any) -> str:
    """``value`` as a refusal quotes it: its repr, or past :data:`QUOTED_AT_MOST` characters its length alone."""
    try:
        shown = repr(value)
    except ValueError:  # (an int past 4,300 digits, or one in it: str() refuses to write one)
        if isinstance(value, int):
            return said_number(value)
        return f"(a {type(value).__name__} holding a number of thousands of digits)"
    if len(shown) <= QUOTED_AT_MOST:
        return shown
    if isinstance(value, str):
        return of_length(value)
    return f"(a {type(value).__name__} of {len(shown):,} characters as written)"


def speed_refused(value: Any) -> str:
    """The refusal of an Anthropic target's ``params.speed`` of ``value`` (:data:`_ANTHROPIC_SPEED`)."""
    return _ANTHROPIC_SPEED.format(value=_quoted(value))


def _check_params(params: Mapping[str, Any]) -> None:
    # (a Gemini thinkingConfig's budget: reserved as output, and sent; its model's own most: see parse_target)
    if (refusal := thinking_budget_refusal(params)) is not None:
        raise ConfigError(refusal)
    for key, value in params.items():
        if key in UNPRICED_PARAMS:
            raise ConfigError(f"params.{key}: {UNPRICED_PARAMS[key]}")
        if (key == "audio" and value is not None) or (key == "modalities" and value not in (None, ["text"])):
            raise ConfigError(
                f"params.{key}: an audio answer is billed at audio rates, several times the text ones, and magsag "
                "returns only the text; leave out 'audio' and 'modalities' (or set modalities: ['text'])"
            )
        # Gemini's JSON takes an enum's number for its name (proto3's mapping): the checks below read names, and a
        # number passed them (serviceTier 3, responseModalities [3]: priority and AUDIO in the enums' order)
        if key in _GEMINI_ENUM_PARAMS and not _names(value):
            raise ConfigError(
                f"params.{key} must give {_GEMINI_ENUM_PARAMS[key]} by name, got {_quoted(value)}: a number is an "
                "enum's, which may name a premium tier or an audio answer"
            )
        if key in ("responseModalities", "response_modalities") and "AUDIO" in str(value).upper():
            raise ConfigError(
                f"params.{key}: an audio answer is billed at audio rates, several times the text ones, and magsag "
                "returns only the text; leave out AUDIO (e.g. responseModalities: ['TEXT'])"
            )
        if key in ("service_tier", "serviceTier") and value is not None:
            cheaper = "'standard' or 'flex'" if key == "serviceTier" else "'auto', 'default' or 'flex'"
            if not isinstance(value, str):  # (a list looked up among the tiers raised TypeError: unhashable)
                raise ConfigError(f"params.{key} must be a tier's name such as {cheaper}, got {_quoted(value)}")
            if value in _PREMIUM_TIERS:
                raise ConfigError(
                    f"params.{key} {_quoted(value)} is billed above the standard rate magsag reserves budget at, "
                    f"so budgets would count too little; use {cheaper}, or leave it out"
                )
        if key == "background" and value:
            raise ConfigError(
                "params.background: the Responses API would answer at once with a queued response and generate "
                "the answer later (billed all the same), which magsag never fetches; leave it out (a long answer "
                "is streamed instead)"
            )
        if key in ("generationConfig", "generation_config"):
            raise ConfigError(
                f"params.{key} would replace the generationConfig magsag writes (maxOutputTokens, which budgets "
                "reserve, and the response schema); put its other settings at the top of params instead "
                "(e.g. thinkingConfig: {thinkingBudget: 0}, seed: 7, topP: 0.9): they are sent inside generationConfig"
            )
        if key in ROUTER_FIELDS:
            raise ConfigError(
                f"params.{key} would replace a field magsag sets itself (and that governance and budgets "
                "check); set the model, max_tokens, stop, tools, response_format or stream through the target "
                "or the call's model_config instead"
            )
        if key == "prediction" and value is not None:
            # (its tokens the answer does not use are billed as output past max_tokens: budgets count them, from its
            # size: see predictions.prediction_tokens)
            check_prediction(value)
        if key == "max_tokens" and (refusal := max_tokens_refusal(value, "params.max_tokens")) is not None:
            raise ConfigError(refusal)
        if key == "stop" and value is not None and not _is_stop(value):
            raise ConfigError(
                f"params.stop must be a string or a list of non-empty strings, e.g. ['\\n\\n'], got {_quoted(value)}"
            )
        if key in _NUMBER_RANGES and (refusal := _out_of_range(key, value)) is not None:
            raise ConfigError(refusal)
        # The two params the router reads itself: a wrong value would be ignored without a word.
        if key == "api" and value not in API_CHOICES:
            raise ConfigError(
                f"params.api must be one of {list(API_CHOICES)} (the OpenAI API to call), got {_quoted(value)}"
            )
        if key == "capabilities":
            _check_capabilities(value)

    # any number anywhere in them, a vendor param the router passes through: one JSON cannot carry or no vendor reads
    if (refusal := _unsendable_number(params)) is not None:
        raise ConfigError(refusal)


#: the numeric params whose range the vendors' specs that have them write alike: (least, most, whole, what it is).
#: temperature 0 to 2 (OpenAI's; Gemini's "[0.0, 2.0]"; Anthropic's 0 to 1 within it), top_p a probability, top_k and
#: seed whole numbers (top_k Anthropic's non-negative, vLLM's -1 for none, Gemini's int32; a seed OpenAI's int64).
#: Read as given, 10**5000 raised ValueError where the refusal quoted it: a bug's error in place of the fix
_INT64_MOST = 2**63 - 1
_NUMBER_RANGES: dict[str, tuple[float, float, bool, str]] = {
    "temperature": (0, 2, False, "a number between 0 and 2"),
    "top_p": (0, 1, False, "a number between 0 and 1 (the probability mass sampled from)"),
    "topP": (0, 1, False, "a number between 0 and 1 (the probability mass sampled from)"),
    "top_k": (-1, 2**31 - 1, True, "a whole number of tokens, e.g. 40 (-1: none, as vLLM takes it)"),
    "topK": (0, 2**31 - 1, True, "a whole number of tokens of 0 or more, e.g. 40"),
    "seed": (-(2**63), _INT64_MOST, True, "a whole number of at most 64 bits, e.g. 7"),
}


def _out_of_range(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the numeric param ``key`` (:data:`_NUMBER_RANGES`), quoted by its size where it is
    huge (said_number); None when it can be."""
    least, most, whole, what = _NUMBER_RANGES[key]
    kinds = (int,) if whole else (int, float)
    if value is None:
        return None
    if not isinstance(value, kinds) or isinstance(value, bool) or not least <= value <= most:
        return f"params.{key} must be {what}, got {_said(value)}"
    return None


def _said(value: Any) -> str:
    return said_number(value) if isinstance(value, int | float) and not isinstance(value, bool) else _quoted(value)


def _key_said(key: Any) -> str:
    """A mapping's key in a refusal's path: as written, or a long one by its length."""
    if isinstance(key, str):
        return key if len(key) <= QUOTED_AT_MOST else f"(a key {of_length(key)})"
    return _quoted(key)


def _unsendable_number(params: Mapping[str, Any]) -> str | None:
    """Why a number in ``params``, at any depth (a vendor param passed through: frequency_penalty, logit_bias's
    values, a Gemini speechConfig's), cannot be sent: NaN or an infinity, which JSON has no number for (Python's json
    wrote NaN and Infinity, no JSON, and the vendor refused the call after it was admitted), or an integer past 64
    bits, which no vendor's integer holds (past 4,300 digits, writing the body raised ValueError); None when none is."""
    stack: list[tuple[str, Any]] = [("params", dict(params))]
    while stack:
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return (
                f"{where} is {value!r}: JSON has no number for NaN or an infinity, so no request can carry it; give a "
                "finite number"
            )
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value <= _INT64_MOST:
            return (
                f"{where} is {said_number(value)}, past what a 64-bit integer holds ({_INT64_MOST:,}), the most any "
                "vendor reads; give a smaller number"
            )
        if isinstance(value, Mapping):
            for k, v in value.items():
                # (a key is written as text: an integer key of thousands of digits raised ValueError out of the
                # refusal's path, and no body can carry one; a long key is said by its length)
                if isinstance(k, int) and not isinstance(k, bool) and not -(2**63) <= k <= _INT64_MOST:
                    return (
                        f"{where} has a key of {said_number(k)}, past what a 64-bit integer holds; give a smaller one"
                    )
                stack.append((f"{where}.{_key_said(k)}", v))
        elif isinstance(value, list | tuple):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
    return None


#: Gemini's params whose values are enums, and what their names are
_GEMINI_ENUM_PARAMS = {
    "serviceTier": "the tier ('standard' or 'flex')",
    "service_tier": "the tier ('standard' or 'flex'; OpenAI's 'auto' or 'default')",
    "responseModalities": "the modalities (e.g. ['TEXT'])",
    "response_modalities": "the modalities (e.g. ['TEXT'])",
}


def _names(value: Any) -> bool:
    """Whether ``value`` names enum values (None, a text, or a list of texts), not their numbers."""
    if value is None or isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_stop(value: Any) -> bool:
    """Stop sequences as a call gives them (``call_request._stop``): a string, or a list of non-empty ones."""
    items = [value] if isinstance(value, str) else value
    return isinstance(items, list) and all(isinstance(x, str) and x for x in items)


#: ``params.api``: which OpenAI-format API a target is called with
API_CHOICES = ("chat", "responses")


def _check_capabilities(value: Any) -> None:
    """``params.capabilities``: what a target's server lacks (``providers.capabilities.Capabilities``)."""
    from .providers.capabilities import CAPABILITY_NAMES

    if not isinstance(value, Mapping):
        raise ConfigError(f"params.capabilities must be a mapping such as {{tools: false}}, got {_quoted(value)}")
    for name, flag in value.items():
        if name not in CAPABILITY_NAMES:
            raise ConfigError(
                f"params.capabilities.{_key_said(name)} is not a capability; known: {sorted(CAPABILITY_NAMES)}"
            )
        if not isinstance(flag, bool):
            raise ConfigError(f"params.capabilities.{name} must be true or false, got {_quoted(flag)}")
