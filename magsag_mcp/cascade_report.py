"""What a cascade writes down: one attempt record per attempt or skip, the trace a result carries and
a successful call's warnings. The error raised when every target failed is made in :mod:`.cascade_errors`; the
control flow lives in :mod:`.cascade`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .durations import setting
from .errors import (
    MagsagError,
    ProviderTimeoutError,
    UnsupportedFeatureError,
    redact,
)
from .rates import bare_model
from .records import AttemptRecord
from .routing import Plan
from .types import Target, masked_path


@dataclass(slots=True)
class CascadeState:
    attempts: list[AttemptRecord] = field(default_factory=list)
    #: the call's plan, run and agent, the same for each of its attempts: what every record of one is made with (see
    #: record_skip, attempt_record), held here rather than passed beside the state to each. Cascade.run sets them;
    #: a state no record is made from (explain's, asked only which targets are left) holds none
    plan: Plan = None  # type: ignore[assignment]
    run_id: str = ""
    agent: str | None = None
    #: (this and ``too_long`` stay an empty tuple until their first entry: most calls have none, and an empty list
    #: made for each lived the whole call, for the collector's young collections to walk at 200 callers)
    skipped: list[dict[str, Any]] | tuple[()] = ()
    last_error: MagsagError | None = None
    #: targets that answered "context too long"
    too_long: list[Target] | tuple[()] = ()
    #: the last target not retried because another was left to try first: (position, try, error, record, admission)
    deferred: tuple[int, int, Any, AttemptRecord, Any] | None = None
    #: what the call's deadline left when ``deferred`` was left for the next targets: the time spent on them since is
    #: taken off its server's wait when it is come back to (see :func:`~.cascade_waits.left_now`)
    deferred_remaining: float = 0.0
    #: a request was sent since then: the target left for the next one is not asked again
    sent_after_deferral: bool = False
    #: the deferred target is being tried again, nothing else left (see Cascade._position)
    revisited: bool = False
    #: why the cascade stopped trying a target after this error (a wait over the retry cap, its retries spent), with
    #: the fix: the call's error says it when this error is its last (see :func:`all_failed`); a function gives it when
    #: it is said (see :func:`~.cascade_waits.retries_spent_fix`)
    gave_up: tuple[MagsagError, str | Callable[[], str | None]] | None = None
    #: a policy's routine refusal that became ``last_error`` (see :func:`record_skip`): a target skipped after it says
    #: more. Compared by identity, as an error of a request sent since replaces ``last_error`` (Cascade.run)
    routine_refusal: MagsagError | None = None
    #: the circuit breaker's keys this call was counted a failure at (see TargetRests.gave_up): made at its first
    #: failure, None until then
    breaker_counted: set[Any] | None = None
    #: the endpoint an Azure target's attempts record, as what its deployment serves is kept by (the pricer's
    #: :meth:`~.served_models.ServedModels.endpoint`): Cascade.run sets it
    azure_endpoint: Callable[[Target], str] | None = None
    #: the host off this machine a local target's prompt goes to (Ollama's cloud), or None: its attempts record it as
    #: their endpoint, by which ``flow summarize`` tells ``flow gate`` which of a data class's calls left the machine
    local_off_machine: Callable[[Target], str | None] | None = None

    def counted_by_breaker(self) -> set[Any]:
        """The keys the circuit breaker counted this call's failure at: one call, counted once at each, whichever of
        its targets (another params of the same model and endpoint, a target come back to) failed there."""
        if self.breaker_counted is None:
            self.breaker_counted = set()
        return self.breaker_counted


_Error = TypeVar("_Error", bound=MagsagError)


def unhooked(exc: _Error) -> _Error:
    """``exc``, caught in :meth:`~.cascade.Cascade.run`, without that frame at the head of its traceback (the frames
    below it, where it was raised, are kept). The call keeps the error (``last_error``, a deferred retry), and that
    frame keeps the call's state: a reference cycle, which left the error, its frames and all they held (the request,
    the answer's headers: some 48 objects) to the garbage collector after every failed attempt, to be found by a
    collection every few calls (some 42,000 instructions a fallback call)."""
    tb = exc.__traceback__
    if tb is not None:
        exc.__traceback__ = tb.tb_next
    return exc


def set_usage(record: AttemptRecord, u: Any, quote: Any) -> None:
    record.input_tokens, record.output_tokens = u.input_tokens, u.output_tokens
    record.cached_tokens, record.cache_write_tokens = u.cached_tokens, u.cache_write_tokens
    record.reasoning_tokens = u.reasoning_tokens
    record.cache_write_1h_tokens, record.service_tier = u.cache_write_1h_tokens, u.service_tier
    record.cache_write_ttl_unsaid_tokens = u.cache_write_ttl_unsaid_tokens
    record.cache_write_split_past_tokens = u.cache_write_split_past_tokens
    record.input_audio_tokens, record.output_audio_tokens = u.input_audio_tokens, u.output_audio_tokens
    record.served_model = u.answering_model
    # what else the bill follows from (None: not said; see AttemptRecord), so that its cost is re-derived from its row
    if u.output_image_said:
        record.output_image_tokens = u.output_image_tokens
    record.inference_geo = u.inference_geo
    if u.server_tools_said or u.server_tool_calls:
        record.server_tool_uses = dict(u.server_tool_calls)
    record.cost_usd, record.price_source = quote.cost_usd, quote.source


def labels(plan: Plan) -> list[str]:
    """Each candidate's name in the trace and the warnings, by position: ``provider:model``, with its
    endpoint when the plan holds the same ``provider:model`` elsewhere too (two regions of an Azure
    deployment, two servers of one local model), so that they tell which one failed and which answered.
    Not to be changed: a cached route's calls share it (see :func:`shown_candidates`)."""
    res = plan.resolution
    if res is not None and res.shown is not None and res.shown[0] == plan.candidates:
        return res.shown[1]
    return _labels(plan)


def _labels(plan: Plan) -> list[str]:
    names = []
    for c in plan.candidates:  # a loop, not a comprehension (a frame): every call's trace names them
        names.append(f"{c.target.provider}:{c.target.model}")
    if len(names) < 2 or len(names) == len(set(names)):
        return names
    at = [
        _endpoint(c.target.base_url) if names.count(name) > 1 else ""
        for name, c in zip(names, plan.candidates, strict=True)
    ]
    # Two of one model behind one host are told apart by what differs, the path below it (two deployments of a
    # gateway: https://gw.example/team-a/v1, .../team-b/v1), rather than by their place in the chain alone
    keyed = list(zip(names, at, strict=True))
    paths = [
        _endpoint(c.target.base_url, c.target.model) if at[i] and keyed.count(keyed[i]) > 1 else at[i]
        for i, c in enumerate(plan.candidates)
    ]
    return [f"{name} at {where}" if where else name for name, where in zip(names, paths, strict=True)]


def _endpoint(base_url: str | None, with_path_of: str | None = None) -> str:
    """Where a target is served, without a query or credentials: ``https://host:port``, and the path below it where
    ``with_path_of`` names the target's model, masked as a trace's ``base_url`` is (:func:`~.types.masked_path`: a
    segment shaped like a token, such as a gateway's ``/v1/<token>/openai``, whatever a key pattern makes of it; the
    model's own segment kept) and redacted."""
    if not base_url:
        return "its configured endpoint"
    try:
        parts = urlsplit(base_url.strip())
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "its call's endpoint"
    if not parts.hostname:
        return "its call's endpoint"
    path = "" if with_path_of is None else redact(masked_path(parts.path.rstrip("/"), with_path_of))
    return f"{parts.scheme}://{parts.hostname}{port}{path}"


def unknown_cost_warning(target: Target, what: str) -> str:
    return f"{target.label}: {what}; the provider may bill it; its cost is unknown"


def attempt_event(state: CascadeState, target: Target, try_number: int, position: int) -> dict[str, Any]:
    """The ``attempt`` progress event's data: its ``target``, ``try`` and ``position``, and, for a local target that
    runs off this machine (a cloud model of Ollama's, one made from it), ``runs_at``, the host (nothing loads it into
    this machine's memory: a client is not told its silence may be the model loading)."""
    data: dict[str, Any] = {"target": target.label, "try": try_number, "position": position}
    if target.provider == "local" and state.local_off_machine is not None:
        host = state.local_off_machine(target)
        if host is not None:
            data["runs_at"] = host
    return data


def record_skip(
    state: CascadeState,
    position: int,
    target: Target,
    reason: str,
    exc: MagsagError | None,
    outcome: str | None,
    skip_error: MagsagError | None = None,
    *,
    routine: bool = False,
    try_number: int = 0,
) -> None:
    """An attempt that was never sent. ``exc`` is the refusal that stopped it (policy, budget); a
    target skipped before that (not configured, a feature it lacks) passes ``skip_error`` instead: it
    becomes the call's error only if nothing was tried, and the record stays ``skipped``. ``routine``:
    a routed target that a policy forbids, skipped as the policy intends; its refusal is the call's
    error only when nothing before it failed (a provider's error or a budget stopping the call says
    more of why the call failed). ``try_number``: the try refused (a retry refused by a budget is try 2
    of its target, not another first); 0 for a target skipped before any try.

    A target skipped after a routine refusal (routing's forbidden model, then the one it allows with no key) makes its
    ``skip_error`` the call's, as a target skipped before one does: the call failed for want of its configuration,
    which the user can set, not for the policy, which did what it is for. The call's error was the refusal
    (policy_denied) in that order and the missing key in the other; both are named in its message either way."""
    plan = state.plan
    label = labels(plan)[position] if position < len(plan.candidates) else target.label
    entry: dict[str, Any] = {"target": label, "reason": redact(reason)}
    policy = getattr(exc, "policy", None)
    if policy:
        entry["policy"] = policy
    if skip_error is not None and (asked := skip_error.details.get("key_variables")):
        entry["key_variables"] = asked  # skipped for want of a key: the variables any one of which would hold it
    if state.skipped:
        state.skipped.append(entry)
    else:
        state.skipped = [entry]
    if exc is not None and not (routine and state.last_error is not None):
        state.last_error = exc
        state.routine_refusal = exc if routine else None
    elif exc is None and (
        state.last_error is None or (skip_error is not None and state.last_error is state.routine_refusal)
    ):
        state.last_error = skip_error or UnsupportedFeatureError(reason, provider=target.provider, model=target.model)
    record = attempt_record(state, position, try_number, target, outcome or "skipped", time.time(), 0.0, exc, reason)
    # Never sent: it cost nothing, and a NULL cost would count it as unpriced.
    record.cost_usd = Decimal(0)
    state.attempts.append(record)


def record_deadline_skip(
    state: CascadeState,
    position: int,
    target: Target,
    deadline: float,
    try_number: int = 0,
) -> None:
    """A target not sent (again) because the call's deadline had passed: it cost nothing. When nothing
    was tried before it, the call's error is a timeout."""
    reason = f"the call's deadline of {setting(deadline)} passed before this target was tried"
    late = ProviderTimeoutError(f"{target.label}: {reason}", provider=target.provider, model=target.model)
    record_skip(state, position, target, reason, None, None, late, try_number=try_number)


def attempt_record(
    state: CascadeState,
    position: int,
    try_number: int,
    target: Target,
    outcome: Any,
    started_wall: float,
    latency_ms: float,
    exc: MagsagError | None,
    reason: str | None = None,
    *,
    at: float | None = None,
) -> AttemptRecord:
    # positional, in the field order: a class called with keywords builds and unpacks a dict of them
    # (Python 3.11), several microseconds for a class this size, on every attempt
    record = AttemptRecord(
        state.run_id,
        started_wall,
        target.provider,
        # the model as its vendor names it: Gemini's models/gemini-1.5-pro is gemini-1.5-pro (as routing, prices
        # and policies take it), one model in model_stats and under `--model`, whichever way a call wrote it
        bare_model(target.provider, target.model),
        state.plan.skill_id,
        state.agent,
        outcome,
        position,  # fallback_position
        try_number,  # attempt_number
        exc.kind if exc is not None else ("skipped" if outcome == "skipped" else None),  # error_class
        redact(exc.message) if exc is not None else redact(reason) if reason else None,  # error_message
    )
    record.latency_ms = latency_ms
    record.sent_clock = at  # (the cascade's monotonic clock: where the attempt's span ends, see otel_attempts.py)
    if state.plan.data_classes:  # (most calls have none: the record's default, nothing set)
        record.data_classes = state.plan.data_classes
    if target.provider == "azure" and state.azure_endpoint is not None:
        # two resources may have deployments of one name serving different models: told apart by it ("": none known)
        record.endpoint = state.azure_endpoint(target) or None
    elif target.provider == "local" and state.local_off_machine is not None:
        record.endpoint = state.local_off_machine(target)  # (None, as every other provider's: on this machine)
    return record


def trace(plan: Plan, state: CascadeState) -> dict[str, Any]:
    # loops, not comprehensions: a comprehension is a function frame of its own, and every call has a trace
    names, candidates = shown_candidates(plan)
    warnings = list(plan.warnings)
    attempts = []
    for a in state.attempts:
        warnings += a.warnings
        if a.outcome not in ("skipped", "policy_denied", "budget_exceeded"):
            attempts.append(
                {
                    "target": _label(names, a),
                    "outcome": a.outcome,
                    "error_class": a.error_class,
                    "try": a.attempt_number,
                    "latency_ms": round(a.latency_ms, 3),
                    "tokens": a.total_tokens,
                }
            )
    return {
        "rule": plan.rule,
        "candidates": candidates,
        "skipped": state.skipped or [],
        "warnings": warnings,
        "attempts": attempts,
    }


def shown_candidates(plan: Plan) -> tuple[list[str], list[dict[str, Any]]]:
    """The candidates' labels (see :func:`labels`) and, for the trace, their dicts (the caller's own to change).

    A route resolved once per skill (or per what a call names) is the same candidates call after call: their labels
    and dicts are made by its first call and copied by the next (a dict each, not a label and two dicts built per
    candidate). Kept only when no candidate has an endpoint or params of its own, whose dicts are redacted with
    the secrets of the call that shows them; and read only while the plan still holds the candidates they were made
    of (a list's ``==`` asks each pair's identity first)."""
    res = plan.resolution
    if res is not None:
        shown = res.shown
        if shown is not None and shown[0] == plan.candidates:
            candidates = []
            for d in shown[2]:  # a loop, not a comprehension (a frame): every call's trace shows them
                candidates.append(dict(d))
            return shown[1], candidates
    names = _labels(plan)
    candidates = []
    plain = True
    for c in plan.candidates:
        candidates.append(c.to_dict())
        if c.target.base_url or c.target.params:
            plain = False
    if res is not None and plain:
        res.shown = (list(plan.candidates), names, [dict(d) for d in candidates])
    return names, candidates


def result_warnings(plan: Plan, attempts: list[AttemptRecord], answer_warnings: list[str]) -> list[str]:
    """A successful call's warnings: the plan's, the answer's, each failed attempt's (why it was not
    retried, why its cost is unknown), each target's left alone for its server's wait, and, when a fallback
    answered, which targets failed before it."""
    out = [*plan.warnings, *answer_warnings]
    answered = attempts[-1] if attempts and attempts[-1].outcome == "ok" else None
    names: list[str] | None = None  # the candidates' labels, made only when an attempt failed (not on every call)
    failed: dict[str, list[str]] = {}
    for a in attempts:
        # (a skip with warnings: a target left alone while its server's wait lasts, see cascade_waits.py)
        if a.outcome == "error" or (a.warnings and a.outcome == "skipped"):
            for w in a.warnings:  # a loop, not extend() over a generator (a frame)
                if w not in out:
                    out.append(w)
        if a.outcome == "error":
            # by position: the same provider:model at another endpoint that failed before is a fallback's
            if answered is None or a.fallback_position != answered.fallback_position:
                names = names or labels(plan)
                failed.setdefault(_label(names, a), []).append(a.error_class or "error")
    if answered is not None and names is not None and failed:
        before = "; ".join(f"{label} failed ({', '.join(kinds)})" for label, kinds in failed.items())
        out.append(f"answered by fallback {_label(names, answered)} after {before}")
    return out


def _label(names: list[str], a: AttemptRecord) -> str:
    """An attempt's target as :func:`labels` names it (by its position in the plan)."""
    return names[a.fallback_position] if a.fallback_position < len(names) else f"{a.provider}:{a.model}"
