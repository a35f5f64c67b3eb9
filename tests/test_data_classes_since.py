"""``flow summarize``'s ``data_classes_since`` is said where the ledger still holds calls recorded before it kept their
data classes (0027): those are in no ``by_data_class``, and ``flow gate`` names a summary reaching back before that
time unchecked. It was when 0027 ran whatever the ledger held: a ledger this version made (every migration at once,
before any call) said so too, and a summary of a period from before it read as holding calls that went unchecked
though the ledger held every call with its classes; two ledgers' summaries differed by when each was made. Read with
one seek on the attempts' time index (the first attempt begun before 0027 ran, or none): a summary of 1,000,000
attempts reads no attempt more."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.cli import main
from magsag_mcp.governance.gate import check_summary_with_notes
from magsag_mcp.governance.policy_files import load_policy_file
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.ledger.data_class_reads import BEGUN_BEFORE, classes_kept_since
from magsag_mcp.ledger.times import iso_time
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.ledger_schema_helpers import when_0027_ran
from tests.older_version import (
    forget_without_time,
    leave_as_before_0027,
    leave_as_before_0028,
    leave_as_before_0029,
    leave_as_before_0030,
    leave_as_before_0031,
    leave_as_before_0032,
    leave_as_before_0033,
    leave_as_before_0034,
    leave_as_before_0035,
    leave_as_before_0036,
    leave_as_the_version_before,
    write_without_data_classes,
)

pytestmark = pytest.mark.anyio

RESIDENCY = """policies:
  - name: data_residency
    requirements:
      pii_processing: ["local:llama3.1:70b", "fake:*"]
"""

DAY = 86400.0


async def _classed_call(db: Path, run_id: str) -> None:
    async with await Service.open(db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x"}, run_id=run_id, context={"data_class": "pii_processing"})


def _requirement_notes(summary: dict, policy: Path) -> list[str]:
    violations, notes = check_summary_with_notes(summary, load_policy_file(policy))
    assert violations == []
    return [n for n in notes if "requirements" in n]


async def test_a_ledger_this_version_made_says_no_time_and_the_gate_notes_nothing(tmp_path: Path):
    db = tmp_path / "l.db"
    await _classed_call(db, "pii")
    async with await Service.open(db=db, env={}) as svc:
        summary = await svc.summarize(UsageFilters(since="30d"))  # a period from before the ledger was made
    assert summary["by_data_class"] == {"pii_processing": {"fake:gpt-4o": 1}}
    assert summary["data_classes_since"] is None  # (was when it was made: every call it holds has its classes)
    (tmp_path / "p.yaml").write_text(RESIDENCY)
    assert _requirement_notes(summary, tmp_path / "p.yaml") == []
    # the gate reads null beside a by_data_class as every call placed, whenever the summary's period began (a summary
    # of this ledger written with its period from last month: nothing in it went unchecked)
    month_ago = {**summary, "period": {**summary["period"], "from": iso_time(time.time() - 30 * DAY)}}
    assert _requirement_notes(month_ago, tmp_path / "p.yaml") == []


def _older_ledger(db: Path, monkeypatch: pytest.MonkeyPatch, at: float) -> None:
    """A ledger the version before 0027 made, holding one call of data class pii_processing made at ``at``: recorded
    without its classes, as that version recorded every call."""
    import anyio

    from magsag_mcp.ledger import connection, migrations

    async def make() -> None:
        async with Ledger(db):
            pass

    anyio.run(make)
    conn = sqlite3.connect(db, isolation_level=None)
    leave_as_the_version_before(conn)
    leave_as_before_0036(conn)
    leave_as_before_0035(conn)
    leave_as_before_0034(conn)
    leave_as_before_0033(conn)
    leave_as_before_0032(conn)
    leave_as_before_0031(conn)
    leave_as_before_0030(conn)
    leave_as_before_0029(conn)
    leave_as_before_0028(conn)
    leave_as_before_0027(conn)
    conn.close()
    older = [m for m in migrations.MIGRATIONS if m[0] < "0027"]  # (the version before 0027, whatever came since)

    async def record() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("old-pii", "ana", "skill.analysis", at, ended_at=at + 1, status="ok")
            attempt = AttemptRecord(
                "old-pii", at, "fake", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1,
                input_tokens=10, output_tokens=5, cost_usd=Decimal("0"), price_source="free",
                data_classes=("pii_processing",),
            )  # fmt: skip
            await ledger.record_call(run, [attempt])

    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", older)
        m.setattr(connection, "MIGRATIONS", older)
        write_without_data_classes(m.setattr)
        forget_without_time(m.setattr)
        anyio.run(record)
    conn = sqlite3.connect(db)  # (no column for them)
    assert conn.execute("SELECT run_id, started_at FROM attempts").fetchall() == [("old-pii", at)]
    conn.close()


def test_an_upgraded_ledger_names_its_older_calls_unchecked_until_they_are_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    import anyio

    db = tmp_path / "l.db"
    _older_ledger(db, monkeypatch, time.time() - 3 * DAY)
    anyio.run(_classed_call, db, "new-pii")  # (the open upgrades it: 0027 runs now)
    since = when_0027_ran(db)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    (tmp_path / "p.yaml").write_text(RESIDENCY)

    def gate_notes() -> tuple[dict, list[str]]:
        import json

        assert main(["flow", "summarize", "--since", "30d", "--output", str(tmp_path / "s.json")]) == 0
        capsys.readouterr()
        assert main(["flow", "gate", str(tmp_path / "s.json"), "--policy", str(tmp_path / "p.yaml")]) == 0
        out = capsys.readouterr()
        notes = [line for line in (out.out + out.err).splitlines() if "requirements" in line]
        return json.loads((tmp_path / "s.json").read_text()), notes

    summary, notes = gate_notes()
    assert summary["by_data_class"] == {"pii_processing": {"fake:gpt-4o": 1}}  # the older call is in none
    assert summary["data_classes_since"] == since
    assert len(notes) == 1 and f"this summary's calls from {summary['period']['from']} until {since}" in notes[0]

    # its older calls pruned, every call it holds has its classes: no time, no note
    assert main(["data", "prune", "--older-than", "2d"]) == 0
    summary, notes = gate_notes()
    assert summary["totals"]["calls"] == 1 and summary["by_data_class"] == {"pii_processing": {"fake:gpt-4o": 1}}
    assert summary["data_classes_since"] is None and notes == []


def _steps(db: Path) -> tuple[float | None, int]:
    conn = sqlite3.connect(db)
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(step, 1)
    try:
        return classes_kept_since(conn), steps[0]
    finally:
        conn.close()


@pytest.mark.parametrize("begun_before", [False, True])
def test_the_look_for_older_calls_is_one_seek_whatever_the_ledgers_size(tmp_path: Path, begun_before: bool):
    # 10 attempts and 20,000, all begun after 0027 ran (a ledger this version made) or all before (an upgraded one's):
    # the same steps, where reading the attempts grew with them
    import anyio

    async def make(db: Path) -> None:
        async with Ledger(db):
            pass

    counts = []
    for n in (10, 20_000):
        db = tmp_path / f"l-{n}.db"
        anyio.run(make, db)
        conn = sqlite3.connect(db)
        with conn:
            applied = conn.execute(
                "SELECT applied_at FROM schema_migrations WHERE name = '0027_attempt_data_classes'"
            ).fetchone()[0]
            start = applied - 10 * DAY if begun_before else applied + 1
            conn.executemany(
                "INSERT INTO attempts (run_id, started_at, provider, model, outcome) VALUES (?, ?, 'fake', 'm', 'ok')",
                [(f"r{i}", start + i) for i in range(n)],
            )
            plan = conn.execute(f"EXPLAIN QUERY PLAN {BEGUN_BEFORE}", (applied,)).fetchall()
        conn.close()
        assert [row[3] for row in plan] == ["SEARCH attempts USING COVERING INDEX attempts_started (started_at<?)"]
        kept_since, steps = _steps(db)
        assert kept_since == (applied if begun_before else None)
        counts.append(steps)
    assert counts[0] == counts[1], counts
