"""What the tests of a run whose attempts a prune deleted (test_pruned_run_rows.py, test_unsent_and_pruned_runs.py)
share: a run ``mag``, 100 days old, and ``sag``, delegated from it a minute ago, each of one call, in a ledger then
pruned of what is 90 days old (mag's row stays, its delegated run going on; its attempt goes)."""

from __future__ import annotations

import time
from decimal import Decimal

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

#: what a prune of the tests deletes: what is older than this
PRUNED_AFTER_S = 90 * 86400


async def record_mag_and_sag_then_prune(ledger: Ledger, *, free: bool = False) -> None:
    """mag's call and sag's as above, each one attempt: at $0.01 on fake:m, or (``free``) a free local model's, $0
    with its tokens (120 in, 30 out) on its run's row as the service fills them when the call ends; then the prune."""
    now = time.time()
    for run, at, parent in (("mag", now - 100 * 86400, None), ("sag", now - 60, "mag")):
        if free:
            record = RunRecord(run, "a", "s", at, parent_run_id=parent, input_tokens=120, output_tokens=30)
            attempt = AttemptRecord(
                run, at, "local", "llama3.1", "s", "a", "ok", 0, 1, input_tokens=120, output_tokens=30,
                cost_usd=Decimal(0), price_source="free",
            )  # fmt: skip
        else:
            record = RunRecord(run, "a", "s", at, parent_run_id=parent)
            attempt = AttemptRecord(run, at, "fake", "m", "s", "a", "ok", 0, 1, cost_usd=Decimal("0.01"))
        await ledger.record_call(record, [attempt])
    await ledger.prune(PRUNED_AFTER_S)
