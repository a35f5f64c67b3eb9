"""An attempt admitted without a budget reservation places its run all the same.

A delegated call's reservation checks, in its own write transaction, that its run was not placed under another parent
since the call read where it was, and its row marks the run as placed while the call is in flight (see
test_delegation_race.py). An attempt admitted without one (no limit that counts it in the ledger: a model of unknown
price that every limit allows, a policy of call limits alone, no limit at all) had neither: two calls placing one new
run under two parents both went on, and the run's record kept the parent the first record named, so the other call's
spend, checked against its own parent's run limit, landed in a tree whose limit never checked it. Such an attempt of a
delegated call now holds a reservation of its own too (its worst case, or 0 where none is known), counted in no limit
of this process's, which checks and marks the placement as any reservation does."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

PRICED = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
UNPRICED = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "unpriced", "max_tokens": 100}}


def _both_read_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each call waits, once it has read where the run is placed, until the other has read it too."""
    both_read = asyncio.Barrier(2)
    read = Service._top_run

    async def read_then_wait(self: Service, run_id: str, parent_run_id: str) -> str:
        try:
            top = await read(self, run_id, parent_run_id)
        except BaseException:
            await both_read.abort()
            raise
        await both_read.wait()
        return top

    monkeypatch.setattr(Service, "_top_run", read_then_wait)


@pytest.mark.parametrize(
    ("policy", "first"),
    [
        ("max_cost_per_run_usd: 1}\n    allow_unpriced: true\n", UNPRICED),  # unknown price, allowed: no worst case
        ("max_cost_per_call_usd: 1}\n", PRICED),  # a call limit alone: nothing to hold in the ledger
        (None, PRICED),  # no limit at all
    ],
    ids=["unpriced-allowed", "call-limit-only", "no-limits"],
)
async def test_a_run_placed_by_an_unreserved_attempt_is_placed_once(
    catalog_copy: Path, tmp_path: Path, upstream, monkeypatch: pytest.MonkeyPatch, policy: str | None, first: dict
):
    (catalog_copy / "prices.yaml").write_text('"compat:metered": {input: 1.0, output: 1.0}\n')
    rules = "policies: []\n" if policy is None else "policies:\n  - name: caps\n    thresholds: {" + policy
    (catalog_copy / "policies" / "model_governance.yaml").write_text(rules)
    _both_read_first(monkeypatch)
    env = {**upstream.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    db = tmp_path / "race.db"
    svc = await Service.open(catalog=catalog_copy, db=db, env=env)
    try:
        outcomes = await asyncio.gather(
            svc.invoke_skill("skill.analysis", first, run_id="x", parent_run_id="p1"),
            svc.invoke_skill("skill.analysis", PRICED, run_id="x", parent_run_id="p2"),
            return_exceptions=True,
        )
    finally:
        await svc.aclose()
    conn = sqlite3.connect(db)
    try:
        parents = conn.execute("SELECT parent_run_id FROM runs WHERE run_id = 'x'").fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    # before: both went on, x recorded under one parent with the other call's spend in it
    assert len(refused) == 1, outcomes
    assert isinstance(refused[0], E.InputError) and refused[0].placed_elsewhere
    kept = "p2" if isinstance(outcomes[0], BaseException) else "p1"
    assert parents == [(kept,)]
    assert held == 0  # each attempt's reservation went with its record
