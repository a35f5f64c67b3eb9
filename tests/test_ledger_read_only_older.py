"""A ledger an older version recorded (before 0017, 0018, which gives the usage rollup its calls, 0019, which gives
reservations their call, 0020, which marks a reservation of no known bound, 0021, and this version's latest, 0022)
that cannot be migrated where it is (an auditor's read-only copy, a CI artifact mounted read-only,
``read_only=True``): it was refused for reading. It is now read from a migrated copy in the temporary folder, with a
note saying so, and left as it was, byte for byte; the copy is removed after.

As in test_ledger_read_only.py, the suite runs as root: the read-only open is asked for, or the writability
check is made to answer "no"."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger, opening, read_only_copy
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.mcp_tools_helpers import READ_TOOL_CALLS
from tests.older_version import (
    leave_as_before_0018,
    leave_as_before_0019,
    leave_as_before_0020,
    leave_as_before_0021,
    leave_as_before_0022,
    leave_as_before_0023,
    leave_as_before_0024,
    leave_as_before_0025,
    leave_as_before_0026,
    leave_as_before_0027,
    leave_as_before_0028,
    leave_as_before_0029,
    leave_as_before_0030,
    leave_as_before_0031,
    leave_as_before_0032,
    leave_as_before_0033,
    leave_as_before_0034,
    leave_as_before_0035,
    leave_as_the_version_before,
)

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ROOT = Path(__file__).resolve().parent.parent
LAST = MIGRATIONS[-1][0]  # 0022_unsent_attempts_cost_zero
COPIED = "so a copy of it, migrated, was read"


async def _record(db: Path) -> None:
    async with Ledger(db) as ledger:
        now = time.time()
        await ledger.record_call(
            RunRecord("r1", "ana", "skill.analysis", now - 60),
            [
                AttemptRecord(
                    "r1", now - 60, "google", "models/gemini-2.0-flash", "skill.analysis", "ana", "ok", 0, 1,
                    cost_usd=Decimal("0.25"),
                )
            ],
        )  # fmt: skip
        await ledger.log_event("r1", "ana", "overloaded upstream", {"n": 1})


def _older(db: Path) -> None:
    """The ledger as a version before 0017 left it: without every migration from 0017 on (0017 to 0036), its rows not
    renamed (0017 renames them, which the reads below show) nor its rollup given calls (0018)."""
    conn = sqlite3.connect(db)
    leave_as_the_version_before(conn)
    leave_as_before_0035(conn)
    leave_as_before_0034(conn)
    leave_as_before_0033(conn)
    leave_as_before_0032(conn)
    leave_as_before_0031(conn)
    leave_as_before_0030(conn)
    leave_as_before_0029(conn)
    leave_as_before_0028(conn)
    leave_as_before_0027(conn)
    leave_as_before_0026(conn)
    leave_as_before_0025(conn)
    leave_as_before_0024(conn)
    leave_as_before_0023(conn)
    leave_as_before_0022(conn)
    leave_as_before_0021(conn)
    leave_as_before_0020(conn)
    leave_as_before_0019(conn)
    leave_as_before_0018(conn)
    conn.execute("DELETE FROM schema_migrations WHERE name = '0017_gemini_resource_names_recorded_bare'")
    conn.commit()
    conn.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def older(tmp_path: Path) -> Path:
    """An older version's ledger in a folder of its own, closed (as a copy to audit is)."""
    folder = tmp_path / "audit"
    folder.mkdir()
    db = folder / "ledger.db"
    anyio.run(_record, db)
    _older(db)
    return db


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder the copy is made in, watched."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def unwritable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writability check says no, as it does for a user without write permission (never for root)."""
    monkeypatch.setattr(opening, "file_writable", lambda path: False)


@pytest.mark.anyio
async def test_an_older_read_only_ledger_is_read_from_a_migrated_copy_and_left_as_it_was(older: Path, temp: Path):
    before = _files(older.parent)
    async with Ledger(older, read_only=True) as ledger:
        assert ledger.read_only and ledger.copied_from == older and ledger.path == older
        assert len(list(temp.iterdir())) == 1  # the copy, while the ledger is open
        summary = await ledger.summarize()
        # the migrations ran on the copy: the row recorded as "models/gemini-2.0-flash" is read renamed, and its
        # call counted from the attempts
        assert list(summary["model_stats"]) == ["gemini-2.0-flash"]
        assert summary["totals"]["calls"] == summary["totals"]["attempts"] == 1
        assert Decimal(summary["totals"]["cost_usd"]) == Decimal("0.25")
        assert [r["run_id"] for r in (await ledger.query_runs_page())["runs"]] == ["r1"]
        assert len((await ledger.search_page("overloaded", 10))["hits"]) == 1
        assert (await ledger.run_spend("r1")).known_usd == Decimal("0.25")
        from magsag_mcp.ledger.copies import copy_note

        note = copy_note(ledger)
        assert note is not None and f"the ledger at {older} was opened read-only" in note and LAST in note
        assert COPIED in note and "KiB in " in note and str(temp) in note and "left as it was" in note
        with pytest.raises(LedgerError) as info:  # a write names the ledger, not the copy
            await ledger.log_event(None, None, "e", {})
        assert f"the ledger at {older} is read-only" in info.value.message
    assert not list(temp.iterdir())  # removed with the ledger
    assert _files(older.parent) == before  # the ledger, byte for byte, and nothing beside it


@pytest.mark.anyio
async def test_a_ledger_with_a_newer_versions_migration_is_still_refused_and_not_copied(older: Path, temp: Path):
    conn = sqlite3.connect(older)
    conn.execute("INSERT INTO schema_migrations VALUES ('9999_from_the_future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError) as info:
        await Ledger(older, read_only=True).open()
    assert "9999_from_the_future" in info.value.message and "pip install -U magsag-mcp" in info.value.message
    assert not list(temp.iterdir())


@pytest.mark.anyio
async def test_no_room_for_the_copy_is_refused_with_its_size_and_the_fix(
    older: Path, temp: Path, monkeypatch: pytest.MonkeyPatch
):
    from magsag_mcp.ledger import room

    monkeypatch.setattr(room, "free_bytes", lambda folder: 4096)
    before = _files(older.parent)
    with pytest.raises(LedgerError) as info:
        await Ledger(older, read_only=True).open()
    message = info.value.message
    size = read_only_copy.size_text(older.stat().st_size)
    assert f"needs about {size} and has 4.0 KiB free" in message and str(temp) in message
    assert "set TMPDIR to a folder with room" in message and "open it once with this version where" in message
    assert not list(temp.iterdir()) and _files(older.parent) == before


@pytest.mark.anyio
async def test_a_copy_that_fails_midway_is_removed_and_said(older: Path, temp: Path, monkeypatch: pytest.MonkeyPatch):
    def full(conn: sqlite3.Connection) -> None:  # the temporary folder's disk filled up as the copy was migrated
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(read_only_copy, "migrate", full)
    with pytest.raises(LedgerError) as info:
        await Ledger(older, read_only=True).open()
    assert "could not be made in" in info.value.message and "database or disk is full" in info.value.message
    assert not list(temp.iterdir())


@pytest.mark.anyio
async def test_a_read_stopped_during_the_copy_leaves_no_copy_behind(
    older: Path, temp: Path, monkeypatch: pytest.MonkeyPatch
):
    copying, go_on, done = threading.Event(), threading.Event(), threading.Event()
    real = read_only_copy._copy

    def slow_copy(*args, **kwargs):
        try:
            copy = real(*args, **kwargs)
            copying.set()
            go_on.wait(60)
            return copy
        finally:
            done.set()

    monkeypatch.setattr(read_only_copy, "_copy", slow_copy)
    opening = asyncio.ensure_future(Ledger(older, read_only=True).open())
    try:
        assert await asyncio.to_thread(copying.wait, 30)
        opening.cancel()  # Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await opening
    finally:
        go_on.set()
    assert await asyncio.to_thread(done.wait, 30)
    assert not list(temp.iterdir())


#: the version before this one (it knows every migration but the last), killed with its calls in its -wal file
_OLDER_KILLED_MID_WORK = textwrap.dedent(
    """
    import os, signal, sys, time
    from decimal import Decimal
    import anyio
    from tests.older_version import act_as_the_version_before
    act_as_the_version_before()
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    async def go():
        async with Ledger(sys.argv[1]) as ledger:
            now = time.time()
            for i in range(3):
                run = RunRecord(f"w{i}", "ops", None, now)
                await ledger.record_call(run, [AttemptRecord(f"w{i}", now, "openai", "gpt-4o", None, "ops", "ok", 0, 1,
                                                             cost_usd=Decimal("0.5"))])
            if sys.argv[2:] == ["newer"]:  # a newer version's migration, in the -wal file too
                await ledger.submit(lambda c: c.execute("INSERT INTO schema_migrations VALUES ('9999_future', 0)"))
            os.kill(os.getpid(), signal.SIGKILL)

    anyio.run(go)
    """
)


@pytest.mark.anyio
async def test_the_calls_in_an_older_ledgers_wal_file_are_in_the_copy(tmp_path: Path, temp: Path):
    """An older magsag-mcp killed mid-work left its latest calls in the -wal file, not in the file: a copy of the
    file alone would report none of them."""
    db = tmp_path / "artifact" / "ledger.db"
    db.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _OLDER_KILLED_MID_WORK, str(db)], env=env, check=False)
    assert done.returncode == -signal.SIGKILL
    assert Path(f"{db}-wal").stat().st_size > 0
    before = {name: Path(f"{db}{name}").read_bytes() for name in ("", "-wal")}
    async with Ledger(db, read_only=True) as ledger:
        assert ledger.copied_from == db
        summary = await ledger.summarize()
        assert summary["totals"]["calls"] == 3 and Decimal(summary["totals"]["cost_usd"]) == Decimal("1.5")
    assert {name: Path(f"{db}{name}").read_bytes() for name in ("", "-wal")} == before
    assert not list(temp.iterdir())
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    assert LAST not in {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    conn.close()


def test_the_cli_reads_an_older_ledger_it_cannot_write(older: Path, temp: Path, unwritable, capsys):
    from magsag_mcp.cli import main

    before = _files(older.parent)
    assert main(["flow", "summarize", "--db", str(older)]) == 0
    out, err = capsys.readouterr()
    assert list(json.loads(out)["model_stats"]) == ["gemini-2.0-flash"]
    assert err.count(COPIED) == 1 and f"the ledger at {older} cannot be written here" in err
    assert main(["data", "query", "--db", str(older), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert [r["run_id"] for r in json.loads(out)] == ["r1"] and COPIED in err
    assert main(["budget", "--db", str(older), "--catalog", str(CATALOG), "--agent", "ana", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["limits"] and COPIED in err
    assert not list(temp.iterdir())
    assert _files(older.parent) == before


def test_a_prune_of_an_older_ledger_it_cannot_write_is_refused_without_a_copy(
    older: Path, temp: Path, unwritable, capsys
):
    from magsag_mcp.cli import main

    before = _files(older.parent)
    assert main(["data", "prune", "--older-than", "90d", "--db", str(older)]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert "was made by an older magsag-mcp" in message and "cannot be written here" in message
    assert not list(temp.iterdir()) and _files(older.parent) == before


@pytest.mark.anyio
async def test_the_mcp_read_tools_read_an_older_ledger_it_cannot_write(older: Path, temp: Path, unwritable):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    before = _files(older.parent)
    async with Client(build_server(catalog=CATALOG, db=older, env={"MAGSAG_PROVIDER": "fake"})) as client:
        for tool, args in READ_TOOL_CALLS:
            result = await client.call_tool(tool, args)
            assert not result.is_error, (tool, result.content[0].text)
            notes = result.structured_content["notes"]
            assert len(notes) == 1 and COPIED in notes[0] and str(older) in notes[0], tool
        summary = await client.call_tool("summarize_usage", {})
        assert list(summary.structured_content["model_stats"]) == ["gemini-2.0-flash"]
    assert not list(temp.iterdir())
    assert _files(older.parent) == before


#: opens the ledger as an unprivileged user (its copy in the temporary folder given) and prints what it read
_OPEN_AS_A_USER = textwrap.dedent(
    """
    import json, os, sys, tempfile
    import anyio
    from magsag_mcp.errors import LedgerError
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.ledger.copies import copy_note
    db, tempfile.tempdir = sys.argv[1], sys.argv[2]
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    async def go():
        try:
            async with Ledger(db) as ledger:
                return {"calls": (await ledger.summarize())["totals"]["calls"], "note": copy_note(ledger)}
        except LedgerError as exc:
            return {"error": exc.message}

    print(json.dumps(anyio.run(go)))
    """
)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="drops to an unprivileged user: POSIX, as root")
@pytest.mark.parametrize("case", ["with its -shm", "without its -shm", "newer, without its -shm"])
def test_real_file_modes_an_older_ledger_with_its_wal_file_in_a_folder_this_user_cannot_write(case: str):
    """Met as the modes stop a user (not asked for, not the writability check made to say no): an older magsag-mcp,
    killed, left its calls in the -wal file of a ledger in a 0555 folder; another user's reading command reads them
    all from a migrated copy, and the folder is left as it was. Without the -shm file (a copy that left it out),
    SQLite cannot read the -wal file there: the two files are copied as they are, and read. A newer version's
    migration found in the -wal file is refused as ever (upgrade magsag-mcp)."""
    import shutil

    root = Path(tempfile.mkdtemp(prefix="magsag-ro-older-"))  # pytest's own folder is its owner's alone
    folder, temp = root / "shared", root / "temp"
    try:
        os.chmod(root, 0o755)
        folder.mkdir()
        temp.mkdir(mode=0o777)
        temp.chmod(0o777)
        db = folder / "ledger.db"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        newer = ["newer"] if case.startswith("newer") else []
        subprocess.run([sys.executable, "-c", _OLDER_KILLED_MID_WORK, str(db), *newer], env=env, check=False)
        assert Path(f"{db}-wal").stat().st_size > 0
        if "without" in case:
            Path(f"{db}-shm").unlink()
        for file in folder.iterdir():
            file.chmod(0o644)
        folder.chmod(0o555)
        before = _files(folder)
        done = subprocess.run(
            [sys.executable, "-c", _OPEN_AS_A_USER, str(db), str(temp)], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert _files(folder) == before and not list(temp.iterdir())
        if newer:
            assert "9999_future" in answer["error"] and "pip install -U magsag-mcp" in answer["error"], answer
            return
        assert answer.get("calls") == 3, answer
        assert f"the ledger at {db} cannot be written here" in answer["note"] and LAST in answer["note"]
        if "without" in case:
            assert f"so a copy of it and its -wal file, migrated (it lacks schema migration {LAST}" in answer["note"]
        else:
            assert COPIED in answer["note"]
    finally:
        if folder.exists():
            folder.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def _writing_during(monkeypatch: pytest.MonkeyPatch, db: Path, times: int) -> list[Path]:
    """The copy made while the ledger's owner writes it, the first ``times`` copies: an event logged by a process
    that opens, writes and closes the ledger (its checkpoint changes the file). Returns the copies made."""
    real, made = read_only_copy._copy, []

    def copy_while_written(*args, **kwargs):
        copy = real(*args, **kwargs)
        made.append(copy)
        if len(made) <= times:
            conn = sqlite3.connect(db)
            conn.execute(
                "INSERT INTO events (run_id, agent, at, event) VALUES (?, 'ana', ?, 'written meanwhile')",
                (f"w{len(made)}", time.time()),
            )
            conn.commit()
            conn.close()
        return copy

    monkeypatch.setattr(read_only_copy, "_copy", copy_while_written)
    return made


@pytest.mark.anyio
async def test_a_ledger_written_while_it_was_copied_is_copied_again(
    older: Path, temp: Path, monkeypatch: pytest.MonkeyPatch
):
    """With no -wal file the ledger is read as immutable, which SQLite trusts not to change: a writer meanwhile
    (its owner's one-shot `magsag invoke`) could leave a copy that mixes pages of two moments."""
    made = _writing_during(monkeypatch, older, times=1)
    async with Ledger(older, read_only=True) as ledger:
        hits = (await ledger.search_page("written meanwhile", 10))["hits"]
        assert [h["run_id"] for h in hits] == ["w1"]
    assert len(made) == 2 and not list(temp.iterdir())


@pytest.mark.anyio
async def test_a_ledger_written_during_every_copy_is_refused_saying_so(
    older: Path, temp: Path, monkeypatch: pytest.MonkeyPatch
):
    made = _writing_during(monkeypatch, older, times=read_only_copy.COPY_TRIES)
    with pytest.raises(LedgerError) as info:
        await Ledger(older, read_only=True).open()
    assert f"a process wrote it while it was copied, {read_only_copy.COPY_TRIES} times over" in info.value.message
    assert len(made) == read_only_copy.COPY_TRIES and not list(temp.iterdir())


@pytest.mark.anyio
async def test_a_temporary_folder_that_is_not_there_is_said_with_the_fix(
    older: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # (an OSError from making the copy's folder went out of Ledger.open as it was, not as a LedgerError)
    gone = tmp_path / "no-such-folder"
    monkeypatch.setattr(tempfile, "tempdir", str(gone))
    with pytest.raises(LedgerError) as info:
        await Ledger(older, read_only=True).open()
    assert f"could not be made in {gone}" in info.value.message and "set TMPDIR" in info.value.message


#: another program's SQLite database in WAL mode, its last rows in its -wal file (killed before a checkpoint)
_OTHER_PROGRAM_KILLED = textwrap.dedent(
    """
    import os, signal, sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('hello')")
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.anyio
@pytest.mark.parametrize("program", ["older magsag-mcp", "another program"])
async def test_a_wal_file_unreadable_where_it_is_is_read_from_a_copy_of_both(
    tmp_path: Path, temp: Path, monkeypatch: pytest.MonkeyPatch, program: str
):
    """As test_real_file_modes_...[without its -shm], for any user: the check that the -wal file cannot be read where
    it is (no -shm file, a folder this user cannot write) made to answer yes."""
    from magsag_mcp.ledger import read_only

    db = tmp_path / "artifact" / "ledger.db"
    db.parent.mkdir()
    script = _OLDER_KILLED_MID_WORK if program == "older magsag-mcp" else _OTHER_PROGRAM_KILLED
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script, str(db)], env=env, check=False)
    Path(f"{db}-shm").unlink()
    assert Path(f"{db}-wal").stat().st_size > 0
    monkeypatch.setattr(read_only, "log_unreadable_here", lambda path: True)
    before = _files(db.parent)
    if program == "another program":
        with pytest.raises(LedgerError) as info:
            await Ledger(db, read_only=True).open()
        assert "SQLite database with other tables (notes), not a magsag-mcp ledger" in info.value.message
    else:
        async with Ledger(db, read_only=True) as ledger:
            summary = await ledger.summarize()
            assert summary["totals"]["calls"] == 3 and Decimal(summary["totals"]["cost_usd"]) == Decimal("1.5")
            from magsag_mcp.ledger.copies import copy_note

            assert f"so a copy of it and its -wal file, migrated (it lacks schema migration {LAST}" in copy_note(ledger)
    assert _files(db.parent) == before and not list(temp.iterdir())


def test_an_older_ledger_on_a_full_disk_is_read_from_a_copy_where_there_is_room(
    older: Path, temp: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    """A reading command opens a ledger on a full disk for reading only: an older one was refused until space was
    freed there. With room in the temporary folder (another disk), it is read from a migrated copy."""
    from magsag_mcp.cli import main
    from magsag_mcp.ledger import room

    real = room.free_bytes
    monkeypatch.setattr(room, "free_bytes", lambda folder: 0 if Path(folder) == older.parent else real(folder))
    before = _files(older.parent)
    assert main(["flow", "summarize", "--db", str(older)]) == 0
    out, err = capsys.readouterr()
    assert list(json.loads(out)["model_stats"]) == ["gemini-2.0-flash"]
    assert f"the ledger at {older} is on a full disk" in err and COPIED in err and "free some space beside it" in err
    assert _files(older.parent) == before and not list(temp.iterdir())
