"""A durable commit (a call's record) is on disk when it returns, a budget reservation's is not synced: the ledger's
connections stay in ``synchronous=NORMAL`` and the ledger syncs the -wal file itself after a durable commit, inline
and through the group commit (see log_sync.py). Where it has no descriptor of the -wal file, SQLite's own FULL does
it: the inline connection then commits a record in FULL and a reservation in NORMAL, whichever came before and however
the last BEGIN ended."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger, log_sync
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio


def _mode(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA synchronous").fetchone()[0]


def _record(run_id: str) -> tuple[RunRecord, list[AttemptRecord]]:
    now = time.time()
    return RunRecord(run_id, "a", "s", now), [AttemptRecord(run_id, now, "fake", "m", "s", "a", "ok", 0, 1)]


class _Syncs:
    """Each sync the ledger makes: the file it syncs (device, inode), and what another connection reads of the
    ledger's attempts at that moment (the commit is made before its sync)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.seen: list[tuple[tuple[int, int], list[str]]] = []

    def __call__(self, fd: int) -> None:
        st = os.fstat(fd)
        other = sqlite3.connect(self.db)
        try:
            runs = [r[0] for r in other.execute("SELECT run_id FROM attempts ORDER BY id")]
        finally:
            other.close()
        self.seen.append(((st.st_dev, st.st_ino), runs))


def _wal(db: Path) -> tuple[int, int]:
    st = os.stat(f"{db}-wal")
    return st.st_dev, st.st_ino


async def test_a_durable_inline_commit_syncs_the_wal_after_it_and_the_connection_never_switches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    db = tmp_path / "l.db"
    syncs = _Syncs(db)
    monkeypatch.setattr(log_sync, "_sync", syncs)
    async with Ledger(db) as ledger:
        assert ledger._log_fd is not None
        modes: list[int] = []
        for durable in (True, False, False, True, True, False):
            assert ledger.try_now(lambda conn: modes.append(_mode(conn)), durable=durable) == (True, None)
        assert modes == [1] * 6  # NORMAL: no PRAGMA synchronous switched before any commit
        assert len(syncs.seen) == 3  # one per durable commit, none for the others
        assert {file for file, _ in syncs.seen} == {_wal(db)}

        # a call's record, alone: committed inline, then synced; on disk when record_call returns
        syncs.seen.clear()
        await ledger.record_call(*_record("lone"), alone=True)
        assert syncs.seen == [(_wal(db), ["lone"])]  # the sync found the record committed
        assert ledger._inline is not None and _mode(ledger._inline) == 1

        # a reservation alone syncs nothing
        ledger.try_now(lambda conn: None, durable=False)
        assert len(syncs.seen) == 1

        # Another process holds the write lock: a durable write's BEGIN is refused, nothing is synced, and the
        # connection is left out of any transaction
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        assert ledger.try_now(lambda conn: None, durable=True) == (False, None)
        other.execute("ROLLBACK")
        other.close()
        assert not ledger._inline.in_transaction and len(syncs.seen) == 1
        fd = ledger._log_fd
    assert ledger._log_fd is None
    with pytest.raises(OSError):
        os.fstat(fd)  # closed with the ledger


async def test_the_group_commit_syncs_a_durable_batch_once_after_its_commit_and_a_reservations_batch_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    db = tmp_path / "l.db"
    syncs = _Syncs(db)
    monkeypatch.setattr(log_sync, "_sync", syncs)
    async with Ledger(db) as ledger:
        # queued together: one batch, one transaction, one sync after it, before any of its callers resumes
        resumed: list[int] = []

        async def write(i: int) -> None:
            await ledger.record_call(*_record(f"r{i}"))
            resumed.append(len(syncs.seen))

        await asyncio.gather(*(write(i) for i in range(5)))
        assert [runs for _, runs in syncs.seen] == [[f"r{i}" for i in range(5)]]
        assert resumed == [1] * 5 and {file for file, _ in syncs.seen} == {_wal(db)}

        # a batch of writes that need no sync (budget reservations'): none
        await asyncio.gather(*(ledger.submit(lambda conn: None, durable=False) for _ in range(3)))
        assert len(syncs.seen) == 1
        assert ledger._writer is not None and _mode(ledger._writer._conn) == 1


async def test_a_sync_that_fails_is_said_and_the_record_is_kept_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    # The commit is made before the sync: the record is in the ledger, and written again it would count twice.
    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(log_sync, "_sync", failing)
    caplog.set_level(logging.ERROR, logger="magsag_mcp.ledger")
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await ledger.record_call(*_record("inline"), alone=True)
        await asyncio.gather(*(ledger.record_call(*_record(f"q{i}")) for i in range(2)))
        runs = await ledger.read(lambda c: [r[0] for r in c.execute("SELECT run_id FROM attempts ORDER BY id")])
    assert runs == ["inline", "q0", "q1"]
    said = [r.getMessage() for r in caplog.records if r.name == "magsag_mcp.ledger"]
    assert len(said) == 2  # the inline commit's and the batch's
    assert all(f"{db}-wal could not be synced to disk" in s and "Input/output error" in s for s in said)
    assert all("may not survive a power cut" in s for s in said)


async def test_normal_sync_mode_opens_no_descriptor_and_syncs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    syncs = _Syncs(tmp_path / "l.db")
    monkeypatch.setattr(log_sync, "_sync", syncs)
    async with Ledger(tmp_path / "l.db", sync="normal") as ledger:
        assert ledger._log_fd is None
        await ledger.record_call(*_record("lone"), alone=True)
        await asyncio.gather(*(ledger.record_call(*_record(f"q{i}")) for i in range(2)))
        assert ledger._inline is not None and _mode(ledger._inline) == 1
    assert syncs.seen == []


async def test_without_the_wal_descriptor_each_inline_write_commits_in_sqlites_own_mode_even_after_a_refused_begin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # no -wal file where the ledger looks (the descriptor could not be opened): SQLite's own FULL syncs a record
    monkeypatch.setattr("magsag_mcp.ledger.opening.open_log", lambda path, identity: None)
    async with Ledger(tmp_path / "l.db") as ledger:
        assert ledger._log_fd is None
        seen: list[int] = []
        for durable in (True, False, False, True, True, False):  # each switch, and each kept
            assert ledger.try_now(lambda conn: seen.append(_mode(conn)), durable=durable) == (True, None)
        assert seen == [2, 1, 1, 2, 2, 1]  # FULL, NORMAL

        # Another process holds the write lock: a durable write's mode is set, and its BEGIN refused.
        other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        assert ledger.try_now(lambda conn: seen.append(-1), durable=True) == (False, None)
        other.execute("ROLLBACK")
        assert ledger._inline is not None and not ledger._inline.in_transaction
        seen.clear()
        for durable in (False, True, False):
            assert ledger.try_now(lambda conn: seen.append(_mode(conn)), durable=durable) == (True, None)
        assert seen == [1, 2, 1]
        other.close()


async def test_a_wal_replaced_before_the_descriptor_is_opened_is_not_the_one_synced(tmp_path: Path):
    db = tmp_path / "l.db"
    db.write_bytes(b"")
    wal = tmp_path / "l.db-wal"
    wal.write_bytes(b"")
    st = os.stat(wal)
    assert log_sync.open_log(str(wal), (st.st_dev, st.st_ino + 1)) is None
    fd = log_sync.open_log(str(wal), (st.st_dev, st.st_ino))
    assert fd is not None
    log_sync.close_log(fd)
    assert log_sync.open_log(str(tmp_path / "none-wal"), (st.st_dev, st.st_ino)) is None
