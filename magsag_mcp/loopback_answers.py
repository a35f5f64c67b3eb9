"""The bodies :class:`~magsag_mcp.loopback.LoopbackUpstream` answers with, each in its vendor's documented shape
(``shared/specs``): every field the spec requires, those with nothing to say as null, and each stream's events in the
order the vendor sends them. A client that reads a field the real API always sends (``stop_details``, the Responses
API's echoed ``max_output_tokens``, ``usage.input_tokens_details.cache_write_tokens``) reads it here too, so that an
example or a demo run offline exercises the code a real answer would.
"""

from __future__ import annotations

import json
import time
from typing import Any

#: Anthropic's ``ErrorResponse`` requires a ``request_id`` (the API's own, also in its ``request-id`` header)
LOOPBACK_REQUEST_ID = "req_loopback"

_OPENAI_ERROR = {"message": "", "type": "", "param": None, "code": None}


def error_body(vendor: str, status: int, kind: str, message: str) -> dict[str, Any]:
    """The vendor's error body: OpenAI's ``{"error": {message, type, param, code}}``, Anthropic's ``ErrorResponse``,
    Google's ``{"error": Status}``."""
    if vendor == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": LOOPBACK_REQUEST_ID}
    if vendor == "google":
        return {"error": {"code": status, "message": message, "status": kind.upper()}}
    return {"error": {**_OPENAI_ERROR, "message": message, "type": kind, "code": kind}}


#: what each vendor answers a call whose account has spent its quota or credit: (status, error type, message)
_SPENT = {
    "openai": (
        429,
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    # a spent balance is a 400, not a 429 (the spec's billing_error is not how the API says it)
    "anthropic": (
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
        "purchase credits.",
    ),
    "google": (
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For more information on this "
        "error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    ),
}


def quota_spent(vendor: str, model: str) -> tuple[int, dict[str, Any]]:
    """The status and body of a call refused for a spent quota or credit, as ``vendor`` answers it. Gemini's says
    which quota in its ``google.rpc.QuotaFailure`` (a day's, whose message is the same as a minute's) beside the
    ``RetryInfo`` Google sends with it all the same."""
    status, kind, message = _SPENT[vendor]
    body = error_body(vendor, status, kind, message)
    if vendor == "google":
        body["error"]["details"] = _google_quota(model, "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "250")
        body["error"]["details"].append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"})
    return status, body


def google_rate_limited(model: str, retry_after: float) -> list[dict[str, Any]]:
    """The ``details`` of Gemini's 429 for a per-minute quota: which one, and the wait (``RetryInfo.retryDelay``, a
    Duration's JSON: seconds in decimal, at most nine digits after the point, with an ``s``; ``:g`` wrote 5e-05 s as
    ``5e-05s``, no Duration)."""
    details = _google_quota(model, "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "10")
    seconds = f"{retry_after:.9f}".rstrip("0").rstrip(".")
    return [*details, {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}]


def _google_quota(model: str, quota_id: str, value: str) -> list[dict[str, Any]]:
    violation = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "quotaId": quota_id,
        "quotaDimensions": {"location": "global", "model": model},
        "quotaValue": value,
    }
    return [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]}]


# --- the Responses API -------------------------------------------------------------------------------------------


def response(body: dict[str, Any], model: str, item: dict[str, Any] | None, n_in: int, n_out: int) -> dict[str, Any]:
    """A ``Response``: ``item`` its one output item (None: one still in progress, with no output and no usage), the
    request's settings echoed as the API echoes them."""
    instructions = body.get("instructions")
    whole: dict[str, Any] = {
        "id": "resp_loopback",
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress" if item is None else "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [] if item is None else [item],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "metadata": {},
    }
    if item is not None:  # (not before: the spec's usage is no nullable field, and the API sends it with the answer)
        whole["usage"] = {
            "input_tokens": n_in,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": n_out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": n_in + n_out,
        }
    return whole


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(text: str, *, done: bool = True) -> dict[str, Any]:
    """An assistant message (``OutputMessage``) with its text, or (not done) as it is announced, with none yet."""
    return {
        "type": "message",
        "id": "msg_loopback",
        "status": "completed" if done else "in_progress",
        "role": "assistant",
        "content": [output_text(text)] if done else [],
    }


def function_call_item(call_id: str, name: str, arguments: str, *, done: bool = True) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_loopback",
        "call_id": call_id,
        "name": name,
        "arguments": arguments if done else "",
        "status": "completed" if done else "in_progress",
    }


def response_events(answered: dict[str, Any], started: dict[str, Any]) -> list[dict[str, Any]]:
    """A streamed response's events, as the API sends them: ``response.created`` and ``.in_progress`` (``started``,
    the response with no output yet), the output item added, its text (or arguments) in a delta and done, the item
    done, then ``response.completed`` (``response.incomplete`` for an incomplete one) with the whole response
    (``answered``). Each has its ``sequence_number``."""
    item = answered["output"][0]
    at = {"output_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    if item["type"] == "function_call":
        shell = function_call_item(item["call_id"], item["name"], item["arguments"], done=False)
        on_item = {**at, "item_id": item["id"]}
        events += [
            {"type": "response.output_item.added", **at, "item": shell},
            {"type": "response.function_call_arguments.delta", **on_item, "delta": item["arguments"]},
            {
                "type": "response.function_call_arguments.done",
                **on_item,
                "name": item["name"],
                "arguments": item["arguments"],
            },
        ]
    else:
        text = item["content"][0]["text"]
        on_part = {**at, "item_id": item["id"], "content_index": 0}
        events += [
            {"type": "response.output_item.added", **at, "item": message_item("", done=False)},
            {"type": "response.content_part.added", **on_part, "part": output_text("")},
            {"type": "response.output_text.delta", **on_part, "delta": text, "logprobs": []},
            {"type": "response.output_text.done", **on_part, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **on_part, "part": output_text(text)},
        ]
    events += [
        {"type": "response.output_item.done", **at, "item": item},
        # ResponseIncompleteEvent for an answer that ended incomplete (a content filter's stop)
        {
            "type": "response.incomplete" if answered["status"] == "incomplete" else "response.completed",
            "response": answered,
        },
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


# --- Anthropic Messages ------------------------------------------------------------------------------------------


def anthropic_usage(n_in: int, n_out: int) -> dict[str, Any]:
    """A ``Usage``, every field present: no cache read or written, standard tier."""
    return {
        "input_tokens": n_in,
        "output_tokens": n_out,
        "cache_creation": None,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "inference_geo": None,
        "output_tokens_details": None,
        "server_tool_use": None,
        "service_tier": "standard",
    }


def anthropic_block(block: dict[str, Any]) -> dict[str, Any]:
    """A content block with the fields the API writes beside those it was made of: a text's ``citations``, a tool
    call's ``caller`` (the model itself)."""
    if block["type"] == "text":
        return {**block, "citations": None}
    return {**block, "caller": {"type": "direct"}}


def anthropic_message(model: str, block: dict[str, Any], stop: str | None, usage: dict[str, Any]) -> dict[str, Any]:
    """A ``Message`` with its one content block (none while ``stop`` is None: the message_start of a stream)."""
    return {
        "id": "msg_loopback",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if stop is None else [anthropic_block(block)],
        "stop_reason": stop,
        "stop_sequence": None,
        "stop_details": stop_details(stop),
        "container": None,
        "usage": usage,
    }


def stop_details(stop: str | None) -> dict[str, Any] | None:
    """``RefusalStopDetails`` for a refusal (its policy category, an explanation), else null."""
    if stop != "refusal":
        return None
    return {"type": "refusal", "category": "cyber", "explanation": "loopback: a planned refusal"}


def anthropic_events(model: str, block: dict[str, Any], stop: str, n_in: int, n_out: int) -> list[tuple[str, Any]]:
    """A streamed message's events: ``message_start`` (the message with no content, one output token counted),
    ``ping``, the block's start, its one delta and its stop, ``message_delta`` (the stop reason, the cumulative
    usage), ``message_stop``."""
    if block["type"] == "tool_use":
        start = anthropic_block({**block, "input": {}})
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    else:
        start, delta = anthropic_block({"type": "text", "text": ""}), {"type": "text_delta", "text": block["text"]}
    usage = anthropic_usage(n_in, n_out)
    said = {k: usage[k] for k in _DELTA_USAGE}
    ended = {"stop_reason": stop, "stop_sequence": None, "stop_details": stop_details(stop), "container": None}
    opened = anthropic_message(model, block, None, {**usage, "output_tokens": 1})
    return [
        ("message_start", {"type": "message_start", "message": opened}),
        ("ping", {"type": "ping"}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": ended, "usage": said}),
        ("message_stop", {"type": "message_stop"}),
    ]


#: the counts ``MessageDeltaUsage`` carries (cumulative): no ``cache_creation``, ``inference_geo`` or tier
_DELTA_USAGE = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens_details",
    "server_tool_use",
)


# --- a content filter's stop -------------------------------------------------------------------------------------

#: Azure's ``content_filter_results`` (``contentFilterChoiceResults``) on a choice its violence filter stopped: each
#: category's ``filtered`` and ``severity``; and ``prompt_filter_results`` (``promptFilterResults``) of a prompt that
#: passed
AZURE_FILTERED = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": True, "severity": "high"},
}
AZURE_PROMPT_PASSED = [
    {"prompt_index": 0, "content_filter_results": {k: {"filtered": False, "severity": "safe"} for k in AZURE_FILTERED}}
]
#: Gemini's ``safetyRatings`` of a candidate its SAFETY filter blocked: the category that blocked it
GEMINI_BLOCKED = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]


def part_way(text: str) -> str:
    """The part of an answer that came before a content filter stopped it: its first half."""
    return text[: max(1, len(text) // 2)]
