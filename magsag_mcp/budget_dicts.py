"""The shapes of the dicts the Python API returns for what a budget has left and a run has cost (``mg.check_budget``,
``await mg.acheck_budget``, ``mg.obs.cost_detail``; the service's ``check_budget``), as TypedDicts: what
:mod:`.result_dicts` does for a call's result. At run time they are plain dicts, built by
:func:`~.governance.status.budget_status`, :func:`~.call_fit.call_fit` and :meth:`~.ledger.run_scope.RunSpend.to_dict`.
Money is a decimal string (``Decimal(limit["remaining_usd"])`` to compare), None where none is known."""

# (no `from __future__ import annotations`: a TypedDict reads NotRequired at run time only from annotations that are
# not strings, and its __required_keys__ are then what a read returns)
from typing import Literal, NotRequired, TypedDict

from .governance.policy import LimitKind

#: how a limit stands: "near" from 80% of it used, "exceeded" once its spend, bounds and reservations reach it
BudgetState = Literal["ok", "near", "exceeded"]


class ReservedByDict(TypedDict):
    """What holds a limit's ``reserved_usd``: the calls in flight, those of them holding a reservation past its expiry
    (a stopped process's), when the last one expires (ISO 8601, None: none), and (there once any does) those holding
    one of no known bound, which makes ``remaining_usd`` an upper bound."""

    calls: int
    expired: int
    held_until: str | None
    unbounded: NotRequired[int]


class BudgetWindowDict(TypedDict):
    """A daily limit's day, a monthly limit's calendar month: unix seconds [start, end) in ``timezone``."""

    start: float
    end: float
    timezone: str


class BudgetLimitDict(TypedDict):
    """One limit that applies: its amount, what is spent, bounded (attempts of unknown cost at their worst case) and
    reserved (calls in flight), and what is left. ``cost_complete`` false: ``spent_usd`` is a lower bound."""

    policy: str
    limit: LimitKind
    scope: str
    limit_usd: str
    spent_usd: str
    unknown_cost_bound_usd: str
    reserved_usd: str
    remaining_usd: str
    status: BudgetState
    unpriced_attempts: int
    unbounded_attempts: int
    unpriced_calls: int
    unbounded_calls: int
    cost_complete: bool
    #: there while calls in flight hold reservations in its scope
    reserved_by: NotRequired[ReservedByDict]
    #: a run limit's: the run whose limit it is (a delegated run's parent)
    budget_run_id: NotRequired[str]
    #: a daily limit's day, a monthly limit's month
    window: NotRequired[BudgetWindowDict]
    #: with ``skill``: whether the call's least reservation fits this limit
    call_fits: NotRequired[bool]


class TargetFitDict(TypedDict):
    """One target of the skill's route, as ``check_budget(skill=...)`` judges it: what a call of it would reserve
    (None: a policy forbids it, or its price is unknown), whether that fits, and why not. The token counts are there
    where a policy allows the target."""

    target: str
    reservation_usd: str | None
    fits: bool
    reason: str | None
    input_tokens: NotRequired[int]
    max_output_tokens: NotRequired[int]


class CallFitDict(TypedDict):
    """``check_budget(skill=...)``'s ``call``: the target a call would reserve on (the first that fits, else the one
    needing least; None where a policy forbids them all), whether the policies allow the call a target (``allowed``;
    the route's ``rule`` and the ``data_classes`` held to, the skill's, the run's and the context's), whether it fits
    and why not, and ``unsendable`` where no target can be sent now (no key set)."""

    skill: str
    rule: str
    data_classes: list[str]
    target: str | None
    allowed: bool
    reservation_usd: str | None
    input_tokens: int | None
    max_output_tokens: int | None
    fits: bool
    unpriced: bool
    reason: str | None
    unsendable: str | None
    targets: list[TargetFitDict]


class BudgetStatusDict(TypedDict):
    """What ``mg.check_budget`` returns: each limit the agent's and run's calls meet, the worst of their states, and
    with ``skill``, ``call``. ``run_recorded`` / ``agent_recorded`` (there with a run id / an agent) false: no call of
    it is recorded (a misspelt name reads as a whole limit left); ``notes`` there where a copy of the ledger was
    read."""

    agent: str | None
    run_id: str | None
    status: BudgetState
    cost_complete: bool
    limits: list[BudgetLimitDict]
    run_recorded: NotRequired[bool]
    agent_recorded: NotRequired[bool]
    call: NotRequired[CallFitDict]
    notes: NotRequired[list[str]]


class RunCostDict(TypedDict):
    """What ``mg.obs.cost_detail()`` returns for the run and the runs it delegated: ``at_most_usd`` (what its run limit
    counts, and ``obs.current_cost()``) is ``known_usd`` plus the worst case of its ``unknown_attempts``; the
    ``unbounded_attempts`` among them have no known price, so no bound: the figure leaves them out."""

    known_usd: str
    unknown_cost_bound_usd: str
    at_most_usd: str
    unknown_attempts: int
    unbounded_attempts: int
    cost_complete: bool
