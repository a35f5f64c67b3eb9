"""``magsag data query --format csv|json``: without ``--limit`` every matching run, the guide's compliance export
(``data query --agent X --format csv > audit.csv``), with it one page of them; written as it is read.

Runs are read a page at a time (:data:`~.data.EXPORT_PAGE`), by cursor, so runs recorded meanwhile neither
repeat a row nor push one out; they are left for the next export. A run of many attempts (every call of a
long-lived ``Magsag`` is one run: hundreds of thousands) is listed without them and its attempts are read after
it, :data:`ATTEMPTS_READ` at a time (:mod:`magsag_mcp.ledger.exports`): read whole with its page, a run of
300,000 attempts took 820 MB, and one of a few million more memory than the machine had.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

from . import data, write_pieces
from .csv_rows import csv_pieces

#: a run of more attempts than this is listed without them, and they are read after it
INLINE_ATTEMPTS = 100
#: attempts of such a run read (and written) at a time, each by its id: under SQLite's 999 variables a
#: statement before 3.32 (the system SQLite of some distributions' Pythons)
ATTEMPTS_READ = 900


def export_all(args: argparse.Namespace, *, limit: int | None = None) -> int:
    """Every matching run; with ``limit``, that many at most (one page: a note on stderr says how to page on if
    more match), each run of many attempts read and written a piece at a time all the same (a page of a long-lived
    ``Magsag``'s run, read whole, took the memory the export was made not to)."""
    from ..ledger import parse_since

    page_size = data.EXPORT_PAGE if limit is None else limit
    filters = data.filters_from(args, limit=page_size, offset=args.offset, cursor=args.cursor)
    as_json = args.format == "json"
    # "7d" resolved once, as a summary resolves it: each page worked it out again from the time then, and an
    # export that took minutes left out the runs of its window's first minutes (the last pages' oldest runs)
    window = {"since": parse_since(filters.since), "until": parse_since(filters.until, field="until")}

    async def read(ledger: Any) -> int:
        page_filters, count, header = filters.model_copy(update=window), 0, not as_json

        def whole(runs: list[dict[str, Any]]) -> None:  # runs listed with their attempts, written together
            nonlocal count
            if runs:
                write_pieces(_json_items(runs, first=count == 0) if as_json else csv_pieces(runs, header=False))
                count += len(runs)

        while True:
            page = await ledger.query_runs_page(page_filters, inline=INLINE_ATTEMPTS)
            if header:  # once the first page is read: a read that fails (a bad --cursor) writes nothing
                write_pieces(csv_pieces([]))
                header = False
            listed: list[dict[str, Any]] = []
            for run in page["runs"]:
                if run.pop("attempts_omitted", None) is None:
                    listed.append(run)
                    continue
                whole(listed)
                listed = []
                await _in_pieces(ledger, run, page["attempt_bound"], as_json, first=count == 0)
                count += 1
            whole(listed)
            if not page["has_more"] or limit is not None:
                break
            page_filters = page_filters.model_copy(update={"cursor": page["next_cursor"], "offset": 0})
        if as_json:
            write_pieces(["[]\n" if count == 0 else "\n]\n"])
        await data.print_notes(ledger, filters, {"agent": count > 0, "run": count > 0, "names": count > 0})
        if page["has_more"]:  # only with a limit: without one, every page was read
            data.note_more_runs(count, filters, page["next_cursor"])
        return count

    data.with_ledger(args, read)
    return 0


def _json_items(runs: list[dict[str, Any]], *, first: bool) -> Iterator[str]:
    """Runs as items of one JSON list, indented as :func:`~.print_json` indents a list (the list's ``[``
    before the first item, its ``]`` after the last)."""
    for i, run in enumerate(runs):
        yield "[\n  " if first and i == 0 else ",\n  "
        for piece in _ENCODER.iterencode(run):
            yield piece.replace("\n", "\n  ")


_ENCODER = json.JSONEncoder(indent=2, ensure_ascii=False, default=str)


async def _in_pieces(ledger: Any, run: dict[str, Any], bound: int, as_json: bool, *, first: bool) -> None:
    """A run listed without its attempts, written with them, read :data:`ATTEMPTS_READ` at a time."""
    ids = await ledger.run_attempt_ids(run["run_id"], bound)
    pieces = (ledger.attempts_by_id(ids[i : i + ATTEMPTS_READ]) for i in range(0, len(ids), ATTEMPTS_READ))
    if as_json:
        await _json_run(run, pieces, first=first)
        return
    if not ids:  # pruned since its page was read: its one row, as for a run without attempts
        write_pieces(csv_pieces([run], header=False))
    for piece in pieces:
        write_pieces(csv_pieces([{**run, "attempts": await piece}], header=False))


async def _json_run(run: dict[str, Any], pieces: Iterator[Any], *, first: bool) -> None:
    """A run whose attempts come in ``pieces`` (awaitables of lists), written as :func:`_json_items` writes it
    whole: its fields but the last, ``attempts``, then each attempt as it is read."""
    # "attempts" is a run's last field: the others, their closing "\n}" cut, then it
    head = _ENCODER.encode({k: v for k, v in run.items() if k != "attempts"})[:-2]
    out = ["[\n  " if first else ",\n  ", head.replace("\n", "\n  "), ',\n    "attempts": [']
    written = 0
    for piece in pieces:
        for attempt in await piece:
            out.append(",\n      " if written else "\n      ")
            out.append(_ENCODER.encode(attempt).replace("\n", "\n      "))
            written += 1
        write_pieces(out)
        out = []
    out.append("\n    ]\n  }" if written else "]\n  }")
    write_pieces(out)
