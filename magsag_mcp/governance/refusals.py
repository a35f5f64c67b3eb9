"""What a policy's refusal says: the fix for a target ``allowed_models`` refuses (what the policy allows, the model
meant when one is misspelt, and where to change the choice), and the refusal of a target of unknown price under a
limit that cannot be guaranteed without one; and whether a refusal fails the call or skips to its next candidate
(:func:`refusal_ends_call`). The checks themselves are :class:`~magsag_mcp.governance.Governance`'s."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..catalog_edits import prices_file_of
from ..errors import BudgetExceeded
from ..types import Target
from .model_patterns import may_be_of, nearly_allowed
from .policy import Limit, PolicySet

if TYPE_CHECKING:
    from .attempts import AttemptContext


def nearly_allowed_by(policies: PolicySet, policy: str | None, model: str) -> str:
    """`` (did you mean 'gpt-4o-mini'?)`` when ``model`` is a misspelling of a model ``policy``'s allowed_models
    names (:func:`~.model_patterns.nearly_allowed`), else ``""``."""
    allowed = next((p.allowed_models for p in policies.policies if p.name == policy), None) or []
    return nearly_allowed(allowed, model)


def allowed_models_fix(policies: PolicySet, policy: str | None, ctx: AttemptContext) -> str:
    """How to get past an ``allowed_models`` refusal of a target someone chose (a routed one is skipped):
    what the policy allows, and where to change the choice or the policy."""
    allowed = next((p.allowed_models for p in policies.policies if p.name == policy), None) or []
    shown = _shown(allowed)
    meant = nearly_allowed_by(policies, policy, ctx.target.model)
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
            f"{meant}; it allows {shown}; its {provider} models are {_shown(own)}: name one of them in routing's "
            f"provider_defaults.{provider} (or in {'MAGSAG_MODEL' if ctx.by_env else 'the call'}), or {other}"
            if own
            else f"{meant}; it allows no {provider} model ({shown}): {other}"
        )
        return f"{where}, or add {ctx.target.label} to {policy}.allowed_models"
    where = (
        "set MAGSAG_MODEL to one of them"
        if ctx.source == "env"
        else "set MAGSAG_PROVIDER to a provider it allows for these models, or unset it"
        if ctx.by_env
        else "name one of them in the call"
    )
    return f"{meant}; it allows {shown}: {where}, or add {ctx.target.label} to {policy}.allowed_models"


def unpriced_refusal(limits: Sequence[Limit], target: Target, pricer: Any = None) -> BudgetExceeded | None:
    """A target of unknown price has no worst case: a limit that does not ``allow_unpriced`` refuses it, saying
    why where the ``pricer`` knows the model but not its calls' price (a per-search fee)."""
    strict = [lim for lim in limits if not lim.allow_unpriced]
    if not strict:
        return None
    lim = strict[0]
    said = getattr(pricer, "why_unpriced", None)
    why = said(target.provider, target.model) if said is not None else None
    because = f" (it {why})" if why else ""
    prices = prices_file_of(pricer)  # (the Governance's pricer knows its catalog)
    return BudgetExceeded(
        f"{lim.policy}: {target.label} has no known price{because}, so a {lim.kind.replace('_', '-')} "
        f"limit of ${lim.amount:f} cannot be guaranteed; add its price to {prices} "
        f'("{target.label}": {{input: ..., output: ...}}) or set allow_unpriced: true on {lim.policy}',
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
    (SIGKILLed, crashed) leaves its call's reservation held until it expires, then counted at what it held, and
    "reserved $0.00094" alone, while nothing ran, read as budget gone for no reason. Who holds it, and until when, is
    check_budget's to say: read here, it was a scan of the reservations in flight for each refusal, in the write
    transaction of a batch that may refuse most of its calls."""
    return (
        f"; the ${held_usd} reserved is held by calls in flight until each is recorded (it then gives back what it "
        "did not spend); one whose process stopped mid-call (killed, crashed) holds it until it expires, then counts "
        "at what it held: check_budget shows what holds it and until when"
    )
