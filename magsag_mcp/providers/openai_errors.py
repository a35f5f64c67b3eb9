"""OpenAI's error bodies, ``{"error": {"message", "type", "param", "code"}}``, as :mod:`magsag_mcp.errors`: shared by
Chat Completions and the Responses API, and by the servers that copy them (Azure's, vLLM's, LM Studio's, FastAPI's
``{"detail": ...}``)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import (
    BadRequestError,
    ContextTooLongError,
    InvalidOutputError,
    ModelNotFoundError,
    ProviderError,
    UnsupportedFeatureError,
    excerpt,
)
from ..transport import HttpResponse
from .content_filters import inner_error_said
from .http_errors import body_said, error_for, parse_retry_after
from .rate_limit_waits import until_unix_time
from .target_refusals import says_no_such_route


def openai_error(response: HttpResponse, *, provider: str, model: str, where: str | None = None) -> ProviderError:
    """``{"error": {"message", "type", "param", "code"}}``: shared by Chat Completions and Responses. ``where``: where
    in a 2xx answer the error was said (``response`` then holds the status it stands for), which its message says in
    place of that status (:func:`~.http_errors.came_with`)."""
    message, code, param, detail = "", None, None, None
    headers = response.headers
    try:
        body = response.json()
    except ProviderError:
        body = None
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            said = err.get("message")
            if isinstance(said, (dict, list)):  # Mistral's: {"message": {"detail": [{"type", "loc", "msg"}]}}
                detail, said = said.get("detail", said) if isinstance(said, dict) else said, None
            message = str(said or "")
            code = err.get("code") or err.get("type")
            param = err.get("param") if isinstance(err.get("param"), str) else None
            code = str(code) if code is not None else None
            message, code = inner_error_said(err, message, code)  # Azure's: which content filters fired
            metadata = err.get("metadata")
            if isinstance(metadata, dict):  # (a gateway's, OpenRouter's: both read nothing else; most errors lack it)
                message, code, param = _upstream_said(metadata, message, code, param)
                headers = _with_gateway_wait(metadata, headers)
        elif isinstance(err, str):
            message = err
        elif isinstance(err, list):  # a zod-validated server's issues (Venice's): [{"code", "path", "message"}]
            detail = err
        if not message and detail is None:  # FastAPI-based servers: {"detail": "..."} or [{"loc", "msg"}]
            detail = body.get("detail")
        if not message and detail is not None:
            message = _fastapi_detail(detail)
    else:
        message = body_said(response.body, headers)
    # (both read only a list of a server's problems: most errors have none, and are not walked)
    forbidden = (_forbidden_field(detail) or _unrecognized_key(detail)) if isinstance(detail, list) else None
    if forbidden is None and response.status in (400, 422):
        forbidden = _unknown_field_named(message, param)
    if forbidden is not None and param is None:
        param = forbidden[0]
    exc = error_for(response.status, message, headers=headers, provider=provider, model=model, code=code, where=where)
    if param:
        exc.details["param"] = excerpt(param, 200)  # the field the API refused, as it named it (redacted, then cut)
    # (_prompt_text takes a param of None for the prompt's: it is named here)
    too_long = code == "string_above_max_length" and isinstance(exc, ContextTooLongError)
    if too_long and param is not None and not _prompt_text(param):
        # A field longer than the API takes for it (a tool's description over 1,024 characters, a name over 64, a
        # metadata value over 512), not the prompt's size: no larger window takes it, and the caller must shorten it.
        # Read as "context too long", the call went on to each larger window, refused alike, and failed as that.
        said = f"{exc.message}; shorten {excerpt(param, 200)}"
        return BadRequestError(said, provider=provider, model=model, status=response.status, **exc.details)
    if response.status == 400 and code in _GENERATION_FAILED:
        # Groq checks what the model wrote before it answers: a tool call or JSON it could not read is the model's
        # failure, generated (and maybe billed), not the request's, and another target may write it right
        said = f"{exc.message}; the model wrote {_GENERATION_FAILED[code]} the server could not read"
        return InvalidOutputError(said, provider=provider, model=model, status=400, maybe_billed=True, **exc.details)
    fix = None
    if isinstance(exc, ModelNotFoundError) and _RESPONSES_ONLY_SAID.search(message):
        # "This model is only supported in v1/responses and not in v1/chat/completions.": no wrong name or URL
        fix = "call it through the Responses API: set params: {api: responses} on the target"
    elif response.status == 400 and _CHAT_NOT_SERVED.search(message):
        # Azure's OperationNotSupported: the deployment's model is not served at chat completions
        fix = "a model only the Responses API serves (gpt-5-codex, o3-pro, ...) takes params: {api: responses}"
    elif response.status in (400, 422) and forbidden is not None:
        # a field this server's schema forbids (Mistral refuses stream_options: "Extra inputs are not permitted"):
        # no fault of the call's, which another target takes; a setting that can be left out is, and sent again
        fix = server_does_not_take(".".join(forbidden))
    elif response.status == 400 and _REASONING_NOT_BACK.search(message):
        # DeepSeek's thinking mode: a tool turn must carry the reasoning_content the model wrote before its calls
        fix = (
            "this thinking model takes a tool turn only with the reasoning_content it wrote before its calls, which "
            "magsag does not keep: call it without thinking for a tool loop (DeepSeek: deepseek-chat rather than "
            "deepseek-reasoner), or let another target take the turn"
        )
    elif response.status == 400 and param == "stream":
        # "Your organization must be verified to stream this model.": the model answers, only not streamed
        fix = "this target cannot stream for this account"
    if fix is None:
        return exc
    return UnsupportedFeatureError(
        f"{exc.message}; {fix}", provider=provider, model=model, status=response.status, **exc.details
    )


def server_does_not_take(field: str) -> str:
    """What a refusal of a field this server's schema lacks ends with, after its message: the words Azure's
    api-version check reads to name the api-version instead (see AzureProvider._name_the_api_version)."""
    return f"this server does not take {field}"


def _upstream_said(
    metadata: Any, message: str, code: str | None, param: str | None
) -> tuple[str, str | None, str | None]:
    """A gateway's error that carries the error of the provider behind it: OpenRouter's ``{"message": "Provider
    returned error", "code": 400, "metadata": {"raw": "<the provider's error body>", "provider_name": "OpenAI"}}``.
    The message is ended with what the provider said, and its ``param`` and ``code`` are taken where the
    gateway's error has none of its own (OpenRouter's code is the HTTP status): said by the gateway alone,
    nothing told what was wrong, a strict schema the provider refused was not sent again without strict, and a
    refusal of this model's (an output limit, a setting it does not take) stopped the cascade as a bad request."""
    if isinstance(metadata, dict) and "flagged_input" in metadata and (code is None or code.isdigit()):
        # OpenRouter's 403 for a prompt its moderation flagged ({"reasons", "flagged_input", ...}): the prompt's
        # content, as a vendor's safety system refusing it is, not an account without access
        return message, "content_filter", param
    raw = metadata.get("raw") if isinstance(metadata, dict) else None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):  # the provider's words as they are
            pass
    inner = raw.get("error", raw) if isinstance(raw, dict) else raw
    said = ""
    if isinstance(inner, dict):
        said = str(inner.get("message") or "") or (_fastapi_detail(inner["detail"]) if "detail" in inner else "")
        if param is None and isinstance(inner.get("param"), str):
            param = inner["param"]
        inner_code = inner.get("code") or inner.get("type")
        if isinstance(inner_code, str) and inner_code and not inner_code.isdigit() and (code is None or code.isdigit()):
            code = inner_code
    elif isinstance(inner, str):
        said = inner
    if not said.strip():
        return message, code, param
    who = metadata.get("provider_name")
    said = f"{who} said: {excerpt(said, 300)}" if isinstance(who, str) and who else excerpt(said, 300)
    return (f"{message} ({said})" if message else said), code, param


def _with_gateway_wait(metadata: Any, headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` with the wait a gateway's error names in its body: OpenRouter's 429 for a limit run out
    ("Rate limit exceeded: free-models-per-day") carries the limit's headers in ``metadata.headers``, its
    ``X-RateLimit-Reset`` a unix time in milliseconds. Unread, a daily limit was retried as a momentary one
    (a few seconds apart) before the next target was tried."""
    sent = metadata.get("headers") if isinstance(metadata, dict) else None
    if not isinstance(sent, dict) or parse_retry_after(headers) is not None:
        return headers
    named = {str(k).lower(): v for k, v in sent.items()}
    # (a reset of more digits than a float holds is the longest wait, as a Retry-After of as many is: it was no wait)
    wait = until_unix_time(named.get("x-ratelimit-reset"), per_second=1000.0)
    if str(named.get("x-ratelimit-remaining")) != "0" or wait is None:
        return headers
    return {**headers, "retry-after": f"{wait:.3f}"}


#: where a string the API finds too long is the prompt's text (a message's content, the input, the instructions), as
#: its ``param`` names it; an id, a name or a role in there is not
_PROMPT_FIELD = re.compile(r"^(?:messages|input|instructions|prompt|system)\b")
_NOT_TEXT = re.compile(r"(?:^|\.)(?:id|call_id|tool_call_id|name|role|type)$")


def _prompt_text(param: str | None) -> bool:
    """Whether a ``string_above_max_length`` is about the prompt's size (or names no field, and may be)."""
    return param is None or (_PROMPT_FIELD.match(param) is not None and _NOT_TEXT.search(param) is None)


#: the codes of a 400 for a model's output that broke the format asked for (Groq's, with ``failed_generation``)
_GENERATION_FAILED = {"tool_use_failed": "a tool call", "json_validate_failed": "JSON"}
_RESPONSES_ONLY_SAID = re.compile(r"only supported in v1/responses", re.IGNORECASE)
_REASONING_NOT_BACK = re.compile(r"reasoning_content\b.{0,40}\bmust be passed back", re.IGNORECASE)
_CHAT_NOT_SERVED = re.compile(r"chatCompletion operation does not work with the specified model", re.IGNORECASE)


#: an error's code -> the HTTP status of the same failure, for an error said inside a 2xx answer, which has none of its
#: own (a Responses stream's error event or failed response, a Chat Completions stream's error chunk): the
#: ResponseErrorCode values that are not about the request's content, and those the live API carries beside them
CODE_STATUS = {
    "server_error": 500,
    "vector_store_timeout": 504,
    "rate_limit_exceeded": 429,
    "data_residency_mismatch": 403,
    # not in the enum, but what the live API's stream error events and failed responses carry
    "too_many_requests": 429,
    "insufficient_quota": 429,
    "server_is_overloaded": 503,
    "slow_down": 503,
}
#: an error's ``type``, for a code not above: a failure on OpenAI's side, not the request's; or the request's own
#: (invalid_request_error, the type of OpenAI's 400s, said with no code: a refusal, not a server failure to send again)
TYPE_STATUS = {
    "service_unavailable_error": 503,
    "server_error": 500,
    "insufficient_quota": 429,
    "invalid_request_error": 400,
}


def status_by_code(code: Any, kind: Any = None) -> int | None:
    """The HTTP status an error's ``code`` (else its ``type``, ``kind``) stands for (:data:`CODE_STATUS`), or None."""
    if isinstance(code, str) and code in CODE_STATUS:
        return CODE_STATUS[code]
    if isinstance(kind, str) and kind in TYPE_STATUS:
        return TYPE_STATUS[kind]
    return None


def failed_status(code: Any, kind: Any = None) -> int:
    """The HTTP status of a failure said inside a 2xx answer by its ``code`` (``kind``: its ``type``), one rule for
    the Responses API's failed response and error event and a Chat Completions stream's error chunk: the status the
    code (else the type) stands for (:data:`CODE_STATUS`, :data:`TYPE_STATUS`); else, for any other code the vendor
    named (invalid_prompt, bio_policy, the image codes, invalid_value, ...), a 400, refined by the code in error_for:
    the vendor refused the request for a reason it named, which is no server failure, and sent again it is refused
    again (a Chat Completions error chunk took it for a 500, and retried the refusal on its target after a wait);
    but a code of a gateway's own whose words name a failure on the server's side (:data:`_SERVER_WORDS`) a 503.
    No code, or a number that is no HTTP status: a server error."""
    named = isinstance(code, str) and bool(code) and not code.isdigit()
    if named and code not in CODE_STATUS and _SERVER_WORDS.search(code.lower()):
        return 503  # (before the type: a gateway's "upstream_timeout" said under invalid_request_error is no refusal)
    return status_by_code(code, kind) or (400 if named else 500)


#: the words of a code CODE_STATUS does not hold that name a failure on the server's side: gateways and servers of
#: the OpenAI format name their own ("upstream_error", "model_overloaded", "internal_error", "service_unavailable",
#: "capacity_exceeded"); taken for refusals (400) they stopped the whole chain where a retry or the next target would
#: have answered. Words, not a list of codes: no gateway publishes its codes
_SERVER_WORDS = re.compile(r"overload|unavailable|upstream|internal|timeout|timed_out|capacity|busy|gateway|server")


def body_error_status(error: Any) -> int:
    """The HTTP status of an error body under a 2xx answer (a gateway's upstream failure, LM Studio's unknown route):
    its integer code's, else by :func:`failed_status`'s rule, as the same error said in a stream is read: for a code or
    type it names, and for one that names neither (text alone, a message alone: a gateway's 200 ``{"error":
    {"message": "upstream timed out"}}``) a server error, 500, sent again after a wait. It stayed a 200 of no known
    kind, never sent again, where the same words in a stream were. Only a route the server says it lacks (LM Studio's
    200 "Unexpected endpoint or method.") stays at 200: no second try finds the route, and the local and compat
    providers read that 200 as a missing route (the Responses API's, or a base URL without /v1)."""
    if isinstance(error, dict) and (error.get("code") or error.get("type")):
        return error_status(error, 0) or failed_status(error.get("code"), error.get("type"))
    said = error if isinstance(error, str) else error.get("message") if isinstance(error, dict) else None
    if isinstance(said, str) and says_no_such_route(said):
        return 200
    return error_status(error, 0) or failed_status(None)


def error_status(error: Any, default: int = 500) -> int:
    """The HTTP status of an error that came inside a 2xx answer (an error chunk in a stream, an error body
    under a 200). vLLM, llama.cpp's server and OpenRouter give it as the error's integer ``code``
    (``{"error": {"code": 400, ...}}``): a bad request said there is not a server error to send again, nor
    a rate limit one to send at once. Anything else: ``default``."""
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    return code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else default


def _forbidden_field(detail: Any) -> list[str] | None:
    """The field of the request a FastAPI (pydantic) server's schema has no room for: the ``loc`` after "body" of
    the first ``extra_forbidden`` problem (``["stream_options", "include_usage"]``), or None."""
    for problem in detail if isinstance(detail, list) else ():
        loc = problem.get("loc") if isinstance(problem, dict) and problem.get("type") == "extra_forbidden" else None
        if isinstance(loc, list) and len(loc) > 1 and loc[0] == "body" and isinstance(loc[1], str):
            return [str(part) for part in loc[1:]]
    return None


def _unrecognized_key(issues: Any) -> list[str] | None:
    """The field of the request a zod-validated server has no room for: the ``path`` and first of the ``keys`` of the
    first ``unrecognized_keys`` issue (``{"code": "unrecognized_keys", "keys": ["stream_options"], "path": []}``), or
    None."""
    for issue in issues if isinstance(issues, list) else ():
        if isinstance(issue, dict) and issue.get("code") == "unrecognized_keys":
            keys, path = issue.get("keys"), issue.get("path")
            if isinstance(keys, list) and keys and isinstance(keys[0], str) and isinstance(path, list):
                return [*(str(p) for p in path), keys[0]]
    return None


#: a message naming the one field of the request a server does not know: Groq's "property 'stream_options' is
#: unsupported, did you mean 'stream'?", OpenAI's own "Unrecognized request argument supplied: stream_options" (Chat
#: Completions', which compatible servers copy) and "Unknown parameter: 'logprobs'." (its Responses API's, code
#: unknown_parameter: a field at the request's root alone, not one inside an input item, "Unknown parameter:
#: 'input[3].status'.", which is no setting of a target's to leave out), zod's "Unrecognized key(s) in object:
#: 'stream_options'", Go's 'json: unknown field "x"'
_UNKNOWN_FIELD = re.compile(
    r"\bproperty '(?P<a>\w+)' is unsupported|unrecognized request arguments? supplied: (?P<b>\w+)"
    r"|unrecognized key\(s\) in object: '(?P<c>\w+)'|\bunknown field \"(?P<d>\w+)\"|\bunknown parameter: '(?P<e>\w+)'",
    re.IGNORECASE,
)


def _unknown_field_named(message: str, param: str | None) -> list[str] | None:
    """The field a refusal's message names as one the server does not know (:data:`_UNKNOWN_FIELD`), or None; None
    too where the error's ``param`` names another place (``"Invalid 'tools[0].parameters': Unknown parameter:
    'format'."``, param ``tools[0].parameters``): the name is a key inside it, not a field at the request's root."""
    found = _UNKNOWN_FIELD.search(message)
    if found is None:
        return None
    name = next(name for name in found.groups() if name)
    return [name] if param is None or param == name else None


def _fastapi_detail(detail: Any) -> str:
    """FastAPI's (pydantic's) ``[{"loc", "msg"}]``, or zod's ``[{"path", "message"}]``, as one line."""
    if isinstance(detail, list):
        problems = [_problem(d) if isinstance(d, dict) else str(d) for d in detail]
        return excerpt("; ".join(problems), 300)
    return excerpt(str(detail), 300)


def _problem(problem: dict[str, Any]) -> str:
    where = problem.get("loc", problem.get("path"))
    said = problem.get("msg", problem.get("message"))
    where = ".".join(str(p) for p in where) if isinstance(where, list) else ""
    return f"{where}: {said}" if where else str(said)
