"""The file under an open ledger: deleted or replaced while a process has the ledger open, every write is refused
and says so; a relative path, a change of directory, a symlink and ".." do not make the check watch another file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.refused_writes import every_write_refused

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_ledger_deleted_or_replaced_while_open_records_nothing_more_and_says_so(tmp_path: Path, how: str):
    """A ledger deleted while a long-lived server had it open (an `rm` to start afresh), or replaced (a
    restore): SQLite went on writing to the file it had open, which no other process could see and which
    was gone when the server exited. Every call "recorded", none kept; budgets counted against a ledger
    no one else read. Writes now refuse, saying why and what to do; before a call, so nothing is spent."""
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await ledger.log_event(None, None, "before", {})
        for path in tmp_path.glob("l.db*"):  # rm l.db*
            path.unlink()
        if how == "replaced":
            async with Ledger(db) as other:  # another process starts a new ledger at the path
                await other.log_event(None, None, "fresh", {})
        messages = await every_write_refused(ledger)
        for message in messages:
            assert f"the ledger at {db} was deleted or replaced while this process had it open" in message
            assert "restart this process" in message
        with pytest.raises(LedgerError, match="deleted or replaced"):  # a budget reservation: before any spend
            ledger.try_now(lambda conn: None)


async def test_a_ledger_opened_by_a_relative_path_is_written_after_the_process_changes_directory(
    tmp_path: Path, monkeypatch
):
    # SQLite keeps the file it opened; the check that it is still the one at the path must look at the
    # same file, wherever the process's working directory has gone since (an agent's code may chdir)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    async with Ledger("l.db") as ledger:
        monkeypatch.chdir(tmp_path / "elsewhere")
        await ledger.log_event(None, None, "after chdir", {})
        now = time.time()
        run = RunRecord("r", "a", "s", now, ended_at=now, status="ok")
        await ledger.record_call(run, [AttemptRecord("r", now, "openai", "m", "s", "a", "ok", 0, 1)], alone=True)
    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
    assert not (tmp_path / "elsewhere" / "l.db").exists()


async def test_a_ledger_reached_through_a_symlink_and_dotdot_is_checked_where_sqlite_writes(
    tmp_path: Path, monkeypatch
):
    # "link/../l.db" with link -> real/sub is real/l.db to the OS and to SQLite, but tmp/l.db when ".." is
    # taken off the text (os.path.abspath): the per-write check watched another file. Replacing that one
    # refused every write to the ledger in use, and replacing the ledger in use went unnoticed.
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    bystander = tmp_path / "l.db"
    async with Ledger(bystander) as other:
        await other.log_event(None, None, "another ledger", {})
    monkeypatch.chdir(tmp_path)
    async with Ledger("link/../l.db") as ledger:
        await ledger.log_event(None, None, "first", {})
        for path in tmp_path.glob("l.db*"):  # the other ledger is removed: nothing to do with this one
            path.unlink()
        await ledger.log_event(None, None, "second", {})
        for path in (tmp_path / "real").glob("l.db*"):  # this one is: refused, as any ledger replaced
            path.unlink()
        with pytest.raises(LedgerError, match="deleted or replaced"):
            await ledger.log_event(None, None, "third", {})
