"""The ledger's group commit: the operations queued by many calls applied in one transaction (:func:`apply_batch`),
a SAVEPOINT per operation so that one failing undoes only its own writes, and those of a kind that can share
statements (calls' records, budget reservations) merged, kind by kind in their order; and the ``synchronous`` mode
each writer connection is in (:func:`set_sync`).

:class:`~magsag_mcp.ledger.store.Ledger` queues the operations and runs batches on its writer connection; a call's
rows are :class:`~.writes.RecordWrite`'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Protocol

from .sealed_spend import rolled_back

#: the synchronous mode each writer connection is in (sqlite3.Connection takes no attributes)
SYNC_MODE_BY_CONNECTION: dict[int, str] = {}


def set_sync(conn: sqlite3.Connection, mode: str, cursor: sqlite3.Cursor | None = None) -> None:
    """``cursor``: one of ``conn``'s to run the statement on (conn.execute makes a cursor of its own)."""
    if SYNC_MODE_BY_CONNECTION.get(id(conn)) != mode:  # PRAGMA synchronous only changes outside a transaction
        (cursor or conn).execute(f"PRAGMA synchronous = {mode}")
        SYNC_MODE_BY_CONNECTION[id(conn)] = mode


def _apply_one(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any]) -> tuple[bool, Any]:
    """``fn`` inside a savepoint: its failure undoes only its own writes.

    Unless SQLite has rolled the whole transaction back itself, as it does when a page cannot be written
    (a full disk, an I/O error: the cache spilling into the log, the file growing): its savepoints are gone
    with it, and ``ROLLBACK TO`` failed with "no such savepoint", which became the batch's error in place of
    the full disk (``magsag data prune`` on a full disk said "ledger error at ...: no such savepoint: op").
    The error itself then fails the batch, said with its cause (:func:`~.problems.use_error`)."""
    conn.execute("SAVEPOINT op")
    begun = conn.total_changes
    try:
        value = fn(conn)
    except Exception as exc:
        rolled_back(conn, begun)  # (a month's sums read after its undone writes: see sealed_spend)
        if not conn.in_transaction:  # SQLite rolled the whole batch back: its cause fails it
            raise
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return False, exc
    conn.execute("RELEASE op")
    return True, value


class _MergedKind(Protocol):
    """A kind whose operations in a batch share statements (RecordWrite, a Reservation): its order and its runner."""

    merge_order: int

    def apply_all(self, conn: sqlite3.Connection, ops: list[Any], /) -> list[tuple[bool, Any]]: ...


def apply_batch(
    conn: sqlite3.Connection,
    fns: list[Callable[[sqlite3.Connection], Any]],
    mode: str = "FULL",
    check: Callable[[sqlite3.Connection], None] | None = None,
) -> list[tuple[bool, Any]]:
    """``check``: run first in the transaction; what it raises fails the whole batch."""
    set_sync(conn, mode)
    conn.execute("BEGIN IMMEDIATE")
    begun = conn.total_changes
    try:
        if check is not None:
            check(conn)
        done: dict[int, tuple[bool, Any]] = {}
        # The other operations first, in their order: a reservation's release, an orphan's drop, a waiting
        # attempt's hold shrunk to its cost (a 429's $0), an event. Run after the reservations, a reservation
        # queued behind a release or a shrink read the hold whole, and a call near a limit was refused for
        # spend that never happened. Then the operations of a kind that can share statements (calls' records,
        # budget reservations: any with apply_all and merge_order), kind by kind in merge order, however many
        # of each there are: records settle reservations, so the reservations after them read the spend as it
        # now stands. Any such order is a valid one: the calls were concurrent. Should a merged group fail (a
        # constraint, a value SQLite cannot bind), its operations are tried one at a time in its place, so
        # that only the bad one fails.
        # each merged kind (an operation's class, a _MergedKind) -> its operations' places. Keyed by type(fn) as it is,
        # not through typing.cast: that is a Python call per operation on the writer's thread, two a call at 200
        # callers (its reservation and its record), the GIL held from the loop's thread meanwhile
        kinds: dict[Any, list[int]] = {}
        for i, fn in enumerate(fns):
            if hasattr(fn, "merge_order"):
                kinds.setdefault(type(fn), []).append(i)
            else:
                done[i] = _apply_one(conn, fn)
        merged: _MergedKind
        for merged, members in sorted(kinds.items(), key=lambda item: item[0].merge_order):
            if len(members) > 1:
                conn.execute("SAVEPOINT merged")
                merged_at = conn.total_changes
                try:
                    outcomes = merged.apply_all(conn, [fns[i] for i in members])
                except Exception:
                    rolled_back(conn, merged_at)
                    if not conn.in_transaction:  # see _apply_one
                        raise
                    conn.execute("ROLLBACK TO merged")
                    outcomes = None
                conn.execute("RELEASE merged")
                if outcomes is not None:
                    done.update(zip(members, outcomes, strict=True))
                    continue
            for i in members:
                done[i] = _apply_one(conn, fns[i])
        results = [done[i] for i in range(len(fns))]
        conn.execute("COMMIT")
    except BaseException:
        rolled_back(conn, begun)  # (by SQLite itself too, a full disk's)
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results
