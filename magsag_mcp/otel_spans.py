"""OpenTelemetry spans of the service's calls: one span per call, a child span per attempt sent, following the GenAI
semantic conventions (``gen_ai.*``), with magsag's own attributes (``magsag.*``); see docs/python.md, "Tracing with
OpenTelemetry". Hooked once, on :meth:`.cascade.Cascade.run` (:func:`traced`), which every call of the service
(the Python API, the MCP server, the CLI) goes through.

What it costs where nobody traces: nothing is imported. The API is looked up in ``sys.modules`` on each call until
it is there (one dict read), never imported here: a process that has not imported ``opentelemetry.trace`` can have
no tracer provider set (``set_tracer_provider`` lives there, and ``opentelemetry-instrument`` imports it before the
program starts) and no current span to be a child of, so there is nothing to trace to, and importing it (~27 ms)
would only slow the first call. Imported but with no tracer provider set (the MCP SDK imports it in every server),
the tracer is seen to be the API's no-op and the call runs as it would untraced: no span made, no attribute built, no
extra frame awaited.

The call's span starts when the call's coroutine runs, not when ``Cascade.run`` is called: a coroutine made and
awaited later (or handed to a task) starts its span then, as a child of the span current where it runs, and one
never awaited leaves no span open.

The call's span is made current while the cascade runs (anything traced beneath it, an instrumented HTTP client,
nests under it); its attempts' spans are made from their records once the call ends, with the times each attempt
was sent and answered: the records hold what the spans say (tokens, cost, the error's kind), already redacted, and
the cascade's loop, the hot path, is left alone. Targets passed over unsent (no key, a policy, a budget, the
deadline) are events of the call's span, not spans: no request was made. A bug here is logged and never fails the
call, which was paid for.

Prompts and answers are not recorded unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (the setting
OpenTelemetry's GenAI instrumentations read) asks for them on spans; even then every text is redacted as the ledger's
messages are, so that no API key reaches a trace.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from . import __version__
from .errors import MagsagError, redacting_logger
from .invoke_result import call_cost
from .redaction import redact

if TYPE_CHECKING:
    from .records import AttemptRecord
    from .routing import Plan
    from .types import LLMRequest, LLMResult, Message, Target

log = redacting_logger("magsag_mcp.otel_spans")

F = TypeVar("F", bound=Callable[..., Any])

#: the setting of OpenTelemetry's GenAI instrumentations that records prompts and answers, and the values of it
#: that ask for them on spans (this module makes no log events: EVENT_ONLY records nothing here)
CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON = frozenset({"true", "1", "yes", "span_only", "span_and_event"})

#: gen_ai.provider.name for magsag's providers: the conventions' well-known names where there is one; the others
#: (local, compat, fake) keep magsag's, as the conventions ask of a provider they do not list
PROVIDER_NAMES = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic", "google": "gcp.gemini"}
#: gen_ai.operation.name: Gemini's generateContent is the conventions' generate_content; every other wire is a chat
OPERATIONS = {"google": "generate_content"}

_NS = 1_000_000_000
#: the tracer calls' spans are made with, once the API was seen imported (tests put one of their own here)
_tracer: Any = None
#: opentelemetry.trace and opentelemetry.context, once seen imported: read from here, not by an import statement,
#: which costs thousands of instructions each time it runs (see tests/test_call_overhead.py)
_trace: Any = None
_context: Any = None
#: the API's NoOpTracer class, what a tracer stands for where no provider is set (:func:`_may_record`)
_NO_OP: Any = None
#: the Enum members the spans are made with, read once: on Python 3.11 each read of an Enum's member goes through
#: EnumType's __getattr__ hook (~1,500 instructions: see tests/test_cascade_failures.py)
_INTERNAL: Any = None
_CLIENT: Any = None
_ERROR: Any = None


def _tracer_if_imported() -> Any:
    """The tracer, or None where nothing imported OpenTelemetry's API (see the module's docstring)."""
    global _tracer, _trace, _context, _NO_OP, _INTERNAL, _CLIENT, _ERROR
    if _trace is None:
        # (None too where an import of it was blocked: sys.modules["opentelemetry.trace"] = None)
        trace = sys.modules.get("opentelemetry.trace")
        if trace is None:
            return None
        _context = sys.modules["opentelemetry.context"]  # (the API's trace module imports it)
        _INTERNAL, _CLIENT, _ERROR = trace.SpanKind.INTERNAL, trace.SpanKind.CLIENT, trace.StatusCode.ERROR
        _NO_OP = trace.NoOpTracer
        _trace = trace
    if _tracer is None:
        # a ProxyTracer until a provider is set: one set later is used from then on
        _tracer = _trace.get_tracer("magsag_mcp", __version__)
    return _tracer


def _may_record(tracer: Any) -> bool:
    """Whether ``tracer`` can make a span that records: not where no tracer provider is set (the API's ProxyTracer
    then stands for its NoOpTracer, which it names ``_tracer``), nor where the one set makes no spans (the SDK's with
    ``OTEL_SDK_DISABLED``). Asked as the call is made, without making a span: the span starts when the call runs.
    (An API whose ProxyTracer no longer names it reads as a tracer that may record: spans are made, at a cost.)"""
    return not isinstance(getattr(tracer, "_tracer", tracer), _NO_OP)


def traced(run: F) -> F:
    """``Cascade.run`` with a span per call made current while it runs, and its attempts' spans made as it ends."""

    # Cascade.run's own keywords, passed on as keywords (its signature, kept equal: tests/test_otel_spans.py), not
    # gathered as **options: a dict of eight made and unpacked again cost some 5,800 instructions a call, traced or
    # not (the forty-seventh round, benchmarks/ROUNDS.md)
    @functools.wraps(run)
    def run_traced(
        cascade: Any,
        plan: Plan,
        *,
        run_id: str,
        agent: str | None,
        progress: Any = None,
        attempts: list[AttemptRecord] | None = None,
        parent_run_id: str | None = None,
        delegated_from: str | None = None,
        call_id: str | None = None,
    ) -> Any:
        tracer = _tracer_if_imported()
        if tracer is not None and _may_record(tracer):
            # the span is started by the coroutine as it runs, not here: a call made and awaited later (or given to
            # a task) starts its span then, in the context it runs in, and one never awaited leaves none open
            options = {
                "run_id": run_id,
                "agent": agent,
                "progress": progress,
                "attempts": attempts,
                "parent_run_id": parent_run_id,
                "delegated_from": delegated_from,
                "call_id": call_id,
            }
            return _run_in_span(tracer, run, cascade, plan, options)
        # the coroutine itself: no frame of ours awaited on the way
        return run(
            cascade,
            plan,
            run_id=run_id,
            agent=agent,
            progress=progress,
            attempts=attempts,
            parent_run_id=parent_run_id,
            delegated_from=delegated_from,
            call_id=call_id,
        )

    return run_traced  # type: ignore[return-value]


async def _run_in_span(tracer: Any, run: Callable[..., Any], cascade: Any, plan: Plan, options: dict[str, Any]) -> Any:
    span = tracer.start_span(f"magsag {plan.skill_id}", kind=_INTERNAL)
    if not span.is_recording():  # sampled out: the call runs as it would untraced
        return await run(cascade, plan, **options)
    if options["attempts"] is None:
        options["attempts"] = []  # the list the cascade fills as attempts end, whichever way it ends
    token = _context.attach(_trace.set_span_in_context(span))
    try:
        outcome = await run(cascade, plan, **options)
    except BaseException as exc:
        _context.detach(token)
        _end(tracer, span, cascade, plan, options, None, exc)
        raise
    _context.detach(token)
    _end(tracer, span, cascade, plan, options, outcome.result, None)
    return outcome


def _end(
    tracer: Any,
    span: Any,
    cascade: Any,
    plan: Plan,
    options: Mapping[str, Any],
    answer: LLMResult | None,
    exc: BaseException | None,
) -> None:
    try:
        _describe(tracer, span, cascade, plan, options, answer, exc)
    except Exception:  # a bug of ours: the call (paid for) goes on, its span without what was not written
        log.exception("magsag-mcp could not describe the call's OpenTelemetry span")
    finally:
        span.end()


def _describe(
    tracer: Any,
    span: Any,
    cascade: Any,
    plan: Plan,
    options: Mapping[str, Any],
    answer: LLMResult | None,
    exc: BaseException | None,
) -> None:
    trace = _trace
    attempts: list[AttemptRecord] = options["attempts"]
    span.set_attribute("magsag.skill", plan.skill_id)
    span.set_attribute("magsag.run_id", options["run_id"])
    for name in ("agent", "parent_run_id"):
        if options.get(name):
            span.set_attribute(f"magsag.{name}", options[name])
    _cost(span, call_cost(attempts))
    env = getattr(getattr(cascade, "providers", None), "env", None) or {}
    content = str(env.get(CAPTURE_CONTENT, "")).strip().lower() in _CAPTURE_ON
    parent = trace.set_span_in_context(span)
    sent = 0
    for a in attempts:
        label = f"{a.provider}:{a.model}"
        started = int(a.started_at * _NS)
        if a.outcome != "ok" and a.outcome != "error":  # passed over, never sent: an event of the call
            span.add_event(
                "magsag.target_skipped",
                {
                    "magsag.target": label,
                    "magsag.skip.outcome": a.outcome,
                    "magsag.skip.reason": a.error_message or "",
                    "magsag.fallback.position": a.fallback_position,
                },
                timestamp=started,
            )
            continue
        sent += 1
        provider = PROVIDER_NAMES.get(a.provider, a.provider)
        operation = OPERATIONS.get(a.provider, "chat")
        attempt = tracer.start_span(f"{operation} {a.model}", context=parent, kind=_CLIENT, start_time=started)
        try:  # ended whatever happens here: a span never ended is never exported
            attempt.set_attribute("gen_ai.operation.name", operation)
            attempt.set_attribute("gen_ai.provider.name", provider)
            attempt.set_attribute("gen_ai.request.model", a.model)
            attempt.set_attribute("gen_ai.usage.input_tokens", a.input_tokens)
            attempt.set_attribute("gen_ai.usage.output_tokens", a.output_tokens)
            attempt.set_attribute("magsag.fallback.position", a.fallback_position)
            attempt.set_attribute("magsag.attempt.try", a.attempt_number)
            _cost(attempt, a.cost_usd, a.cost_bound_usd)
            target = plan.candidates[a.fallback_position].target
            request = plan.request_for(target)
            _request(attempt, request)
            _server(attempt, cascade, target)
            if content:
                _input_content(attempt, request)
            if a.outcome == "ok" and answer is not None:
                attempt.set_attribute("gen_ai.response.model", answer.model)
                attempt.set_attribute("gen_ai.response.finish_reasons", [answer.finish_reason])
                if answer.response_id:
                    attempt.set_attribute("gen_ai.response.id", answer.response_id)
                if content:
                    _output_content(attempt, answer)
                span.set_attribute("magsag.target", label)
                span.set_attribute("magsag.fallback.position", a.fallback_position)
            elif a.outcome == "error":
                attempt.set_attribute("error.type", a.error_class or "error")
                attempt.set_status(_ERROR, a.error_message or None)
        finally:
            attempt.end(end_time=started + int(a.latency_ms * 1_000_000))
    span.set_attribute("magsag.attempts", sent)
    if exc is not None:
        if isinstance(exc, MagsagError):
            kind, message = exc.kind, exc.message  # (redacted when it was made)
        elif isinstance(exc, Exception):
            kind, message = type(exc).__qualname__, None  # a bug's text may hold anything: its class alone
        else:  # cancelled, or an interpreter exit raised through the call
            kind, message = "cancelled", None
        span.set_attribute("error.type", kind)
        span.set_status(_ERROR, message)


def _cost(span: Any, cost: Any, bound: Any = None) -> None:
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


def _request(span: Any, request: LLMRequest) -> None:
    """What the request asked of the model, in the conventions' ``gen_ai.request.*`` (those set, of the right type:
    a vendor's own parameter passed through under another name or type is not the conventions'), and
    ``gen_ai.output.type`` where it asked for JSON (the conventions require it where a request names an output
    format)."""
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
    if request.json_schema is not None or request.json_output:
        span.set_attribute("gen_ai.output.type", "json")


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
    """``server.address`` and ``server.port``: the host and port of the base URL the attempt was sent to, as its
    provider reads it (never the rest of the URL, which may carry a user or a key). None for a provider with no
    endpoint (fake), or one that cannot say (no URL configured: the attempt failed before sending)."""
    endpoint = getattr(cascade.providers.get(target.provider), "endpoint", None)
    if endpoint is None:
        return
    try:
        url = urlsplit(endpoint.base_url(target).strip())
        host, port = url.hostname, url.port or _DEFAULT_PORTS.get(url.scheme)
    except (ValueError, MagsagError):  # (a URL the provider refused, or none set: said in the attempt's error)
        return
    if host:
        span.set_attribute("server.address", host)
        if port:
            span.set_attribute("server.port", port)


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
