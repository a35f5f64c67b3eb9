"""Cache writes in the usage summaries: Anthropic's cache_creation_input_tokens (its 5-minute and 1-hour writes, its
dearest input) beside the cache reads (``cached_tokens``), per model, provider, agent and skill and in the totals, from
Python, `flow summarize` and the MCP tool alike; kept in usage_rollup by every write, by prune's rebuild of a day, and
backfilled by 0021 into a ledger an older version recorded."""

from __future__ import annotations

import json
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.pricing_audit import catalog_without_policies
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
MODEL = "claude-sonnet-4-5"
#: the cache counts of a summary's stats
CACHE = ("cached_tokens", "cache_write_tokens", "cache_write_1h_tokens")


def _cache(stats: dict) -> tuple[int, ...]:
    return tuple(stats[k] for k in CACHE)


async def test_an_anthropic_calls_cache_writes_show_in_every_summary(tmp_path: Path, serve, capsys):
    """Two Messages answers through the loopback fake: one read 20,000 tokens from the cache and wrote 10,000 (4,000
    for 5 minutes, 6,000 for an hour), one (streamed) wrote 3,000 for 5 minutes. The summaries said cached_tokens and
    no cache write at all, where those writes cost more than the reads and the uncached input together."""
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    fake.queue(
        {
            "text": "ok",
            "usage": {
                "input_tokens": 1_000,
                "output_tokens": 800,
                "cache_read_input_tokens": 20_000,
                "cache_creation_input_tokens": 10_000,
                "cache_creation": {"ephemeral_5m_input_tokens": 4_000, "ephemeral_1h_input_tokens": 6_000},
            },
        }
    )
    fake.queue(
        {
            "text": "ok",
            "usage": {
                "input_tokens": 500,
                "output_tokens": 100,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 3_000,
                "cache_creation": {"ephemeral_5m_input_tokens": 3_000, "ephemeral_1h_input_tokens": 0},
            },
        }
    )
    db = tmp_path / "ledger.db"
    catalog = catalog_without_policies(tmp_path)
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        for run_id, stream in (("r-body", False), ("r-stream", True)):
            config = {"provider": "anthropic", "model": MODEL, "stream": stream}
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id=run_id, agent="ana")
        whole = await svc.summarize()  # whole days: read from usage_rollup
        edge = await svc.summarize({"since": time.time() - 3600})  # a part of a day: read from the attempts
        one_run = await svc.summarize({"run_id": "r-body"})  # a run: read from its attempts
    assert fake.violations == []
    both = (20_000, 13_000, 6_000)
    for summary in (whole, edge):
        assert _cache(summary["model_stats"][MODEL]) == both
        assert _cache(summary["by_provider"]["anthropic"]) == both
        assert _cache(summary["by_agent"]["ana"]) == _cache(summary["by_skill"]["skill.analysis"]) == both
        assert _cache(summary["totals"]) == both
        assert summary["model_stats"][MODEL]["input_tokens"] == 34_500  # the writes are part of it, as the reads
    assert _cache(one_run["model_stats"][MODEL]) == (20_000, 10_000, 6_000)

    import anyio

    from magsag_mcp.cli import main

    # (the CLI runs its own event loop)
    assert await anyio.to_thread.run_sync(main, ["flow", "summarize", "--db", str(db)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert _cache(printed["model_stats"][MODEL]) == _cache(printed["totals"]) == both

    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    async with Client(build_server(catalog=catalog, db=db, env={})) as client:
        result = await client.call_tool("summarize_usage", {})
    assert not result.is_error, result.content[0].text
    answer = result.structured_content
    assert _cache(answer["model_stats"][MODEL]) == _cache(answer["totals"]) == both
    assert _cache(answer["by_agent"]["ana"]) == both


def _attempt(run_id: str, at: float, written: int, hour: int, outcome: str = "ok") -> AttemptRecord:
    return AttemptRecord(
        run_id, at, "anthropic", MODEL, "s", "ana", outcome, 0, 1, input_tokens=100 + written, output_tokens=10,
        cached_tokens=50, cache_write_tokens=written, cache_write_1h_tokens=hour, cost_usd=Decimal("0.01"),
    )  # fmt: skip


async def _record(ledger: Ledger, run_id: str, attempts: list[AttemptRecord]) -> None:
    at = attempts[0].started_at
    await ledger.record_call(RunRecord(run_id, "ana", "s", at, ended_at=at, status="ok"), attempts)


def _rollup(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT bucket, outcome, attempts, input_tokens, cached_tokens, cache_write_tokens, cache_write_1h_tokens"
            " FROM usage_rollup ORDER BY bucket, outcome"
        ).fetchall()
    finally:
        conn.close()


async def test_a_ledger_the_version_before_recorded_sums_its_cache_writes_once_upgraded(tmp_path: Path, monkeypatch):
    """The version before 0021 kept each attempt's cache writes and rolled none up. Upgraded, its summaries must
    count them (not 0), from the rows 0021 fills from the attempts; a rollup row whose attempts are gone keeps what
    it had (its writes were never rolled up: 0), and a call recorded after adds to the filled row."""
    from magsag_mcp.ledger import connection, migrations
    from tests.older_version import write_rollups_without_cache_writes, write_without_served_model

    db = tmp_path / "older.db"
    day = 20_400 * 86400.0
    before_0021 = MIGRATIONS[: [name for name, _ in MIGRATIONS].index("0021_usage_rollup_cache_writes")]
    with monkeypatch.context() as m:  # the version before 0021
        m.setattr(migrations, "MIGRATIONS", before_0021)
        m.setattr(connection, "MIGRATIONS", before_0021)
        write_rollups_without_cache_writes(m.setattr)
        write_without_served_model(m.setattr)
        async with Ledger(db) as ledger:
            # a retried call (its failed try wrote 700 too), and another call of the same day's row
            retried = [_attempt("r1", day + 10, 700, 0, "error"), _attempt("r1", day + 11, 900, 400)]
            await _record(ledger, "r1", retried)
            await _record(ledger, "r2", [_attempt("r2", day + 20, 1_000, 1_000)])
            await _record(ledger, "gone", [_attempt("gone", day - 86400 + 5, 5_000, 0)])
    conn = sqlite3.connect(db, isolation_level=None)
    assert "0021_usage_rollup_cache_writes" not in {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    assert "cache_write_tokens" not in {r[1] for r in conn.execute("PRAGMA table_info(usage_rollup)")}
    conn.execute("DELETE FROM attempts WHERE run_id = 'gone'")  # its day's rollup row alone is left
    conn.close()

    async with Ledger(db) as ledger:
        before = await ledger.summarize({"since": day, "until": day + 86400})
        await _record(ledger, "r3", [_attempt("r3", day + 30, 2_000, 0)])
        after = await ledger.summarize({"since": day, "until": day + 86400})
        whole = await ledger.summarize()
    assert _cache(before["model_stats"][MODEL]) == (150, 2_600, 1_400)
    assert _cache(after["model_stats"][MODEL]) == _cache(after["totals"]) == (200, 4_600, 1_400)
    assert _rollup(db) == [
        (20_399, "ok", 1, 5_100, 50, 0, 0),  # attempts gone: as it was
        (20_400, "error", 1, 800, 50, 700, 0),
        (20_400, "ok", 3, 4_200, 150, 3_900, 1_400),
    ]
    assert _cache(whole["totals"]) == (250, 4_600, 1_400) and whole["totals"]["input_tokens"] == 10_100


async def test_prune_keeps_the_cache_writes_of_what_is_left_of_the_cutoffs_day(tmp_path: Path, monkeypatch):
    """A prune rebuilds the cutoff's UTC day in the rollup from the attempts it keeps: their cache writes with them
    (the rebuilt row had none)."""
    import magsag_mcp.ledger.prune as prune

    now = 20_400 * 86400.0 + 12 * 3600  # noon UTC: the cutoff, two hours back, is inside the day
    monkeypatch.setattr(prune, "time", SimpleNamespace(time=lambda: now))  # (prune's clock alone)
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await _record(ledger, "old", [_attempt("old", now - 3 * 3600, 300, 100)])
        await _record(ledger, "kept", [_attempt("kept", now - 3600, 800, 200)])
        await ledger.prune(2 * 3600)
        summary = await ledger.summarize()
    assert _rollup(db) == [(20_400, "ok", 1, 900, 50, 800, 200)]
    assert _cache(summary["model_stats"][MODEL]) == (50, 800, 200)
