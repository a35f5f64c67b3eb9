"""The shapes of the dicts the Python API returns for a call (``skills.invoke``, ``await skills.ainvoke``), its plan
(``skills.explain``) and the skills (``skills.list``), as TypedDicts: a user's type checker reads
``result["cost_usd"]`` as ``str | None`` and refuses a misspelt key, where a ``dict[str, Any]`` gave it Any
(``mypy --strict`` then refused a function returning it as "Returning Any"). At run time they are plain dicts, the
same as before; ``InvokeResult.to_dict()`` builds them. The ledger's reads are typed in :mod:`.usage_dicts`, the
budgets' in :mod:`.budget_dicts`."""

# (no `from __future__ import annotations`: a TypedDict reads NotRequired at run time only from annotations that are
# not strings, and its __required_keys__ are then what a call returns)
from typing import Any, Literal, NotRequired, TypedDict

from .records import Outcome
from .types import FinishReason, TargetSource


class ToolCallDict(TypedDict):
    """A function call the model asked for (``ToolCall.to_dict()``): ``arguments`` already parsed from JSON."""

    id: str
    name: str
    arguments: dict[str, Any]
    #: the vendor's opaque mark that goes back with the call (Gemini's thoughtSignature, ...), where it gave one
    signature: NotRequired[str]


class UsageDict(TypedDict):
    """The answer's token counts (``Usage.to_dict()``): ``input_tokens`` includes the cached ones, ``output_tokens``
    the reasoning ones."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    total_tokens: int


class AttemptDict(UsageDict):
    """One attempt of a call (``AttemptRecord.to_dict()``): its answer's counts as :class:`UsageDict`'s, and more;
    money as a decimal string, None when unknown."""

    provider: str
    model: str
    outcome: Outcome
    error_class: str | None
    error_message: str | None
    fallback_position: int
    attempt_number: int
    cache_write_1h_tokens: int
    #: of cache_write_tokens, those whose time to live the answer did not say (Usage.cache_write_ttl_unsaid_tokens);
    #: None in ``query_runs`` for an attempt recorded before the ledger counted them (0033), never in a call's result
    cache_write_ttl_unsaid_tokens: int | None
    #: how many more cache writes the answer's split by time to live counted than its total (0036), priced at the
    #: split's; None in ``query_runs`` for an attempt recorded before the ledger counted them, never in a call's result
    cache_write_split_past_tokens: int | None
    input_audio_tokens: int
    output_audio_tokens: int
    service_tier: str | None
    cost_usd: str | None
    cost_bound_usd: str | None
    price_source: str | None
    latency_ms: float
    warnings: list[str]


class InvokeResultDict(TypedDict):
    """What ``skills.invoke`` returns (``InvokeResult.to_dict()``). ``cost_usd`` is the whole call's, every attempt,
    as a decimal string (``Decimal(result["cost_usd"])`` to add up), None when unknown (``cost_unknown``);
    ``output`` is the answer's text, or the parsed JSON document when JSON was asked for."""

    run_id: str
    skill: str
    output: Any
    text: str
    tool_calls: list[ToolCallDict]
    finish_reason: FinishReason
    #: how many times the API paused the answer's turn (Claude's pause_turn, a long run of server tools), each pause
    #: continued by a request of its own (one more attempt) unless the warnings say why not; 0 for an answer not paused
    paused_turns: int
    #: where the turn was left paused: the id ``continue_paused`` takes to go on with it (held by the process that made
    #: the call); None where it was not
    paused_id: str | None
    provider: str
    model: str
    #: the vendor's id of the answer (chatcmpl-..., msg_..., resp_...; an answer-cache hit keeps the one paid for);
    #: None where the vendor gave none
    response_id: str | None
    usage: UsageDict
    cost_usd: str | None
    cost_unknown: bool
    latency_ms: float
    attempts: list[AttemptDict]
    trace: dict[str, Any]
    warnings: list[str]


class PolicyVerdictDict(TypedDict):
    """Whether the policies (and the cost limits, whatever was spent) let a call go to a target; the refusing
    policy's name and reason where one refuses it."""

    allowed: bool
    policy: str | None
    reason: str | None


class RequestCapUseDict(TypedDict):
    """A target's entry of routing's ``request_caps`` (``key``, the caps it sets) and its use in this process now: the
    requests in flight, those sent in the last minute, whether a call now takes a slot at once, and else, where the
    minute is full, in how many seconds the next is free."""

    key: str
    max_concurrent: NotRequired[int]
    in_flight: NotRequired[int]
    requests_per_minute: NotRequired[int]
    sent_last_minute: NotRequired[int]
    free_now: bool
    next_free_s: NotRequired[float]


class PlannedTargetDict(TypedDict):
    """One target of a call's plan, in the order it is tried: who chose it (``source``; ``explicit``: a choice a
    policy's refusal fails the call on, not skipped), why it cannot be called (``unavailable``: no key, no endpoint),
    the policies' verdict, the features the call needs that it lacks, and its worst-case cost (None: no known price).
    ``base_url`` and ``params`` (credentials redacted) are there where the target has them; ``resting`` where its
    server asked an earlier call to leave it alone for a while, or the circuit breaker left it alone after failures in
    a row that say its server is unwell (see breaker.py); ``request_cap`` where routing caps it."""

    provider: str
    model: str
    base_url: NotRequired[str]
    params: NotRequired[dict[str, Any]]
    source: TargetSource
    explicit: bool
    label: str
    unavailable: str | None
    policy: PolicyVerdictDict
    missing_features: list[str]
    resting: NotRequired[str]
    request_cap: NotRequired[RequestCapUseDict]
    estimated_max_cost_usd: str | None


class CacheExplanationDict(TypedDict):
    """Whether the answer cache is on for the call explained (``on``: a setting turns it on and a target of the call
    the policies allow can be cached, not one whose provider builds no wire body; false, with a warning in the
    explanation's ``warnings``, where a setting meets no such target), how old an answer may be to answer it (``ttl_s``,
    seconds; None when no setting turns it on) and which setting decided (``source``): the call's
    ``context.cache_ttl``, its route's ``cache`` or its skill's; None where none is set (off)."""

    on: bool
    ttl_s: float | None
    source: Literal["call", "route", "skill"] | None


class RouteExplanationDict(TypedDict):
    """What ``skills.explain`` returns (the ``explain_route`` tool's shape): the plan ``invoke`` would follow with the
    same arguments, nothing called. ``warnings`` says what the call would warn of, and where it would fail, why."""

    skill: str
    task_type: str
    rule: str
    data_class: str | None
    data_classes: list[str]
    estimated_input_tokens: int
    max_output_tokens: int | None
    needs: list[str]
    targets: list[PlannedTargetDict]
    cache: CacheExplanationDict
    warnings: list[str]


class SkillDict(TypedDict):
    """One skill of ``skills.list()``: what it does, its routing's task type, cost tier and data class, whether it
    answers text or JSON, the ``payload_fields`` its prompt reads (each required) and its payload's JSON Schema (a
    copy, the caller's to change; None for a skill that declares none)."""

    id: str
    description: str
    task_type: str
    tier: str | None
    data_class: str | None
    output: Literal["text", "json"]
    payload_fields: list[str]
    input_schema: dict[str, Any] | None
