"""A Claude answer whose ``cache_creation`` split counted more cache writes than its ``cache_creation_input_tokens``
is priced at the split's figure, the larger, and may have been billed less (test_pricing_cache_split_past_total.py).
That was said in the attempt's warnings alone: its ledger row could not be told from one whose counts agreed, and no
summary counted them. The ledger keeps how many more the split counted (0036_cache_write_split_past), on the attempt
(query_runs, the CSV and JSON exports) and summed in usage_rollup (summarize's totals and every breakdown); a ledger
the version before left is upgraded when opened, its rows kept, their count null where they wrote to the cache (not
counted then) and 0 where they wrote nothing."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from decimal import Decimal as D

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.service import Service
from tests.older_version import leave_as_before_0036, leave_as_the_version_before
from tests.pricing_audit import catalog_without_policies

from .fakes import FakeAnthropic
from .test_pricing_cache_split_past_total import PRICED, SPLIT_PAST

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
CONFIG = {"provider": "anthropic", "model": "claude-sonnet-4-5"}


async def test_the_split_past_the_writes_is_counted_in_the_ledger_and_an_older_ledger_upgrades(
    tmp_path, serve, monkeypatch, capsys
):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    catalog = catalog_without_policies(tmp_path)
    db = tmp_path / "audit.db"
    agreed = {**SPLIT_PAST, "cache_creation_input_tokens": 30_000}  # (the split adds up: none past)
    fake.queue({"text": "old", "usage": agreed})
    fake.queue({"text": "none", "usage": {"input_tokens": 10, "output_tokens": 1}})
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        for run_id in ("r-old", "r-none"):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, run_id=run_id)
    conn = sqlite3.connect(db)
    leave_as_the_version_before(conn)
    leave_as_before_0036(conn)  # (before 0036: no such column)
    conn.commit()
    conn.close()
    fake.queue({"text": "new", "usage": SPLIT_PAST})
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:  # (opened: migrated)
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": CONFIG}, run_id="r-new")
        [old] = (await svc.query_runs({"run_id": "r-old"}))[0]["attempts"]
        [none] = (await svc.query_runs({"run_id": "r-none"}))[0]["attempts"]
        [new] = (await svc.query_runs({"run_id": "r-new"}))[0]["attempts"]
        summary = await svc.summarize()
    assert fake.violations == []
    assert result.cost_usd == PRICED == D(new["cost_usd"]) == D("0.168")
    assert new["cache_write_tokens"] == 30_000 and new["cache_write_split_past_tokens"] == 20_000
    assert old["cache_write_tokens"] == 30_000 and old["cache_write_split_past_tokens"] is None  # not counted then
    assert none["cache_write_tokens"] == 0 and none["cache_write_split_past_tokens"] == 0  # none written: none past
    assert summary["totals"]["cache_write_split_past_tokens"] == 20_000
    assert summary["model_stats"]["claude-sonnet-4-5"]["cache_write_split_past_tokens"] == 20_000
    assert summary["totals"]["calls"] == 3
    async with Ledger(db) as ledger:
        rollup = await ledger.read(
            lambda c: c.execute("SELECT SUM(cache_write_split_past_tokens) FROM usage_rollup").fetchone()[0]
        )
    assert rollup == 20_000

    # the exports: a CSV column, and the JSON's attempts
    monkeypatch.setenv("MAGSAG_DB", str(db))
    assert await anyio.to_thread.run_sync(main, ["data", "query", "--format", "csv", "--run-id", "r-new"]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["cache_write_tokens"], row["cache_write_split_past_tokens"]) == ("30000", "20000")
    assert await anyio.to_thread.run_sync(main, ["data", "query", "--format", "json", "--run-id", "r-old"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["attempts"][0]["cache_write_split_past_tokens"] is None


async def test_prune_keeps_the_split_past_of_what_is_left_of_the_cutoffs_day(tmp_path, monkeypatch):
    """A prune rebuilds the cutoff's UTC day in usage_rollup from the attempts it keeps: their writes counted past
    their totals with them, and none of the pruned ones'; a flag count, never added to the tokens nor the cost."""
    from types import SimpleNamespace

    import magsag_mcp.ledger.prune as prune
    from magsag_mcp.records import AttemptRecord, RunRecord

    day = 20_400 * 86400.0
    now = day + 12 * 3600  # noon UTC: the cutoff, two hours back, is inside the day
    monkeypatch.setattr(prune, "time", SimpleNamespace(time=lambda: now))  # (prune's clock alone)

    def attempt(run_id: str, at: float, past: int) -> AttemptRecord:
        return AttemptRecord(
            run_id, at, "anthropic", "claude-sonnet-4-5", "s", "ana", "ok", 0, 1, input_tokens=50_000,
            output_tokens=10, cache_write_tokens=30_000, cache_write_split_past_tokens=past, cost_usd=D("0.168"),
        )  # fmt: skip

    async with Ledger(tmp_path / "l.db") as ledger:
        for run_id, at, past in (("old", now - 3 * 3600, 7_000), ("kept", now - 3600, 20_000)):
            a = attempt(run_id, at, past)
            await ledger.record_call(RunRecord(run_id, "ana", "s", at, ended_at=at, status="ok"), [a])
        before = await ledger.summarize()
        await ledger.prune(2 * 3600)
        after = await ledger.summarize()
        rollup = await ledger.read(
            lambda c: c.execute(
                "SELECT SUM(cache_write_split_past_tokens), SUM(cache_write_tokens), SUM(input_tokens)"
                " FROM usage_rollup"
            ).fetchone()
        )
    assert before["totals"]["cache_write_split_past_tokens"] == 27_000
    assert after["totals"]["cache_write_split_past_tokens"] == 20_000
    assert tuple(rollup) == (20_000, 30_000, 50_000)  # (the flag count is in neither the writes nor the input)
    assert after["totals"]["input_tokens"] == 50_000 and after["totals"]["cache_write_tokens"] == 30_000
    assert D(str(after["totals"]["cost_usd"])) == D("0.168")
