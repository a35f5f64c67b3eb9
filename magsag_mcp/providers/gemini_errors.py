"""Gemini's errors: ``{"error": {"code", "message", "status", "details"}}``, read by the RPC status name and
the ``google.rpc`` details (``ErrorInfo``, ``QuotaFailure``, ``RetryInfo``) rather than the message."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..durations import seconds
from ..errors import (
    AuthenticationError,
    ContextTooLongError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    UnsupportedFeatureError,
    excerpt,
)
from .http_errors import (
    LONG_WAIT_SECONDS,
    body_said,
    came_with,
    error_for,
    long_wait,
    parse_duration,
    parse_retry_after,
)
from .rate_limit_waits import server_now, wait_in_message

__all__ = ["blocked", "error_in_answer", "gemini_error"]


def error_in_answer(chunk: dict[str, Any], where: str, *, provider: str, model: str) -> ProviderError:
    """The error a chunk of a 200 answer says (``{"error": {...}}``: in a stream, or as a gateway's body), as the HTTP
    error of the status its ``error.code`` stands for (500 without one), its message saying ``where`` it was
    (:func:`~.http_errors.came_with`): no ``HTTP 503`` was sent."""
    code = chunk["error"].get("code") if isinstance(chunk["error"], dict) else None
    status = code if isinstance(code, int) and code >= 400 else 500
    return gemini_error(status, json.dumps(chunk).encode(), {}, provider=provider, model=model, where=where)


def gemini_error(
    status: int, body: bytes, headers: Mapping[str, str], *, provider: str, model: str, where: str | None = None
) -> ProviderError:
    """``{"error": {"code", "message", "status", "details"}}``, by the RPC status name first. ``where``: where in a
    200 answer the error was said, which its message says in place of the status (:func:`~.http_errors.came_with`)."""
    message, rpc = "", None
    details: Any = []  # (the body's, whatever it holds: each reader takes a list alone)
    try:
        data = json.loads(body) if body else None
    except (ValueError, RecursionError):  # (an error body nested past the interpreter's depth: its words as they are)
        data = None
    if isinstance(data, list) and data:  # some proxies wrap the error in a list
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = str(data["error"].get("message") or "")
        # (a status that is no name, a broken gateway's list or object, is none: looked up, it raised TypeError out of
        # the provider, a bug of ours to the caller; the HTTP status says what it was)
        rpc = status_name if isinstance(status_name := data["error"].get("status"), str) else None
        details = data["error"].get("details") or []
    elif body:
        message = body_said(body, headers)
    text = f"{provider}:{model}{came_with(status, where)}{f' {rpc}' if rpc else ''}: {message}"
    kw: dict[str, Any] = {"provider": provider, "model": model, "status": status, "code": rpc}
    low = message.lower()
    if rpc == "RESOURCE_EXHAUSTED" or status == 429:
        return _resource_exhausted(text, message, details, headers, kw)
    if rpc == "INVALID_ARGUMENT" and ("token" in low and ("exceed" in low or "limit" in low)):
        return ContextTooLongError(text, **kw)
    if rpc == "DEADLINE_EXCEEDED" or status == 504:
        return ProviderTimeoutError(text, **kw)
    if rpc == "CANCELLED":
        # 499 CANCELLED, "The operation was cancelled." (reason backendError): Google's backend gave the request up,
        # under load; magsag cancels nothing it then reads. An unexpected status, it moved on unasked: a server's
        # failure, asked again (its RetryInfo, where it gives one, says when)
        cancelled = ServerError(f"{text}; Gemini's servers cancelled the request, not the caller", **kw)
        cancelled.retry_after = _retry_delay(details)
        return cancelled
    if rpc == "INVALID_ARGUMENT" and "should be non-empty for object type" in low:
        # a tool parameter that is an object of any keys (type object, no properties): Gemini's Schema cannot say
        # it, another vendor takes it; this target cannot serve the call, the next one may
        hint = (
            "; Gemini takes no object parameter without properties (an object of any keys): give each its "
            "properties, or leave Gemini out of this call's targets (Gemini 2.5 and later take it, as JSON Schema)"
        )
        return UnsupportedFeatureError(text.rstrip() + hint, **kw)
    if rpc == "INVALID_ARGUMENT" and ".items: missing field" in low:
        # a tool parameter that is an array of anything (type array, no items): the same, for an array
        hint = (
            "; Gemini takes no array parameter without items (an array of anything): give each its items, or leave "
            "Gemini out of this call's targets (Gemini 2.5 and later take it, as JSON Schema)"
        )
        return UnsupportedFeatureError(text.rstrip() + hint, **kw)
    if rpc == "INVALID_ARGUMENT" and _THINKING_REFUSED.search(message):
        # the target's own thinkingConfig (magsag sets none: it comes from the target's params), which this model
        # refuses: not the call's fault, and another target (another model, other params) may serve it, as OpenAI's
        # "Unsupported value: 'reasoning_effort' does not support 'minimal' with this model" moves on. Read as a
        # bad request, it stopped the whole chain.
        return UnsupportedFeatureError(text.rstrip() + _THINKING_FIX, param="thinkingConfig", **kw)
    if rpc == "INVALID_ARGUMENT" and (unknown := _UNKNOWN_NAME.search(message)) is not None:
        # a field Gemini's API does not have (a target's param written for another vendor's API, or one newer than
        # it): this target's, as OpenAI's "Unrecognized request argument supplied: x" is, and the next target may take
        # it. Read as a bad request, it stopped the whole chain
        where = f" (at {unknown['at']})" if unknown["at"] else ""
        fix = (
            f"; Gemini's API has no field {unknown['name']!r}{where}: take it out of the target's params, or leave "
            "this target out of the call"
        )
        return UnsupportedFeatureError(text.rstrip() + fix, param=excerpt(unknown["name"], 200), **kw)
    if rpc == "PERMISSION_DENIED" and _LEAKED.search(message):
        # Google blocks a key it finds published, for good: the key's fault, as a refused key is, and the error must
        # say which variable held it
        return AuthenticationError(text, **kw)
    reason = _error_info_reason(details)
    if reason is not None:
        if reason in _KEY_RESTRICTED:
            text += (
                "; the key's restrictions (Google Cloud console, APIs & Services > Credentials) do not allow this "
                "call from here: let the key call the Generative Language API from this server, or use another key"
            )
        return _ERROR_INFO_REASONS[reason](text, **kw)
    if rpc == "FAILED_PRECONDITION":
        # "User location is not supported for the API use", "free tier is not available in your country":
        # this account cannot use Gemini from here, whatever the request; another vendor may serve it.
        if "billing" not in low:
            text += (
                "; Gemini does not serve this API key's project from where the call was made (some regions only "
                "with billing): enable billing on the key's Google Cloud project, or call from a region Gemini serves"
            )
        return PermissionDeniedError(text, **kw)
    mapped = {
        "UNAUTHENTICATED": 401,
        "PERMISSION_DENIED": 403,
        "NOT_FOUND": 404,
        "INVALID_ARGUMENT": 400,
        "UNAVAILABLE": 503,
        "INTERNAL": 500,
    }.get(rpc or "", status)
    error = error_for(mapped, message, headers=headers, provider=provider, model=model, code=rpc, where=where)
    if error.retryable and error.retry_after is None:
        # a google.rpc.RetryInfo says when to send again whatever the status (a 503 UNAVAILABLE's, a 500's), as a
        # Retry-After does, which wins where both came: read on a 429 alone, it was sent again after the backoff's guess
        error.retry_after = _retry_delay(details)
    return error


def _retry_delay(details: Any) -> float | None:
    """The seconds of the last ``google.rpc.RetryInfo`` detail's ``retryDelay`` (a protobuf Duration, "37s",
    "7.5s"), or None."""
    delay: float | None = None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type") or "").endswith("google.rpc.RetryInfo"):
            delay = parse_duration(str(detail.get("retryDelay") or "")) if detail.get("retryDelay") else None
    return delay


#: a 400 INVALID_ARGUMENT about the request's thinkingConfig: "Budget 0 is invalid. This model only works in thinking
#: mode." (gemini-2.5-pro and gemini-3 always think), "Budget 40000 is invalid. Please choose a value between 128 and
#: 32768." (each model its own range), 'Unknown name "thinkingLevel" at 'generation_config.thinking_config'' (a field
#: this model's API does not know), "Thinking level is not supported for this model."
_THINKING_REFUSED = re.compile(
    r"\bthinking[ _]?(?:budget|level|mode|config)\b|\bbudget -?\d+ is invalid\b"
    r"|\bthinking is not (?:enabled|supported)\b",
    re.IGNORECASE,
)
_THINKING_FIX = (
    "; the model refuses the thinkingConfig in the target's params (some models always think and take no "
    "thinkingBudget 0, each takes its own budget range, thinkingLevel only Gemini 3 and later): set one this model "
    "takes, or leave it out"
)
#: Google's JSON parser refusing a field its message does not have: 'Invalid JSON payload received. Unknown name "x" at
#: \'generation_config\': Cannot find field.' (no "at" for a field of the request itself). Not its "Proto field is not
#: repeating, cannot start list" under the same words, which is a value of the wrong shape for a field it has
_UNKNOWN_NAME = re.compile(r"Unknown name \"(?P<name>[^\"]{1,200})\"(?: at '(?P<at>[^']{0,200})')?: Cannot find field")
#: 403 PERMISSION_DENIED for a key Google found published: "Your API key was reported as leaked. Please use another
#: API key." (no ErrorInfo says so)
_LEAKED = re.compile(r"\bapi key was reported as leaked\b", re.IGNORECASE)
#: ``google.rpc.ErrorReason`` values that a key refused under a key's restrictions are answered with (403
#: PERMISSION_DENIED "Requests from referer <empty> are blocked."): the message names neither the key nor them
_KEY_RESTRICTED = frozenset(
    {
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
        "API_KEY_ANDROID_APP_BLOCKED",
        "API_KEY_IOS_APP_BLOCKED",
    }
)
#: ``google.rpc.ErrorInfo`` reasons that the status name hides: a bad key comes as 400 INVALID_ARGUMENT
#: ("API key not valid. Please pass a valid API key."), which would otherwise stop the call as a bad request,
#: and a key its restrictions refuse as 403: both are the key's, and say which variable held it
_ERROR_INFO_REASONS: dict[str, type[ProviderError]] = {
    "API_KEY_INVALID": AuthenticationError,
    **dict.fromkeys(_KEY_RESTRICTED, AuthenticationError),
}


def _error_info_reason(details: Any) -> str | None:
    """The reason of the first ``google.rpc.ErrorInfo`` detail whose reason is one of ``_ERROR_INFO_REASONS``."""
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            reason = str(detail.get("reason") or "")
            if reason in _ERROR_INFO_REASONS:
                return reason
    return None


#: "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, ..."
_LIMIT_ZERO = re.compile(r"\blimit: 0\b")
#: a quota per day: Google resets those at midnight Pacific time (its rate limits' documentation)
_DAY_QUOTA = ("perday", "per day", "daily")
#: looked up when first needed, not at import: a machine without a time zone database (a slim container, Windows
#: without the tzdata package) must still import the provider (see _zone)
PACIFIC = "America/Los_Angeles"
#: a quota that will not reset within minutes: move on instead of waiting
_LONG_QUOTA = (
    *_DAY_QUOTA,
    "permonth",
    "per month",
    "monthly",
    "spend cap",
    "spending cap",
    "credits are depleted",
)


def _resource_exhausted(
    text: str, message: str, details: Any, headers: Mapping[str, str], kw: dict[str, Any]
) -> ProviderError:
    """429 RESOURCE_EXHAUSTED, read from the ``google.rpc`` details rather than the message.

    Every Gemini quota message says "You exceeded your current quota ... billing details", per-minute or
    per-day alike, so the message cannot tell them apart. ``QuotaFailure.violations[].quotaId`` can
    (``GenerateRequestsPerDayPerProjectPerModel-FreeTier`` vs ``...PerMinute...``), and ``RetryInfo.retryDelay``
    (``"37s"``) says when to come back, else the message's "Please retry in 37.2s.". A daily quota wins over a
    RetryInfo (Google sends one with it too).
    """
    quota_ids: list[str] = []
    delay = _retry_delay(details)
    #: a quota of 0: the key's tier has none for this model (no free tier for gemini-2.5-pro or gemini-3), and
    #: no wait will give it one; Google sends a RetryInfo of seconds with it all the same
    none_at_all = bool(_LIMIT_ZERO.search(message))
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type") or "")
        if kind.endswith("google.rpc.QuotaFailure"):
            violations = detail.get("violations")  # (a list: a broken gateway's number was walked, a TypeError)
            for v in violations if isinstance(violations, list) else ():
                if isinstance(v, dict):
                    quota_ids.append(f"{v.get('quotaId') or ''} {v.get('quotaMetric') or ''}".lower())
                    none_at_all = none_at_all or str(v.get("quotaValue")) == "0"
    # The message says the wait too ("...\nPlease retry in 47.434392449s."): read where no header and no RetryInfo
    # did (a gateway that keeps the message, drops the details), which left the wait to the backoff's guess of a
    # second, refused again until the minute's quota refilled
    wait = next((w for w in (parse_retry_after(headers), delay) if w is not None), None)
    if wait is None:
        wait = wait_in_message(message)
    low = message.lower()
    if none_at_all:
        text += (
            " (a quota of 0: this API key's tier has no quota for the model, so waiting will not help; enable "
            "billing on its Google Cloud project, or call a model its tier includes)"
        )
        return _resting(QuotaExhaustedError(text, retry_after=wait, **kw), math.inf, "a quota of 0 for the model")
    if any(h in q for q in quota_ids for h in _DAY_QUOTA) or any(h in low for h in _DAY_QUOTA):
        # its RetryInfo's seconds are no reset: rested for them alone, the target was sent again every few seconds,
        # to be refused again, until the day's end
        left = _until_pacific_midnight(server_now(headers))
        day = "a per-day quota, which Google resets at midnight Pacific time"
        said = f"{text} ({day})" if left is None else f"{text} ({day}, in {seconds(left)})"
        return _resting(QuotaExhaustedError(said, retry_after=wait, **kw), math.inf if left is None else left, day)
    if any(h in q for q in quota_ids for h in _LONG_QUOTA) or any(h in low for h in _LONG_QUOTA):
        long = "a quota that no wait of minutes refills (per month, a spend cap, credits)"
        return _resting(QuotaExhaustedError(text, retry_after=wait, **kw), math.inf, long)
    if wait is not None and wait > LONG_WAIT_SECONDS:
        return long_wait(QuotaExhaustedError(text, retry_after=wait, **kw))
    return RateLimitError(text, retry_after=wait, **kw)


def _resting(error: ProviderError, seconds_left: float, quota: str) -> ProviderError:
    """``error``, its target to be left alone for ``seconds_left`` (see ProviderError.rest) for ``quota``, a quota its
    server named (``quota_named``: the call's error says the quota's fix, whatever its RetryInfo's wait)."""
    error.rest = (seconds_left, quota)
    error.quota_named = True
    return error


def _until_pacific_midnight(now: float) -> float | None:
    """Seconds from ``now`` (unix time, on the server's clock) to the next midnight in Los Angeles (DST-safe); None
    where this machine has no time zone database to say when that is (the target then rests the longest rest)."""
    pacific = _zone(PACIFIC)
    if pacific is None:
        return None
    try:
        return _midnight_after(now, pacific)
    except (OverflowError, ValueError, OSError):  # (a Date no calendar holds: a gateway's "31 Dec 9999 23:00 GMT")
        return _midnight_after(time.time(), pacific)


def _midnight_after(now: float, zone: ZoneInfo) -> float:
    local = datetime.fromtimestamp(now, zone)
    midnight = (local.replace(tzinfo=None) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.replace(tzinfo=zone).timestamp() - now


@lru_cache(maxsize=4)
def _zone(name: str) -> ZoneInfo | None:
    """The time zone ``name``, or None where neither the system's database nor the tzdata package has it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


#: how to get past a block, by the reason Gemini gives (``promptFeedback.blockReason`` or ``finishReason``): only
#: SAFETY follows the request's ``safetySettings``; the others are not the caller's to set
_BLOCK_FIXES = {
    "SAFETY": (
        "rephrase the prompt, or raise the blocking category's threshold in the target's params.safetySettings "
        "(e.g. [{category: HARM_CATEGORY_HARASSMENT, threshold: BLOCK_ONLY_HIGH}])"
    ),
    "RECITATION": "the answer repeated a source too closely: ask for it in other words, or use another model",
    "LANGUAGE": "the model does not support the language of the prompt: use another model",
}
_NOT_SETTABLE = "safetySettings do not change this block: rephrase the prompt, or use another model"
#: blocks no request setting moves: Google's own policies, its blocklists, personal data
_NOT_SETTABLE_REASONS = frozenset({"PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_PROHIBITED_CONTENT"})


def blocked(what: str, field: str, reason: str, ratings: Any) -> str:
    """What a block says: ``the prompt was blocked (blockReason: SAFETY; blocked: HARM_CATEGORY_HARASSMENT (MEDIUM))``
    and the fix. ``ratings``: the ``safetyRatings`` that came with it, each ``blocked`` one named ("Inspect
    safety_ratings to understand which safety category blocked it")."""
    named = [
        f"{r.get('category')} ({r.get('probability')})" if r.get("probability") else str(r.get("category"))
        for r in (ratings if isinstance(ratings, list) else ())
        if isinstance(r, dict) and r.get("blocked") is True and r.get("category")
    ]
    why = f"; blocked: {', '.join(named)}" if named else ""
    fix = _BLOCK_FIXES.get(reason, _NOT_SETTABLE if reason in _NOT_SETTABLE_REASONS else "")
    return f"the {what} was blocked ({field}: {reason}{why})" + (f"; {fix}" if fix else "")
