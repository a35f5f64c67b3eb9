"""The arguments of the tools that read the ledger: the filters they share (:class:`UsageFiltersArg`) and
summarize_usage's, daily_usage's, query_runs' and search_usage's own."""

from __future__ import annotations

from pydantic import Field, StrictFloat

from ..status_filter import STATUSES_LISTED, StatusFilter
from ..summary_top import TOP_DEFAULT, TOP_MAX
from ..text import PATTERN_MAX
from .argument_parts import TIME_LENGTH, Int, _Args, _In

# Mirrors magsag_mcp.ledger.UsageFilters (a test keeps them in step) without importing the ledger,
# which pulls in the SQLite driver, when the server is built.
TIMES = "24h, 7d, an ISO date/time (UTC unless it gives an offset) or unix seconds"


class UsageFiltersArg(_In):
    agent: str | None = Field(None, description="the agent's name, as invoke_skill's agent recorded it")
    run_id: str | None = Field(None, description="the run and the runs delegated from it, as its budget counts them")
    skill: str | None = Field(None, description="a skill id, e.g. skill.analysis")
    model: str | None = Field(None, description="a model (gpt-4o) or a target (openai:gpt-4o: that provider's only)")
    provider: str | None = Field(None, description="a provider or an alias, any case (gemini is google)")
    status: StatusFilter = Field(
        None, description=f"the runs of this status ({STATUSES_LISTED}) and their calls (running: not ended yet)"
    )
    # strict: a boolean is no time (lax, true was the number 1: 1970-01-01T00:00:01)
    since: str | StrictFloat | None = Field(
        None, json_schema_extra=TIME_LENGTH, description=f"from this time on: {TIMES}"
    )
    until: str | StrictFloat | None = Field(
        None, json_schema_extra=TIME_LENGTH, description=f"before this time (exclusive): {TIMES}"
    )


FILTERS = "only the calls of an agent, run, skill, model, provider, status or time (all of them when left out)"


class SummarizeUsageArgs(_Args):
    filters: UsageFiltersArg = Field(default_factory=UsageFiltersArg, description=FILTERS)
    timezone: str | None = Field(
        None,
        description="the IANA zone (Europe/Berlin) whose days largest_day and by_agent[A].largest_day are, default "
        "UTC (period.timezone says it); a since or until date/time without an offset is then this zone's",
    )
    top: Int = Field(
        TOP_DEFAULT,
        ge=1,
        le=TOP_MAX,
        description="the most entries each of model_stats, by_provider, by_agent and by_skill lists, costliest first; "
        "omitted counts the rest, which totals still count",
    )


class DailyUsageArgs(_Args):
    filters: UsageFiltersArg = Field(default_factory=UsageFiltersArg, description=FILTERS)
    timezone: str | None = Field(
        None,
        description="the IANA zone (Europe/Berlin) whose days the rows are, default UTC; a since or until date/time "
        "without an offset is then this zone's",
    )
    limit: Int = Field(200, ge=1, le=10_000, description="rows (agent-days) per page")
    cursor: str | None = Field(
        None, description="the previous page's next_cursor: the rows after it, given with the same filters and timezone"
    )


class QueryRunsArgs(_Args):
    filters: UsageFiltersArg = Field(default_factory=UsageFiltersArg, description=FILTERS)
    timezone: str | None = Field(
        None,
        description="an IANA zone (Europe/Berlin): a since or until date/time without an offset is then this zone's "
        "(default UTC), as summarize_usage and daily_usage read theirs; the runs' times stay UTC",
    )
    limit: Int = Field(20, ge=1, le=500, description="runs per page")
    offset: Int = Field(0, ge=0, le=10**12, description="runs to skip, newest first (after cursor, if given)")
    cursor: str | None = Field(
        None,
        description="the previous page's next_cursor: the page after it, given with the same filters (the cursor "
        "holds where that page ended and a digest of its filters: given with other filters, or none, it is refused)",
    )
    attempts_per_run: Int = Field(50, ge=1, le=1000, description="the most attempts a run lists (its latest)")


class SearchUsageArgs(_Args):
    pattern: str = Field(
        min_length=1,
        # the ledger's own limit, said to a client's validator before a call; not checked by pydantic, whose refusal
        # ("string should have at most 1000 characters") took the place of the ledger's, which says the length given
        json_schema_extra={"maxLength": PATTERN_MAX},
        description=f"a regular expression (RE2, at most {PATTERN_MAX} characters) over errors, models, events, run "
        "ids",
    )
    limit: Int = Field(50, ge=1, le=500, description="hits per page")
    # as the ledger tools' filters take it: a client that learnt unix seconds there may send them here
    since: str | StrictFloat | None = Field(
        None, json_schema_extra=TIME_LENGTH, description=f"only look this far back: {TIMES}"
    )
    cursor: str | None = Field(
        None,
        description="the previous page's next_cursor: the hits after it, given with the same pattern (one given with "
        "another is refused); since may differ, and the same since goes on through the same window",
    )
