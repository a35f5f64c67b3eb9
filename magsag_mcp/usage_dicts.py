"""The shapes of the dicts the Python API returns for the ledger's reads (``mg.summarize``, ``mg.query_runs``,
``mg.search`` and their ``a*`` forms; the service's ``summarize_noted``, ``query_runs_noted`` and ``search_page``), as
TypedDicts: what :mod:`.result_dicts` does for a call's result. At run time they are plain dicts, built by
:mod:`.ledger.queries`, :mod:`.ledger.run_pages`, :mod:`.ledger.peaks` and :mod:`.ledger.search`.

Money is a decimal string (``Decimal(run["cost_usd"])`` to add up), None when unknown, except a summary's
``cost_usd``, a float for display beside the exact ``cost_usd_exact`` (docs/python.md says so)."""

# (no `from __future__ import annotations`: a TypedDict reads NotRequired at run time only from annotations that are
# not strings, and its __required_keys__ are then what a read returns)
from typing import Any, Literal, NotRequired, TypedDict

from .records import RunStatus
from .result_dicts import AttemptDict


class UsageStatsDict(TypedDict):
    """One group's counts in a summary (``totals``, each ``by_provider`` and ``by_skill`` entry): ``calls`` (``errors``
    of them failed) and ``attempts`` (retries and fallback hops each one; ``attempt_errors`` failed). ``cost_usd`` is a
    float and ``cost_usd_exact`` its decimal string, both None while any cost is unknown (``cost_complete`` false);
    ``known_cost_usd`` is the known part. ``unpriced_calls`` and ``unbounded_calls`` are ``unpriced_attempts`` and
    ``unbounded_attempts`` under their first names. The parts of a bill the tokens alone do not give
    (``output_image_tokens``, ``us_inference_attempts``, ``server_tool_uses`` by the tool's API name) sum what the
    attempts' answers said: None where none said it (never 0), and ``*_unsaid_attempts`` counts those that did not.
    ``cache_write_ttl_unsaid_tokens`` leaves out the attempts recorded before it was counted that wrote to the cache:
    ``cache_write_ttl_uncounted_attempts`` says how many (0 where none)."""

    calls: int
    errors: int
    attempts: int
    attempt_errors: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None
    cost_usd_exact: str | None
    known_cost_usd: str
    cost_complete: bool
    unpriced_attempts: int
    unpriced_calls: int
    unknown_cost_bound_usd: str
    unbounded_attempts: int
    unbounded_calls: int
    cached_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    cache_write_ttl_unsaid_tokens: int
    cache_write_ttl_uncounted_attempts: int
    cache_write_split_past_tokens: int
    reasoning_tokens: int
    output_image_tokens: int | None
    output_image_unsaid_attempts: int
    us_inference_attempts: int | None
    inference_geo_unsaid_attempts: int
    server_tool_uses: dict[str, int] | None
    server_tool_uses_unsaid_attempts: int


class UsageTotalsDict(UsageStatsDict):
    """A summary's ``totals``: its counts, and the attempts refused or skipped before any request, by outcome (each
    there once any was); ``unsent_calls`` where no call of the summary sent a request (no key set, a policy refused
    it), the notes then saying why."""

    policy_denied_attempts: NotRequired[int]
    budget_exceeded_attempts: NotRequired[int]
    skipped_attempts: NotRequired[int]
    unsent_calls: NotRequired[int]


class PeakCostDict(TypedDict):
    """A peak's costs (largest run, largest day): ``at_most_usd`` is None where an attempt of it has no known price
    nor bound; ``unbounded_attempts``: those of its scope, while any of which no figure here bounds the peak."""

    known_cost_usd: str
    unknown_cost_bound_usd: str
    at_most_usd: str | None
    unbounded_attempts: int


class LargestRunDict(PeakCostDict):
    """The costliest run with the runs it delegated (what ``max_cost_per_run_usd`` bounds)."""

    run_id: str
    delegated_runs: int
    #: there (true) where a prune took attempts of the tree that its figures still hold
    attempts_pruned: NotRequired[bool]


class LargestDayDict(PeakCostDict):
    """The costliest day (of ``period.timezone``), as an ISO date."""

    date: str


class LargestCallDict(TypedDict):
    """The costliest call, its attempts together (what ``max_cost_per_call_usd`` bounds): ``time`` is its last
    attempt's, ``counted_usd`` what the call limit counts, ``at_most_usd`` the same or None where an attempt of it
    has no bound."""

    run_id: str
    time: str
    at_most_usd: str | None
    counted_usd: str
    unbounded_attempts: int


class ModelStatsDict(UsageStatsDict):
    """A model's entry of ``model_stats``: its counts, the providers that served it, and its costliest call (None
    where no attempt of it ended a call)."""

    providers: list[str]
    largest_call: LargestCallDict | None
    #: an Azure deployment's answers by the model that served them, and those recorded without it (an older
    #: version's): what `flow gate` checks against allowed_models
    served_as: NotRequired[dict[str, int]]
    served_unknown: NotRequired[int]
    #: ``served_as`` by the endpoint each answer came from (its host, as ``azure_served`` names it); those recorded
    #: without one (an older version's) are in ``served_as`` alone
    served_as_by_endpoint: NotRequired[dict[str, dict[str, int]]]
    #: a local model's attempts sent off this machine (Ollama's cloud under a local name), by the host they went to:
    #: what `flow gate` does not let a glob of local models in allowed_models pass
    off_machine: NotRequired[dict[str, int]]


class AgentStatsDict(UsageStatsDict):
    """An agent's entry of ``by_agent``: its counts, and its costliest day (where it spent on one)."""

    largest_day: NotRequired[LargestDayDict]


#: the summary's period: ``from`` and ``to`` the first and last attempt's time (None: none), ``filters`` as given
#: (a key pasted as one redacted), ``timezone`` the zone of its days. (``from`` is a keyword: the functional form)
SummaryPeriodDict = TypedDict(
    "SummaryPeriodDict", {"from": str | None, "to": str | None, "filters": dict[str, Any], "timezone": str}
)


class CacheSummaryDict(TypedDict):
    """A summary's ``cache``: the calls of its window and filters the answer cache answered, and what their answers
    had cost when they were paid for (exact decimal strings; ``saved_usd`` None where one had cost an unknown amount,
    ``saved_known_usd`` the known part)."""

    hits: int
    saved_usd: str | None
    saved_known_usd: str
    saved_complete: bool


class UsageSummaryDict(TypedDict):
    """What ``mg.summarize`` returns (the ``summarize_usage`` tool's shape): the guide's ``model_stats`` by model,
    ``totals``, the breakdowns, the peaks ``flow gate`` checks (None in a summary of nothing), the period, and the
    ``notes`` on what a filter naming nothing recorded may have meant."""

    model_stats: dict[str, ModelStatsDict]
    totals: UsageTotalsDict
    by_provider: dict[str, UsageStatsDict]
    by_agent: dict[str, AgentStatsDict]
    by_skill: dict[str, UsageStatsDict]
    #: each data class's attempts sent, by target (provider:model); None: a ledger that did not record them
    by_data_class: dict[str, dict[str, int]] | None
    #: of those, each class's Azure deployments: the models their answers said served them, how many each
    by_data_class_served: dict[str, dict[str, dict[str, int]]] | None
    #: of those, each class's local attempts sent off this machine (to Ollama's cloud), by target, how many each
    by_data_class_off_machine: dict[str, dict[str, int]] | None
    #: when the ledger began to record calls' data classes, where it holds calls from before (an upgraded ledger's):
    #: those of a period from before it are in no by_data_class; None: every call it holds has its classes (a ledger
    #: this version made, or pruned of the earlier calls), or a ledger that does not keep them (by_data_class None)
    data_classes_since: str | None
    largest_run: LargestRunDict | None
    largest_day: LargestDayDict | None
    largest_call: LargestCallDict | None
    cache: CacheSummaryDict
    period: SummaryPeriodDict
    notes: list[str]
    #: with ``top`` given (the summarize_usage tool's default 20): how many entries each per-key map left out
    omitted: NotRequired[dict[str, int]]


class RecordedAttemptDict(AttemptDict):
    """An attempt as the ledger recorded it (a run's in ``query_runs``): :class:`AttemptDict`'s fields, with the
    time it started (ISO 8601, UTC), the skill and agent of its call, and the model its answer said it came from
    (the vendor's ``model``: a dated snapshot, or what an Azure deployment serves; None where none was recorded), and
    the data classes its call was held to (``[]``: none, or recorded before they were kept), and the endpoint an Azure
    attempt went to (its host, as ``magsag azure served`` names it; None for other providers and older rows)."""

    time: str
    skill: str | None
    agent: str | None
    served_model: str | None
    data_classes: list[str]
    endpoint: str | None
    #: what else its cost follows from (None where the answer did not say, and for older rows): of output_tokens,
    #: images; where inference ran (Anthropic's "us" is billed at 1.1x); its per-use server tool calls by kind
    output_image_tokens: int | None
    inference_geo: str | None
    server_tool_uses: dict[str, int] | None
    #: a paused turn's story (0037; None otherwise, and for older rows): the paused_id this attempt's answer left its
    #: turn held under, and the paused_id every attempt of a continuation continued
    paused_id: str | None
    continues_paused_id: str | None


class RunErrorDict(TypedDict):
    """The error a run (or a call of it) ended with: its class (``all_targets_failed``, ``rate_limit``, ...) and
    message."""

    type: str
    message: str | None


class RunDict(TypedDict):
    """One run of ``query_runs``: its calls' counts and cost (``cost_usd`` None while any cost is unknown, beside
    ``known_cost_usd``), its error, and its latest attempts (``attempts_omitted`` counts the earlier ones, there when
    ``attempts_per_run`` was given)."""

    run_id: str
    agent: str | None
    skill: str | None
    parent_run_id: str | None
    started_at: str
    ended_at: str | None
    status: RunStatus
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: str | None
    known_cost_usd: str
    cost_complete: bool
    unpriced_attempts: int
    unpriced_calls: int
    cost_bound_usd: str
    unbounded_attempts: int
    unbounded_calls: int
    error: RunErrorDict | None
    attempts: list[RecordedAttemptDict]
    attempts_omitted: NotRequired[int]
    attempts_of_other_agents: NotRequired[int]
    #: there (true) where a prune took attempts whose cost or tokens the run still holds
    attempts_pruned: NotRequired[bool]


class RunsPageDict(TypedDict):
    """What ``mg.query_runs`` returns: a page of runs, newest first; ``next_cursor`` (None on the last page) is the
    next page's ``cursor=``."""

    runs: list[RunDict]
    has_more: bool
    next_cursor: str | None
    notes: list[str]


class AttemptHitDict(RecordedAttemptDict):
    """A recorded attempt that a search matched."""

    kind: Literal["attempt"]
    run_id: str


class EventHitDict(TypedDict):
    """A logged event (``obs.log``) that a search matched; ``data`` as logged, read back from JSON."""

    kind: Literal["event"]
    time: str
    run_id: str | None
    agent: str | None
    event: str
    data: Any


class RunHitDict(TypedDict):
    """A run whose own error a search matched (a call that failed before any attempt: an unknown skill, a payload
    its schema refused)."""

    kind: Literal["run"]
    time: str
    run_id: str
    agent: str | None
    skill: str | None
    status: RunStatus
    error: RunErrorDict


#: a search's hit, told apart by ``kind`` (``if hit["kind"] == "attempt":`` narrows it for a type checker)
SearchHitDict = AttemptHitDict | EventHitDict | RunHitDict


class SearchPageDict(TypedDict):
    """What ``mg.search`` returns: the hits, newest first; ``next_cursor`` (None on the last page) is the next
    page's ``cursor=``."""

    hits: list[SearchHitDict]
    has_more: bool
    next_cursor: str | None
    notes: list[str]


class AgentDayDict(PeakCostDict):
    """One agent's spend on one day (of the page's ``timezone``), as ``magsag flow daily`` writes a row: the agent as
    recorded (``"(none)"`` for calls recorded under none); ``at_most_usd`` None where the day holds an attempt of no
    known price (``unbounded_attempts`` of them), which ``known_cost_usd`` leaves out."""

    date: str
    agent: str


class DailyUsageDict(TypedDict):
    """What ``mg.daily`` returns: each agent's spend on each day it spent, by day then agent; ``next_cursor`` (None on
    the last page) is the next page's ``cursor=``; ``timezone`` the zone whose days they are ("UTC" by default)."""

    days: list[AgentDayDict]
    has_more: bool
    next_cursor: str | None
    timezone: str
    notes: list[str]
