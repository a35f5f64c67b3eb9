"""The span of each target a call sent to (:func:`target_span`), a child of the call's (see otel_spans.py), made from
the attempts' records once the call ends.

One span for a target's tries, not one per try: the GenAI conventions' spans "represent logical operations as
observed by the caller", and "if a transient issue happened and the request was retried automatically, the
corresponding span SHOULD cover the duration of the logical operation with all retries" (open-telemetry/
semantic-conventions-genai, docs/gen-ai/gen-ai-spans.md, "Spans"). A retry of magsag's is that: the same request to
the same model, sent again after a 429, a 5xx or a dropped connection. A fallback is not: another model, another
span. A target come back to after others (a 429's wait over, see cascade_comebacks.py) is another span too: the
call had moved on from it. Each try is an event of its target's span (``magsag.try``), with when it was sent, how
it ended, what it took and cost: what a span per try said, without counting the tries as operations.

The span's tokens and cost are its tries' together: each try was billed for what it used, so that a backend
summing ``gen_ai.usage.*`` over spans counts what was paid for, once. Its outcome is its last try's: a retried 500
that then answered is an answer, its failed try said by its event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import MagsagError
from .otel_requests import sent_settings
from .redaction import redact

if TYPE_CHECKING:
    from .records import AttemptRecord
    from .routing import Plan
    from .types import LLMRequest, LLMResult, Message, Target

#: gen_ai.provider.name for magsag's providers: the conventions' well-known names where there is one; the others
#: (local, compat, fake) keep magsag's, as the conventions ask of a provider they do not list
PROVIDER_NAMES = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic", "google": "gcp.gemini"}
#: gen_ai.operation.name: Gemini's generateContent is the conventions' generate_content; every other wire is a chat
OPERATIONS = {"google": "generate_content"}
#: providers whose wire asks for a streamed answer in the request's URL (Gemini's ``:streamGenerateContent``), not in
#: its JSON body, where the others' ``"stream": true`` is read (otel_requests.py)
STREAMED_IN_URL = frozenset({"google"})

#: the conventions' breakdown of the tokens (open-telemetry/semantic-conventions-genai v0.1.0,
#: docs/gen-ai/client-inference.md): each part "SHOULD be included in" gen_ai.usage.input_tokens or output_tokens,
#: as magsag's records count them (see types.Usage); set where the vendor reported some (a 0 may be a vendor that
#: reports none)
USAGE_PARTS = (
    ("cached_tokens", "gen_ai.usage.cache_read.input_tokens"),
    ("cache_write_tokens", "gen_ai.usage.cache_write.input_tokens"),
    ("reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
    ("input_audio_tokens", "gen_ai.usage.audio.input_tokens"),
    ("output_audio_tokens", "gen_ai.usage.audio.output_tokens"),
)

_NS = 1_000_000_000


def target_span(
    tracer: Any,
    parent: Any,
    kinds: tuple[Any, Any],
    cascade: Any,
    plan: Plan,
    tries: Sequence[AttemptRecord],
    answer: LLMResult | None,
    content: bool,
    *,
    origin: tuple[int, float] | None = None,
) -> None:
    """The span of ``tries``, a target's tries one after another (at least one), sent as children of ``parent``.
    ``kinds``: the API's SpanKind.CLIENT and StatusCode.ERROR. ``origin``: the parent's start on the wall clock and the
    cascade's monotonic clock's reading then, where the span starts as many nanoseconds after it as the first try was
    sent on that clock: on its first try's wall-clock start, a clock set back before it (a fallback's target after
    an hour's step back) placed the span before its parent's start, the targets in the wrong order."""
    client, error = kinds
    first, last = tries[0], tries[-1]
    provider = PROVIDER_NAMES.get(first.provider, first.provider)
    operation = OPERATIONS.get(first.provider, "chat")
    started = int(first.started_at * _NS)
    if origin is not None and first.sent_clock is not None:
        started = origin[0] + max(int((first.sent_clock - origin[1]) * _NS), 0)
    span = tracer.start_span(f"{operation} {first.model}", context=parent, kind=client, start_time=started)
    try:  # ended whatever happens here: a span never ended is never exported
        span.set_attribute("gen_ai.operation.name", operation)
        span.set_attribute("gen_ai.provider.name", provider)
        span.set_attribute("gen_ai.request.model", first.model)
        _usage(span, tries)
        span.set_attribute("magsag.fallback.position", first.fallback_position)
        span.set_attribute("magsag.attempt.tries", len(tries))
        _cost(span, tries)
        target = plan.candidates[first.fallback_position].target
        request = plan.request_for(target)
        _request(span, request, last.sent)
        if request.stream and first.provider in STREAMED_IN_URL:  # (its body has no "stream": otel_requests.py)
            span.set_attribute("gen_ai.request.stream", True)
        _server(span, cascade, target)
        if content:
            _input_content(span, request)
        for t in tries:
            span.add_event("magsag.try", _try_event(t), timestamp=started + int(since_first(first, t) * _NS))
        if last.outcome == "ok" and answer is not None:
            span.set_attribute("gen_ai.response.model", answer.model)
            span.set_attribute("gen_ai.response.finish_reasons", [answer.finish_reason])
            if answer.response_id:  # (less a key it echoes: a gateway minting the id from the bearer token, as the
                # result's id is shown, see invoke_result.shown_answer; the span is exported to a collector)
                span.set_attribute("gen_ai.response.id", redact(answer.response_id, answer=True))
            if content:
                _output_content(span, answer)
        elif last.outcome == "error":
            span.set_attribute("error.type", last.error_class or "error")
            span.set_status(error, last.error_message or None)
    finally:
        span.end(end_time=started + int(tries_took(tries) * _NS))


def tries_took(tries: Sequence[AttemptRecord]) -> float:
    """Seconds from a target's first try's request to its last try's answer, on the monotonic clock: its span's
    duration, and its operation's (otel_metrics.py)."""
    return since_first(tries[0], tries[-1]) + tries[-1].latency_ms / 1000


def since_first(first: AttemptRecord, t: AttemptRecord) -> float:
    """Seconds from ``first``'s start to try ``t``'s, on the cascade's monotonic clock: the wall clock's started_at of
    each (the ledger's) may go back between them (NTP stepping it, a VM resumed), and the span ended before it began,
    its duration negative. A try with no reading (none of the cascade's sends) is measured on the wall clock, never
    before the first."""
    if t is first:
        return 0.0
    if t.sent_clock is not None and first.sent_clock is not None:
        return max(t.sent_clock - first.sent_clock, 0.0)
    return max(t.started_at - first.started_at, 0.0)


def _try_event(t: AttemptRecord) -> dict[str, Any]:
    """One try of a target: its number (1 for the first), how it ended, how long it took, what it used and cost."""
    attributes: dict[str, Any] = {
        "magsag.attempt.try": t.attempt_number,
        "magsag.try.outcome": t.outcome,
        "magsag.try.latency_ms": float(t.latency_ms),
        "magsag.try.input_tokens": t.input_tokens,
        "magsag.try.output_tokens": t.output_tokens,
    }
    if t.cost_usd is not None:
        attributes["magsag.try.cost_usd"] = float(t.cost_usd)
    if t.outcome == "error":
        attributes["error.type"] = t.error_class or "error"
        if t.error_message:  # (redacted when it was recorded)
            attributes["magsag.try.error"] = t.error_message
    return attributes


def _usage(span: Any, tries: Sequence[AttemptRecord]) -> None:
    """The conventions' usage of the target's tries together (see the module's docstring)."""
    span.set_attribute("gen_ai.usage.input_tokens", sum(t.input_tokens for t in tries))
    span.set_attribute("gen_ai.usage.output_tokens", sum(t.output_tokens for t in tries))
    for field, attribute in USAGE_PARTS:
        total = sum(getattr(t, field) for t in tries)
        if total:
            span.set_attribute(attribute, total)


def _cost(span: Any, tries: Sequence[AttemptRecord]) -> None:
    """The tries' cost together, as :func:`cost_attributes` writes it; unknown where any try's is, its worst case
    then the known costs and the others' estimated worst cases, where each has one."""
    cost: Decimal | None = Decimal(0)
    bound: Decimal | None = Decimal(0)
    for t in tries:
        if cost is not None and t.cost_usd is not None:
            cost += t.cost_usd
        else:
            cost = None
        worst = t.cost_usd if t.cost_usd is not None else t.cost_bound_usd
        bound = None if bound is None or worst is None else bound + worst
    cost_attributes(span, cost, bound)


def cost_attributes(span: Any, cost: Any, bound: Any = None) -> None:
    """``magsag.cost_usd`` as a double: what a tracing backend sums, charts and alerts on (a string it cannot). The
    exact figure is the ledger's; every cost magsag computes (tokens times a price of a few digits) has far fewer
    than the 15 significant digits a double holds, so the double reads back as the same decimal. An unknown cost is
    absent, never 0, and flagged (``magsag.cost_unknown``), with its worst case where one was estimated."""
    if cost is not None:
        span.set_attribute("magsag.cost_usd", float(cost))
        return
    span.set_attribute("magsag.cost_unknown", True)
    if bound is not None:
        span.set_attribute("magsag.cost_bound_usd", float(bound))


def _request(span: Any, request: LLMRequest, sent: Any) -> None:
    """What the request asked of the model, in the conventions' ``gen_ai.request.*``: as its JSON body sent it
    (``sent``, see otel_requests.py), or, for a provider that sends none (fake), as the call and the target's
    params gave it; and ``gen_ai.output.type`` where it asked for JSON (the conventions require it where a request
    names an output format)."""
    if isinstance(sent, Mapping):
        for attribute, value in sent_settings(sent).items():
            span.set_attribute(attribute, value)
    else:
        _asked(span, request)
    if request.json_schema is not None or request.json_output:
        span.set_attribute("gen_ai.output.type", "json")


def _asked(span: Any, request: LLMRequest) -> None:
    """The conventions' ``gen_ai.request.*`` the request set, of the right type (a vendor's own parameter passed
    through under another name or type is not the conventions')."""
    if request.max_tokens is not None:
        span.set_attribute("gen_ai.request.max_tokens", request.max_tokens)
    if request.temperature is not None:
        span.set_attribute("gen_ai.request.temperature", float(request.temperature))
    if request.stop:
        span.set_attribute("gen_ai.request.stop_sequences", list(request.stop))
    for name, attribute, kind in _REQUEST_EXTRAS:
        value = request.extra.get(name)
        if isinstance(value, kind) and not isinstance(value, bool):
            span.set_attribute(attribute, float(value) if kind is _NUMBER else value)


#: parameters a call passes through to the vendor (``LLMRequest.extra``) that the conventions name, and their type
_NUMBER = (int, float)
_REQUEST_EXTRAS = (
    ("top_p", "gen_ai.request.top_p", _NUMBER),
    ("top_k", "gen_ai.request.top_k", _NUMBER),
    ("frequency_penalty", "gen_ai.request.frequency_penalty", _NUMBER),
    ("presence_penalty", "gen_ai.request.presence_penalty", _NUMBER),
    ("seed", "gen_ai.request.seed", int),
)  # (not n, gen_ai.request.choice.count: a call cannot set it, and one answer is the conventions' default)


def _server(span: Any, cascade: Any, target: Target) -> None:
    """``server.address`` and ``server.port`` of the attempt (:func:`server_address`)."""
    server = server_address(cascade, target)
    if server is not None:
        host, port = server
        span.set_attribute("server.address", host)
        if port:
            span.set_attribute("server.port", port)


def server_address(cascade: Any, target: Target) -> tuple[str, int | None] | None:
    """The host and port of the base URL an attempt was sent to, as its provider reads it (never the rest of the URL,
    which may carry a user or a key). None for a provider with no endpoint (fake), or one that cannot say (no URL
    configured: the attempt failed before sending)."""
    endpoint = getattr(cascade.providers.get(target.provider), "endpoint", None)
    if endpoint is None:
        return None
    try:
        url = urlsplit(endpoint.base_url(target).strip())
        host, port = url.hostname, url.port or _DEFAULT_PORTS.get(url.scheme)
    except (ValueError, MagsagError):  # (a URL the provider refused, or none set: said in the attempt's error)
        return None
    return (host, port) if host else None


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _input_content(span: Any, request: LLMRequest) -> None:
    """The prompt as the conventions write it (``gen_ai.input.messages``, ``gen_ai.system_instructions``), each text
    redacted: asked for only with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``."""
    if request.system:
        span.set_attribute("gen_ai.system_instructions", _json([{"type": "text", "content": redact(request.system)}]))
    span.set_attribute("gen_ai.input.messages", _json([_message(m) for m in request.messages]))


def _output_content(span: Any, answer: LLMResult) -> None:
    parts: list[dict[str, Any]] = []
    if answer.text:
        parts.append({"type": "text", "content": redact(answer.text, answer=True)})
    for call in answer.tool_calls:
        parts.append({"type": "tool_call", "id": call.id, "name": call.name, "arguments": _redacted(call.arguments)})
    message = {"role": "assistant", "parts": parts, "finish_reason": answer.finish_reason}
    span.set_attribute("gen_ai.output.messages", _json([message]))


def _message(message: Message) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if message.role == "tool":
        parts.append(
            {"type": "tool_call_response", "id": message.tool_call_id, "response": redact(message.content or "")}
        )
    elif message.content:
        parts.append({"type": "text", "content": redact(message.content)})
    for call in message.tool_calls:
        parts.append({"type": "tool_call", "id": call.id, "name": call.name, "arguments": _redacted(call.arguments)})
    return {"role": message.role, "parts": parts}


def _redacted(value: Any) -> Any:
    """A tool call's arguments with every string in them redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
