"""What a policy's refusal says: the fix for a target ``allowed_models`` refuses (what the policy allows, the model
meant when one is misspelt, and where to change the choice), the refusal of a target of unknown price under a
limit that cannot be guaranteed without one, and a reservation's refusals (:func:`limit_exceeded`: what was spent,
reserved and is left, when the day (or month) ends; :func:`unbounded_held`: a strict limit's scope holds a call of
no known bound), with how they name a limit's scope; and whether a refusal fails the call or skips to its next candidate
(:func:`refusal_ends_call`). The checks themselves are :class:`~magsag_mcp.governance.Governance`'s and, for the
reservations, :class:`~magsag_mcp.governance.budget.Reservation`'s."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..catalog_edits import prices_file_of
from ..errors import BudgetExceeded
from ..ledger.money import from_pusd
from ..types import Target
from .model_patterns import may_be_of
from .policy import THRESHOLD_OF, Limit, PolicySet, limit_key, window_word, written_at
from .scope_sums import window_bounds

if TYPE_CHECKING:
    from .attempts import AttemptContext
    from .budget import Reservation


def allowed_models_fix(policies: PolicySet, policy: str | None, ctx: AttemptContext) -> str:
    """How to get past an ``allowed_models`` refusal of a target someone chose (a routed one is skipped):
    what the policy allows, and where to change the choice or the policy."""
    allowed = next((p.allowed_models for p in policies.policies if p.name == policy), None) or []
    shown = _shown(allowed)
    if ctx.source == "provider_default":
        # only a model of the provider's may be named there (provider_defaults refuses another vendor's)
        provider = ctx.target.provider
        own = [p for p in allowed if may_be_of(provider, p)]
        other = (
            "set MAGSAG_PROVIDER to a provider whose models it allows"
            if ctx.by_env
            else "name a model it allows in the call"
        )
        where = (
            f"; it allows {shown}; its {provider} models are {_shown(own)}: name one of them in routing's "
            f"provider_defaults.{provider} (or in {'MAGSAG_MODEL' if ctx.by_env else 'the call'}), or {other}"
            if own
            else f"; it allows no {provider} model ({shown}): {other}"
        )
        return f"{where}, or add {ctx.target.label} to {policy}.allowed_models"
    where = (
        "set MAGSAG_MODEL to one of them"
        if ctx.source == "env"
        else "set MAGSAG_PROVIDER to a provider it allows for these models, or unset it"
        if ctx.by_env
        else "name one of them in the call"
    )
    return f"; it allows {shown}: {where}, or add {ctx.target.label} to {policy}.allowed_models"


def unpriced_refusal(limits: Sequence[Limit], target: Target, pricer: Any = None) -> BudgetExceeded | None:
    """A target of unknown price has no worst case: a limit that does not ``allow_unpriced`` refuses it, saying
    why where the ``pricer`` knows the model but not its calls' price (a per-search fee)."""
    strict = [lim for lim in limits if not lim.allow_unpriced]
    if not strict:
        return None
    lim = strict[0]
    said = getattr(pricer, "why_unpriced", None)
    why = said(target.provider, target.model) if said is not None else None
    reach = getattr(pricer, "local_reach", None)  # (a local model its server runs off this machine: see LocalReach)
    if why is None and target.provider == "local" and reach is not None and (host := reach.off_machine(target)):
        why = f"runs on {host}, off this machine, and is billed there: not free as the local server's own models are"
    because = f" (it {why})" if why else ""
    prices = prices_file_of(pricer)  # (the Governance's pricer knows its catalog)
    return BudgetExceeded(
        f"{lim.policy}: {target.label} has no known price{because}, so a {lim.kind.replace('_', '-')} "
        f"limit of ${lim.amount:f} cannot be guaranteed; add its price to {prices} "
        f'("{target.label}": {{input: ..., output: ...}}) or set allow_unpriced: true on {lim.policy}'
        f"{written_at(lim, 'allow_unpriced')}",
        policy=lim.policy,
        limit=lim.kind,
        limit_usd=format(lim.amount, "f"),
        reason="unknown_price",
    )


def _shown(models: Sequence[str]) -> str:
    """A policy's models, as an error lists them: the first twelve, and how many in all."""
    return ", ".join(models[:12]) + (f", ... ({len(models)} in all)" if len(models) > 12 else "")


def refusal_ends_call(cand: Any, candidates: Sequence[Any], *, by_routing: bool, rule: str | None) -> bool:
    """Whether a policy's refusal of ``cand`` (a :class:`~magsag_mcp.routing.Candidate`) fails the call instead of
    skipping to the next of ``candidates``: the caller or the environment chose it, and a substitute would be a
    model no one asked for. Not when the policy refuses routing's own choice of model (``by_routing``: the
    caller only named who serves it), nor when MAGSAG_* chose it and the call's data class has models of its
    own, which a deployment-wide setting cannot know (unless ``allowed_models``, which refuses it for every
    call, is the ``rule``), nor when it is one of the call's own ``fallbacks``: a cascade the caller wrote out goes
    on to the next one it allows (the call's first model, asked for by name, is refused outright). The cascade and
    ``explain`` both ask this."""
    return (
        cand.explicit
        and not cand.fallback
        and not by_routing
        and not (cand.by_env and rule != "allowed_models" and any(c.source == "data_class" for c in candidates))
    )


def held_by_calls_in_flight(held_usd: str) -> str:
    """What a refusal says of the ``held_usd`` its limit's calls in flight reserve: a process stopped mid-call
    (SIGKILLed, crashed) leaves its call's reservation held until it is seen gone (see reservation_owners) or expires,
    then counted at what it held, and "reserved $0.00094" alone, while nothing ran, read as budget gone for no
    reason. Who holds it, and until when, is
    check_budget's to say: read here, it was a scan of the reservations in flight for each refusal, in the write
    transaction of a batch that may refuse most of its calls."""
    return (
        f"; the ${held_usd} reserved is held by calls in flight until each is recorded (it then gives back what it "
        "did not spend); one whose process stopped mid-call (killed, crashed) holds it until a process on its machine "
        "sees it gone (its next call or read, within 30 s) or, from another machine or container, until it expires, "
        "then counts at what it held: check_budget shows what holds it and until when"
    )


def describe_scope(limit: Limit, run_id: str | None, agent: str | None, child_run_id: str | None = None) -> str:
    if limit.kind == "run":
        if child_run_id and child_run_id != run_id:
            return f"run {scope_name(run_id)} (with its delegated runs, {scope_name(child_run_id)} among them)"
        return f"run {scope_name(run_id)}"
    if limit.kind == "day":
        return f"all calls today ({limit.zone})"
    if limit.kind == "month":
        return f"all calls this month ({limit.zone})"
    if limit.kind == "agent_month":
        return f"agent {scope_name(agent)} this month ({limit.zone})"
    return f"agent {scope_name(agent)} today ({limit.zone})"


def scope_name(value: str | None) -> str:
    """A run id or an agent as a scope names it: as it is, or quoted (its repr) where it is empty or has spaces at its
    ends, which read as none (check_budget looks up such names an older ledger may hold): "for agent  alice today"
    showed neither the space nor that it was one, and a refusal of agent '' read "agent  today"."""
    if value is None:
        return str(value)  # (as before: no scope of a limit that applies lacks its name)
    return repr(value) if not value or value != value.strip() else value


def unbounded_held(limit: Limit, r: Reservation, holder: tuple[Any, ...]) -> BudgetExceeded:
    """The refusal of a strict limit (no ``allow_unpriced``) whose scope holds a call in flight of no known bound: a
    policy that allows unpriced models let it run (another process's, or another service's on this ledger), and its
    $0 placeholder says nothing of what it will cost. What refused, which call, and how to go on."""
    _, _, call_id, run, provider, model = holder
    target = f"{provider}:{model}" if provider and model else "a model"
    call = f"call {call_id}" if call_id else "a call"
    kind = limit.kind.replace("_", "-")
    return BudgetExceeded(
        f"{limit.policy}: {kind} limit ${limit.amount:f} for {describe_scope(limit, r.budget, r.agent, r.run_id)} "
        f"cannot be guaranteed: {call} of run {scope_name(run)} is in flight at {target}, which has no known price, so "
        "its reservation holds no bound (a policy that allows unpriced models let it run, in another process or "
        "service on this ledger); try again once it is recorded (check_budget counts it in reserved_by.unbounded), "
        f"or set allow_unpriced: true on {limit.policy}{written_at(limit, 'allow_unpriced')} to count such calls at $0",
        policy=limit.policy,
        limit=limit.kind,
        threshold=THRESHOLD_OF[limit.kind],
        limit_usd=format(limit.amount, "f"),
        reason="unbounded_in_flight",
        in_flight_call_id=call_id,
        in_flight_run_id=run,
        in_flight_target=f"{provider}:{model}" if provider and model else None,
    )


def _usd(pusd: int) -> str:
    """Dollars as a user writes them: ``20``, not the ``2E+1`` a normalized Decimal prints."""
    return format(from_pusd(pusd), "f")


def _day_end(limit: Limit, now: float) -> datetime:
    """When the day a day limit counts ends (the month a month limit counts), in its zone."""
    return datetime.fromtimestamp(window_bounds(limit, now)[1], ZoneInfo(limit.zone))


def limit_exceeded(limit: Limit, r: Reservation, spent: int, bound: int, held: int, now: float) -> BudgetExceeded:
    unknown = f", up to ${_usd(bound)} more for attempts of unknown cost" if bound else ""
    raise_it = limit_key(limit)
    day_ends = None
    if r.unbounded:
        # no worst case at all (not one of $0): the limit refuses it because nothing is left
        what = f"{r.what[0]}:{r.what[1]}" if r.what[0] and r.what[1] else "this attempt's model"
        fix = f"; {what} has no known price (allow_unpriced counts it at $0) and nothing is left"
        if limit.kind != "run":
            day_ends = _day_end(limit, now)
            fix += f"; the {window_word(limit.kind)} ends at {day_ends.isoformat(timespec='minutes')} ({limit.zone})"
        fix += f"; or raise {raise_it}"
    elif r.amount_pusd > limit.amount_pusd:
        # A worst case above the whole limit is refused whatever was spent: "spent $0" alone would puzzle.
        fix = (
            "; this attempt's worst case alone is above the limit: lower max_tokens, choose a cheaper model "
            f"or raise the limit ({raise_it})"
        )
    else:
        # what is left, when the day's count starts again, and the threshold to raise: "spent $4.9, reserved $0"
        # alone left the caller to find which file sets the limit, and a day limit's user when to try again
        left = limit.amount_pusd - spent - bound - held
        fix = (
            f"; ${_usd(left)} is left: lower max_tokens or choose a cheaper model to fit in it"
            if left > 0
            else "; nothing is left"
        )
        if limit.kind != "run":
            day_ends = _day_end(limit, now)
            fix += f"; the {window_word(limit.kind)} ends at {day_ends.isoformat(timespec='minutes')} ({limit.zone})"
        fix += f"; or raise {raise_it}"
    # (a month limit's end as month_ends_at: a client waiting for day_ends_at would retry a month early)
    ends_at = f"{window_word(limit.kind)}_ends_at"
    details: dict[str, Any] = {ends_at: day_ends.isoformat(timespec="seconds")} if day_ends is not None else {}
    if held and r.amount_pusd <= limit.amount_pusd:  # (a worst case above the whole limit: no hold is in its way)
        fix += held_by_calls_in_flight(_usd(held))
    reserves = "this attempt has no bound" if r.unbounded else f"this attempt reserves up to ${_usd(r.amount_pusd)}"
    return BudgetExceeded(
        f"{limit.policy}: {limit.kind.replace('_', '-')} limit ${limit.amount:f} for "
        f"{describe_scope(limit, r.budget, r.agent, r.run_id)} would be exceeded: spent ${_usd(spent)}"
        f"{unknown}, reserved ${_usd(held)}, {reserves}{fix}",
        policy=limit.policy,
        limit=limit.kind,
        threshold=THRESHOLD_OF[limit.kind],
        limit_usd=format(limit.amount, "f"),
        spent_usd=_usd(spent),
        unknown_cost_bound_usd=_usd(bound),
        reserved_usd=_usd(held),
        reservation_usd=None if r.unbounded else _usd(r.amount_pusd),  # (no worst case: null, not $0)
        **details,
    )
