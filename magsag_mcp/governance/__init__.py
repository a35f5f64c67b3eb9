"""Governance: allowed models, data residency and budgets, checked before every attempt.

:class:`Governance` is the cascade's guard: :meth:`Governance.admit` runs before each attempt (the
first and every fallback hop) for the target about to be called, and raises
:class:`~magsag_mcp.errors.PolicyDenied` or :class:`~magsag_mcp.errors.BudgetExceeded`, or returns an
:class:`Admission` holding the attempt's budget reservation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import BudgetExceeded, PolicyDenied
from ..types import Target
from .budget import day_bounds, describe_scope, reserve_op, spent_and_reserved
from .policy import Limit, Policy, PolicySet, load_policies, load_policy_file, validate_policies

__all__ = [
    "Governance",
    "AttemptContext",
    "Admission",
    "Policy",
    "PolicySet",
    "load_policies",
    "load_policy_file",
    "validate_policies",
]

NEAR_FRACTION = Decimal("0.8")


@dataclass(slots=True)
class AttemptContext:
    run_id: str
    agent: str | None
    skill: str | None
    data_class: str | None
    target: Target
    estimated_input_tokens: int
    max_output_tokens: int
    explicit: bool


@dataclass(slots=True)
class Admission:
    reservation_id: int | None
    reserved_usd: Decimal | None
    actual_usd: Decimal | None = None


class Governance:
    def __init__(self, policies: PolicySet, ledger: Any, pricer: Any) -> None:
        self.policies = policies
        self.ledger = ledger
        self.pricer = pricer

    # --- pure checks -----------------------------------------------------------------------------

    def allowed(self, target: Target, data_class: str | None) -> tuple[bool, str | None, str | None]:
        ok, policy, reason, _rule = self.policies.allowed(target, data_class)
        return ok, policy, reason

    def data_class_models(self) -> dict[str, list[str]]:
        return self.policies.data_class_models()

    def _limits(self, ctx: AttemptContext) -> list[Limit]:
        return [
            limit
            for limit in self.policies.limits
            if limit.kind == "call" or (limit.kind == "run" and ctx.run_id) or (limit.kind == "agent_day" and ctx.agent)
        ]

    # --- the guard -------------------------------------------------------------------------------

    async def admit(self, ctx: AttemptContext) -> Admission:
        ok, policy, reason, rule = self.policies.allowed(ctx.target, ctx.data_class)
        if not ok:
            how = "an explicit override" if ctx.explicit else "routing"
            raise PolicyDenied(
                f"policy {policy!r} forbids {ctx.target.label} (chosen by {how}): {reason}",
                policy=policy or "",
                rule=rule,
                target=ctx.target.label,
            )
        limits = self._limits(ctx)
        if not limits:
            return Admission(None, None)
        worst = self.pricer.worst_case(
            ctx.target.provider, ctx.target.model, ctx.estimated_input_tokens, ctx.max_output_tokens
        )
        if worst is None:
            strict = [lim for lim in limits if not lim.allow_unpriced]
            if strict:
                lim = strict[0]
                raise BudgetExceeded(
                    f"{lim.policy}: {ctx.target.label} has no known price, so a {lim.kind.replace('_', '-')} "
                    f"limit of ${lim.amount} cannot be guaranteed; add its price to catalog/prices.yaml "
                    f'("{ctx.target.label}": {{input: ..., output: ...}}) or set allow_unpriced: true on {lim.policy}',
                    policy=lim.policy,
                    limit=lim.kind,
                    limit_usd=str(lim.amount),
                    reason="unknown_price",
                )
            return Admission(None, None)
        for lim in limits:
            if lim.kind == "call" and worst > lim.amount:
                raise BudgetExceeded(
                    f"{lim.policy}: call limit ${lim.amount} would be exceeded: {ctx.target.label} may cost up to "
                    f"${worst} ({ctx.estimated_input_tokens} input tokens estimated, {ctx.max_output_tokens} output "
                    "tokens allowed); lower max_tokens or choose a cheaper model",
                    policy=lim.policy,
                    limit="call",
                    limit_usd=str(lim.amount),
                    spent_usd="0",
                    reserved_usd="0",
                    reservation_usd=str(worst),
                )
        scoped = [lim for lim in limits if lim.kind != "call"]
        if not scoped:
            return Admission(None, worst)
        op = reserve_op(scoped, worst, run_id=ctx.run_id, agent=ctx.agent)
        done, rid = self.ledger.try_now(op)
        if not done:
            rid = await self.ledger.submit(op, durable=False)
        return Admission(rid, worst)

    async def settle(self, admission: Admission, actual_cost: Decimal | None) -> None:
        # The reservation is replaced by the real cost when the attempt is recorded (one transaction).
        admission.actual_usd = actual_cost

    async def release(self, admission: Admission) -> None:
        """Drop a reservation whose attempt will never be recorded (a cancelled call)."""
        if admission.reservation_id is not None:
            rid = admission.reservation_id
            admission.reservation_id = None
            await self.ledger.submit(
                lambda conn: conn.execute("DELETE FROM budget_reservations WHERE id = ?", (rid,)), durable=False
            )

    # --- status ----------------------------------------------------------------------------------

    async def check_budget(self, agent: str | None = None, run_id: str | None = None) -> dict[str, Any]:
        """Each limit that applies: limit, spent, reserved, remaining, status (ok / near / exceeded)."""
        now = time.time()
        applicable = [
            lim
            for lim in self.policies.limits
            if lim.kind == "call" or (lim.kind == "run" and run_id) or (lim.kind == "agent_day" and agent)
        ]

        def q(conn: Any) -> list[tuple[Limit, int, int]]:
            return [
                (lim, *spent_and_reserved(conn, lim, run_id=run_id, agent=agent, now=now))
                if lim.kind != "call"
                else (lim, 0, 0)
                for lim in applicable
            ]

        from ..ledger import from_pusd

        rows = await self.ledger.read(q) if applicable else []
        limits = []
        worst = "ok"
        for lim, spent, held in rows:
            spent_d, held_d = from_pusd(spent) or Decimal(0), from_pusd(held) or Decimal(0)
            used = spent_d + held_d
            status = "exceeded" if used >= lim.amount else "near" if used >= lim.amount * NEAR_FRACTION else "ok"
            if lim.kind == "call":
                status = "ok"
            worst = max(worst, status, key=["ok", "near", "exceeded"].index)
            entry = {
                "policy": lim.policy,
                "limit": lim.kind,
                "scope": "each call" if lim.kind == "call" else describe_scope(lim, run_id, agent),
                "limit_usd": str(lim.amount),
                "spent_usd": str(spent_d),
                "reserved_usd": str(held_d),
                "remaining_usd": str(max(Decimal(0), lim.amount - used)),
                "status": status,
            }
            if lim.kind == "agent_day":
                start, end = day_bounds(now, lim.zone)
                entry["window"] = {"start": start, "end": end, "timezone": lim.zone}
            limits.append(entry)
        return {"agent": agent, "run_id": run_id, "status": worst, "limits": limits}
