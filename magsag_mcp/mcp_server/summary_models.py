"""summarize_usage's result (the shape of :func:`magsag_mcp.ledger.queries.summarize`): its counts per model,
provider, agent and skill and in all, its peaks, its period, and the words that say what each count counts, some of
which query_runs' and search_usage's results (:mod:`.ledger_models`) say too. Apart from those: the summary is one
tool's result, read whole, and its counts' words were most of a module past 500 lines."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from .models_base import Out

#: what a peak's unbounded_attempts counts
_PEAK_UNBOUNDED = (
    "attempts of unknown cost with no bound (an unknown price, admitted by allow_unpriced) among those this peak was "
    "chosen from (a model's largest_call: those on the model), which its figures leave out: while any, at_most_usd "
    "bounds no peak; and the peak's own that those leave out (a call, a run's tree, counted whole: its fallback hop on "
    "another model, an attempt the filters leave out), so at least 1 where at_most_usd is null"
)


class PeakCostOut(Out):
    known_cost_usd: str
    unknown_cost_bound_usd: str = "0"
    at_most_usd: str | None = Field(
        description="the known cost plus the bound on the unknown costs, as limits count it; null if it holds an "
        "attempt of unknown cost with no bound"
    )
    unbounded_attempts: int = Field(0, description=_PEAK_UNBOUNDED)


class LargestDayOut(PeakCostOut):
    date: str = Field(description="a UTC day, YYYY-MM-DD")


class LargestRunOut(PeakCostOut):
    run_id: str = Field(description="the top run of the tree (delegated runs record it as their parent)")
    delegated_runs: int
    attempts_pruned: bool = Field(
        False,
        description="a run of the tree kept its cost, which its run limit counts, after `magsag data prune` deleted "
        "its attempts, all or some: its figures hold that cost, and the totals (read from the attempts left) do not",
    )


class LargestCallOut(Out):
    run_id: str = Field(description="the run that made the call (query_runs lists its attempts)")
    time: str = Field(description="when the call's last attempt that reached a provider began")
    at_most_usd: str | None = Field(
        description="its attempts' costs together (retries, fallbacks), unknown ones at their bound: what "
        "max_cost_per_call_usd bounds; null if an attempt of it has unknown cost with no bound"
    )
    counted_usd: str | None = Field(
        None,
        description="its attempts' known costs and bounds together, those with no bound left out: what the call "
        "limit counts (at_most_usd unless it is null)",
    )
    unbounded_attempts: int = Field(0, description=_PEAK_UNBOUNDED)


#: what a summary's counts count (the guide's "calls: Number of invocations", "errors: Failed calls"), in model_stats
#: and in the breakdowns by provider, agent and skill alike
_CALLS = (
    "calls, each counted once (under the model and provider of its last attempt that reached a provider), however "
    "many tries"
)
_ERRORS = "the calls that failed (their last attempt that reached a provider failed)"
_ATTEMPTS = "the attempts that reached a provider: a call's retries and fallback hops each count one"
_ATTEMPT_ERRORS = "the attempts that failed (a call answered on its retry or by a fallback has one and no error)"
#: the first names of the counts of attempts of unknown cost (they never counted calls), kept for their clients
UNPRICED_CALLS = "the same count as unpriced_attempts, under its first name: attempts, not calls"
UNBOUNDED_CALLS = "the same count as unbounded_attempts, under its first name: attempts, not calls"
#: the prompt cache's counts in a summary, parts of input_tokens (see magsag_mcp.types.Usage)
_CACHED = "input tokens read from a prompt cache (part of input_tokens)"
_CACHE_WRITES = (
    "input tokens written to a prompt cache (part of input_tokens; Anthropic's cache_creation_input_tokens, billed "
    "above the input rate)"
)
_CACHE_WRITES_1H = "of cache_write_tokens, those written to a 1-hour cache (Anthropic's dearest input)"
CACHE_WRITES_UNSAID = (
    "of cache_write_tokens, those whose time to live the answer did not say (a Claude stream's writes past "
    "message_start's split, a usage without cache_creation): priced at the one every cache_control marker of the "
    "request asked, or of unknown cost where they asked none or both; counted since magsag-mcp kept it (see "
    "cache_write_ttl_uncounted_attempts)"
)
CACHE_WRITES_SPLIT_PAST = (
    "how many more cache writes Claude's answers' cache_creation split by time to live counted than their "
    "cache_creation_input_tokens (a gateway's usage, or a broken count): priced at the split's figure, the larger, so "
    "the bill may be less than the cost recorded; counted since magsag-mcp kept it (0 in the attempts recorded before)"
)
_CACHE_WRITES_UNCOUNTED = (
    "attempts that wrote to the cache before magsag-mcp counted writes of unsaid time to live (an upgraded ledger's "
    "older rows): whatever of theirs went unsaid is not in cache_write_ttl_unsaid_tokens, which is then a part; 0 "
    "where none, as in every ledger this version made"
)
#: in a summary, a part of output_tokens (see magsag_mcp.types.Usage)
_REASONING = "output tokens spent reasoning, where the vendor reports them (part of output_tokens)"
#: in a summary, the parts of a bill its tokens alone do not give (0030), summed over the attempts that said each (0031)
_IMAGES_OUT = (
    "output tokens that were images (part of output_tokens; Gemini's, billed at an image rate), summed over the "
    "attempts whose answers said them; null where none did (never 0 for that)"
)
_IMAGES_UNSAID = "attempts whose answer did not say its output's image tokens (in no output_image_tokens)"
_US_INFERENCE = (
    "attempts whose inference ran in the US only (Anthropic's inference_geo 'us', billed at 1.1x the token rates); "
    "null where no attempt's answer said where it ran"
)
_GEO_UNSAID = "attempts whose answer did not say where inference ran (in no us_inference_attempts)"
_TOOL_USES = (
    "server tool calls billed per use beside the tokens, by the tool's API name (web_search, file_search, "
    "code_interpreter, image_generation, grounded_prompt, and any other name an attempt was recorded with, such as "
    "web_fetch), summed over the attempts whose answers counted them; {} "
    "where those counted none, null where no answer counted any"
)
_TOOL_USES_UNSAID = "attempts whose answer gave no count of server tool calls (in no server_tool_uses)"

#: the copy of the ledger a read may be made from (see magsag_mcp.ledger.read_only_copy), which its notes say
COPY_NOTE = (
    "a copy of the ledger was read in its place (an older version's that cannot be migrated where it is, migrated; "
    "or one whose -wal file cannot be read where it is)"
)
#: the notes of summarize_usage and query_runs (see LedgerReads.filter_notes)
FILTER_NOTES = (
    "a filter naming what the ledger never recorded: what it may have meant (or its calls in flight, none recorded "
    "yet); a since ahead of now, which nothing recorded can match; a read that matched nothing of a ledger with no "
    f"call recorded yet: the calls in flight and the reservations they hold; {COPY_NOTE}"
)


class StatsOut(Out):
    calls: int = Field(description=_CALLS)
    errors: int = Field(description=_ERRORS)
    attempts: int = Field(description=_ATTEMPTS)
    attempt_errors: int = Field(description=_ATTEMPT_ERRORS)
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None = Field(description="cost in USD, a number for display; null when cost_complete is false")
    cost_usd_exact: str | None
    known_cost_usd: str = Field(description="the exact sum of the known costs")
    cost_complete: bool
    unpriced_attempts: int = Field(
        0,
        description="attempts of unknown cost (an unknown price, or cut after reaching the vendor, which may bill "
        "it); a call retried after a cut attempt may have two",
    )
    unpriced_calls: int = Field(description=UNPRICED_CALLS)
    unknown_cost_bound_usd: str = Field(
        "0", description="the estimated worst case of the attempts of unknown cost, where their price is known"
    )
    unbounded_attempts: int = Field(0, description="attempts of unknown cost with no bound (an unknown price)")
    unbounded_calls: int = Field(0, description=UNBOUNDED_CALLS)
    cached_tokens: int = Field(0, description=_CACHED)
    cache_write_tokens: int = Field(0, description=_CACHE_WRITES)
    cache_write_1h_tokens: int = Field(0, description=_CACHE_WRITES_1H)
    cache_write_ttl_unsaid_tokens: int = Field(0, description=CACHE_WRITES_UNSAID)
    cache_write_ttl_uncounted_attempts: int = Field(0, description=_CACHE_WRITES_UNCOUNTED)
    cache_write_split_past_tokens: int = Field(0, description=CACHE_WRITES_SPLIT_PAST)
    reasoning_tokens: int = Field(0, description=_REASONING)
    output_image_tokens: int | None = Field(None, description=_IMAGES_OUT)
    output_image_unsaid_attempts: int = Field(0, description=_IMAGES_UNSAID)
    us_inference_attempts: int | None = Field(None, description=_US_INFERENCE)
    inference_geo_unsaid_attempts: int = Field(0, description=_GEO_UNSAID)
    server_tool_uses: dict[str, int] | None = Field(None, description=_TOOL_USES)
    server_tool_uses_unsaid_attempts: int = Field(0, description=_TOOL_USES_UNSAID)
    largest_day: LargestDayOut | None = Field(None, description="in by_agent: the agent's costliest UTC day")


class ModelStatsOut(StatsOut):
    providers: list[str] = Field(default_factory=list, description="who served it (gpt-4o: openai, azure...)")
    largest_call: LargestCallOut | None = Field(
        None, description="the costliest call ending on this model (its last attempt that reached a provider)"
    )
    served_as: dict[str, int] | None = Field(
        None,
        description="an Azure deployment's answers by the model each said served it (the deployment's name is its "
        "operator's choice); null for other models",
    )
    served_unknown: int | None = Field(
        None, description="an Azure deployment's answers recorded without the model that served them (an older magsag)"
    )
    served_as_by_endpoint: dict[str, dict[str, int]] | None = Field(
        None,
        description="served_as by the endpoint each answer came from (its host, as `magsag azure served` lists it: two "
        "resources may have deployments of one name serving different models); answers recorded without an endpoint "
        "(an older magsag) are in served_as alone; null for other models",
    )


class TotalsOut(Out):
    calls: int = Field(description=_CALLS)
    errors: int = Field(description=_ERRORS)
    attempts: int = Field(description=_ATTEMPTS)
    attempt_errors: int = Field(description=_ATTEMPT_ERRORS)
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None
    cost_usd_exact: str | None
    known_cost_usd: str
    unpriced_attempts: int = Field(0, description="attempts of unknown cost (see model_stats)")
    unpriced_calls: int = Field(description=UNPRICED_CALLS)
    unknown_cost_bound_usd: str = "0"
    unbounded_attempts: int = Field(0, description="attempts of unknown cost with no bound (an unknown price)")
    unbounded_calls: int = Field(0, description=UNBOUNDED_CALLS)
    cost_complete: bool
    cached_tokens: int = Field(0, description=_CACHED)
    cache_write_tokens: int = Field(0, description=_CACHE_WRITES)
    cache_write_1h_tokens: int = Field(0, description=_CACHE_WRITES_1H)
    cache_write_ttl_unsaid_tokens: int = Field(0, description=CACHE_WRITES_UNSAID)
    cache_write_ttl_uncounted_attempts: int = Field(0, description=_CACHE_WRITES_UNCOUNTED)
    cache_write_split_past_tokens: int = Field(0, description=CACHE_WRITES_SPLIT_PAST)
    reasoning_tokens: int = Field(0, description=_REASONING)
    output_image_tokens: int | None = Field(None, description=_IMAGES_OUT)
    output_image_unsaid_attempts: int = Field(0, description=_IMAGES_UNSAID)
    us_inference_attempts: int | None = Field(None, description=_US_INFERENCE)
    inference_geo_unsaid_attempts: int = Field(0, description=_GEO_UNSAID)
    server_tool_uses: dict[str, int] | None = Field(None, description=_TOOL_USES)
    server_tool_uses_unsaid_attempts: int = Field(0, description=_TOOL_USES_UNSAID)
    policy_denied_attempts: int = 0
    budget_exceeded_attempts: int = 0
    skipped_attempts: int = 0
    unsent_calls: int | None = Field(
        None,
        description="where no call of the summary sent a request (calls is 0): the calls that sent none, every target "
        "refused or skipped before one was sent (no API key set, a policy or a budget refused it), spending nothing; "
        "notes say the commonest reason. null where calls is not 0 (not counted: query_runs lists each run's)",
    )


class PeriodOut(Out):
    from_: str | None = Field(alias="from")
    to: str | None
    filters: dict[str, Any]
    timezone: str = Field("UTC", description="the zone whose days largest_day and by_agent's largest_day are")

    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)


class CacheSummaryOut(Out):
    hits: int = Field(description="calls answered from the answer cache (each recorded as an attempt at $0)")
    saved_usd: str | None = Field(
        description="what those answers had cost when they were paid for, exact; null when one had cost an unknown "
        "amount (saved_known_usd is the known part)"
    )
    saved_known_usd: str
    saved_complete: bool


class UsageSummaryResult(Out):
    model_stats: dict[str, ModelStatsOut] = Field(description="per model, the guide's summary.json shape")
    totals: TotalsOut
    by_provider: dict[str, StatsOut]
    by_agent: dict[str, StatsOut]
    by_skill: dict[str, StatsOut]
    by_data_class: dict[str, dict[str, int]] | None = Field(
        None,
        description="per data class the calls were held to (the skill's, an agent run's, a context's), its attempts "
        "sent by target (provider:model): what flow gate checks against the policies' requirements; null: a ledger "
        "that did not record calls' data classes",
    )
    by_data_class_served: dict[str, dict[str, dict[str, int]]] | None = Field(
        None,
        description="per data class, its Azure deployments (by name) and the models their answers said served them, "
        "how many attempts each: flow gate judges a deployment by the model that served it, as each call was; null: "
        "a ledger that did not record calls' data classes",
    )
    by_data_class_off_machine: dict[str, dict[str, int]] | None = Field(
        None,
        description="per data class, its local attempts (provider:model) sent off this machine, to Ollama's cloud (a "
        "local base URL on ollama.com, a cloud model, or one the server made from a cloud model), how many each: "
        "flow gate admits them only where a class names the target itself; null: a ledger that did not record calls' "
        "data classes",
    )
    data_classes_since: str | None = Field(
        None,
        description="when the ledger began to record calls' data classes (ISO 8601, UTC), given where it still "
        "holds calls recorded before (an upgraded ledger's): a period from before it holds calls by_data_class cannot "
        "place, whose requirements flow gate names unchecked; null: every call the ledger holds has its classes (a "
        "ledger this version made, or one pruned of the earlier calls: by_data_class places every call of any period), "
        "or, with by_data_class null, a ledger that does not record them",
    )
    largest_run: LargestRunOut | None = Field(
        None, description="the costliest run with the runs it delegated (what max_cost_per_run_usd bounds)"
    )
    largest_day: LargestDayOut | None = Field(None, description="the costliest UTC day of the period")
    largest_call: LargestCallOut | None = Field(
        None, description="the costliest call of the period, its attempts together (what max_cost_per_call_usd bounds)"
    )
    cache: CacheSummaryOut | None = Field(None, description="the calls the answer cache answered, and what it saved")
    period: PeriodOut
    omitted: dict[str, int] = Field(
        default_factory=dict,
        description="per map cut to top entries (model_stats, by_provider, by_agent, by_skill), how many it left out "
        "(a note says how to see them); empty: every entry is listed",
    )
    notes: list[str] = Field(
        default_factory=list,
        description=f"{FILTER_NOTES}; calls that sent no request (totals.unsent_calls: no API key set, a policy "
        "refused them), with the commonest reason and its fix; a map cut to top entries, and how to see the rest",
    )
