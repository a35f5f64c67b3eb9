"""Anthropic's errors: ``{"type": "error", "error": {"type", "message"}, "request_id"}``, read by ``error.type``
first, then by what the message says where the type hides it (a spent balance, a spend limit reached, a disabled
organization)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import (
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    UnsupportedFeatureError,
)
from .http_errors import (
    body_said,
    came_with,
    error_for,
    named_quota,
    parse_retry_after,
    request_id,
    with_request_id,
)

__all__ = ["anthropic_error"]

#: a sampling setting the model refuses (temperature, top_p or top_k, on the models released after Claude Opus 4.6):
#: "`temperature` is deprecated for this model." Another target may take it, and this one the call without it
#: (``param``: see :mod:`.refused_settings`)
_REFUSED_SETTING = re.compile(
    r"`?\b(temperature|top_p|top_k)\b`? is deprecated for this model"
    # Claude Opus 4.1, Sonnet 4.5 and Haiku 4.5 take one sampler: the target's top_p goes, the call's temperature stays
    r"|temperature`? and `?(top_p)`? cannot both be specified",
    re.IGNORECASE,
)

#: a forced tool_choice (any, or a named tool) the model refuses: Claude Fable 5.1 and Mythos 5.1 take none
#: ('tool_choice: type "tool" and "any" are not supported for this model', "tool_choice forces tool use is not
#: compatible with this model"), nor does a model thinking ("Thinking may not be enabled when tool_choice forces tool
#: use"), which such a model always is. Another target may take it, and this one a JSON schema asked for in the prompt
#: (``param``: tool_choice)
_FORCED_TOOL_REFUSED = re.compile(
    r"tool_choice\b[^.]{0,80}\bnot (?:supported|compatible)|when tool_choice forces tool use", re.IGNORECASE
)
_FORCED_TOOL_FIX = "; this model takes no forced tool: send the call with tool_choice 'auto', or to another model"

#: a tool's input_schema with oneOf, anyOf or allOf at its top level, which only the Messages API refuses (400
#: "tools.0.custom.input_schema: input_schema does not support oneOf, allOf, or anyOf at the top level"): the shape zod
#: and pydantic give a union of arguments, which OpenAI and Gemini take. (magsag's own JSON tool is wrapped so as not to
#: have one: what reaches this is a tool of the caller's.) Another target may serve the call
_TOP_COMBINER_REFUSED = re.compile(r"does not support oneOf, allOf,? or anyOf at the top level", re.IGNORECASE)
_TOP_COMBINER_FIX = (
    "; Anthropic takes no tool whose input_schema has oneOf, anyOf or allOf at its top level: give the tool one object "
    "schema (its variants' fields as optional properties), or call another vendor's model"
)

#: a JSON schema as structured output (output_config.format, or the beta's output_format) that the model or the API
#: refuses: a model before Claude 4.5 whose name did not say so (a gateway's alias), a schema keyword structured outputs
#: do not take. Not the call's fault: the schema goes in the prompt instead (``param``: output_config.format)
_OUTPUT_FORMAT_REFUSED = re.compile(
    r"\boutput_config\.format\b|\boutput_format\b|\bstructured outputs?\b", re.IGNORECASE
)

#: a field the Messages API does not have, in its (pydantic's) words: "store: Extra inputs are not permitted", "tools.0.
#: custom.strict: Extra inputs are not permitted" (a target's param written for another vendor's API, a field newer
#: than the API): this target's, as Gemini's "Unknown name" and OpenAI's "Unrecognized request argument" are, and the
#: next target may take it (``param``: the field, as the API names it)
_EXTRA_INPUT = re.compile(r"^\s*(?P<field>[\w.\-]{1,200}): Extra inputs are not permitted\b")

# error.type -> (HTTP status it implies when the status itself is ambiguous)
_ERROR_TYPES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def anthropic_error(
    status: int, body: bytes, headers: Mapping[str, str], *, provider: str, model: str, where: str | None = None
) -> ProviderError:
    """``{"type": "error", "error": {"type", "message"}, "request_id"}`` -> our tree, by ``error.type`` first. The
    request's id (the ``request-id`` header, else the body's ``request_id``) is named, whatever the class. ``where``:
    where in a 200 answer the error was said (an error event, a gateway's body), which its message says in place of
    the status its type stands for (:func:`~.http_errors.came_with`)."""
    message, kind = "", None
    try:
        data = json.loads(body) if body else None
    except (ValueError, RecursionError):  # (an error body nested past the interpreter's depth: its words as they are)
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = str(data["error"].get("message") or "")
        # (a type that is no name, a broken gateway's list or object, is a type not known: looked up, it raised
        # TypeError out of the provider, a bug of ours to the caller)
        kind = said_type if isinstance(said_type := data["error"].get("type"), str) else None
        said = data.get("request_id")
        if isinstance(said, str) and said.strip() and request_id(headers) is None:
            headers = {**headers, "request-id": said}  # a proxy that dropped the header kept the body
    elif body:
        message = body_said(body, headers)
    if status < 400:  # an error event inside a 200 stream: the status its type stands for
        status = _ERROR_TYPES.get(kind or "", 500)
    cls: type[ProviderError] | None = None
    fix = ""
    extra: dict[str, Any] = {}
    # The spec's billing_error (402) is not how the API says it: a spent balance comes as 400
    # invalid_request_error "Your credit balance is too low to access the Anthropic API", and a spend limit
    # reached as 400 "You have reached your specified API usage limits. You will regain access on <date>", which
    # would stop the whole call as a bad request although the next vendor can answer it.
    low = message.lower()
    if kind == "billing_error" or "credit balance is too low" in low:
        cls = QuotaExhaustedError
    elif "reached your specified api usage limits" in low:
        cls = QuotaExhaustedError
        fix = "; the spend limit set for the organization or workspace in the Anthropic Console is reached: raise it"
    elif "organization has been disabled" in low:
        # 400 invalid_request_error (403 at times): the key's organization, not the request; another vendor may serve it
        cls = PermissionDeniedError
        fix = "; the organization of the key in ANTHROPIC_API_KEY is disabled: use a key of an active organization"
    elif status == 400 and (refused := _REFUSED_SETTING.search(message)) is not None:
        cls = UnsupportedFeatureError
        extra["param"] = (refused[1] or refused[2]).lower()
        if refused[2]:  # the pair is refused, not top_p: alone, the model takes it
            extra["beside"] = "temperature"
    elif status == 400 and _TOP_COMBINER_REFUSED.search(message):
        cls, fix = UnsupportedFeatureError, _TOP_COMBINER_FIX
    elif status == 400 and _FORCED_TOOL_REFUSED.search(message):
        cls, fix = UnsupportedFeatureError, _FORCED_TOOL_FIX
        extra["param"] = "tool_choice"
    elif status == 400 and _OUTPUT_FORMAT_REFUSED.search(message):
        cls, fix = UnsupportedFeatureError, "; the JSON schema could not be sent as structured output"
        extra["param"] = "output_config.format"
    elif status == 400 and (unknown := _EXTRA_INPUT.search(message)) is not None:
        cls = UnsupportedFeatureError
        fix = (
            f"; the Messages API has no field {unknown['field']!r}: take it out of the target's params, or leave this "
            "target out of the call"
        )
        extra["param"] = unknown["field"]
    elif kind == "overloaded_error" or status == 529:
        cls = OverloadedError
    elif kind == "timeout_error":
        cls = ProviderTimeoutError
    if cls is None:
        return error_for(status, message, headers=headers, provider=provider, model=model, code=kind, where=where)
    said = came_with(status, where)
    text = f"{provider}:{model}{said}: {message}{fix}" if message else f"{provider}:{model}{said}"
    retry_after = parse_retry_after(headers) if cls.retryable else None
    exc = cls(text, provider=provider, model=model, status=status, code=kind, retry_after=retry_after, **extra)
    if cls is QuotaExhaustedError and not fix:
        # a spent credit balance: a quota its server named, as OpenAI's insufficient_quota is, and the call's error
        # says its billing fix (the spend limit's own fix is said above)
        named_quota(exc)
    return with_request_id(exc, headers)
