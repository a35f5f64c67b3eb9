"""Budgets count an attempt of unknown cost at its bound, never at zero: a run limit, and an unusable answer that
reported no usage (split from test_attempt_cost.py)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests import test_attempt_cost
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.test_attempt_cost import (
    CATALOG,
    MAYBE_BILLED,
    bounds,
    call,
    limit,
    open_service,
    rows,
)

#: the service over the loopback OpenAI (a fixture), as test_attempt_cost.py's tests have it
service = test_attempt_cost.service

pytestmark = pytest.mark.anyio


# --- budgets count an unknown cost at its bound ---------------------------------------------------------


async def test_a_run_limit_counts_an_unknown_cost_at_its_bound_not_at_zero(fake_openai: FakeOpenAI, tmp_path: Path):
    """Repeated timeouts must not pass a limit unseen. First measure, with no limit at all, one call's
    worst case (B, which the attempt then records without a reservation) and the answer's cost (C); then,
    under a run limit of 2B + C/2, a call whose first attempt times out passes (its retry reserves B
    beside the first attempt's B), and the next call in the run is refused: its B on top of C and the
    timed-out attempt's bound B crosses the limit. Counted at $0, it would pass."""
    base_url = fake_openai.url + "/v1"

    def catalog(name: str, policies: str) -> Path:
        cat = tmp_path / name
        shutil.copytree(CATALOG, cat)
        (cat / "policies" / "model_governance.yaml").write_text(policies)
        return cat

    fake_openai.queue(R.Reply(hang=True))
    probe = await open_service(tmp_path, base_url, catalog=catalog("free", "policies: []\n"), db="probe.db")
    try:
        await call(probe, "r-probe")
    finally:
        await probe.aclose()
    conn = sqlite3.connect(tmp_path / "probe.db")
    ((bound, _), (_, cost)) = conn.execute(
        "SELECT cost_bound_pusd, cost_pusd FROM attempts WHERE run_id = 'r-probe' ORDER BY id"
    ).fetchall()
    conn.close()
    assert bound > 2 * cost > 0  # a worst case is far above what a short answer costs
    run_limit = Decimal(2 * bound + cost // 2) / 10**12

    cat = catalog("tight", f"policies:\n  - name: tight\n    thresholds: {{max_cost_per_run_usd: '{run_limit}'}}\n")
    svc = await open_service(tmp_path, base_url, catalog=cat)
    try:
        fake_openai.queue(R.Reply(hang=True))
        await call(svc, "r-tight")  # timeout, then the retry answers
        status = await svc.check_budget(agent="ana", run_id="r-tight")
        lim = limit(status, "run")
        assert Decimal(lim["unknown_cost_bound_usd"]) == Decimal(bound) / 10**12
        assert Decimal(lim["remaining_usd"]) == run_limit - Decimal(bound + cost) / 10**12
        with pytest.raises(
            E.BudgetExceeded, match=r"tight: run limit .*up to \$[0-9.]+ more for attempts of unknown cost"
        ):
            await call(svc, "r-tight")
    finally:
        await svc.aclose()
    refused = rows(tmp_path / "cost.db", "r-tight")[-1]
    assert refused[:3] == ("budget_exceeded", "budget_exceeded", 0)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_unusable_answer_without_usage_has_an_unknown_cost_not_zero(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, stream: bool
):
    # JSON was asked for and the server (one that reports no usage) answered prose: the answer is billed
    # for tokens nobody reported. The error carried the answer's usage, all zeros and not reported, and
    # the attempt was priced at those zeros: $0, a cost that read as known.
    fake_openai.queue(R.reply("not json at all", no_usage=True))
    mc = {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"], "stream": stream}
    payload = {"data": "x", "model_config": {**mc, "response_format": {"type": "json_object"}}}
    fake_openai.queue(R.json_reply({"ok": True}))
    result = await service.invoke_skill("skill.analysis", payload, run_id="r-unusable-nousage", agent="ana")
    assert result.output == {"ok": True}
    (outcome, kind, cost, warnings), ok = rows(tmp_path / "cost.db", "r-unusable-nousage")
    assert (outcome, kind, ok[0]) == ("error", "invalid_output", "ok")
    assert cost is None and any(MAYBE_BILLED in w for w in json.loads(warnings))
    assert bounds(tmp_path / "cost.db", "r-unusable-nousage")[0] > 0
    assert result.cost_usd is None
