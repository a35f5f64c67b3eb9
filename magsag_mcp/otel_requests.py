"""What an attempt's request asked of the model, in the GenAI semantic conventions' ``gen_ai.request.*`` attributes,
read from the JSON body it was sent with (:attr:`~.records.AttemptRecord.sent`), not from the call's request: a
setting a model refuses is fitted before it goes (OpenAI's reasoning models take no temperature and no stop
sequences, the Responses API no ``max_output_tokens`` below 16, a setting a model answered 400 for is sent again
without it), and the span says what the model was sent, as the call's warnings say what was changed.

Each wire names the settings its own way; the names do not collide across them, so one table reads every body:
Chat Completions (``max_tokens`` or ``max_completion_tokens``, ``stop``, ...), the Responses API
(``max_output_tokens``), Anthropic's Messages (``stop_sequences``, ``top_k``) and Gemini's ``generationConfig``
(``maxOutputTokens``, ``topP``, ``stopSequences``, ...). Read only where a call is traced, once it has ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: a body's field -> the conventions' attribute and the type it takes ("int", "double", "strings")
_FIELDS: dict[str, tuple[str, str]] = {
    # Chat Completions, the Responses API, Anthropic's Messages (and the compat servers that speak them)
    "max_tokens": ("gen_ai.request.max_tokens", "int"),
    "max_completion_tokens": ("gen_ai.request.max_tokens", "int"),
    "max_output_tokens": ("gen_ai.request.max_tokens", "int"),
    "temperature": ("gen_ai.request.temperature", "double"),
    "top_p": ("gen_ai.request.top_p", "double"),
    "top_k": ("gen_ai.request.top_k", "double"),
    "stop": ("gen_ai.request.stop_sequences", "strings"),
    "stop_sequences": ("gen_ai.request.stop_sequences", "strings"),
    "seed": ("gen_ai.request.seed", "int"),
    "frequency_penalty": ("gen_ai.request.frequency_penalty", "double"),
    "presence_penalty": ("gen_ai.request.presence_penalty", "double"),
    # Gemini's generateContent, inside generationConfig
    "maxOutputTokens": ("gen_ai.request.max_tokens", "int"),
    "topP": ("gen_ai.request.top_p", "double"),
    "topK": ("gen_ai.request.top_k", "double"),
    "stopSequences": ("gen_ai.request.stop_sequences", "strings"),
    "presencePenalty": ("gen_ai.request.presence_penalty", "double"),
    "frequencyPenalty": ("gen_ai.request.frequency_penalty", "double"),
}


def sent_settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """The conventions' ``gen_ai.request.*`` attributes of what ``body`` sent, each of the type the conventions give
    it; a value of another type (a vendor's own parameter under a name the table knows) is not the conventions'."""
    found: dict[str, Any] = {}
    # set "if and only if the request is streaming" (the conventions: unset, it was not): Chat Completions', the
    # Responses API's and Anthropic's "stream": true, dropped from a body sent again to a server that refused it
    if body.get("stream") is True:
        found["gen_ai.request.stream"] = True
    config = body.get("generationConfig")
    for fields in (body, config) if isinstance(config, Mapping) else (body,):
        for name, value in fields.items():
            known = _FIELDS.get(name)
            if known is None:
                continue
            attribute, kind = known
            converted = _converted(value, kind)
            if converted is not None:
                found[attribute] = converted
    return found


def _converted(value: Any, kind: str) -> Any:
    if isinstance(value, bool):  # (an int to Python, never a setting's number)
        return None
    if kind == "strings":
        if isinstance(value, str):  # (Chat Completions takes one stop sequence as a string)
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return list(value)
        return None
    if kind == "int":
        return value if isinstance(value, int) else None
    return float(value) if isinstance(value, int | float) else None
