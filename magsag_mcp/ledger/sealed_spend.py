"""A month limit's spend before its last hours, kept between reservations on one connection, and what says it stands.

A month limit's read sums up to 2,976 quarter-hour spend buckets (``day_spend``, or an agent's ``agent_spend``): some
580,000 instructions a read (callgrind), where a day's is 66,000 and a whole call some 1.4 million, on every
reservation a month limit applies to. The buckets of the month before its last hours change rarely: a call started then
and recorded late, an abandoned reservation's stand-in or its undoing, a prune, another process's record. Their sums are
kept here for each connection, with two marks that say they still stand:

- ``PRAGMA data_version``: it changes when another connection, in this process or another, has committed since; the
  sums are then read again;
- the connection's ``total_changes`` at which they were known to stand: every write this process makes on the
  connection moves it, and only the writes that know they left those buckets alone (a reservation's rows, a record
  whose spend falls in no kept bucket: :func:`untouched`) carry the mark along with it. Any other write (a sweep of
  abandoned reservations, an undone stand-in, a prune, a statement written by hand) leaves the mark behind, and the next
  read sums the buckets again;
- neither moves at a rollback, which can undo a write the sums were read after: the ledger's rollbacks say so
  (:func:`rolled_back`), and the sums read after the undone writes began are read again.

A reservation reads them in its own ``BEGIN IMMEDIATE`` transaction, which no other connection can commit into: the
sums are the ones a read of every bucket would give, in one process or several (see
:func:`~magsag_mcp.governance.scope_sums.scope_sums`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

#: the connections whose sums are kept, at most. Each entry holds its connection (which takes no weak reference): its
#: id cannot be another connection's while it is kept, and ``kept.conn is conn`` is checked all the same. The ledger
#: drops a connection's entry as it closes it (:func:`forget_connection`); one closed elsewhere is dropped by the next
#: connection's first read (:func:`_drop_closed`), and all at once past this many
_CONNECTIONS_KEPT = 64
#: the scopes (all calls', each agent's) kept for one connection, at most: agents are any number
_SCOPES_KEPT = 512


class _Kept:
    """One connection's kept sums: (scope, first bucket) -> (first bucket, cut, spend, bound), and the marks they stand
    at."""

    __slots__ = ("conn", "cut", "mark", "read_at", "sums", "version")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.version: Any = None
        self.mark = -1
        #: the earliest cut of the sums kept: a write to a bucket before it may change one of them
        self.cut: int | None = None
        self.sums: dict[Any, tuple[int, int, int, int]] = {}
        #: the connection's total_changes at the latest of the reads kept (see rolled_back)
        self.read_at = -1

    def forget(self) -> None:
        self.sums.clear()
        self.cut = None
        self.read_at = -1


_KEPT: dict[int, _Kept] = {}


def _kept(conn: sqlite3.Connection) -> _Kept | None:
    kept = _KEPT.get(id(conn))
    return kept if kept is not None and kept.conn is conn else None


def forget_connection(conn: sqlite3.Connection | None) -> None:
    """``conn`` is closing: its kept sums, and the connection they hold, are let go."""
    if conn is not None and _kept(conn) is not None:
        _KEPT.pop(id(conn), None)  # (another thread's _drop_closed may have dropped it meanwhile)


def _drop_closed() -> None:
    """The entries of connections closed without :func:`forget_connection` (a closed connection's
    ``total_changes`` raises)."""
    for key, kept in list(_KEPT.items()):
        try:
            kept.conn.total_changes  # noqa: B018 (read for whether it raises)
        except sqlite3.ProgrammingError:
            # (a pop: another thread, reading on a connection of its own, may drop it at once: a del raised KeyError)
            _KEPT.pop(key, None)


def sealed_sums(
    conn: sqlite3.Connection, scope: Any, first: int, cut: int, read: Callable[[], tuple[int, int]]
) -> tuple[int, int]:
    """(spend, bound) in pico-USD of the buckets [``first``, ``cut``) of ``scope`` (``read`` sums them from the
    ledger): kept from an earlier read on ``conn`` while nothing can have changed them (see the module), else read."""
    kept = _kept(conn)
    if kept is None:
        _drop_closed()
        if len(_KEPT) >= _CONNECTIONS_KEPT:
            _KEPT.clear()
        kept = _KEPT[id(conn)] = _Kept(conn)
    version = conn.execute("PRAGMA data_version").fetchone()[0]
    if version != kept.version or conn.total_changes != kept.mark:
        kept.forget()
        kept.version, kept.mark = version, conn.total_changes
    key = (scope, first)  # (two policies' months in two zones begin at two buckets: each kept)
    had = kept.sums.get(key)
    if had is not None and had[1] == cut:
        return had[2], had[3]
    spent, bound = read()
    if len(kept.sums) >= _SCOPES_KEPT:
        kept.forget()
    kept.sums[key] = (first, cut, spent, bound)
    kept.read_at = conn.total_changes
    kept.cut = min(s[1] for s in kept.sums.values())
    return spent, bound


def rolled_back(conn: sqlite3.Connection, begun: int) -> None:
    """``conn`` undid the writes made since its ``total_changes`` was ``begun`` (a ``ROLLBACK``, or one ``TO`` a
    savepoint). A sum read after one of them (a sweep's stand-in recorded or undone, a late record) counted what is
    gone, and neither mark moves at a rollback (``total_changes`` keeps the undone writes, ``data_version`` sees no
    other connection's commit): such sums are forgotten. Those read before the undone writes stand."""
    kept = _kept(conn)
    if kept is not None and kept.read_at > begun:
        kept.forget()
        kept.mark = -1


def untouched(
    conn: sqlite3.Connection, since: int, agent_rows: Iterable[Any] = (), day_rows: Iterable[Any] = ()
) -> None:
    """The writes made on ``conn`` since its ``total_changes`` was ``since`` touched no spend bucket but those of
    ``agent_rows`` (``agent_spend``'s rows: agent, bucket, ...) and ``day_rows`` (``day_spend``'s: bucket, ...): where
    none falls before a kept sum's cut, the kept sums stand after them too. Called by the writes that know it; a write
    not followed by this call makes the next read sum the buckets again."""
    kept = _kept(conn)
    if kept is None or kept.mark < since or not kept.sums:  # (a write before ``since`` went unsaid: read again)
        return
    cut = kept.cut
    if cut is not None:
        for row in agent_rows:
            if row[1] < cut:
                return
        for row in day_rows:
            if row[0] < cut:
                return
    kept.mark = conn.total_changes
