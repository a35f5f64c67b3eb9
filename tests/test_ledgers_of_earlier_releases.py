"""Ledgers that earlier releases recorded with their own code (tests/ledgers_of_earlier_releases: record.py says how),
opened by this one as a user who upgrades opens theirs: the schema migrates once, every row survives, and what the
release read from it (its figures, held here) reads the same, or differs where a fix since says why."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.service import Service
from tests.ledger_schema_helpers import open_at_once
from tests.ledgers_of_earlier_releases.record import CATALOG, NOON

pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent / "ledgers_of_earlier_releases"

#: each release recorded (its last migration, its commit) and what it read back: summarize's calls and errors (as
#: that release counted them: attempts, before 0018), the run limit's spend for the MAG run (before 0015 its scope
#: left out a SAG delegated from a SAG; before 0011, every delegated run) and query_runs' cost of odd-0, whose one
#: attempt's cost is unknown (the earliest releases said 0)
RELEASES = {
    "schema_0002_4e0f2bc9": {"calls": (10, 3), "mag_run_spent": "0.00021", "odd_cost": "0"},
    "schema_0004_f71e627e": {"calls": (10, 3), "mag_run_spent": "0.00021", "odd_cost": "0"},
    "schema_0010_84477975": {"calls": (10, 3), "mag_run_spent": "0.00042", "odd_cost": None},
    "schema_0015_c67dc131": {"calls": (10, 3), "mag_run_spent": "0.00063", "odd_cost": None},
    "schema_0018_c98c3378": {"calls": (8, 1), "mag_run_spent": "0.00063", "odd_cost": None},
    "schema_0021_04adfae1": {"calls": (8, 1), "mag_run_spent": "0.00063", "odd_cost": None},
}
#: what every release read alike: tokens in and out, the known cost, unpriced calls, agent ag1's spend today
#: (check_budget), each run's cost (query_runs) but odd-0's
SAME_IN_EVERY_RELEASE = {"input_tokens": 375, "output_tokens": 54, "known_cost_usd": "0.0008667", "unpriced_calls": 1}
AG1_SPENT_TODAY = "0.0002367"
RUN_COSTS = {
    "brief-0": "0.00001335",  # gpt-4o's HTTP 500, then gpt-4o-mini's answer
    "brief-1": "0.00001335",
    "brief-2": "0.00021",
    "mag": "0.00021",
    "sag1": "0.00021",
    "sag2": "0.00021",
    "down-0": "0",  # every target failed
}
#: the reservation of slow-0, in flight when its process died (claude-3-5-sonnet, 300 tokens out at most)
SLOW_RESERVED = "0.004608"
#: the columns of an attempt that no migration changes (0006 and 0022 set costs of attempts, 0015 parents of runs)
ATTEMPT_COLUMNS = (
    "id, run_id, started_at, provider, model, agent, skill, outcome, error_class, error_message, input_tokens,"
    " output_tokens, total_tokens, latency_ms, attempt_number, fallback_position"
)


def _ledger_of(release: str, where: Path) -> Path:
    db = where / "ledger.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript((HERE / f"{release}.sql").read_text())
    conn.close()
    return db


def _catalog(where: Path) -> Path:
    root = where / "catalog"
    for rel, text in CATALOG.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {
            "attempts": conn.execute(f"SELECT {ATTEMPT_COLUMNS} FROM attempts ORDER BY id").fetchall(),
            "priced": conn.execute("SELECT id, cost_pusd FROM attempts WHERE outcome = 'ok' ORDER BY id").fetchall(),
            "runs": conn.execute(
                "SELECT run_id, agent, skill, started_at, ended_at, status FROM runs ORDER BY run_id"
            ).fetchall(),
            "events": conn.execute("SELECT * FROM events ORDER BY id").fetchall(),
            "migrations": conn.execute("SELECT * FROM schema_migrations ORDER BY name").fetchall(),
        }
    finally:
        conn.close()


def _clock_at(monkeypatch: pytest.MonkeyPatch, at: float) -> None:
    """``time.time`` ticking on from ``at`` (the recording's own day: its spend is today's)."""
    real = time.time
    started = real()
    monkeypatch.setattr(time, "time", lambda: at + (real() - started))


def _limit(report: dict[str, Any]) -> dict[str, Any]:
    (limit,) = report["limits"]
    return limit


@pytest.mark.parametrize("release", RELEASES)
async def test_a_ledger_an_earlier_release_recorded_reads_as_it_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release: str
):
    old = RELEASES[release]
    db = _ledger_of(release, tmp_path)
    before = _rows(db)
    env = {"OPENAI_API_KEY": "sk-Qx7rMkZvLp3Tw8JnHbYc"}
    # a minute after the calls: slow-0's process died, but its reservation (15 minutes) still stands
    _clock_at(monkeypatch, NOON + 60)
    async with await Service.open(catalog=_catalog(tmp_path), db=db, env=env) as svc:
        summary = await svc.summarize()
        runs = {r["run_id"]: r for r in await svc.query_runs()}
        ag1, mag, ag2 = (
            _limit(await svc.check_budget(agent="ag1")),
            _limit(await svc.check_budget(run_id="mag")),
            _limit(await svc.check_budget(agent="ag2")),
        )
    after = _rows(db)
    assert [m[0] for m in after["migrations"]] == [name for name, _ in MIGRATIONS]
    assert after["migrations"][: len(before["migrations"])] == before["migrations"]
    for table in ("attempts", "priced", "runs", "events"):
        assert after[table] == before[table], table

    totals = summary["totals"]
    assert {k: totals[k] for k in SAME_IN_EVERY_RELEASE} == SAME_IN_EVERY_RELEASE
    # before 0018 a release counted attempts as calls: those are this version's attempts, its calls the calls
    assert (totals["attempts"], totals["attempt_errors"]) == (10, 3)
    assert (totals["calls"], totals["errors"]) == (8, 1)
    counted = ("attempts", "attempt_errors") if int(release[7:11]) < 18 else ("calls", "errors")
    assert (totals[counted[0]], totals[counted[1]]) == old["calls"]
    assert {r: runs[r]["cost_usd"] for r in RUN_COSTS} == RUN_COSTS
    # unknown, as every release from 0010 on said (the earlier ones' "0" was their bug: an unknown cost is null)
    assert runs["odd-0"]["cost_usd"] is None and old["odd_cost"] in (None, "0")
    assert ag1["spent_usd"] == AG1_SPENT_TODAY
    # the MAG's run limit counts its whole tree, as from 0015 on: that migration named the top run as the parent of
    # the SAG the first SAG delegated, which the releases before it left out of the limit (0002's, 0004's: both)
    assert mag["spent_usd"] == "0.00063" == RELEASES["schema_0021_04adfae1"]["mag_run_spent"]
    assert old["mag_run_spent"] == "0.00063" or int(release[7:11]) < 15
    assert runs["sag2"]["parent_run_id"] == "mag"
    assert (ag2["reserved_usd"], ag2["unknown_cost_bound_usd"]) == (SLOW_RESERVED, "0")
    assert "slow-0" not in runs

    # an hour on, slow-0's reservation has expired: it is the attempt it stood for, of unknown cost at its bound
    _clock_at(monkeypatch, NOON + 3600)
    async with await Service.open(catalog=_catalog(tmp_path), db=db, env=env) as svc:
        swept = await svc.summarize()
        ag2 = _limit(await svc.check_budget(agent="ag2"))
        slow = await svc.query_runs({"run_id": "slow-0"})
    assert (ag2["reserved_usd"], ag2["unknown_cost_bound_usd"]) == ("0", SLOW_RESERVED)
    assert (swept["totals"]["calls"], swept["totals"]["errors"]) == (9, 2)
    assert swept["totals"]["known_cost_usd"] == SAME_IN_EVERY_RELEASE["known_cost_usd"]
    assert swept["totals"]["unknown_cost_bound_usd"] == SLOW_RESERVED
    # (a reservation names its target from 0009 on: earlier releases' say only their amount)
    target = "claude-3-5-sonnet-20241022" if int(release[7:11]) >= 9 else "unknown"
    assert [(a["model"], a["cost_usd"], a["cost_bound_usd"]) for a in slow[0]["attempts"]] == [
        (target, None, SLOW_RESERVED)
    ]
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0

    # opened again: nothing more is migrated or changed
    settled = _rows(db)
    async with await Service.open(catalog=_catalog(tmp_path), db=db, env=env) as svc:
        assert await svc.summarize() == swept
    assert _rows(db) == settled


@pytest.mark.parametrize("release", RELEASES)
def test_the_export_of_an_upgraded_ledger_holds_the_rows_the_release_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], release: str
):
    """`magsag data query --format csv` of the upgraded ledger: every row and column the release exported (held
    beside its dump), equal but for the cost of a failed attempt the releases before it left empty (0006 made it 0)."""
    db = _ledger_of(release, tmp_path)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(_catalog(tmp_path)))
    _clock_at(monkeypatch, NOON + 60)
    assert main(["data", "query", "--format", "csv"]) == 0
    now = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    then = list(csv.DictReader(io.StringIO((HERE / f"{release}.csv").read_text())))
    assert len(now) == len(then) == 10
    for new, old in zip(now, then, strict=True):
        if old["outcome"] == "error" and old["cost_usd"] == "":
            old["cost_usd"] = "0"
        assert {k: new[k] for k in old} == old


@pytest.mark.parametrize("release", RELEASES)
def test_processes_opening_an_earlier_releases_ledger_at_once_migrate_it_once(tmp_path: Path, release: str):
    """Two MCP servers started together on the ledger a release left: both open it, each migration is applied
    once, and the tables the migrations fill from the attempts count each attempt once."""
    db = _ledger_of(release, tmp_path)
    before = _rows(db)
    assert open_at_once(db, 2, event=False) == [0, 0]
    after = _rows(db)
    assert [m[0] for m in after["migrations"]] == [name for name, _ in MIGRATIONS]
    assert after["attempts"] == before["attempts"]
    conn = sqlite3.connect(db)
    rollup = conn.execute("SELECT SUM(attempts), SUM(calls), SUM(input_tokens), SUM(cost_pusd) FROM usage_rollup")
    assert rollup.fetchone() == (10, 8, 375, 866_700_000)
    assert conn.execute("SELECT SUM(cost_pusd) FROM day_spend").fetchone()[0] == 866_700_000
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _newer(where: Path) -> Path:
    """A ledger a newer magsag-mcp migrated (this version's schema and a migration it does not know), closed."""
    db = _ledger_of("schema_0021_04adfae1", where)
    assert open_at_once(db, 1, event=False) == [0]  # this version's migrations, in a process closed after
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE hour_spend (bucket INTEGER PRIMARY KEY, cost_pusd INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_migrations VALUES ('0099_hour_spend', 1)")
    conn.close()
    return db


def _damaged(where: Path) -> Path:
    """A ledger whose pages past its header were overwritten (its header still says SQLite)."""
    db = _newer(where)
    raw = db.read_bytes()
    db.write_bytes(raw[:100] + bytes((i * 7 + 3) % 251 for i in range(len(raw) - 100)))
    return db


def _not_sqlite(where: Path) -> Path:
    db = where / "ledger.db"
    db.write_text("name,cost\nbrief-0,0.00001335\n" * 40)
    return db


#: each file, what this version says of it, and the fix it gives
REFUSED = {
    "newer": (_newer, "was migrated by a newer magsag-mcp", "upgrade magsag-mcp"),
    "damaged": (_damaged, "it is damaged", ".recover"),
    "not_sqlite": (_not_sqlite, "it is not a SQLite database", "--db / MAGSAG_DB"),
}
COMMANDS = (
    ["data", "query"],
    ["flow", "summarize"],
    ["budget", "--agent", "ag1"],
    ["data", "search", "brief"],
    ["data", "prune", "--older-than", "30d"],
    ["run", "my-mag", "--payload", "{}"],
)


def _files(where: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in where.iterdir() if p.name.startswith("ledger.db")}


@pytest.mark.parametrize("kind", REFUSED)
def test_a_ledger_this_version_cannot_use_is_refused_with_the_fix_and_left_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
):
    """A newer release's ledger (a migration this one does not know), a damaged one and a file that is no SQLite
    database: every command that opens it says what it is and what to do, and no byte of it (nor a -wal or -shm
    beside it) is written, so the newer release, a recovery or the user finds it as it was."""
    make, said, fix = REFUSED[kind]
    db = make(tmp_path)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(_catalog(tmp_path)))
    before = _files(tmp_path)
    for command in COMMANDS:
        assert main(command) == 2, command
        out = capsys.readouterr()
        assert said in out.err and fix in out.err, (command, out)
        assert _files(tmp_path) == before, command

    async def service() -> str:
        with pytest.raises(LedgerError) as refused:
            await Service.open(catalog=_catalog(tmp_path), db=db, env={})
        return str(refused.value)

    message = anyio.run(service)
    # (from Python the fix names db=, where the command line names --db)
    assert said in message and fix.replace("--db / MAGSAG_DB", "db= (or MAGSAG_DB)") in message
    assert _files(tmp_path) == before


#: a process that opens the database at argv[1] in WAL mode, writes argv[2]'s statements and dies without closing it
#: (killed, or its machine lost power): its -wal file is left beside it, holding what it wrote
DIES_WRITING = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA wal_autocheckpoint = 0")
conn.executescript(sys.argv[2])
os._exit(0)
"""


def _left_writing(db: Path, statements: str) -> None:
    subprocess.run([sys.executable, "-c", DIES_WRITING, str(db), statements], check=True)
    assert Path(f"{db}-wal").stat().st_size > 0


def _newer_left_running(where: Path) -> Path:
    """A newer release's ledger whose server died after its migration: the migration is in the -wal file alone."""
    db = _ledger_of("schema_0021_04adfae1", where)
    assert open_at_once(db, 1, event=False) == [0]
    _left_writing(
        db,
        "CREATE TABLE hour_spend (bucket INTEGER PRIMARY KEY, cost_pusd INTEGER NOT NULL);"
        "INSERT INTO schema_migrations VALUES ('0099_hour_spend', 1);",
    )
    return db


def _another_programs_left_running(where: Path) -> Path:
    db = where / "ledger.db"
    _left_writing(db, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'kept');")
    return db


@pytest.mark.parametrize(
    "make, said",
    [(_newer_left_running, "was migrated by a newer magsag-mcp"), (_another_programs_left_running, "other tables")],
)
def test_a_refused_ledger_whose_writer_died_keeps_its_write_ahead_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], make: Any, said: str
):
    """A newer release's server (or another program) died with its last writes in the -wal file: this version's
    refusal closed its connection as the last one, and SQLite then checkpointed that log into the file and deleted
    it, writing the database it said it left as it was. It looks through a read-only connection first, which
    writes nothing there."""
    db = make(tmp_path)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(_catalog(tmp_path)))

    def kept() -> dict[str, str]:  # (the -shm file is SQLite's index of the log, which any reader may rebuild)
        return {n: hashlib.sha256(d).hexdigest() for n, d in _files(tmp_path).items() if not n.endswith("-shm")}

    before = kept()
    assert set(before) == {"ledger.db", "ledger.db-wal"}
    for command in COMMANDS:
        assert main(command) == 2, command
        assert said in capsys.readouterr().err, command
        assert kept() == before, command


@pytest.mark.parametrize("release", ["schema_0004_f71e627e", "schema_0010_84477975"])
def test_the_gate_says_why_a_call_abandoned_under_an_earlier_release_names_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], release: str
):
    # slow-0's process died in flight; an hour on, its expired reservation is the attempt it stood for. Reservations
    # named their target from 0009 on: before, the stand-in's model is "unknown", which no allowed_models holds.
    # Failing is right (the gate cannot tell the model was allowed); "model 'unknown' (via unknown)" alone said not why.
    db, catalog = _ledger_of(release, tmp_path), _catalog(tmp_path)
    _clock_at(monkeypatch, NOON + 3600)
    summary, policy = tmp_path / "summary.json", tmp_path / "policy.yaml"
    allowed = "[gpt-4o, gpt-4o-mini, mystery-model-q7, 'claude-*']"
    policy.write_text(f"policies:\n  - name: prod\n    allowed_models: {allowed}\n")
    assert main(["flow", "summarize", "--catalog", str(catalog), "--db", str(db), "--output", str(summary)]) == 0
    capsys.readouterr()
    code = main(["flow", "gate", str(summary), "--policy", str(policy)])
    out = capsys.readouterr().out
    if int(release[7:11]) >= 9:
        assert code == 0, out
        return
    assert code == 1
    (violation,) = [line for line in out.splitlines() if "allowed_models" in line]
    assert "model 'unknown' (via unknown) is not in allowed_models (1 call, 1 attempt)" in violation
    assert "abandoned in flight" in violation and "did not name its model" in violation
    assert "magsag data query --model unknown --provider unknown" in violation
    # and that command finds it
    listed = ["data", "query", "--catalog", str(catalog), "--db", str(db), "--format", "json"]
    assert main([*listed, "--model", "unknown", "--provider", "unknown"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["slow-0"]
