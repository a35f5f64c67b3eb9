"""What a group commit costs its writer's thread per operation: at 200 callers every call's reservation and record go
through :func:`apply_batch`, in batches of some forty calls, on the ledger's writer thread, which holds the GIL the
event loop's thread waits for. The operations of a merged kind (a record, a reservation) share their statements; the
batch's own Python calls must not grow with how many there are (the sixty-fifth round: ``typing.cast`` was called once
per operation, two Python calls a call)."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from magsag_mcp.ledger.group_commit import apply_batch


class Row:
    """An operation of a merged kind: its rows written by one statement for all of the kind's in a batch."""

    merge_order = 0

    def __init__(self, n: int) -> None:
        self.n = n

    @staticmethod
    def apply_all(conn: sqlite3.Connection, ops: list[Row]) -> list[tuple[bool, Any]]:
        conn.executemany("INSERT INTO t (n) VALUES (?)", [(op.n,) for op in ops])
        return [(True, op.n) for op in ops]


def batch_calls(ops: int) -> tuple[list[tuple[bool, Any]], list[int], list[str]]:
    """A batch of ``ops`` operations of one merged kind: its outcomes, the rows written, and the Python calls the batch
    made other than this module's own (the kind's ``apply_all`` and its comprehensions)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (n INTEGER)")
    calls: list[str] = []

    def watch(frame, event, _arg):
        if event == "call" and frame.f_code.co_filename != __file__:
            calls.append(f"{frame.f_code.co_qualname} in {frame.f_code.co_filename}")

    fns: list[Any] = [Row(n) for n in range(ops)]
    sys.setprofile(watch)
    try:
        results = apply_batch(conn, fns)
    finally:
        sys.setprofile(None)
    rows = [n for (n,) in conn.execute("SELECT n FROM t ORDER BY n")]
    conn.close()
    return results, rows, calls


def test_a_batchs_python_calls_do_not_grow_with_its_operations():
    two, rows_two, calls_two = batch_calls(2)
    forty, rows_forty, calls_forty = batch_calls(40)
    assert two == [(True, 0), (True, 1)] and rows_two == [0, 1]
    assert forty == [(True, n) for n in range(40)] and rows_forty == list(range(40))
    assert sorted(calls_forty) == sorted(calls_two), sorted(set(calls_forty) - set(calls_two))
