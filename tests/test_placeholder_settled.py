"""A delegated call's placeholder reservation of a model of unknown price (marked ``unbounded``, see
0020_reservation_unbounded) whose attempt was settled at a known cost (a 429: $0) before the call's next attempt.

The next attempt's reservation shrinks the call's earlier attempts to what they cost; a placeholder (no worst case)
was skipped, so its mark stayed: should the process die during the fallback, the sweep recorded the refused attempt
with no bound (counted in ``unbounded_attempts``, as if the vendor might bill any amount for it) where its cost was
known, $0. Shrunk to that cost like any other hold, it loses the mark: a settled cost is a bound."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.governance import Governance, PolicySet
from magsag_mcp.ledger import Ledger
from magsag_mcp.types import Target
from tests.governance_helpers import attempt_ctx

pytestmark = pytest.mark.anyio


class ByModel:
    """``compat:unpriced`` has no price; any other model's worst case is $0.1."""

    def reserved_worst_case(
        self, target: Target, input_tokens: int, output_tokens: int, cache_ttls=None, *, params=None, picture_tokens=0
    ):
        return None if target.model == "unpriced" else Decimal("0.1")


def _ctx(model: str, prior=()):
    ctx = attempt_ctx("child", "parent", agent="a", delegated_from="parent", call_id="c1", prior_admissions=prior)
    ctx.target = Target("compat", model)
    return ctx


async def test_a_placeholder_settled_at_0_before_a_fallback_is_swept_at_most_0_not_unbounded(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(PolicySet([]), ledger, ByModel())
        first = await gov.admit(_ctx("unpriced"))
        await gov.settle(first, Decimal(0))  # a 429: nothing billed
        second = await gov.admit(_ctx("metered", [first]))  # the fallback, of a known price
        assert first.reservation_id is not None and second.reservation_id is not None
        held = await ledger.read(
            lambda c: c.execute("SELECT model, amount_pusd, unbounded FROM budget_reservations ORDER BY id").fetchall()
        )
        # the process dies with the fallback in flight: both reservations' time runs out
        await ledger.submit(lambda c: c.execute("UPDATE budget_reservations SET expires_at = 1000"))
        assert await ledger.record_expired_reservations() == 2
        swept = await ledger.read(
            lambda c: c.execute("SELECT model, cost_pusd, cost_bound_pusd FROM attempts ORDER BY id").fetchall()
        )
        summary = await ledger.summarize()
    assert held == [("unpriced", 0, 0), ("metered", 100_000_000_000, 0)]  # before: ("unpriced", 0, 1)
    assert swept == [("unpriced", None, 0), ("metered", None, 100_000_000_000)]  # before: ("unpriced", None, None)
    assert summary["totals"]["unbounded_attempts"] == 0, summary["totals"]  # before: 1


async def test_a_placeholder_whose_attempt_cost_is_unknown_keeps_its_mark(tmp_path: Path):
    """(an answer of the unpriced model, its cost unknown and unbounded: nothing to shrink it to)"""
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(PolicySet([]), ledger, ByModel())
        first = await gov.admit(_ctx("unpriced"))
        await gov.settle(first, None)
        await gov.admit(_ctx("metered", [first]))
        held = await ledger.read(
            lambda c: c.execute("SELECT model, amount_pusd, unbounded FROM budget_reservations ORDER BY id").fetchall()
        )
    assert held == [("unpriced", 0, 1), ("metered", 100_000_000_000, 0)]
