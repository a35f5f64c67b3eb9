"""The inline connection's synchronous mode: FULL for a record (on disk when the call returns), NORMAL for a budget
reservation (no fsync of its own), whichever came before and however the last BEGIN ended."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger

pytestmark = pytest.mark.anyio


def _mode(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA synchronous").fetchone()[0]


async def test_each_inline_write_commits_in_its_own_mode_even_after_a_begin_that_met_a_lock(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
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
