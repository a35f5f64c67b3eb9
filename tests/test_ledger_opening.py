"""Opening a ledger: what is at the path (a directory, another file, another program's database, a full disk, a
locked or read-only ledger, nothing at all) said plainly with the fix, and an open that fails or is cancelled leaves
no connection or thread behind."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import anyio
import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio


async def test_a_ledger_that_cannot_be_opened_on_a_full_disk_says_the_disk_is_full(tmp_path: Path, monkeypatch):
    """On a full disk, opening a ledger that no process has open fails as SQLite makes its -shm file
    (SQLITE_IOERR_SHMSIZE, "disk I/O error"): every command, a reading one too, said "disk I/O error; check
    the path and its permissions", which sends the user looking at modes. Now the cause is the full disk, with
    the fix; an I/O error with space left is still reported as it was."""
    from magsag_mcp.ledger import opening, room

    db = tmp_path / "full.db"
    async with Ledger(db):
        pass

    def shm_cannot_grow(conn):
        exc = sqlite3.OperationalError("disk I/O error")
        exc.sqlite_errorcode = 4874  # SQLITE_IOERR_SHMSIZE: what a full disk gives at the first read
        raise exc

    monkeypatch.setattr(opening, "migrate", shm_cannot_grow)
    monkeypatch.setattr(room, "free_bytes", lambda folder: 0)
    with pytest.raises(LedgerError, match=r"is on a full disk \(disk I/O error\): free some space there") as caught:
        await Ledger(db, create=False).open()
    assert "permissions" not in caught.value.message
    monkeypatch.setattr(room, "free_bytes", lambda folder: 10 * 2**30)
    with pytest.raises(LedgerError, match="disk I/O error; check the path and its permissions"):
        await Ledger(db, create=False).open()


async def test_unreadable_database_is_a_clear_error(tmp_path: Path):
    (tmp_path / "adir.db").mkdir()
    with pytest.raises(LedgerError, match="cannot open the ledger at .*adir.db.*db= \\(or MAGSAG_DB\\)"):
        await Ledger(tmp_path / "adir.db").open()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        await Ledger(garbage).open()


async def test_an_in_memory_ledger_is_refused_naming_a_temporary_file_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # sqlite3's ":memory:", as a test or a notebook gives it. Before: a file named ":memory:" was made in
    # the working directory, and the error said "the ledger needs WAL journaling but SQLite chose
    # 'memory'; use a local file system", a fix for another problem.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LedgerError) as info:
        await Ledger(":memory:").open()
    assert "':memory:' names a SQLite database in memory, and the ledger is a file" in info.value.message
    assert "tempfile.mkdtemp()" in info.value.message
    assert list(tmp_path.iterdir()) == []


async def test_a_ledger_that_cannot_be_used_says_what_is_wrong_and_what_to_do(tmp_path: Path):
    """A directory, a file that is no database and a damaged ledger were all "check the path and its
    permissions" (or, found damaged while reading, SQLite's words alone): the user was sent to check
    permissions that were fine. Each now says what is wrong with the file and what to do about it."""
    folder = tmp_path / "ledgers"
    folder.mkdir()
    with pytest.raises(LedgerError) as info:
        await Ledger(folder).open()
    message = info.value.message
    assert f"the ledger at {folder}: it is a directory" in message and str(folder / "ledger.db") in message
    assert "permissions" not in message

    other = tmp_path / "notes.txt"
    other.write_text("meeting notes, not a ledger\n" * 200)
    with pytest.raises(LedgerError) as info:
        await Ledger(other).open()
    message = info.value.message
    assert f"the ledger at {other}: it is not a SQLite database" in message and "db= (or MAGSAG_DB)" in message
    assert "permissions" not in message
    assert other.read_text() == "meeting notes, not a ledger\n" * 200  # left as it was

    damaged = tmp_path / "damaged.db"
    async with Ledger(damaged) as ledger:
        now = time.time()
        for i in range(300):
            run = RunRecord(f"r{i}", "a", "s", now, ended_at=now, status="ok")
            error = f"upstream {i}: " + "x" * 300
            attempt = AttemptRecord(run.run_id, now, "openai", "gpt-4o", "s", "a", "error", 0, 1, error_message=error)
            await ledger.record_call(run, [attempt])
    with open(damaged, "r+b") as fh:  # a copy cut short, a disk that lost pages
        fh.truncate(damaged.stat().st_size // 2)
    with pytest.raises(LedgerError) as info:
        async with Ledger(damaged) as ledger:
            await ledger.query_runs(UsageFilters(limit=10_000))
    message = info.value.message
    assert f"the ledger at {damaged}" in message and "is damaged" in message
    assert f"sqlite3 {damaged} .recover" in message and "backup" in message
    assert "permissions" not in message


async def test_a_sqlite_database_of_another_program_is_refused_and_left_as_it_was(tmp_path: Path):
    """--db naming another program's SQLite file (a mistyped path, a MAGSAG_DB reused): the ledger switched
    it to WAL, added its own tables beside the program's and reported nothing spent. A database with
    tables but no schema_migrations is not a ledger; it is refused untouched. A blank one is a new ledger."""
    app = tmp_path / "app.db"
    conn = sqlite3.connect(app, isolation_level=None)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.close()
    before = app.read_bytes()
    with pytest.raises(LedgerError) as info:
        await Ledger(app).open()
    message = info.value.message
    assert f"cannot open the ledger at {app}: it is a SQLite database with other tables (notes)" in message
    assert "not a magsag-mcp ledger" in message and "db= (or MAGSAG_DB)" in message
    assert app.read_bytes() == before
    conn = sqlite3.connect(app)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["notes"]
    conn.close()
    blank = tmp_path / "blank.db"
    sqlite3.connect(blank).close()  # an empty file: a new ledger
    async with Ledger(blank) as ledger:
        await ledger.log_event(None, None, "e", {})


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="file modes do not stop root")
async def test_a_read_only_ledger_says_it_is_read_only(tmp_path: Path):
    # opened for reading (tests/test_ledger_read_only.py); its first write says what is wrong
    folder = tmp_path / "shared"
    folder.mkdir()
    db = folder / "ledger.db"
    async with Ledger(db):
        pass
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        async with Ledger(db) as ledger:
            assert ledger.read_only
            with pytest.raises(LedgerError) as info:
                await ledger.log_event(None, None, "e", {})
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    message = info.value.message
    assert f"the ledger at {db} is read-only, or its folder is" in message
    assert "copy the ledger to a folder you can write" in message


async def test_a_failed_open_leaves_no_sqlite_thread_to_report_to_a_closed_loop(tmp_path: Path):
    # aiosqlite's failed connect asks its thread to stop and drops the answer; a thread still running
    # when the CLI's loop closed printed "RuntimeError: Event loop is closed" after the clean error.
    import threading

    (tmp_path / "adir.db").mkdir()
    for _ in range(5):
        with pytest.raises(LedgerError):
            await Ledger(tmp_path / "adir.db").open()
        workers = [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
        assert workers == []


async def test_locked_database_is_a_clear_error(tmp_path: Path):
    db = tmp_path / "locked.db"
    async with Ledger(db):
        pass
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        ledger = Ledger(db, busy_timeout_ms=200)
        with pytest.raises(LedgerError, match="stayed locked for 0.2s by another process"):
            await ledger.open()
            await ledger.log_event(None, None, "e", {})
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_ledger_another_process_is_writing_opens_and_reads_without_waiting_for_its_lock(tmp_path: Path):
    """Opening a ledger whose migrations were all applied took the write lock once per migration (BEGIN
    IMMEDIATE, to see whether it was applied): `magsag data query`, `flow summarize` and `budget`, which only
    read, waited for any process writing meanwhile (a prune's VACUUM, a long batch) and failed after the busy
    timeout with "stayed locked", where WAL lets a reader read beside a writer. Now an up-to-date ledger
    opens with reads alone; a write still waits for the lock, and says so."""
    db = tmp_path / "busy.db"
    async with Ledger(db) as ledger:
        await ledger.log_event("r", "ag", "before", {})
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction, held
    try:
        async with Ledger(db, busy_timeout_ms=100, create=False) as ledger:
            assert [h["event"] for h in await ledger.search("before", 5)] == ["before"]
            assert (await ledger.summarize())["totals"]["calls"] == 0
            with pytest.raises(LedgerError, match="stayed locked for 0.1s by another process"):
                await ledger.log_event(None, None, "e", {})
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_opening_a_new_ledger_while_another_process_writes_waits_for_it(tmp_path: Path):
    # Switching a new ledger to WAL needs an exclusive lock, and SQLite answers "database is locked" at once
    # (no busy wait: it could deadlock) while another connection holds the write lock. Two processes
    # opening a new ledger together failed so, now and then ("stayed locked for 30s", after no wait at all).
    import threading

    db = tmp_path / "new.db"
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    # a ledger's first table (a file with other tables and none of a ledger's is refused untouched)
    other.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    other.execute("CREATE TABLE scratch (x)")  # a file still in rollback mode, as a new ledger starts
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO scratch VALUES (1)")
    threading.Timer(0.3, lambda: (other.execute("COMMIT"), other.close())).start()
    async with Ledger(db, busy_timeout_ms=10_000) as ledger:
        await ledger.log_event(None, None, "opened", {})
        mode = await ledger.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0], snapshot=False)
    assert mode == "wal"


async def test_opening_the_ledger_cancelled_midway_leaves_no_connection_open(tmp_path: Path, monkeypatch):
    """A first MCP tool call opens the service; the client may cancel it while a large ledger migrates.
    The writer connection was open by then, and stayed open (with its thread) when the open was cancelled."""
    import threading

    from magsag_mcp.ledger import opening

    real = opening.migrate
    migrating, migrated = threading.Event(), threading.Event()

    def slow_migrate(conn):
        # a large ledger's migration, on the writer's thread: it goes on once the open is cancelled (the test waits
        # for it to begin, and does not guess how long the open takes to reach it)
        migrating.set()
        migrated.wait(60)  # (a hang guard)
        return real(conn)

    monkeypatch.setattr(opening, "migrate", slow_migrate)
    before = set(threading.enumerate())
    ledger = Ledger(tmp_path / "l.db")
    with anyio.CancelScope() as scope:

        async def cancel_once_migrating() -> None:
            await anyio.to_thread.run_sync(migrating.wait, 60)  # (a hang guard)
            scope.cancel()
            migrated.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_once_migrating)
            await ledger.open()
    assert scope.cancelled_caught and migrating.is_set()
    left = [t for t in set(threading.enumerate()) - before if "connection_worker" in t.name]
    for thread in left:
        await anyio.to_thread.run_sync(thread.join, 60)  # (a hang guard: the pass waits only for the thread to end)
    assert [t for t in left if t.is_alive()] == []


async def test_a_ledger_opened_not_to_be_created_makes_nothing(tmp_path: Path):
    # create=False (what reading commands open): no file is made where there is none, and a file that holds
    # no ledger is refused as it is; before, both became ledgers.
    missing = tmp_path / "typo.db"
    async with Ledger(missing, create=False) as ledger:
        assert ledger.absent
        with pytest.raises(LedgerError, match="no ledger at .*typo.db: there is no file there"):
            await ledger.run_spend("r")
        with pytest.raises(LedgerError, match="no ledger at"):
            await ledger.record_call(RunRecord("r", "a", "s", time.time()), [])
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(LedgerError, match="it is an empty file"):
        await Ledger(empty, create=False).open()
    assert empty.read_bytes() == b""
    async with Ledger(tmp_path / "real.db") as ledger:
        await ledger.record_call(RunRecord("r", "a", "s", time.time()), [])
    async with Ledger(tmp_path / "real.db", create=False) as ledger:
        assert not ledger.absent and (await ledger.query_runs(UsageFilters()))[0]["run_id"] == "r"


@pytest.mark.parametrize("below", [("l.db",), ("sub", "l.db")])
async def test_a_ledger_whose_folder_is_a_file_says_which_file_is_in_the_way(tmp_path: Path, below: tuple[str, ...]):
    # MAGSAG_DB=notes.txt/l.db: making its folder failed with the OS's words alone ("[Errno 17] File exists",
    # "[Errno 20] Not a directory"), then "check the path and its permissions", which were fine
    in_the_way = tmp_path / "notes.txt"
    in_the_way.write_text("not a folder\n")
    db = in_the_way.joinpath(*below)
    with pytest.raises(LedgerError) as info:
        await Ledger(db).open()
    message = info.value.message
    assert message == (
        f"cannot open the ledger at {db}: it cannot be made: {in_the_way} is a file, not a folder; give db= (or "
        f"MAGSAG_DB) a file's path in a folder (such as {tmp_path / 'ledger.db'}), or move {in_the_way} aside"
    )
    assert in_the_way.read_text() == "not a folder\n"  # left as it was
