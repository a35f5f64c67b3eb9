"""The guide's ``obs``: :class:`Observer` logs events to the ledger and reports the run's spend so far
(``obs.get_current_cost()``), warning with :class:`UnknownCostWarning` when that figure is not exact."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .bridge import Bridge, ProcessBound
from .catalog_edits import prices_file_of
from .plurals import be, counted

if TYPE_CHECKING:
    from .budget_dicts import RunCostDict
    from .ledger.run_scope import RunSpend
    from .service import Service


class UnknownCostWarning(UserWarning):
    """A cost figure includes attempts whose cost is not known exactly."""


class Observer(ProcessBound):
    """``obs.log(event, data)`` records an event in the ledger; ``obs.get_current_cost()`` is the
    run's spend so far in USD (a float for display; :meth:`current_cost` gives the exact Decimal).

    An attempt of unknown cost (cut after the vendor had it, or a model with no price) counts at the
    worst case estimated before it was sent, as the run's budget limit counts it, so that the guide's
    ``if obs.get_current_cost() > max_cost_usd`` errs towards stopping; a warning says so, and one
    with no estimate (no price) is named in a warning too. :meth:`cost_detail` separates the parts.

    An agent's figure is that of the run whose limit its calls spend (``budget_run_id``): the top of its
    delegation tree, where every delegated run records its parent. A MAG's own run alone would leave
    out what its SAGs spent, and a SAG's what the rest of the tree spent, both counted by that limit.
    """

    def __init__(
        self,
        service: Service,
        bridge: Bridge,
        *,
        run_id: str,
        agent: str | None = None,
        budget_run_id: str | None = None,
    ) -> None:
        self.service = service
        self.bridge = bridge
        #: where obs.log records events
        self.run_id = run_id
        self.agent = agent
        #: the run (with the runs delegated from it) whose spend the cost methods report
        self.budget_run_id = budget_run_id or run_id
        #: (bounded, unbounded) unknown-cost attempts when this observer last warned: each new one warns once
        self._warned_at = (0, 0)

    async def alog(self, event: str, data: Mapping[str, Any] | None = None) -> None:
        """:meth:`log` from async code, on any event loop."""
        await self.bridge.call(self.service.log_event, self.run_id, self.agent, event, data or {})

    def log(self, event: str, data: Mapping[str, Any] | None = None) -> None:
        """Record the event ``event`` (a non-empty name, ``"model_success"``) with ``data`` (a mapping, its values
        written as JSON, any API key in them redacted) in the ledger, under this run and agent: ``magsag data search``
        and :meth:`~magsag_mcp.Magsag.search` find it (``hit["kind"] == "event"``)."""
        self.bridge.run(self.service.log_event, self.run_id, self.agent, event, data or {})

    async def acost_detail(self) -> RunCostDict:
        """``known_usd``, ``unknown_cost_bound_usd``, ``at_most_usd``, ``unknown_attempts``,
        ``unbounded_attempts`` and ``cost_complete`` for this run and the runs it delegated to."""
        return (await self.bridge.call(self.service.run_spend, self.budget_run_id)).to_dict()

    def cost_detail(self) -> RunCostDict:
        """The parts of :meth:`current_cost`: ``known_usd`` (exact), ``unknown_cost_bound_usd`` (the worst case of
        the attempts of unknown cost), ``at_most_usd`` (their sum), ``unknown_attempts``, ``unbounded_attempts`` (of
        no known price, in no figure) and ``cost_complete``, each amount a decimal string."""
        return self.bridge.run(self.service.run_spend, self.budget_run_id).to_dict()

    async def acurrent_cost(self) -> Decimal:
        """:meth:`current_cost` from async code, on any event loop."""
        spend = await self.bridge.call(self.service.run_spend, self.budget_run_id)
        self._warn_if_unknown(spend)
        return spend.at_most_usd

    def current_cost(self) -> Decimal:
        """The run's spend so far in USD, exact (a ``Decimal``), with the runs it delegated to; an attempt of unknown
        cost counts at its worst case, and an :class:`UnknownCostWarning` says so (:meth:`cost_detail` has the
        parts)."""
        spend = self.bridge.run(lambda: self.service.run_spend(self.budget_run_id))
        self._warn_if_unknown(spend)
        return spend.at_most_usd

    def get_current_cost(self) -> float:
        """:meth:`current_cost` as a float, for display and the guide's ``if obs.get_current_cost() > max_cost_usd``;
        add amounts up with :meth:`current_cost`'s ``Decimal``."""
        spend = self.bridge.run(lambda: self.service.run_spend(self.budget_run_id))
        self._warn_if_unknown(spend)
        return float(spend.at_most_usd)

    def _warn_if_unknown(self, spend: RunSpend) -> None:
        """Warn (at the caller's line, once per new unknown attempt) that the figure is not exact."""
        bounded = spend.unknown_attempts - spend.unbounded_attempts
        warned_bounded, warned_unbounded = self._warned_at
        self._warned_at = (bounded, spend.unbounded_attempts)
        if bounded and bounded != warned_bounded:
            warnings.warn(
                f"run {self.budget_run_id}: {counted(bounded, 'attempt')} of unknown cost {be(bounded)} counted at "
                f"{'its' if bounded == 1 else 'their'} worst case (${spend.unknown_cost_bound_usd:f}); known spend is "
                f"${spend.known_usd:f} (obs.cost_detail() has both)",
                UnknownCostWarning,
                stacklevel=3,
            )
        if spend.unbounded_attempts and spend.unbounded_attempts != warned_unbounded:
            warnings.warn(
                f"run {self.budget_run_id}: {counted(spend.unbounded_attempts, 'attempt')} used a model with no known "
                f"price and {be(spend.unbounded_attempts)} not in this figure; add its price to "
                f"{prices_file_of(getattr(self.service, 'pricer', None))}",
                UnknownCostWarning,
                stacklevel=3,
            )
