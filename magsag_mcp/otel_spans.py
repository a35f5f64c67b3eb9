"""OpenTelemetry spans of the service's calls: one span per call, a child span per target it sent to (its tries,
a retry's, events of it: see otel_attempts.py), following the GenAI semantic conventions (``gen_ai.*``), with
magsag's own attributes (``magsag.*``); see docs/python.md, "Tracing with OpenTelemetry". Hooked once, on
:meth:`.cascade.Cascade.run` (:func:`traced`), which every call of the service (the Python API, the MCP server, the
CLI) goes through. The same hook records the GenAI client metrics of the targets sent to (otel_metrics.py), where a
meter provider is set, traced or not.

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
nests under it), sampled out or not (a sampled-out call's traceparent, sent on, says so); its targets' spans are
made from the attempts' records once the call ends, with the times each attempt was sent and answered: the records
hold what the spans say (tokens, cost, the error's kind, the body each request was sent with), already redacted, and
the cascade's loop, the hot path, is left alone. Targets passed over unsent (no key, a policy, a budget, the
deadline) are events of the call's span, not spans: no request was made; so is an answer from the answer cache
(``magsag.cache_hit``, naming the run that paid for it). A bug here is logged and never fails the
call, which was paid for.

Prompts and answers are not recorded unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (the setting
OpenTelemetry's GenAI instrumentations read) asks for them on spans; even then every text is redacted as the ledger's
messages are, so that no API key reaches a trace.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from . import __version__
from .errors import MagsagError, redacting_logger
from .invoke_result import call_cost
from .otel_attempts import cost_attributes, target_span
from .otel_metrics import Instruments, recording
from .otel_metrics import record as record_metrics

if TYPE_CHECKING:
    from .records import AttemptRecord
    from .routing import Plan
    from .types import LLMResult

log = redacting_logger("magsag_mcp.otel_spans")

F = TypeVar("F", bound=Callable[..., Any])

#: the setting of OpenTelemetry's GenAI instrumentations that records prompts and answers, and the values of it
#: that ask for them on spans (this module makes no log events: EVENT_ONLY records nothing here)
CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON = frozenset({"true", "1", "yes", "span_only", "span_and_event"})

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
        if tracer is not None and not _may_record(tracer):
            tracer = None
        instruments = recording()  # (the GenAI client metrics: otel_metrics.py)
        if tracer is not None or instruments is not None:
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
            if tracer is None:
                return _run_measured(instruments, run, cascade, plan, options)
            return _run_in_span(tracer, instruments, run, cascade, plan, options)
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


async def _run_measured(
    instruments: Instruments | None, run: Callable[..., Any], cascade: Any, plan: Plan, options: dict[str, Any]
) -> Any:
    """The call untraced, its operations measured once it ends (:func:`.otel_metrics.record`)."""
    if options["attempts"] is None:
        options["attempts"] = []  # the list the cascade fills as attempts end, whichever way it ends
    try:
        outcome = await run(cascade, plan, **options)
    except BaseException:
        _measure(instruments, cascade, plan, options, None)
        raise
    _measure(instruments, cascade, plan, options, outcome.result)
    return outcome


def _measure(
    instruments: Instruments | None, cascade: Any, plan: Plan, options: Mapping[str, Any], answer: LLMResult | None
) -> None:
    if instruments is None:
        return
    try:
        record_metrics(instruments, cascade, plan, options["attempts"], answer)
    except Exception:  # a bug of ours: the call (paid for) goes on, unmeasured
        log.exception("magsag-mcp could not record the call's OpenTelemetry metrics")


async def _run_in_span(
    tracer: Any,
    instruments: Instruments | None,
    run: Callable[..., Any],
    cascade: Any,
    plan: Plan,
    options: dict[str, Any],
) -> Any:
    # Its start on the wall clock, its end that plus the time gone on the cascade's monotonic clock: the SDK's default
    # end (the wall clock's then) came before the start where the clock was set back mid-call (NTP stepping it, a VM
    # resumed), a span of minus an hour
    clock = getattr(cascade, "clock", None) or time.monotonic
    begun_at, begun = int(time.time() * _NS), clock()
    span = tracer.start_span(f"magsag {plan.skill_id}", kind=_INTERNAL, start_time=begun_at)
    if instruments is not None and options["attempts"] is None:
        options["attempts"] = []  # (measured whether the span records or not)
    if not span.is_recording():
        # Sampled out: nothing to describe, but the span is current all the same, so that what the call does
        # beneath it carries its decision: an instrumented HTTP client's span is its child, sampled out with it
        # (a parent-based sampler's), and the traceparent sent on says so (its sampled flag clear), in this
        # trace. Not made current, they began a trace of their own, which the sampler could keep, and a
        # downstream service saw a trace sampled in that the call's was not.
        token = _context.attach(_trace.set_span_in_context(span))
        try:
            outcome = await run(cascade, plan, **options)
        except BaseException:
            _measure(instruments, cascade, plan, options, None)
            raise
        finally:
            _context.detach(token)
            span.end()  # (a span not recording ends as nothing: ended all the same, as the API asks)
        _measure(instruments, cascade, plan, options, outcome.result)
        return outcome
    if options["attempts"] is None:
        options["attempts"] = []  # the list the cascade fills as attempts end, whichever way it ends
    token = _context.attach(_trace.set_span_in_context(span))
    try:
        outcome = await run(cascade, plan, **options)
    except BaseException as exc:
        _context.detach(token)
        _end(tracer, span, cascade, plan, options, None, exc, (begun_at, begun, clock))
        _measure(instruments, cascade, plan, options, None)
        raise
    _context.detach(token)
    _end(tracer, span, cascade, plan, options, outcome.result, None, (begun_at, begun, clock))
    _measure(instruments, cascade, plan, options, outcome.result)
    return outcome


def _end(
    tracer: Any,
    span: Any,
    cascade: Any,
    plan: Plan,
    options: Mapping[str, Any],
    answer: LLMResult | None,
    exc: BaseException | None,
    origin: tuple[int, float, Callable[[], float]],
) -> None:
    """``origin``: the span's start on the wall clock, the monotonic clock's reading then, and that clock: the span
    ends at the start plus the time gone on it, and its targets' spans are placed on it (see otel_attempts.py)."""
    begun_at, begun, clock = origin
    ended_at = begun_at + _gone(clock, begun)
    try:
        _describe(tracer, span, cascade, plan, options, answer, exc, (begun_at, begun))
    except Exception:  # a bug of ours: the call (paid for) goes on, its span without what was not written
        log.exception("magsag-mcp could not describe the call's OpenTelemetry span")
    finally:
        span.end(end_time=ended_at)


def _gone(clock: Callable[[], float], begun: float) -> int:
    """Nanoseconds gone since ``begun`` on ``clock`` (monotonic), never fewer than 0."""
    return max(int((clock() - begun) * _NS), 0)


def _describe(
    tracer: Any,
    span: Any,
    cascade: Any,
    plan: Plan,
    options: Mapping[str, Any],
    answer: LLMResult | None,
    exc: BaseException | None,
    origin: tuple[int, float],
) -> None:
    trace = _trace
    attempts: list[AttemptRecord] = options["attempts"]
    span.set_attribute("magsag.skill", plan.skill_id)
    span.set_attribute("magsag.run_id", options["run_id"])
    for name in ("agent", "parent_run_id"):
        if options.get(name):
            span.set_attribute(f"magsag.{name}", options[name])
    cost_attributes(span, call_cost(attempts))
    env = getattr(getattr(cascade, "providers", None), "env", None) or {}
    content = str(env.get(CAPTURE_CONTENT, "")).strip().lower() in _CAPTURE_ON
    parent = trace.set_span_in_context(span)
    kinds = (_CLIENT, _ERROR)
    sent = 0
    tries: list[AttemptRecord] = []  # the tries of one target, one after another: one span (see otel_attempts.py)
    for a in attempts:
        if a.cached_from is not None:  # answered from the answer cache: nothing sent, so no client's span either
            hit: dict[str, Any] = {
                "magsag.target": f"{a.provider}:{a.model}",
                "magsag.cached_from": a.cached_from,  # (the run that paid for the answer)
                "magsag.fallback.position": a.fallback_position,
            }
            if a.saved_usd is not None:  # (unknown: absent, never 0)
                hit["magsag.saved_usd"] = float(a.saved_usd)
            span.add_event("magsag.cache_hit", hit, timestamp=int(a.started_at * _NS))
            span.set_attribute("magsag.target", hit["magsag.target"])
            span.set_attribute("magsag.fallback.position", a.fallback_position)
            continue
        if a.outcome != "ok" and a.outcome != "error":  # passed over, never sent: an event of the call
            span.add_event(
                "magsag.target_skipped",
                {
                    "magsag.target": f"{a.provider}:{a.model}",
                    "magsag.skip.outcome": a.outcome,
                    "magsag.skip.reason": a.error_message or "",
                    "magsag.fallback.position": a.fallback_position,
                },
                timestamp=int(a.started_at * _NS),
            )
            continue
        sent += 1
        if tries and tries[-1].fallback_position != a.fallback_position:
            _target(tracer, parent, kinds, cascade, plan, tries, answer, content, origin)
            tries = []
        tries.append(a)
        if a.outcome == "ok":
            span.set_attribute("magsag.target", f"{a.provider}:{a.model}")
            span.set_attribute("magsag.fallback.position", a.fallback_position)
    if tries:
        _target(tracer, parent, kinds, cascade, plan, tries, answer, content, origin)
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


def _target(
    tracer: Any,
    parent: Any,
    kinds: tuple[Any, Any],
    cascade: Any,
    plan: Plan,
    tries: list[AttemptRecord],
    answer: LLMResult | None,
    content: bool,
    origin: tuple[int, float],
) -> None:
    """A target's span (:func:`.otel_attempts.target_span`); a bug there is logged, and the call's other spans
    are still made."""
    try:
        target_span(tracer, parent, kinds, cascade, plan, tries, answer, content, origin=origin)
    except Exception:
        log.exception("magsag-mcp could not describe a target's OpenTelemetry span")
