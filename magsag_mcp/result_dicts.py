"""The shapes of the dicts the Python API returns for a call (``skills.invoke``, ``await skills.ainvoke``), as
TypedDicts: a user's type checker reads ``result["cost_usd"]`` as ``str | None`` and refuses a misspelt key, where a
``dict[str, Any]`` gave it Any (``mypy --strict`` then refused a function returning it as "Returning Any"). At run
time they are plain dicts, the same as before; ``InvokeResult.to_dict()`` builds them."""

# (no `from __future__ import annotations`: a TypedDict reads NotRequired at run time only from annotations that are
# not strings, and its __required_keys__ are then what a call returns)
from typing import Any, NotRequired, TypedDict

from .records import Outcome
from .types import FinishReason


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
    provider: str
    model: str
    usage: UsageDict
    cost_usd: str | None
    cost_unknown: bool
    latency_ms: float
    attempts: list[AttemptDict]
    trace: dict[str, Any]
    warnings: list[str]
