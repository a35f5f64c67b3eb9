"""A process under a file size limit (``ulimit -f``, RLIMIT_FSIZE: a container's, a CI runner's) whose ledger, its
-wal or a backup would pass it: the write fails with EFBIG, which SQLite reports as a bare "disk I/O error" (Python
ignores the SIGXFSZ that would end the process). A record, a prune and a backup said only that ("ledger error at
l.db: disk I/O error", and a backup "a full disk: free some space"), naming neither the cause nor its fix. Each is
run for real, in a child process given the limit; what was recorded before stays whole."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")  # (no such limit on Windows)

REPO = Path(__file__).resolve().parents[1]
LIMIT_SAID = "this process may write no file larger than"
FIX = "raise the limit where magsag runs (ulimit -f unlimited)"

RECORD = """
import asyncio, sys, time
from decimal import Decimal
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

async def main(path, first, n, days_back):
    async with Ledger(path) as ledger:
        for i in range(first, first + n):
            at = time.time() - days_back * 86400
            run = RunRecord(f"r{i}", "ana", "skill.analysis", at)
            attempt = AttemptRecord(
                run.run_id, at, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1,
                input_tokens=10, output_tokens=5, cost_usd=Decimal("0.001"),
            )
            await ledger.record_call(run, [attempt])

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
"""


def _run(args: list[str], limit: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, preexec_fn=limited, timeout=120
    )


def _record(db: Path, first: int, n: int, limit: int | None = None, days_back: int = 0):
    return _run(["-c", textwrap.dedent(RECORD), str(db), str(first), str(n), str(days_back)], limit)


def _magsag(db: Path, *args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    code = f"import sys; from magsag_mcp.cli import main; sys.exit(main({list(args)!r}))"
    return _run(["-c", f"import os; os.environ['MAGSAG_DB'] = {str(db)!r}; {code}"], limit, cwd=db.parent)


def _whole(db: Path) -> tuple[str, int, int]:
    conn = sqlite3.connect(db)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        attempts = conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        rolled = conn.execute("SELECT coalesce(SUM(attempts), 0) FROM usage_rollup").fetchone()[0]
    finally:
        conn.close()
    return check, attempts, rolled


@pytest.fixture
def ledger_of_200(tmp_path: Path) -> Path:
    db = tmp_path / "ledger.db"
    done = _record(db, 0, 200, days_back=100)
    assert done.returncode == 0, done.stderr
    return db


def test_a_record_past_the_file_size_limit_says_the_limit_and_loses_nothing_recorded(ledger_of_200: Path):
    done = _record(ledger_of_200, 1000, 400, limit=ledger_of_200.stat().st_size)
    assert done.returncode != 0
    said = done.stderr.strip().splitlines()[-1]
    assert "LedgerError" in said and LIMIT_SAID in said and FIX in said, said
    assert "ledger.db-wal is" in said  # (the file that reached it: a record grows the -wal)
    check, attempts, rolled = _whole(ledger_of_200)
    assert check == "ok" and attempts == rolled and 200 <= attempts < 600  # the calls before the limit, each whole


def test_a_prune_past_the_file_size_limit_says_the_limit_and_deletes_nothing(ledger_of_200: Path):
    done = _magsag(ledger_of_200, "data", "prune", "--older-than", "30d", limit=40_000)
    assert done.returncode == 2
    message = json.loads(done.stderr)["error"]["message"]
    assert LIMIT_SAID in message and "40,000 bytes" in message and FIX in message, message
    assert _whole(ledger_of_200) == ("ok", 200, 200)


def test_a_backup_past_the_file_size_limit_says_the_limit_and_keeps_the_earlier_backup(ledger_of_200: Path):
    earlier = ledger_of_200.parent / "backup.db"
    assert _magsag(ledger_of_200, "data", "backup", str(earlier)).returncode == 0
    assert _record(ledger_of_200, 5000, 10).returncode == 0
    done = _magsag(ledger_of_200, "data", "backup", str(earlier), limit=100_000)
    assert done.returncode == 2
    message = json.loads(done.stderr)["error"]["message"]
    assert "nothing was replaced" in message and LIMIT_SAID in message and FIX in message, message
    assert "a full disk" not in message
    assert _whole(earlier) == ("ok", 200, 200)  # the earlier backup, as it was
    assert [p.name for p in earlier.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_an_export_past_the_file_size_limit_says_the_limit_not_a_full_disk(ledger_of_200: Path):
    # its JSON (270 KB) is larger than the ledger: the ledger is read, and the file --output names reaches the limit
    out = ledger_of_200.parent / "out.json"
    limit = ledger_of_200.stat().st_size + 70_000
    done = _magsag(ledger_of_200, "data", "query", "--format", "json", "--output", str(out), limit=limit)
    assert done.returncode == 2
    message = json.loads(done.stderr[done.stderr.index("{") :])["error"]["message"]
    assert "File too large" in message and f"{limit:,} bytes" in message and FIX in message, message
    assert "free some space" not in message and not out.exists()


def test_stdout_to_a_file_past_the_file_size_limit_says_the_limit(ledger_of_200: Path):
    out = ledger_of_200.parent / "out.json"
    limit = ledger_of_200.stat().st_size + 70_000
    code = "import sys; from magsag_mcp.cli import main; sys.exit(main(['data', 'query', '--format', 'json']))"
    with out.open("w") as fh:
        done = subprocess.run(
            [sys.executable, "-c", code], stdout=fh, stderr=subprocess.PIPE, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO), "MAGSAG_DB": str(ledger_of_200)},
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
        )  # fmt: skip
    assert done.returncode == 1
    assert f"{limit:,} bytes" in done.stderr and FIX in done.stderr, done.stderr
    assert "free some space" not in done.stderr


@pytest.fixture(scope="module")
def large_team_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 attempts of 200 agents x 12 skills over a year (benchmarks/ledger_scale.py's, through the record's write
    path): some 18,000 usage_rollup rows, whose summary's GROUP BY passes SQLite's 2 MB cache and sorts in a
    temporary file where SQLite keeps them there."""
    from benchmarks.ledger_scale import build

    db = tmp_path_factory.mktemp("large") / "ledger.db"
    build(db, 20_000)
    return db


@pytest.mark.parametrize("given", [[], ["--status", "ok"]], ids=["all-time", "status"])
def test_a_summary_of_a_ledger_larger_than_the_file_size_limit_reads_it_as_without_one(
    large_team_ledger: Path, given: list[str]
):
    """A report writes nothing, yet `flow summarize` of a 12 MB ledger under a 100 KB limit failed on SQLite's
    temporary file for its sort, told as "the ledger ... cannot grow". Under a limit the sorts are kept in memory."""
    unlimited = _magsag(large_team_ledger, "flow", "summarize", *given)
    assert unlimited.returncode == 0, unlimited.stderr
    limited = _magsag(large_team_ledger, "flow", "summarize", *given, limit=100_000)
    assert limited.returncode == 0, limited.stderr
    assert limited.stdout == unlimited.stdout  # the same summary, byte for byte
    assert json.loads(limited.stdout)["totals"]["attempts"] > 100


def test_a_backup_of_a_damaged_ledger_under_a_file_size_limit_says_it_is_damaged_not_the_limit(ledger_of_200: Path):
    """The backup told any SQLite error under a limit smaller than the ledger as the limit (and any other as a full
    disk): a damaged ledger's "malformed" was sent to raise a limit, which could not help."""
    with ledger_of_200.open("r+b") as fh:  # the schema's page (after the file's 100-byte header) overwritten
        fh.seek(100)
        fh.write(b"\xff" * 200)
    done = _magsag(ledger_of_200, "data", "backup", str(ledger_of_200.parent / "b.db"), limit=100_000)
    assert done.returncode == 2
    message = json.loads(done.stderr)["error"]["message"]
    assert "malformed" in message and "integrity_check" in message, message
    assert LIMIT_SAID not in message and "a full disk" not in message, message


def test_a_vacuum_copies_the_ledger_in_a_temporary_file_where_sorts_are_kept_in_memory(tmp_path: Path):
    """Under a file size limit the connections keep SQLite's temporary files in memory (their sorts); a prune's
    VACUUM, whose copy is the whole ledger, makes its copy in a file as before and leaves the connection as it was."""
    import sqlite3

    from magsag_mcp.ledger import prune

    conn = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA temp_store = MEMORY")
    said: list[str] = []
    conn.set_trace_callback(said.append)
    prune._vacuum(conn)
    assert said.index("PRAGMA temp_store = DEFAULT") < said.index("VACUUM") < said.index("PRAGMA temp_store = 2")
    assert conn.execute("PRAGMA temp_store").fetchone()[0] == 2
    conn.close()


def test_the_ledger_s_limit_and_another_file_s_say_one_sentence(tmp_path: Path, monkeypatch):
    # too_large_fix (an output), size_limited (the ledger, its -wal) and a backup's said the limit's fix in three
    # near-copies of one sentence: the ledger's named who sets the limit, the others did not
    from magsag_mcp.ledger import room

    db = tmp_path / "ledger.db"
    db.write_bytes(b"\0" * 8192)
    monkeypatch.setattr(room, "file_size_limit", lambda: 5_000)
    fix = room.too_large_fix()
    said = room.size_limited(db)
    assert said is not None and said.startswith(f"cannot grow: {db} is 8,192 bytes, and ")
    assert fix in said and said.endswith(f"{fix}. Nothing recorded before was lost")
    assert LIMIT_SAID in fix and "5,000 bytes" in fix and FIX in fix and "the CI runner that started it" in fix
    # and a backup's, larger than the limit, the third copy
    from magsag_mcp.ledger import backup

    monkeypatch.setattr(backup, "file_size_limit", lambda: 5_000)
    io_error = sqlite3.OperationalError("disk I/O error")
    io_error.sqlite_errorcode = 778  # SQLITE_IOERR_WRITE, as the limit's refusal comes
    said = backup._what_failed(io_error, db, tmp_path / "b.tmp")
    assert said == f"the backup is as large as the ledger, 8,192 bytes, and {fix}"
