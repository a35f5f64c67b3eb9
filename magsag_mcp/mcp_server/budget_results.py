"""The ``check_budget`` tool's result model: the shape of :mod:`magsag_mcp.governance`'s budget report
(see :mod:`.models` for the conventions every result model keeps)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .models_base import Out as _Out


class BudgetWindowOut(_Out):
    start: float
    end: float
    timezone: str


class BudgetHoldersOut(_Out):
    calls: int = Field(
        description="calls in flight holding a reservation, in any process: each counted once, however many of its "
        "attempts not yet recorded hold one (a retry beside its cut attempt's)"
    )
    expired: int = Field(
        description="of those, holding one past its expiry: calls whose process stopped without recording them; they "
        "count at the amount reserved until the next call or read of spend (summarize_usage, query_runs, "
        "search_usage; in any process) records them as abandoned attempts"
    )
    held_until: str | None = Field(description="when the last of them expires, ISO 8601 UTC")
    unbounded: int = Field(
        0,
        description="of those, holding one of no known bound (a delegated call of a model of unknown price, which "
        "holds $0): remaining_usd is then at most",
    )


class BudgetLimitOut(_Out):
    policy: str
    limit: Literal["call", "run", "agent_day", "day", "agent_month", "month"]
    scope: str
    limit_usd: str
    spent_usd: str
    unknown_cost_bound_usd: str = Field(
        "0",
        description="the estimated worst case of the attempts of unknown cost (cut after reaching the vendor); "
        "counted against the limit",
    )
    reserved_usd: str = Field(description="held by calls in flight (their worst case)")
    reserved_by: BudgetHoldersOut | None = Field(
        None, description="when reserved_usd is not 0, or a call in flight holds a reservation of no known bound: what "
        "holds it"
    )
    remaining_usd: str
    status: Literal["ok", "near", "exceeded"]
    window: BudgetWindowOut | None = Field(
        None,
        description="agent_day and day: the day; agent_month and month: the calendar month (from its first day's "
        "start to the next month's); unix seconds",
    )
    unpriced_attempts: int = Field(
        0,
        description="attempts of unknown cost (a call retried after a cut attempt may have two): spent_usd is then a "
        "lower bound",
    )
    unbounded_attempts: int = Field(
        0, description="attempts of unknown cost with no bound (an unknown price): remaining_usd is then at most"
    )
    unpriced_calls: int = Field(
        0, description="the same count as unpriced_attempts, under its first name: attempts, not calls"
    )
    unbounded_calls: int = Field(
        0, description="the same count as unbounded_attempts, under its first name: attempts, not calls"
    )
    cost_complete: bool = True
    budget_run_id: str | None = Field(None, description="run: whose limit (a delegated run uses its parent's)")
    call_fits: bool | None = Field(
        None, description="with skill: whether the least a call of it reserves fits this limit (see call)"
    )


class BudgetCallTargetOut(_Out):
    target: str
    reservation_usd: str | None = Field(
        None, description="its worst case: what the call reserves here (null: forbidden, or an unknown price)"
    )
    input_tokens: int | None = None
    max_output_tokens: int | None = None
    fits: bool
    reason: str | None = Field(None, description="when it does not fit: which limit or policy refuses it, the fix")


class BudgetCallOut(_Out):
    skill: str
    rule: str | None = Field(None, description="the routing rule that chose the call's targets, as explain_route says")
    data_classes: list[str] = Field(
        default_factory=list,
        description="the data classes the call is held to: the skill's and context.data_class (each policy's "
        "requirements for them apply)",
    )
    target: str | None = Field(description="the target the call would reserve on: the first that fits, else the least")
    allowed: bool = Field(
        True,
        description="whether the policies (allowed_models, the data classes' requirements) let the call reach a "
        "target of its route; false: it is refused before the budget is asked (reason says why and what to do)",
    )
    reservation_usd: str | None = Field(
        description="the least the call reserves there: its prompt with an empty payload (a payload adds to it) and "
        "its max_tokens, at the target's price; null: an unknown price, reserving nothing"
    )
    input_tokens: int | None = None
    max_output_tokens: int | None = None
    fits: bool = Field(description="false: the call is refused before anything is sent, whatever remaining_usd says")
    unpriced: bool = Field(
        False,
        description="true: the target has no known price (reservation_usd null): it fits only where every limit sets "
        "allow_unpriced and none has nothing left, and then nothing bounds what it spends (see reason)",
    )
    reason: str | None = Field(
        None,
        description="when it does not fit: why, and how to make it fit; when it fits at no known price (unpriced): "
        "that it is sent with no bound on its cost",
    )
    unsendable: str | None = Field(
        None,
        description="when no target of the route can be sent now (no provider configured: no API key set, or none "
        "has a feature the call needs): why each cannot, and its fix; a call then fails before any request, and fits "
        "is the budget's word once one can be sent",
    )
    targets: list[BudgetCallTargetOut] = Field(
        default_factory=list, description="its route's targets in order, as the call tries them"
    )


class BudgetResult(_Out):
    agent: str | None
    run_id: str | None
    status: Literal["ok", "near", "exceeded"] = Field(description="the worst of the limits")
    cost_complete: bool = Field(True, description="false when some attempt's cost is unknown (see unpriced_attempts)")
    limits: list[BudgetLimitOut] = Field(description="every limit that applies; USD as exact decimal strings")
    run_recorded: bool | None = Field(
        None,
        description="with run_id: false when no call of that run (nor a delegated run) is recorded: check the id, "
        "unless its run limit's reserved_by counts calls in flight (its first call under way, a stopped process's)",
    )
    agent_recorded: bool | None = Field(
        None,
        description="with agent: false when no run of that agent is recorded: check the name, unless its agent_day "
        "or agent_month limit's reserved_by counts calls in flight",
    )
    call: BudgetCallOut | None = Field(None, description="with skill: whether a call of it fits what is left")
    notes: list[str] = Field(
        default_factory=list,
        description="an agent or run_id named that no run has, with the one it nearly names (or its calls in "
        "flight); what was read: a copy of the ledger in its place (an older version's that cannot be migrated "
        "where it is, migrated; or one whose -wal file cannot be read where it is)",
    )
