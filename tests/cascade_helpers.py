"""What the cascade tests (test_cascade*.py, and the wait tests that plan a call the same way) share: a virtual clock,
a cascade on the catalog's prices that sleeps on it, a plan of a skill's call, the checks of a guard under no policy,
and a guard whose budget refuses one model."""

from __future__ import annotations

from pathlib import Path

from magsag_mcp import errors as E
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.catalog import load_catalog
from magsag_mcp.governance.policy import PolicySet
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet
from magsag_mcp.routing import plan_call
from magsag_mcp.transport import Transport

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


class Clock:
    """Virtual time: sleeping advances the clock instead of waiting."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make(env=None, *, tries=3, deadline=300.0):
    clock = Clock()
    cascade = Cascade(
        ProviderSet(env or {}, Transport()),
        Pricer.from_catalog(CATALOG),
        None,
        RetryPolicy(tries_per_target=tries, base_delay=0.5, max_delay=20.0, deadline=deadline),
        sleep=clock.sleep,
        clock=clock,
    )
    return cascade, clock


def plan(model_config, skill="skill.analysis", payload=None):
    catalog = load_catalog(CATALOG, env={})
    payload = dict(payload or {"data": "numbers"})
    payload["model_config"] = model_config
    return plan_call(catalog, skill, payload, context=None, env={})


class NoPolicies:
    """The checks a guard (cascade_guard.Guard) answers of a target without an attempt, under no policy: every target
    allowed, no cost limit, and policies that refuse no local target whose server was not reached."""

    policies = PolicySet([])

    def allowed(self, target, data_class):
        return True, None, None

    def spend_verdict(self, target, worst, *, agent=None):
        return True, None, None


class RefusesModel(NoPolicies):
    """A guard whose budget refuses one model: the others are admitted (at no reservation)."""

    def __init__(self, refused: str) -> None:
        self.refused = refused

    async def admit(self, ctx):
        if ctx.target.model == self.refused:
            raise E.BudgetExceeded(f"{ctx.target.label} would pass the run's limit", policy="cost_limits")
        return object()

    async def settle(self, admission, actual_cost, bound=None) -> None: ...

    async def release(self, admission) -> None: ...

    def waiting(self, admission) -> None: ...
