"""OpenTelemetry's GenAI client metrics of the targets a call sent to: ``gen_ai.client.operation.duration`` and
``gen_ai.client.token.usage``, as open-telemetry/semantic-conventions v1.41.0 defines them (docs/gen-ai/
gen-ai-metrics.md, the last release before the GenAI conventions moved to semantic-conventions-genai; the same text
in that repository's gen-ai-metrics.md and model/gen-ai/metrics.yaml before v0.1.0, and in the released
opentelemetry-semantic-conventions' ``gen_ai_metrics``): histograms, in ``s`` and ``{token}``, with the conventions'
advisory bucket boundaries, the attributes their spans carry (``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.request.model``, ``gen_ai.response.model``, ``server.address``, ``server.port``), ``gen_ai.token.type``
on the tokens and ``error.type`` on a failed operation's duration. These are the names OpenTelemetry's GenAI
instrumentations record and dashboards read. semantic-conventions-genai v0.1.0, whose span attributes the spans
follow (otel_attempts.py), renames them: ``gen_ai.client.inference.duration`` (the same histogram, unit, buckets and
attributes: its value "SHOULD be the same as the span duration", as here) and, for the tokens, counters
``gen_ai.client.inference.usage.input_tokens`` / ``output_tokens`` (by ``gen_ai.token.modality``) with histograms
``gen_ai.client.inference.operation.*_tokens`` (docs/gen-ai/client-inference.md, gen-ai-token-metrics.md); not
recorded here yet.

One operation is what one target span is (otel_attempts.py): a target's tries together, from its first try's request
to its last try's answer, its outcome the last try's. The conventions' client metrics measure "a request to an LLM"
as the caller observes it, and their spans that same operation "with all retries": a metric per try would count a
retry of magsag's as a second operation that no span shows, and a backend's count of operations would not be its
count of client spans. Its tokens are its tries' together, what was billed ("when systems report both used tokens
and billable tokens, instrumentation MUST report billable tokens"): a try that failed after the vendor counted its
tokens was billed for them. A failed operation that reported no tokens records none ("if instrumentation cannot
efficiently obtain number of input and/or output tokens ... it MUST NOT report usage metric"), nor does an answer
that came without its usage (``Usage.reported`` False: its zeros are no count).

Not operations, and not measured: a target passed over unsent (no request was made), and an answer from the answer
cache (nothing was sent to a vendor, no tokens were billed for it: a duration of it would be a read of magsag's
ledger, measured as if it were a model's answer, and would pull a backend's latency percentiles down).

What it costs where nobody measures: nothing is imported. As with the spans (otel_spans.py), the API is looked up in
``sys.modules`` on each call until it is there, never imported here; once it is, the meter is the global provider's,
and while no meter provider is set (its proxy meter has no real meter behind it: ``_real_meter`` is None), or the
one set makes no measurements (the API's NoOpMeterProvider, the SDK's with ``OTEL_SDK_DISABLED``), a call records
nothing and runs as it would unmeasured.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import redacting_logger
from .otel_attempts import OPERATIONS, PROVIDER_NAMES, server_address, tries_took

if TYPE_CHECKING:
    from .records import AttemptRecord
    from .routing import Plan
    from .types import LLMResult

DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"
log = redacting_logger("magsag_mcp.otel_metrics")
#: the conventions' advisory ExplicitBucketBoundaries (gen-ai-metrics.md: "This metric SHOULD be specified with
#: [ExplicitBucketBoundaries] of [...]"): powers of two from 10 ms, powers of four from one token
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip


class Instruments:
    """The two histograms, made once from ``meter`` (the global provider's, or a test's). ``no_op``: the API's
    NoOpMeter class, what a meter that records nothing is."""

    __slots__ = ("duration", "meter", "no_op", "tokens")

    def __init__(self, meter: Any, no_op: type) -> None:
        self.meter = meter
        self.no_op = no_op
        self.duration = _histogram(meter, DURATION, "s", "GenAI operation duration.", DURATION_BUCKETS)
        used = "Number of input and output tokens used."
        self.tokens = _histogram(meter, TOKEN_USAGE, "{token}", used, TOKEN_BUCKETS)

    def may_record(self) -> bool:
        """Whether a measurement goes anywhere: not through the API's proxy meter while no provider is set (it then
        has no ``_real_meter``), nor where the meter is a no-op. (An API whose proxy no longer names its real meter
        reads as a meter that may record: measurements are made, at a cost.)"""
        meter = getattr(self.meter, "_real_meter", self.meter)
        return meter is not None and not isinstance(meter, self.no_op)


def _histogram(meter: Any, name: str, unit: str, description: str, buckets: Sequence[float]) -> Any:
    """A histogram with the conventions' buckets as its advice; without it where the API takes none: the advisory
    arrived in opentelemetry-api 1.30, and the MCP SDK's floor (1.28) and the ``otel`` extra's (1.27) allow older
    ones, whose create_histogram refuses the keyword (a TypeError: every call failed). Its buckets are then the
    SDK's defaults, or an app's View's."""
    try:
        return meter.create_histogram(
            name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets)
        )
    except TypeError:
        return meter.create_histogram(name, unit=unit, description=description)


#: the instruments, once the API was seen imported (tests put ones of their own here)
_instruments: Instruments | None = None
#: True once the API's meter refused to make them (logged then; not asked again on every call): calls go unmeasured
_unmade = False


def recording() -> Instruments | None:
    """The instruments where a measurement would be recorded, else None (see the module's docstring): one dict read
    where nothing imported OpenTelemetry's metrics API."""
    global _instruments, _unmade
    instruments = _instruments
    if instruments is None:
        # (None too where an import of it was blocked: sys.modules["opentelemetry.metrics"] = None)
        metrics = sys.modules.get("opentelemetry.metrics")
        if metrics is None or _unmade:
            return None
        try:
            # a proxy meter until a provider is set: its instruments record to one set later from then on
            instruments = Instruments(metrics.get_meter("magsag_mcp", __version__), metrics.NoOpMeter)
        except Exception:  # a bug of the app's meter provider: the call goes on, unmeasured
            _unmade = True
            log.exception("magsag-mcp could not make its OpenTelemetry metrics' instruments; calls go unmeasured")
            return None
        _instruments = instruments
    return instruments if instruments.may_record() else None


def record(
    instruments: Instruments,
    cascade: Any,
    plan: Plan,
    attempts: Sequence[AttemptRecord],
    answer: LLMResult | None,
) -> None:
    """Each operation of the call's ``attempts`` (a target's tries sent one after another), measured."""
    for tries in operations(attempts):
        first, last = tries[0], tries[-1]
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": OPERATIONS.get(first.provider, "chat"),
            "gen_ai.provider.name": PROVIDER_NAMES.get(first.provider, first.provider),
            "gen_ai.request.model": first.model,
        }
        server = server_address(cascade, plan.candidates[first.fallback_position].target)
        if server is not None:
            attributes["server.address"], port = server
            if port:
                attributes["server.port"] = port
        if last.outcome == "ok" and answer is not None:
            attributes["gen_ai.response.model"] = answer.model
        # the span's time: from the first try's request to the last try's answer, on the monotonic clock (the wall
        # clock's started_at of each went back where it was set back between tries: a negative duration)
        seconds = tries_took(tries)
        if last.outcome == "error":
            instruments.duration.record(seconds, {**attributes, "error.type": last.error_class or "error"})
        else:
            instruments.duration.record(seconds, attributes)
        if last.outcome == "ok" and answer is not None and not answer.usage.reported:
            continue  # an answer that came without its usage: its zeros are no count (the conventions' MUST NOT)
        input_tokens = sum(t.input_tokens for t in tries)
        output_tokens = sum(t.output_tokens for t in tries)
        if last.outcome == "ok" or input_tokens or output_tokens:
            instruments.tokens.record(input_tokens, {**attributes, "gen_ai.token.type": "input"})
            instruments.tokens.record(output_tokens, {**attributes, "gen_ai.token.type": "output"})


def operations(attempts: Sequence[AttemptRecord]) -> Iterator[list[AttemptRecord]]:
    """The call's operations, each a target's tries sent one after another: what a target span is. Neither an answer
    from the answer cache nor a target passed over unsent is one."""
    tries: list[AttemptRecord] = []
    for a in attempts:
        if a.cached_from is not None or (a.outcome != "ok" and a.outcome != "error"):
            continue
        if tries and tries[-1].fallback_position != a.fallback_position:
            yield tries
            tries = []
        tries.append(a)
    if tries:
        yield tries
