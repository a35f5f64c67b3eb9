"""The call limit: what a call's earlier attempts spent and hold, plus the worst case of the attempt about to be made,
checked against each ``call`` limit before the attempt's reservation (see :meth:`.Governance.admit`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ..errors import BudgetExceeded
from ..plurals import counted
from ..predictions import prediction_tokens
from ..providers import output_beyond_max_tokens
from .attempts import AttemptContext
from .policy import THRESHOLD_OF, Limit, limit_key

_ZERO = Decimal(0)


def check_call_limits(limits: Sequence[Limit], ctx: AttemptContext, worst: Decimal) -> None:
    """Raise :class:`~magsag_mcp.errors.BudgetExceeded` when a call limit among ``limits`` would be exceeded by the
    attempt at ``ctx.target`` whose worst case is ``worst``."""
    target = ctx.target
    # The call limit bounds the whole call: earlier attempts' settled cost, plus the worst case of
    # any whose cost is unknown (an unpriced answer, or an attempt cut after it reached the vendor).
    # read, never changed: no list copied from the cascade's tuple, which for a call's first attempt (most) is the
    # empty tuple, no object at all (a list was, held through the reservation's wait: benchmarks/ROUNDS.md, the
    # fiftieth round)
    prior = ctx.prior_admissions
    call_spent = call_held = _ZERO  # a call's first attempt (most) has no earlier one to add up
    for a in prior:  # a loop, not a sum() over a generator for each (a frame each)
        if a.actual_usd is not None:
            call_spent += a.actual_usd
        else:  # at the bound its record counts it at (see settle), which the retry's reservation cannot see
            call_held += a.bound_usd if a.bound_usd is not None else a.reserved_usd or _ZERO
    for lim in limits:
        if lim.kind == "call" and call_spent + call_held + worst > lim.amount:
            earlier = (
                f"; this call's {counted(len(prior), 'earlier attempt')} spent ${call_spent:f} and "
                f"{'holds' if len(prior) == 1 else 'hold'} ${call_held:f}"
                if prior
                else ""
            )
            predicted = prediction_tokens(target)
            thoughts = output_beyond_max_tokens(target) if target.params else 0  # (a Gemini thinkingBudget's)
            raise BudgetExceeded(
                f"{lim.policy}: call limit ${lim.amount:f} would be exceeded: {ctx.target.label} may cost up to "
                f"${worst:f} ({ctx.estimated_input_tokens} input tokens estimated, {ctx.max_output_tokens} output "
                f"tokens allowed{_predicted(predicted)}{_thoughts(thoughts)}){earlier}; lower max_tokens"
                f"{', shorten params.prediction' if predicted else ''}"
                f"{', lower params.thinkingConfig.thinkingBudget' if thoughts else ''} or choose a cheaper model, "
                "or raise "
                f"{limit_key(lim)}",
                policy=lim.policy,
                limit="call",
                threshold=THRESHOLD_OF["call"],
                limit_usd=format(lim.amount, "f"),
                spent_usd=format(call_spent, "f"),
                reserved_usd=format(call_held, "f"),
                reservation_usd=format(worst, "f"),
            )


def _predicted(tokens: int) -> str:
    """What a refusal says of the output tokens a target's ``params.prediction`` adds (its tokens the answer does not
    use are billed as output past max_tokens); nothing without one."""
    return f", {tokens} of them for params.prediction's tokens the answer may not use" if tokens else ""


def _thoughts(tokens: int) -> str:
    """What a refusal says of the output tokens a Gemini target's ``thinkingBudget`` adds (its thoughts, billed as
    output, which the guide writes apart from maxOutputTokens); nothing without one."""
    return f", {tokens} of them for the thoughts of params.thinkingConfig.thinkingBudget" if tokens else ""
