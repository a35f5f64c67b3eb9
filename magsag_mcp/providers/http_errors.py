"""HTTP status and rate-limit headers -> :mod:`magsag_mcp.errors`, shared by every wire format.

Each format extracts the vendor's error ``message`` and ``code``/``type`` from its own body shape and
then calls :func:`error_for` with them; vendor-specific codes are refined there.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextTooLongError,
    MalformedResponseError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    UnexpectedStatusError,
    UnsupportedFeatureError,
    excerpt,
)
from .rate_limit_waits import LONG_WAIT_SECONDS as LONG_WAIT_SECONDS  # where the wire formats import these from
from .rate_limit_waits import _get, header_getter, rate_limit_reset, wait_in_message
from .rate_limit_waits import long_wait as long_wait
from .rate_limit_waits import named_quota as named_quota
from .rate_limit_waits import parse_duration as parse_duration
from .rate_limit_waits import parse_retry_after as parse_retry_after
from .target_refusals import says_model_unknown, target_cannot

#: statuses whose meaning does not depend on the vendor's code or message (checked after those)
_BY_STATUS: dict[int, type[ProviderError]] = {
    401: AuthenticationError,
    # Payment required: the account's credit is spent (a gateway's or a vendor's); it will not clear soon.
    402: QuotaExhaustedError,
    403: PermissionDeniedError,
    404: ModelNotFoundError,
    # The server gave up waiting for the request: nothing wrong with it, and no answer was generated.
    408: ProviderTimeoutError,
    # A gateway (APIM, nginx, a proxy; Cloudflare's 524) gave up waiting for the server, which was still at work on
    # the answer: a timeout, as our own read timeout is (and, like it, maybe billed: see base.py). Sent again at
    # once, the same answer outlasts the same gateway's timeout; another target is tried first, as Anthropic's
    # timeout_error and Gemini's DEADLINE_EXCEEDED (both 504) are.
    504: ProviderTimeoutError,
    524: ProviderTimeoutError,
    # A conflict on the server's side (OpenAI: "... while processing your request (lock timeout)") and
    # "too early" (RFC 8470): both clear when the request is sent again.
    409: ServerError,
    425: ServerError,
}


_CONTEXT_HINTS = (
    "context_length_exceeded",
    "context length",
    "maximum context",
    "too many tokens",
    "prompt is too long",
    "input is too long",
    "exceeds the context window",
    "exceed context limit",
    # Gemini: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    # (not bare "token count": "Invalid token count for max_tokens" is about our parameter, not the prompt)
    "input token count",
    "exceeds the maximum number of tokens",
    "string_above_max_length",
    # llama.cpp's server (type exceed_context_size_error, code 400): "request (4476 tokens) exceeds the
    # available context size (4096 tokens)", earlier "the request exceeds the available context size, ..."
    "exceed_context_size",
    "exceeds the available context size",
    # TGI's (Hugging Face's Inference Endpoints): "Input validation error: `inputs` tokens + `max_new_tokens` must be
    # <= 4096. Given: ...", and "`inputs` must have less than 4096 tokens. Given: 5000"
    "`inputs` tokens + `max_new_tokens` must be",
    "`inputs` must have less than",
)  # (each holds one of the words _says_too_long looks for first: a test checks every hint)
#: OpenAI's 429 for a request larger than the organisation's tokens-per-minute limit for the model: "Request too
#: large for gpt-4o in organization org-... on tokens per min (TPM): Limit 30000, Requested 36881. The input or
#: output tokens must be reduced in order to run successfully."
_TOO_LARGE = re.compile(r"\brequest too large\b|must be reduced in order to run successfully", re.IGNORECASE)


def _too_large(message: str, lowered: str) -> bool:
    """Whether a 429's ``message`` (``lowered``: in lower case) is OpenAI's for a request over the per-minute limit.

    An ASCII message holding neither phrase is not searched: the pattern begins with ``\\b``, so it entered its
    matcher at every character of every 429's message (with the wait's, half of the 225,000 instructions OpenAI's
    190-character one took to convert). A message beyond ASCII is searched, as (?i) takes letters that lower()
    leaves alone (the long s for s)."""
    if (
        "request too large" not in lowered
        and "must be reduced in order to run successfully" not in lowered
        and message.isascii()
    ):
        return False
    return _TOO_LARGE.search(message) is not None


_TOO_LARGE_FIX = (
    "the request alone is larger than the per-minute token limit, and max_tokens counts toward it: lower "
    "max_tokens or shorten the prompt, or raise the limit (a higher usage tier)"
)
_POLICY_CODES = frozenset({"invalid_prompt", "bio_policy"})
_QUOTA_HINTS = ("insufficient_quota", "quota", "billing", "credit balance", "exceeded your current")
#: a link in a message: where to read more or ask for more, not what happened. Azure's per-minute 429 ends
#: "Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."
_LINK = re.compile(r"https?://\S+")


def _without_links(text: str) -> str:
    """``text`` with each link (:data:`_LINK`) a space. A text without "http", which every link begins with, holds
    none and is not searched: most messages name no link, and every failed attempt's had the pattern's ``sub`` (some
    2,500 instructions for a 15-character message)."""
    return _LINK.sub(" ", text) if "http" in text else text


#: a local server that cannot load the model in the memory it has (Ollama's 500 "model requires more system memory
#: (5.3 GiB) than is available (3.5 GiB)"): not available there, as a model that is not loaded is not
_TOO_BIG_FOR_MEMORY = re.compile(r"\bmodel requires more (?:system )?memory\b", re.IGNORECASE)
_TOO_BIG_FIX = "the model does not fit in the server's free memory: use a smaller model or quantization, or free memory"


def _too_big_for_memory(message: str, lowered: str) -> bool:
    """Whether a 5xx's ``message`` (``lowered``: in lower case) is Ollama's for a model too big for the free memory.

    An ASCII message without "model requires more" is not searched: the pattern begins with ``\\b``, so it entered
    its matcher at every character of every 5xx's message (some 33,000 instructions for a vendor's 180-character
    one). A message beyond ASCII is searched, as (?i) takes letters that lower() leaves alone (the long s for s)."""
    if "model requires more" not in lowered and message.isascii():
        return False
    return _TOO_BIG_FOR_MEMORY.search(message) is not None


#: an HTML document, by its first tag (after any comments)
_HTML_START = re.compile(rb"\A\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_MARKUP = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


#: how :func:`body_said` begins what an HTML page said (an error page a gateway or proxy made, no API's answer)
HTML_PAGE = "an HTML page, not the API's answer"


def body_said(body: bytes, headers: Mapping[str, str], limit: int = 300) -> str:
    """What an error body that is not the API's JSON says, for a message: its start, or for an HTML page (a CDN's,
    a load balancer's or a proxy's error page in front of the API) its title (its text without markup, where it
    has none). Quoted as it came, such a page's first characters are its doctype, comments and meta tags."""
    content_type = (_get(headers, "content-type") or "").split(";")[0].strip().lower()
    if content_type not in ("text/html", "application/xhtml+xml") and not _HTML_START.match(body[:4096]):
        return excerpt(body, limit)
    text = body[:65536].decode("utf-8", "replace")
    title = _TITLE.search(text)
    said = " ".join(html.unescape(title[1] if title else _MARKUP.sub(" ", text)).split())
    return excerpt(
        f"{HTML_PAGE}: {excerpt(said, 120)!r} (a gateway or proxy in front of the API answered)",
        limit,
    )


def error_under_2xx(resp: Any) -> str | None:
    """The error a 2xx body holds instead of an answer (``{"error": "..."}``, or ``{"error": {"message": ...}}``),
    at most 120 characters; None for any other body."""
    try:
        data = resp.json()
    except ProviderError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return excerpt(error, 120) if isinstance(error, str) and error else None


#: where vendors name the request for their support: OpenAI and Azure ``x-request-id`` (Azure also
#: ``apim-request-id``), Anthropic ``request-id``
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "apim-request-id")


def request_id(headers: Mapping[str, str]) -> str | None:
    """The id the vendor gave the request (what its support asks for), or None."""
    get = header_getter(headers)
    for name in _REQUEST_ID_HEADERS:  # a loop, not next() over a generator: asked on every failed attempt
        rid = get(name)
        if rid and not rid.isspace():
            return excerpt(rid.strip(), 200)  # redacted before the cut: a cut key is no longer the whole key
    return None


def with_request_id(exc: ProviderError, headers: Mapping[str, str]) -> ProviderError:
    """``exc`` carrying the id the vendor gave the failed request in ``details["request_id"]``, unless it has one:
    for an error that came inside a 2xx answer (an error event in a stream, a failed response), whose request the
    answer's headers name. An error that says an HTTP status (the vendor's own failure, as :func:`error_for` words
    it) names the id beside it, as an HTTP error does, in the message the ledger and the trace keep."""
    rid = None if "request_id" in exc.details else request_id(headers)
    if rid is not None:
        exc.details["request_id"] = rid
        end = _where_said_ends(exc)
        if end is not None:
            exc.message = f"{exc.message[:end]} (request id {rid}){exc.message[end:]}"
            exc.args = (exc.message,)
    return exc


def _where_said_ends(exc: ProviderError) -> int | None:
    """Where the words of ``exc``'s message that say what it came with end (its ``HTTP 500``, or where in a 2xx answer
    it was: see below): the first of them, before the server's words, which may quote a status of their own (a
    gateway's "upstream said: HTTP 500: ..."); None where the message says neither."""
    found = _FAILED_SAID.search(exc.message)
    status = f": HTTP {exc.status}"
    at = exc.message.find(status) if exc.status is not None else -1
    if at >= 0 and (found is None or at < found.start()):
        return at + len(status)
    return found.end() if found is not None else None


#: what a failed response's error says where an HTTP error says its status (the answer came with a 200)
RESPONSE_FAILED = ": the response failed"
#: what an error said in a 2xx stream's events, or as a 2xx answer's body, says there
IN_STREAM = ": an error in the answer's stream"
UNDER_200 = ": an error body under HTTP 200"
_FAILED_SAID = re.compile(
    re.escape(RESPONSE_FAILED) + r"(?: with [\w.-]+)?|" + re.escape(IN_STREAM) + "|" + re.escape(UNDER_200)
)
_SERVER_SAID = re.compile(r"(?:: HTTP \d{3}|" + _FAILED_SAID.pattern + r")(?: \(request id [^)]*\))?: ")


def came_with(status: int, where: str | None = None) -> str:
    """What an error's message says it came with, after ``provider:model``: its status (``: HTTP 429``); or, for an
    error said inside a 2xx answer, ``where`` it was (:data:`IN_STREAM`, :data:`UNDER_200`, :func:`response_failed`'s
    words). Such an error is made as the HTTP error of the status it stands for (its class and ``status`` say that
    failure, so that it is retried or moved on from as that is), and its message says where it was, not a status no
    server sent (``HTTP 429`` for a rate limit said in a stream that came with a 200, which a user then looked for in
    vain in a proxy's log). An error body read at the 200 it came with (a route the server lacks: LM Studio's) says
    that status, which was sent."""
    return f": HTTP {status}" if where is None or status == 200 else where


def server_words(exc: ProviderError) -> str:
    """What the server said in ``exc``'s message: the text after its status or where the error was said (and the
    request's id), or the whole message when it names neither."""
    found = _SERVER_SAID.search(exc.message)
    return exc.message[found.end() :] if found else exc.message


def response_failed(code: Any) -> str:
    """Where the error of a response that came with a 200 and the status "failed" (the Responses API's) was said, for
    :func:`came_with`: the response failed, and with which code (``the response failed with server_error: The model
    failed to generate a response.``)."""
    return f"{RESPONSE_FAILED} with {excerpt(str(code), 60)}" if code else RESPONSE_FAILED


def _says_filtered(code: str) -> bool:
    """Whether an error's code (lower case) says the vendor's safety system refused the prompt (Azure's inner code,
    when its error has no other). Four look-ups of C's substring search: one pattern for the four entered its matcher
    at every c, r and s of the code (some 4,000 instructions for ``server_error``)."""
    return (
        "content_filter" in code
        or "content_policy" in code
        or "safety" in code
        or "responsibleaipolicyviolation" in code
    )


def _finder(hints: tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    """What finds any of ``hints`` in a text (as ``hint in text`` would): one search in C for them all, where a
    loop over twenty hints and two texts ran some forty comparisons in Python on every failed attempt."""
    return re.compile("|".join(map(re.escape, hints))).search


_QUOTA = _finder(_QUOTA_HINTS)
_CONTEXT = _finder(_CONTEXT_HINTS)


def _says_too_long(text: str) -> bool:
    """Whether ``text`` (lower case) holds one of :data:`_CONTEXT_HINTS`, as ``hint in text`` would.

    Each hint holds one of five words, looked for first by C's substring search; the hints' one pattern searches
    only a text holding one (a message about the window's size). That pattern alone entered its matcher at every
    letter a hint begins with (c, e, i, m, p, s, t: most of a sentence's) and tried its fifteen hints there: some
    6,000 instructions for an error code and a 15-character message, 40,000 for a vendor's 180-character 500."""
    return (
        "context" in text or "token" in text or "too long" in text or "string_above" in text or "`inputs`" in text
    ) and _CONTEXT(text) is not None


def _mentions(found: Callable[[str], re.Match[str] | None], *texts: str) -> bool:
    """Whether ``found`` (a :func:`_finder`) finds its hints in one of ``texts``."""
    for text in texts:
        if found(text) is not None:
            return True
    return False


def error_for(
    status: int,
    message: str,
    *,
    headers: Mapping[str, str],
    provider: str,
    model: str,
    code: str | None = None,
    where: str | None = None,
) -> ProviderError:
    """The error class for an HTTP failure, refined by the vendor's error code and message. Its message and
    ``details["request_id"]`` name the request's id, which is what the vendor's support asks for. ``where``: where
    in a 2xx answer the error was said, which its message says in place of the status (:func:`came_with`)."""
    rid = request_id(headers)
    said = came_with(status, where)
    status_text = f"{said} (request id {rid})" if rid else said
    text = f"{provider}:{model}{status_text}: {message}" if message else f"{provider}:{model}{status_text}"
    # (made with ProviderError.of: the same error its class's keywords make, without their round trip)
    details: dict[str, Any] = {"code": code}
    if rid:
        details["request_id"] = rid
    code_l = (code or "").lower()
    lowered = message.lower()
    msg_l = _without_links(lowered)
    if status == 429 or code_l in ("rate_limit_exceeded", "rate_limit_error", "resource_exhausted"):
        if _too_large(message, lowered):
            # the request alone is over the limit: no wait lets it through, and each try spends a request
            return QuotaExhaustedError.of(f"{text}; {_TOO_LARGE_FIX}", provider, model, status, None, details)
        wait = parse_retry_after(headers)
        if wait is None:
            wait = wait_in_message(message)
        if wait is None:
            wait = rate_limit_reset(headers)
        if _mentions(_QUOTA, code_l, msg_l):
            return named_quota(QuotaExhaustedError.of(text, provider, model, status, wait, details))
        if wait is not None and wait > LONG_WAIT_SECONDS:
            return long_wait(QuotaExhaustedError.of(text, provider, model, status, wait, details))
        return RateLimitError.of(text, provider, model, status, wait, details)
    # (one text for both: no hint holds a line break, so one found in it is in the code or in the message)
    if status == 413 or _says_too_long(f"{code_l}\n{msg_l}"):
        return ContextTooLongError.of(text, provider, model, status, None, details)
    # OpenAI's invalid_prompt ("your prompt was flagged as potentially violating our usage policy") and
    # bio_policy are its safety system refusing the prompt: another vendor may serve it
    if _says_filtered(code_l) or code_l in _POLICY_CODES:
        return ContentFilteredError.of(text, provider, model, status, None, details)
    by_status = _BY_STATUS.get(status)
    if by_status is not None:
        if by_status.retryable:
            return by_status.of(text, provider, model, status, parse_retry_after(headers), details)
        refused = by_status.of(text, provider, model, status, None, details)
        # a 402's spent credit is a quota its server named, as a 429's insufficient_quota is: the call's error says
        # its billing fix (it said the vendor's words alone)
        return named_quota(refused) if status == 402 else refused
    if status in (400, 422):
        if code_l == "model_not_found" or says_model_unknown(message):
            return ModelNotFoundError.of(text, provider, model, status, None, details)
        if target_cannot(message, model, code_l):
            # not our input: this target lacks the feature, so the next one may serve the call
            return UnsupportedFeatureError.of(text, provider, model, status, None, details)
        # The API found the request itself invalid: every target would refuse it alike, so the
        # cascade stops here rather than spend the call repeating it.
        return BadRequestError.of(text, provider, model, status, None, details)
    if status >= 500 and _too_big_for_memory(message, lowered):
        # Ollama's 500 for a model larger than the machine's free memory: sent again, it is refused again, and the
        # next target is the one that may serve the call
        return ModelNotFoundError.of(f"{text}; {_TOO_BIG_FIX}", provider, model, status, None, details)
    if status in (503, 529) or "overloaded" in code_l:
        return OverloadedError.of(text, provider, model, status, parse_retry_after(headers), details)
    if status >= 500:
        return ServerError.of(text, provider, model, status, parse_retry_after(headers), details)
    # Any other status (a gateway's 405 or 410, nginx's 499, ...) says nothing against our input:
    # this target cannot serve the call, another one may.
    return UnexpectedStatusError.of(text, provider, model, status, None, details)


def obey_should_retry(exc: ProviderError, headers: Mapping[str, str]) -> None:
    """Make ``exc`` retried or not on its target as the server's ``x-should-retry`` says, where it says.

    OpenAI and Anthropic send it, and their SDKs obey it before their own rules: ``false`` on an error
    that would be retried (the request would fail the same way again: the next target is tried, or the
    call fails, without the wait); ``true`` on a status we know nothing of (a 423, a gateway's 499),
    which is then retried after its ``Retry-After`` as a server error is. An error that
    stops the call, or a quota that no wait refills, is not made retryable by it."""
    said = _get(headers, "x-should-retry")
    if said is None:
        return
    said = said.strip().lower()
    if said == "false" and exc.retryable:
        exc.retryable = False  # type: ignore[misc]  # this one error's, over its class's
    elif said == "true" and type(exc) is UnexpectedStatusError:
        exc.retryable = True  # type: ignore[misc]
        exc.retry_after = parse_retry_after(headers)


#: a gateway's timeout waiting for the server that was answering: 504, and 524 (Cloudflare, in front of
#: some vendors and gateways: the origin accepted the request and did not answer in time)
GATEWAY_TIMEOUTS = frozenset({504, 524})


def refused_by_vendor(exc: ProviderError) -> bool:
    """Whether an error event is the vendor's refusal of the request (an HTTP error status said in the stream), not a
    gateway's timeout on a server that was at work on it, nor an event that could not be read."""
    return (
        exc.status is not None
        and exc.status >= 400
        and exc.status not in GATEWAY_TIMEOUTS
        and not isinstance(exc, MalformedResponseError)
    )
