"""The MCP tools' results that read the ledger (shapes of :mod:`magsag_mcp.ledger.run_pages` and its neighbours): the
runs, search hits and days; the summary's are in :mod:`.summary_models`. Re-exported by :mod:`.models`, where the other
tools' argument and result models live."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .models_base import USD, Out
from .search_hits import EVENT_DATA_CHARS
from .summary_models import (
    CACHE_WRITES_SPLIT_PAST,
    CACHE_WRITES_UNSAID,
    COPY_NOTE,
    FILTER_NOTES,
    UNBOUNDED_CALLS,
    UNPRICED_CALLS,
    PeakCostOut,
)
from .summary_models import StatsOut as StatsOut  # (where callers have imported them)
from .summary_models import TotalsOut as TotalsOut
from .summary_models import UsageSummaryResult as UsageSummaryResult


class AgentDayOut(PeakCostOut):
    date: str = Field(description="a day of the page's timezone, YYYY-MM-DD")
    agent: str = Field(description="as invoke_skill recorded it; (none) for calls recorded under no agent")


class DailyUsageResult(Out):
    days: list[AgentDayOut] = Field(
        description="each agent's spend on each day it spent, by day then agent; at_most_usd null where the day holds "
        "an attempt of no known price, which known_cost_usd leaves out"
    )
    has_more: bool = Field(description="whether more rows match: pass next_cursor as cursor, with the same filters")
    next_cursor: str | None = Field(description="where the next page starts (null on the last page)")
    timezone: str = Field(description="the zone whose days these are")
    notes: list[str] = Field(
        default_factory=list, description=f"{FILTER_NOTES}; the rows of no known price, and how to price them"
    )


class AttemptOut(Out):
    time: str
    provider: str
    model: str
    # a run that called several skills (a session, a MAG) records none of its own: its attempts name theirs
    skill: str | None = None
    agent: str | None = None
    outcome: str
    error_class: str | None
    error_message: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cache_write_1h_tokens: int = Field(0, description="of cache_write_tokens, those written to a 1-hour cache")
    cache_write_ttl_unsaid_tokens: int | None = Field(
        None,
        description=CACHE_WRITES_UNSAID.replace(
            "counted since magsag-mcp kept it",
            "null for an attempt recorded before magsag-mcp kept it (0033) that wrote to the cache, 0 for one that"
            " wrote nothing",
        ),
    )
    cache_write_split_past_tokens: int | None = Field(
        None,
        description=CACHE_WRITES_SPLIT_PAST.replace(
            "counted since magsag-mcp kept it (0 in the attempts recorded before)",
            "null for an attempt recorded before magsag-mcp kept it (0036) that wrote to the cache, 0 for one that"
            " wrote nothing",
        ),
    )
    paused_id: str | None = Field(
        None,
        description="where this attempt's answer left its turn paused: the paused_id it was held by (continue_paused "
        "takes it, in the process that made the call); null for any other attempt",
    )
    continues_paused_id: str | None = Field(
        None,
        description="where this attempt's call continued a paused turn (continue_paused): the paused_id it continued, "
        "the paused_id of an earlier attempt of the same run; null for any other attempt",
    )
    input_audio_tokens: int = Field(0, description="of input_tokens, audio")
    output_audio_tokens: int = Field(0, description="of output_tokens, audio")
    output_image_tokens: int | None = Field(
        None,
        description="of output_tokens, images (Gemini's image models), billed at an image rate; null where the answer "
        "did not say, or recorded before magsag-mcp kept it",
    )
    service_tier: str | None = Field(None, description="the service tier the vendor says served it, as it said it")
    served_model: str | None = Field(
        None,
        description="the model the answer said it came from (an Azure deployment's real model, OpenAI's dated "
        "snapshot); null where the answer said none, or it was recorded before magsag-mcp kept it",
    )
    data_classes: list[str] = Field(
        default_factory=list,
        description="the data classes the call was held to (the skill's, its agent run's, its context's), whose "
        "policies' requirements applied; [] for none, or recorded before magsag-mcp kept them",
    )
    endpoint: str | None = Field(
        None,
        description="the endpoint an Azure attempt went to (its host, and a gateway's path: never a key), as `magsag "
        "azure served` names it; null for other providers, or recorded before magsag-mcp kept it",
    )
    inference_geo: str | None = Field(
        None,
        description="where the answer says inference ran (Anthropic's usage.inference_geo: 'us', US-only inference, "
        "is billed at 1.1x the token rates); null where it did not say",
    )
    server_tool_uses: dict[str, int] | None = Field(
        None,
        description="the server tool calls billed per use beside the tokens, keyed by the tool's API name "
        "({'web_search': 3}: Anthropic's usage.server_tool_use; the Responses API's web_search, file_search, "
        "code_interpreter and image_generation items; Gemini's grounded_prompt); {} where the answer counted none "
        "(Anthropic's server_tool_use of 0 searches), null where it said no count (the Responses API lists only the "
        "uses it made)",
    )
    cost_usd: str | None = USD
    cost_bound_usd: str | None = Field(
        None, description="when cost_usd is null on a priced model: its worst case, as estimated before it was sent"
    )
    price_source: str | None
    latency_ms: float
    attempt_number: int
    fallback_position: int
    warnings: list[str]


class RunErrorOut(Out):
    type: str
    message: str | None


#: what a run's skill of null means, in query_runs' runs and search_usage's run hits
RUN_SKILL = (
    "the skill its calls called; null for a run that called more than one skill (a Magsag session, an agent run "
    "or a run joined by calls of another skill): its attempts name each call's skill; null too for an agent's run "
    "whose code raised before any call (its error says what it raised)"
)


class RunOut(Out):
    run_id: str
    agent: str | None
    skill: str | None = Field(description=RUN_SKILL)
    parent_run_id: str | None
    started_at: str
    ended_at: str | None
    status: str
    calls: int = Field(
        description="the run's calls, every one recorded: those that sent no request too (each target refused or "
        "skipped before one was sent, such as with no API key set, or the call refused before any: an invalid "
        "payload), which summarize_usage counts in no calls (its totals.unsent_calls counts the first kind)"
    )
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: str | None = Field(description="USD, exact decimal string; null while cost_complete is false")
    known_cost_usd: str = Field(description="the exact sum of the known costs")
    cost_complete: bool
    unpriced_attempts: int = Field(0, description="its attempts of unknown cost")
    unpriced_calls: int = Field(description=UNPRICED_CALLS)
    cost_bound_usd: str = Field("0", description="the worst case of its attempts of unknown cost, where known")
    unbounded_attempts: int = Field(
        0,
        description="its attempts of unknown cost with no bound (an unknown price); where attempts_pruned, at most "
        "this many (its record does not say which of those pruned had a bound)",
    )
    unbounded_calls: int = Field(0, description=UNBOUNDED_CALLS)
    error: RunErrorOut | None = Field(None, description="why the run failed (its last error), if it did")
    attempts: list[AttemptOut] = Field(description="its latest attempts (attempts_per_run at most), oldest first")
    attempts_omitted: int = Field(0, description="its earlier attempts not listed (raise attempts_per_run for them)")
    attempts_of_other_agents: int = Field(
        0, description="its attempts, among those read, of an agent other than your client's token's: not listed"
    )
    attempts_pruned: bool = Field(
        False,
        description="its attempts, all or some, were deleted by `magsag data prune` while its row, the spend its run "
        "limit counts, was kept: its cost and calls are its record's, more than the attempts listed add up to",
    )


class QueryRunsResult(Out):
    runs: list[RunOut] = Field(description="newest first")
    has_more: bool = Field(
        description="whether older runs match: pass next_cursor as cursor, with the same filters, for them"
    )
    next_cursor: str | None = Field(description="where the next page starts (null on the last page)")
    notes: list[str] = Field(
        default_factory=list,
        description=FILTER_NOTES,
    )


class AttemptHitOut(AttemptOut):
    kind: Literal["attempt"]
    run_id: str


class EventHitOut(Out):
    kind: Literal["event"]
    time: str
    run_id: str | None
    agent: str | None
    event: str
    data: Any = Field(
        description=f"as logged; data whose JSON is longer than {EVENT_DATA_CHARS} characters: the start of that "
        "JSON, as text"
    )
    data_chars: int | None = Field(
        None, description="the length of the whole data's JSON, where data is cut to its start; else null"
    )


class RunHitOut(Out):
    """A run whose own error matched: the call failed before any attempt (an invalid payload, ...)."""

    kind: Literal["run"]
    time: str
    run_id: str
    agent: str | None
    skill: str | None = Field(description=RUN_SKILL)
    status: str
    error: RunErrorOut


class SearchUsageResult(Out):
    pattern: str
    hits: list[Annotated[AttemptHitOut | EventHitOut | RunHitOut, Field(discriminator="kind")]] = Field(
        description="newest first"
    )
    has_more: bool = Field(
        description="whether older hits match: pass next_cursor as cursor, with the same pattern, for them (the "
        "same since too, to go on through the same window)"
    )
    next_cursor: str | None = Field(description="where the next page starts (null on the last page)")
    notes: list[str] = Field(
        default_factory=list,
        description=f"a since ahead of now, which nothing recorded can match; {COPY_NOTE}; events' data cut "
        "(data_chars)",
    )
