"""The results of the MCP tools about calls (``invoke_skill``, ``explain_route``, ``list_skills``): what a client
reads of a call, its route and the skills. Money is a decimal *string* in USD (exact), or ``null`` when unknown; unknown
keys are dropped, so a richer service answer never breaks a published output schema (see :mod:`.models`)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from .models_base import USD
from .models_base import Out as _Out


class UsageOut(_Out):
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int


class ToolCallOut(_Out):
    id: str
    name: str
    arguments: dict[str, Any]
    #: Gemini's signature for the call, or the thinking Claude (with thinking on) or an OpenAI reasoning model
    #: (Responses API) did before it: send it back with the call (Gemini 3, Claude with thinking and OpenAI's
    #: reasoning models require it)
    signature: str | None = None


class CandidateOut(_Out):
    provider: str
    model: str
    base_url: str | None = None
    params: dict[str, Any] | None = None
    source: str
    explicit: bool


class SkippedOut(_Out):
    target: str
    reason: str
    policy: str | None = None
    #: a target skipped for want of an API key: the variables any one of which would hold it (the reason's words
    #: say the same, for a person)
    key_variables: list[str] | None = None


class TraceAttemptOut(_Out):
    target: str
    outcome: str
    error_class: str | None = None
    try_: int = Field(alias="try")
    latency_ms: float
    tokens: int

    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)


class TraceOut(_Out):
    rule: str
    candidates: list[CandidateOut]
    skipped: list[SkippedOut]
    attempts: list[TraceAttemptOut]


class InvokeSkillResult(_Out):
    run_id: str
    skill: str
    output: Any = Field(description="text, or the parsed JSON for JSON skills")
    tool_calls: list[ToolCallOut] = Field(default_factory=list)
    finish_reason: str = Field(
        description="why the answer ended: stop (it is whole), length (cut at max_tokens or the model's context: "
        "warnings say which; give a larger max_tokens for the rest), tool_calls (the model calls tool_calls: answer "
        "each in messages and call again), content_filter (the vendor withheld it), other (an end none of these "
        "names, such as a turn the vendor paused and left unfinished: the answer is incomplete; see warnings)"
    )
    paused_turns: int = Field(
        0,
        description="how many times the vendor paused the answer's turn (Claude's pause_turn, a long run of server "
        "tools such as web search): each pause is continued by one more request (an attempt of its own, up to "
        "MAGSAG_PAUSE_CONTINUATIONS or context.pause_continuations); warnings say where a turn was left paused",
    )
    paused_id: str | None = Field(
        None,
        description="where the answer's turn was left paused (finish_reason other, see warnings): the id that "
        "continue_paused takes to go on with the turn, paying only for the rest (held by this server's process); "
        "None where it was not",
    )
    provider: str
    model: str
    response_id: str | None = Field(
        None,
        description="the vendor's id of the answer (chatcmpl-..., msg_..., resp_...; an answer from the answer cache "
        "keeps the one paid for); null where the vendor gave none",
    )
    usage: UsageOut
    cost_usd: str | None = Field(
        description="USD, exact decimal string: the whole call, every attempt included; null = unknown (an "
        "unknown price, or an attempt cut after reaching the vendor)"
    )
    cost_unknown: bool
    latency_ms: float
    trace: TraceOut
    warnings: list[str] = Field(
        default_factory=list, description="e.g. the fallback that answered, and why the targets before it failed"
    )


class PolicyCheckOut(_Out):
    allowed: bool
    policy: str | None = None
    reason: str | None = None


class RequestCapOut(_Out):
    key: str = Field(description="the routing request_caps entry that caps this target (provider:model, or a glob)")
    max_concurrent: int | None = None
    in_flight: int | None = Field(None, description="this process's requests to the entry's targets in flight now")
    requests_per_minute: int | None = None
    sent_last_minute: int | None = Field(None, description="this process's requests to them sent in the last minute")
    free_now: bool = Field(
        description="whether a call now takes a slot at once; else it takes the next target, or, "
        "the last target left, waits for one within the retry cap and its deadline"
    )
    next_free_s: float | None = Field(
        None, description="seconds until the minute's count frees a slot, when it is full"
    )


class PlannedTargetOut(CandidateOut):
    label: str
    unavailable: str | None = Field(None, description="why this target cannot be called now")
    missing_features: list[str] = Field(default_factory=list)
    resting: str | None = Field(
        None,
        description="why a call now would not send this target at once: its server asked an earlier call to wait, "
        "how long of that is left, and what a call does meanwhile (tries the targets after it, or, the last target "
        "left, waits the rest out and sends it, or fails when the wait passes the retry cap or the deadline or is a "
        "spent quota's, saying until when, in UTC, and why); or the circuit breaker left it alone after calls in a "
        "row that it failed with an error saying its server is unwell (MAGSAG_BREAKER_FAILURES), for how long and "
        "how much of that is left, "
        "or another call is probing it now (a call meanwhile tries the targets after it, and sends it once, without "
        "retries, where none of them answers)",
    )
    request_cap: RequestCapOut | None = Field(
        None, description="routing's request_caps on this target (per process) and its use now"
    )
    policy: PolicyCheckOut
    estimated_max_cost_usd: str | None = USD


class CacheExplainedOut(_Out):
    on: bool = Field(
        description="whether the call would be answered from the answer cache when it holds its answer: a setting "
        "turns it on and a target of the call the policies allow can be cached (not one whose provider builds no wire "
        "body, as the fake provider); false with a warning where a setting meets no such target"
    )
    ttl_s: float | None = Field(
        None,
        description="how old (seconds) a stored answer may be to answer the call; null when no setting turns the "
        "cache on",
    )
    source: str | None = Field(
        None,
        description="which setting decided: call (its context.cache_ttl), route (its route's cache) or skill (its "
        "skill's cache); null when none is set",
    )


class ExplainRouteResult(_Out):
    skill: str
    task_type: str
    rule: str
    data_class: str | None = Field(None, description="the first of data_classes (the skill's own, if it has one)")
    data_classes: list[str] = Field(
        default_factory=list,
        description="every data class whose policy the call meets: the skill's and the context's data_class",
    )
    estimated_input_tokens: int
    max_output_tokens: int | None = None
    needs: list[str] = Field(default_factory=list)
    targets: list[PlannedTargetOut]
    cache: CacheExplainedOut | None = Field(None, description="the answer cache for this call: on, its ttl, and why")
    warnings: list[str] = Field(
        default_factory=list,
        description="what invoke_skill would warn of (a key of the call that is not read), and where the call would "
        "fail, why: a model it chose that a policy forbids, or no target it can send (each refused, not configured, "
        "or lacking a feature the call needs)",
    )


class ErrorOut(_Out):
    """What a failed tool call carries in ``structuredContent.error`` (``err.to_dict()``)."""

    type: str
    message: str

    model_config = ConfigDict(extra="allow")


class SkillOut(_Out):
    id: str
    description: str
    task_type: str
    tier: str | None
    data_class: str | None = Field(description="the data class its payloads carry (residency policies apply)")
    output: str = Field(description="text or json")
    payload_fields: list[str] = Field(description="fields the skill's prompt reads from the payload: each is required")
    input_schema: dict[str, Any] | None = Field(description="JSON Schema the payload must also satisfy")


class ListSkillsResult(_Out):
    skills: list[SkillOut]
