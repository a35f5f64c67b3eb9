"""An export of runs (``magsag data query --format csv|json``, or :class:`RunsExport` from Python): every
matching run, read a page at a time, by cursor, each run of many attempts read a piece at a time.

Runs are read by cursor (:mod:`.paging`), so runs recorded meanwhile neither repeat a row nor push one out;
they are left for the next export. A relative window ("7d") is read once, as a summary reads it: its start by
the first page, whose cursor carries it to the others (see ``paging.pinned_since``), its end here. Each page
worked it out again from the time then, and an export that took minutes left out the runs of its window's first
minutes (the last pages' oldest runs).

A run may hold hundreds of thousands of attempts (every call of a long-lived ``Magsag`` is one run): read
whole, with its page, 300,000 attempts took 820 MB, a few million more than some machines have. Such a run is
listed without its attempts (:func:`~.run_pages.query_runs_page`'s ``inline``), and so is a run past the attempts a
page lists in all (``inline_page``: a page of many runs of some attempts each), and the export reads them after
(:class:`LongRun`): their ids in order, at most the last one recorded when its page was read
(``attempt_bound``), then the attempts by id, some hundreds at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .filters import UsageFilters, is_duration, parse_since

if TYPE_CHECKING:
    from .reports import LedgerReports
    from .store import Ledger

#: a run of more attempts than this is listed without them, and they are read after it (:class:`LongRun`)
INLINE_ATTEMPTS = 100
#: the attempts a page lists with its runs, in all: the runs past them are listed without theirs, read after them as a
#: long run's are. A page of 1,000 runs of 100 attempts each, none long, was read with its 100,000 attempts at once
#: (exporting 1,000 such runs took 189 MB resident; read as pieces, 67 MB, 57 MB of it the command's own with one run to
#: export, and in less time: 2.6 s where it took 4.0, csv). Runs of five attempts or fewer, most runs, are all listed
#: with their page: a run read after it costs two reads more
INLINE_PAGE_ATTEMPTS = 5_000
#: attempts of such a run read at a time, each by its id: under SQLite's 999 variables a statement before 3.32
#: (the system SQLite of some distributions' Pythons)
ATTEMPTS_READ = 900


@dataclass(frozen=True)
class LongRun:
    """A run of more attempts than an export reads with its page: ``run`` as a page lists it, its ``attempts``
    empty (still its last field), and :meth:`attempt_pieces`, the attempts themselves."""

    run: dict[str, Any]
    ledger: Any
    #: the last attempt recorded when the run's page was read: those recorded since are left out
    bound: int
    piece: int = ATTEMPTS_READ

    async def attempt_pieces(self) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The run's attempts in the order a run lists them, ``piece`` at a time; none if the run's attempts were
        pruned since its page was read (a piece whose attempts were all pruned meanwhile is an empty list)."""
        ids = await self.ledger.run_attempt_ids(self.run["run_id"], self.bound)
        for i in range(0, len(ids), self.piece):
            yield await self.ledger.attempts_by_id(ids[i : i + self.piece])


class RunsExport:
    """The runs ``filters`` match, newest first, ``filters.limit`` a page: every page (``all_pages``), or the
    first alone (where :attr:`has_more` and :attr:`next_cursor` say how to read on). Its window is resolved
    here, once: a time that cannot be read is refused before any ledger is opened.

    ``async for page in RunsExport(filters).pages(ledger)``: each page a list of runs, each a run with its
    attempts (as ``Ledger.query_runs_page`` lists it) or a :class:`LongRun`, whose attempts are read as they are
    iterated. Every page read yields its list, empty or not, before the next is read."""

    def __init__(self, filters: UsageFilters, *, all_pages: bool = True) -> None:
        self.filters = filters
        self.all_pages = all_pages
        since = parse_since(filters.since)  # refused here, before any ledger is opened
        # a duration as written: the first page reads it, and its next_cursor carries the start it read to every page
        # after it, and to the --cursor a page cut at --limit names (which `data query --since 24h --cursor C` reads
        # the same way); resolved here, a cursor of the export's could not say it was "24h"
        self._window = {
            "since": filters.since if is_duration(filters.since) else since,
            "until": parse_since(filters.until, field="until"),
        }
        #: whether more runs match than were read (only without ``all_pages``), and where they begin
        self.has_more = False
        self.next_cursor: str | None = None

    async def pages(
        self,
        ledger: Ledger,
        *,
        inline: int = INLINE_ATTEMPTS,
        piece: int = ATTEMPTS_READ,
        inline_page: int = INLINE_PAGE_ATTEMPTS,
    ) -> AsyncGenerator[list[dict[str, Any] | LongRun], None]:
        """Each page of runs, read as the one before it has been used (see the class); ``inline``, ``piece`` and
        ``inline_page``: :data:`INLINE_ATTEMPTS`, :data:`ATTEMPTS_READ` and :data:`INLINE_PAGE_ATTEMPTS`."""
        page_filters = self.filters.model_copy(update=self._window)
        while True:
            page = await ledger.query_runs_page(page_filters, inline=inline, inline_page=inline_page)
            self.has_more, self.next_cursor = page["has_more"], page["next_cursor"]
            yield [
                run if run.pop("attempts_omitted", None) is None else LongRun(run, ledger, page["attempt_bound"], piece)
                for run in page["runs"]
            ]
            if not page["has_more"] or not self.all_pages:
                return
            page_filters = page_filters.model_copy(update={"cursor": page["next_cursor"], "offset": 0})


def attempts_beyond(conn: sqlite3.Connection, run_id: str, most: int) -> int | None:
    """How many attempts the run has, if more than ``most``; else None (its index, up to ``most`` + 1 rows)."""
    some = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM attempts WHERE run_id = ? LIMIT ?)", (run_id, most + 1))
    if some.fetchone()[0] <= most:
        return None
    return int(conn.execute("SELECT COUNT(*) FROM attempts WHERE run_id = ?", (run_id,)).fetchone()[0])


async def run_attempt_ids(ledger: LedgerReports, run_id: str, bound: int) -> list[int]:
    """The ids of the run's attempts, in the order a run lists them, up to ``bound`` (recorded since: left out)."""
    sql = "SELECT id FROM attempts WHERE run_id = ? AND id <= ? ORDER BY started_at, id"
    return await ledger.read(lambda conn: [row[0] for row in conn.execute(sql, (run_id, bound))])


async def attempts_by_id(ledger: LedgerReports, ids: list[int]) -> list[dict[str, Any]]:
    """The attempts of these ids (fewer than 999, SQLite's most variables a statement before 3.32), in their
    order, as a run lists them; an attempt pruned meanwhile is left out."""
    from .run_pages import _ATTEMPT_COLS, _attempt_dict

    sql = f"SELECT id, {_ATTEMPT_COLS} FROM attempts WHERE id IN ({', '.join('?' * len(ids))})"

    def q(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        found = {row[0]: row[1:] for row in conn.execute(sql, ids)}
        return [_attempt_dict(found[i]) for i in ids if i in found]

    return await ledger.read(q)
