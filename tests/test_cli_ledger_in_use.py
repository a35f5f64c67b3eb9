"""A newer `magsag` reading the ledger an older magsag-mcp, still running, writes to: after `pip install -U`, the
cost report or the CI gate's summary ran while the server started before the upgrade went on serving calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger.migrations import MIGRATIONS

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ROOT = Path(__file__).resolve().parent.parent

#: an older magsag-mcp: one that knows every migration but the last (argv[2]: but the last nineteen, the version
#: nineteen back), serving calls into the ledger
OLDER_SERVER = textwrap.dedent(
    """
    import sys, time
    from decimal import Decimal
    import anyio
    from tests.older_version import act_as_the_version_before
    act_as_the_version_before(int(sys.argv[2]))
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    async def call(ledger, run_id):
        now = time.time()
        run = RunRecord(run_id, "ops", "skill.analysis", now)
        attempt = AttemptRecord(run_id, now, "openai", "gpt-4o", "skill.analysis", "ops", "ok", 0, 1,
                                input_tokens=100, output_tokens=10, cost_usd=Decimal("0.25"))
        await ledger.record_call(run, [attempt])

    async def serve():
        async with Ledger(sys.argv[1]) as ledger:
            await call(ledger, "before-the-report")
            print("serving", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            try:
                await call(ledger, "after-the-report")
                print("recorded", flush=True)
            except Exception as exc:
                print("refused:", exc, flush=True)

    anyio.run(serve)
    """
)


@pytest.fixture
def older_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """The older server, the version before this one (a test's indirect parameter 19: the version nineteen back)."""
    back = getattr(request, "param", 1)
    db = tmp_path / "shared.db"
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    monkeypatch.delenv("MAGSAG_DB", raising=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", OLDER_SERVER, str(db), str(back)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "serving"
        yield db, proc
    finally:
        proc.kill()
        proc.wait()


def _next_call(proc: subprocess.Popen) -> str:
    proc.stdin.write("\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def _applied(db: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("argv", "older_server"),
    [
        (["flow", "summarize"], 1),
        (["data", "query", "--format", "json"], 1),
        (["data", "search", "gpt"], 1),
        (["budget", "--json"], 1),
        (["doctor", "--json"], 1),
        (["flow", "summarize"], 19),  # the version before 0019 too, which that migration's upgrade proved this of
    ],
    indirect=["older_server"],
)
def test_a_reading_command_leaves_the_ledger_an_older_server_writes_to_as_it_is(
    older_server, capsys, monkeypatch, argv, request
):
    """The reading command migrated the ledger to its own schema, and the older server, still running, refused every
    record from then on ("migrated by a newer magsag-mcp"): the calls it was paid for went unrecorded, and
    escaped the budget, until someone restarted it. Now the command reads a migrated copy and says so; the ledger
    keeps its schema and the server records its next call."""
    db, proc = older_server
    temp = db.parent / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    main([*argv, "--db", str(db)])
    out, err = capsys.readouterr()
    assert not list(temp.iterdir())  # the copy is removed with the ledger it was read as
    back = request.node.callspec.params["older_server"]  # the migrations the older server does not know
    assert _applied(db) == sorted(name for name, _ in MIGRATIONS[:-back])
    assert _next_call(proc) == "recorded"
    if argv[0] == "flow":
        assert json.loads(out)["totals"]["calls"] == 1
    if argv[:2] == ["data", "query"]:
        assert [r["run_id"] for r in json.loads(out)] == ["before-the-report"]
    said = json.loads(out)["notes"] if argv[0] == "doctor" else [err]
    assert any("older magsag-mcp" in note and "copy" in note and "restart" in note for note in said)


def test_a_ledger_no_process_has_open_is_migrated_by_a_reading_command(older_server, capsys):
    """With no process holding it open (the older server stopped), the ledger is migrated in place, as before."""
    db, proc = older_server
    assert _next_call(proc) == "recorded"
    proc.wait()  # closed its ledger and stopped: no -wal file is left
    assert not Path(f"{db}-wal").exists()
    assert main(["flow", "summarize", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["totals"]["calls"] == 2 and "copy" not in err
    assert _applied(db) == sorted(name for name, _ in MIGRATIONS)


def test_a_prune_leaves_the_ledger_an_older_server_writes_to_as_it_is(older_server, capsys):
    """A cron prune after the upgrade migrated the ledger before pruning it, and the older server then refused to
    record every call it was paid for. The prune is refused, saying why and what to do, and changes nothing."""
    db, proc = older_server
    assert main(["data", "prune", "--older-than", "90d", "--db", str(db)]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert "older magsag-mcp" in message and "nothing was changed" in message and "restart" in message
    assert _applied(db) == sorted(name for name, _ in MIGRATIONS[:-1])
    assert _next_call(proc) == "recorded"


def test_a_reading_command_through_a_link_leaves_the_ledger_an_older_server_writes_to_as_it_is(
    older_server, capsys, monkeypatch, tmp_path
):
    """MAGSAG_DB naming a link to the ledger (a dotfile linked to a shared volume): SQLite keeps the -wal file beside
    the file the link points to, not beside the link, so the server at work was not seen, the reading command
    migrated the ledger in place, and the older server refused every record from then on."""
    db, proc = older_server
    link = tmp_path / "elsewhere" / "ledger.db"
    link.parent.mkdir()
    link.symlink_to(db)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    assert main(["flow", "summarize", "--db", str(link)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["totals"]["calls"] == 1
    assert "older magsag-mcp" in err and "copy" in err
    assert not list(temp.iterdir())
    assert _applied(db) == sorted(name for name, _ in MIGRATIONS[:-1])
    assert _next_call(proc) == "recorded"


@pytest.mark.anyio
async def test_a_reading_command_stopped_during_the_copy_leaves_no_copy_behind(older_server, monkeypatch, tmp_path):
    """Ctrl-C (or SIGTERM, which the CLI takes as Ctrl-C) while the copy was made cancelled the open there: the
    temporary folder, with a whole copy of the ledger in it, was left in /tmp, one more at every stopped run."""
    import asyncio
    import threading

    from magsag_mcp.ledger import Ledger, copies

    db, proc = older_server
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    copying, go_on, done = threading.Event(), threading.Event(), threading.Event()
    real = copies._copy

    def slow_copy(*args):
        try:
            copy = real(*args)
            copying.set()
            go_on.wait(60)
            return copy
        finally:
            done.set()

    monkeypatch.setattr(copies, "_copy", slow_copy)
    opening = asyncio.ensure_future(Ledger(db, create=False, reading=True).open())
    try:
        assert await asyncio.to_thread(copying.wait, 30)
        opening.cancel()  # asyncio's runner cancels the main task on Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await opening
    finally:
        go_on.set()
    assert await asyncio.to_thread(done.wait, 30)  # the copy's thread has ended
    assert not list(temp.iterdir())
    assert _next_call(proc) == "recorded"


def test_a_temporary_folder_that_is_not_there_is_said_with_the_fix(older_server, capsys, monkeypatch, tmp_path):
    """The copy's folder is made in TMPDIR: one that is not there (a TMPDIR set for another machine, a tmpfs not
    mounted) raised FileNotFoundError out of the ledger's open, not the LedgerError with the fix."""
    db, proc = older_server
    gone = tmp_path / "no-such-folder"
    monkeypatch.setattr(tempfile, "tempdir", str(gone))
    assert main(["flow", "summarize", "--db", str(db)]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert "could not be made" in message and str(gone) in message and "TMPDIR" in message
    assert _applied(db) == sorted(name for name, _ in MIGRATIONS[:-1])
    assert _next_call(proc) == "recorded"
