"""What ``magsag flow gate`` reads of a ``flow summarize`` output: its shape, validated field by field (a field of
the wrong type is an :class:`~magsag_mcp.errors.InputError` naming it, never a crash nor a policy violation), and
the figures each threshold is checked against (a peak's costs, a call's counted cost). See :mod:`.gate`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError

Count = Annotated[int, Field(ge=0, strict=True)]
# up to a trillion USD: anything larger is not a summary (and would overflow the Decimal context)
Usd = Annotated[Decimal, Field(ge=0, le=10**12, allow_inf_nan=False)] | None

#: how a summary's by_agent names the calls made without an agent (see ledger.queries.summarize)
NO_AGENT = "(none)"

HOW = "the summary must be the JSON that `magsag flow summarize --output FILE` writes"


class _Stats(BaseModel):
    model_config = ConfigDict(extra="allow")
    calls: Count = 0
    errors: Count = 0
    #: the attempts that reached a provider (a call's retries and fallback hops each one); older summaries lack it,
    #: and counted those as ``calls``
    attempts: Count | None = None
    cost_usd: Usd = None
    cost_usd_exact: Usd = None
    #: the known part (null cost_usd when some cost is unknown); older summaries lack it
    known_cost_usd: Usd = None
    unpriced_calls: Count = 0
    unknown_cost_bound_usd: Usd = None
    unbounded_calls: Count | None = None
    providers: list[str] = Field(default_factory=list)
    #: an Azure deployment's answers by the model each said it came from (null: a summary written before they were
    #: recorded), and how many were recorded without it (an older version's, before 0026)
    served_as: dict[str, Count] | None = None
    served_unknown: Count = 0
    #: ``served_as`` by the endpoint each answer came from (null: a summary written before attempts recorded it, 0029);
    #: answers recorded without an endpoint are in ``served_as`` alone
    served_as_by_endpoint: dict[str, dict[str, Count]] | None = None
    #: a local model's attempts sent off this machine, by the host they went to (null: none, or a summary written
    #: before it was said)
    off_machine: dict[str, Count] | None = None

    @property
    def used(self) -> int:
        """The attempts that reached a provider: a model a call left for another has attempts and no call."""
        return self.calls if self.attempts is None else self.attempts

    @property
    def known(self) -> Decimal:
        for exact in (self.known_cost_usd, self.cost_usd_exact, self.cost_usd):
            if exact is not None:
                return exact
        return Decimal(0)

    @property
    def bound(self) -> Decimal:
        return self.unknown_cost_bound_usd or Decimal(0)

    @property
    def cost(self) -> Decimal:
        """The cost checked: the known cost plus the bound on the unknown costs."""
        return self.known + self.bound

    @property
    def unbounded(self) -> int:
        # a summary without the field is from before bounds were kept: none of its unknown costs has one
        return self.unpriced_calls if self.unbounded_calls is None else min(self.unbounded_calls, self.unpriced_calls)

    def shown(self) -> str:
        """The cost as a message shows it."""
        # "f": a small Decimal prints as 5E-7 (as the summary's "0.0000005" parses)
        if not self.bound:
            return f"${self.known:f}"
        return f"up to ${self.cost:f} (${self.known:f} known, up to ${self.bound:f} of unknown cost)"


class _Call(BaseModel):
    """A summary's costliest call: its run, the time of its last attempt, its attempts' cost together."""

    model_config = ConfigDict(extra="allow")
    run_id: str | None = None
    time: str | None = None
    #: null where an attempt of the call has no known cost and no bound (see ledger.peaks); required: a call's entry
    #: without it is not a summary's
    at_most_usd: Usd = Field()
    #: what the call limit counts of it (at_most_usd, or with one null, its figure without the unbounded attempts)
    counted_usd: Usd = None
    #: the attempts of no known cost and no bound among those it was chosen from (a model's: those on the model)
    unbounded_attempts: Count | None = None

    @property
    def counted(self) -> Decimal:
        for figure in (self.at_most_usd, self.counted_usd):
            if figure is not None:
                return figure
        return Decimal(0)


class _ModelStats(_Stats):
    calls: Count  # required: a model's entry without calls is not a summary's
    largest_call: _Call | None = None


class _Peak(_Stats):
    """A summary's costliest run (``run_id``) or day (``date``)."""

    run_id: str | None = None
    delegated_runs: Count = 0
    date: str | None = None
    #: null where the run's tree or the day holds an attempt of no known cost and no bound (its figures leave it
    #: out); absent from a summary written before the peaks said so
    at_most_usd: Usd = None
    unbounded_attempts: Count | None = None

    @property
    def holds_unbounded(self) -> bool:
        return "at_most_usd" in self.model_fields_set and self.at_most_usd is None


class _AgentStats(_Stats):
    largest_day: _Peak | None = None


class _Summary(BaseModel):
    model_config = ConfigDict(extra="allow")
    model_stats: dict[str, _ModelStats]
    by_agent: dict[str, _AgentStats] | None = None
    #: each data class's attempts sent, by target (``provider:model``); None: a summary written before they were kept
    by_data_class: dict[str, dict[str, Count]] | None = None
    #: each class's Azure deployments: the models their answers said served them (None: a summary without it)
    by_data_class_served: dict[str, dict[str, dict[str, Count]]] | None = None
    #: each class's local attempts sent off this machine, by target (None: a summary without it)
    by_data_class_off_machine: dict[str, dict[str, Count]] | None = None
    #: when the ledger began to record calls' data classes (ISO 8601), said where it holds calls from before; None:
    #: every call it holds has its classes (or a summary that does not say)
    data_classes_since: str | None = None
    largest_run: _Peak | None = None
    largest_day: _Peak | None = None


#: the summary's fields keyed by a name (a model, an agent, a data class): shown as field['name']
_KEYED = ("model_stats", "by_agent", "by_data_class", "by_data_class_served", "by_data_class_off_machine")


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int) or (i == 1 and loc[0] in _KEYED) or (i == 2 and loc[0] == "by_data_class_served"):
            out += f"[{part!r}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "the summary"


def parse_summary(summary: Any) -> _Summary:
    """The summary, validated; :class:`InputError` naming the field and the fix otherwise."""
    if not isinstance(summary, dict):
        raise InputError(f"the summary must be a JSON object with 'model_stats', not {type(summary).__name__}; {HOW}")
    _whole(summary)
    try:
        return _Summary.model_validate(summary)
    except ValidationError as exc:
        problems = [
            f"{_where(tuple(e['loc']))}: "
            + ("should be a JSON object" if e["type"] in ("dict_type", "model_type") else e["msg"])
            + ("" if e["type"] == "missing" else f" (got {e['input']!r})")
            for e in exc.errors()
        ]
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise InputError(f"invalid summary: {shown}; {HOW}", problems=problems) from None


def _whole(summary: dict[str, Any]) -> None:
    """Refuse a summary cut to its costliest entries (``flow summarize --top``, summarize_usage's ``top``): a model
    it left out is one allowed_models was never checked against, and the gate passed it."""
    omitted = summary.get("omitted")
    if not isinstance(omitted, dict):
        return
    cut = {key: n for key, n in omitted.items() if isinstance(n, int) and not isinstance(n, bool) and n > 0}
    if cut:
        said = ", ".join(f"{key} left out {n}" for key, n in cut.items())
        raise InputError(
            f"the summary lists only the costliest entries of its maps (omitted: {said}): the gate would not check "
            "the models, agents and skills it left out; write it again without --top (`magsag flow summarize "
            "--output FILE`) and gate that"
        )
