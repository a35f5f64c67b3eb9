"""Helpers the governance tests share: a catalog's policy and prices, a service on the loopback upstream,
a fixed worst case, a policy of bare limits, an attempt's context, a recorded call and a status's run limit."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from magsag_mcp.errors import RateLimitError
from magsag_mcp.governance import AttemptContext, Policy, PolicySet
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from magsag_mcp.types import Target

#: the users' guide's governance policy (its Policy Enforcement section), verbatim
GUIDE_POLICY = """\
policies:
  - name: production_models
    description: Allowed models in production
    allowed_models:
      - gpt-4o
      - gpt-4o-mini
      - claude-3-5-sonnet-20241022

  - name: cost_limits
    description: Maximum cost per run
    thresholds:
      max_cost_per_run_usd: 5.0
      max_cost_per_agent_daily_usd: 100.0

  - name: data_residency
    description: Models for sensitive data
    requirements:
      pii_processing: ["llama3.1:70b"]  # Local only
      financial_data: ["gpt-4o"]  # Approved providers
"""


def policy(catalog: Path, text: str) -> None:
    (catalog / "policies" / "model_governance.yaml").write_text(text)


def prices(catalog: Path, text: str) -> None:
    (catalog / "prices.yaml").write_text(text)


async def open_service(catalog: Path, tmp_path: Path, upstream, **env) -> Service:
    base = {**upstream.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002", **env}
    return await Service.open(catalog=catalog, db=tmp_path / "gov.db", env=base)


class FixedPricer:
    """Every target's worst case is ``worst`` (None: the price is unknown)."""

    def __init__(self, worst: str | None) -> None:
        self.worst = None if worst is None else Decimal(worst)

    def reserved_worst_case(
        self, target: Target, input_tokens: int, output_tokens: int, cache_ttls=None, *, params=None, picture_tokens=0
    ) -> Decimal | None:
        return self.worst


def limits(**thresholds: str) -> PolicySet:
    return PolicySet([Policy(name="cap", thresholds=thresholds)])


def attempt_ctx(run_id: str, parent: str | None = None, agent: str | None = None, **extra) -> AttemptContext:
    return AttemptContext(
        run_id=run_id,
        agent=agent,
        skill="skill.analysis",
        data_class=None,
        target=Target("compat", "metered"),
        estimated_input_tokens=10,
        max_output_tokens=10,
        explicit=False,
        parent_run_id=parent,
        **extra,
    )


async def record(
    ledger: Ledger, run_id: str, cost: str | None, *, parent: str | None = None, agent=None, bound: str | None = None
) -> None:
    now = time.time()
    run = RunRecord(run_id=run_id, agent=agent, skill="skill.analysis", started_at=now, parent_run_id=parent)
    run.status = "ok"
    attempt = AttemptRecord(
        run_id=run_id,
        started_at=now,
        provider="compat",
        model="metered",
        skill="skill.analysis",
        agent=agent,
        outcome="ok",
        fallback_position=0,
        attempt_number=1,
        cost_usd=None if cost is None else Decimal(cost),
        cost_bound_usd=None if bound is None else Decimal(bound),
    )
    await ledger.record_call(run, [attempt])


def run_limit(status: dict) -> dict:
    return next(lim for lim in status["limits"] if lim["limit"] == "run")


def rest(svc, target: Target, seconds: float) -> None:
    """Leave ``target`` resting on ``svc``'s cascade for ``seconds``, as a 429 asking that wait leaves it."""
    refusal = RateLimitError("slow down", provider=target.provider, model=target.model, retry_after=seconds)
    svc.cascade.rests.note(target, refusal, svc.cascade.clock())
