"""`magsag data query --format csv|json` reads a page of runs at a time, each run with its attempts, and reads a run of
more than ``INLINE_ATTEMPTS`` attempts after its page, a piece at a time, so that a long-lived run does not sit in
memory whole. A page of a thousand runs of a hundred attempts each, none of them long, was read with its 100,000
attempts all at once (189 MB resident to export 1,000 such runs; 67 MB read as pieces, 57 MB of it the command's own,
in less time): a page now lists its runs' attempts up to a total, and reads the runs past it as it reads a long run."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.ledger import exports as ledger_exports
from magsag_mcp.ledger.reports import LedgerReports
from magsag_mcp.records import AttemptRecord, RunRecord

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
#: runs of this many attempts each: none of them long (ledger_exports.INLINE_ATTEMPTS)
ATTEMPTS = 100
#: as many as make 6,000 attempts in all
RUNS = 60


def _fill(db: Path) -> list[dict[str, Any]]:
    """RUNS runs of ATTEMPTS attempts; every run as query_runs lists it."""
    now = time.time() - 600

    async def go() -> list[dict[str, Any]]:
        async with Ledger(db) as ledger:
            for i in range(RUNS):
                run = RunRecord(f"r-{i:03d}", "ana", "skill.analysis", now + i, calls=ATTEMPTS)
                at = [now + i + k / 1000 for k in range(ATTEMPTS)]
                attempts = [AttemptRecord(run.run_id, t, "fake", "m", run.skill, "ana", "ok", 0, 1) for t in at]
                await ledger.record_call(run, attempts)
            return (await ledger.query_runs_page(UsageFilters(limit=RUNS)))["runs"]

    return anyio.run(go)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_an_export_lists_no_more_attempts_with_a_page_than_its_total(tmp_path: Path, monkeypatch, capsys, fmt: str):
    db = tmp_path / "many.db"
    whole = _fill(db)
    assert ATTEMPTS <= ledger_exports.INLINE_ATTEMPTS and RUNS <= 1000  # one page of runs none of which is long
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    listed: list[int] = []  # the attempts each page read listed with its runs
    read_page = LedgerReports.query_runs_page

    async def spied(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        page = await read_page(self, *args, **kwargs)
        listed.append(sum(len(run["attempts"]) for run in page["runs"]))
        return page

    monkeypatch.setattr(LedgerReports, "query_runs_page", spied)
    assert main(["data", "query", "--format", fmt]) == 0
    out = capsys.readouterr().out
    # the page's attempts read together are bounded as a long run's pieces are: a few thousand, not the page's 6,000
    assert listed and max(listed) <= 5_000, listed
    # and the export is whole, in order, as a page read at once lists it
    if fmt == "json":
        assert json.loads(out) == whole
    else:
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [(r["run_id"], r["time"]) for r in rows] == [
            (run["run_id"], a["time"]) for run in whole for a in run["attempts"]
        ]
