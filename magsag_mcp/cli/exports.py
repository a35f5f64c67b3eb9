"""``magsag data query --format csv|json``: without ``--limit`` every matching run, the guide's compliance export
(``data query --agent X --format csv > audit.csv``), with it one page of them; written as it is read.

What is read, and how (a page at a time, by cursor, over a window resolved once; a run of many attempts a piece
at a time) is :class:`~magsag_mcp.ledger.exports.RunsExport`'s; this writes it as CSV or JSON, to stdout or the file
``--output`` names, whole or not at all (:func:`~.output.export_to`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any, TextIO

from ..ledger import exports as ledger_exports
from . import data, write_pieces
from .csv_rows import csv_pieces
from .ledger_reading import with_ledger

#: a run of more attempts than this is listed without them, and they are read after it
INLINE_ATTEMPTS = ledger_exports.INLINE_ATTEMPTS
#: attempts of such a run read (and written) at a time
ATTEMPTS_READ = ledger_exports.ATTEMPTS_READ


def export_all(args: argparse.Namespace, *, limit: int | None = None) -> int:
    """Every matching run; with ``limit``, that many at most (one page: a note on stderr says how to page on if
    more match), each run of many attempts read and written a piece at a time all the same (a page of a long-lived
    ``Magsag``'s run, read whole, took the memory the export was made not to)."""
    page_size = data.EXPORT_PAGE if limit is None else limit
    filters = data.filters_from(args, limit=page_size, offset=args.offset, cursor=args.cursor, zone=args.timezone)
    as_json = args.format == "json"
    export = ledger_exports.RunsExport(filters, all_pages=limit is None)  # its window: refused before a ledger opens
    from .output import export_to

    data.settle_output(args)  # stdout for "-" and /dev/stdout, as flow summarize's

    async def write(ledger: Any, out: TextIO | None) -> int:
        count, header = 0, not as_json

        def whole(runs: list[dict[str, Any]]) -> None:  # runs listed with their attempts, written together
            nonlocal count
            if runs:
                pieces = _json_items(runs, first=count == 0) if as_json else csv_pieces(runs, header=False)
                write_pieces(pieces, stream=out)
                count += len(runs)

        async def written(page: list[Any]) -> None:
            nonlocal count, header
            if header:  # once the first page is read: a read that fails (a bad --cursor) writes nothing
                write_pieces(csv_pieces([]), stream=out)
                header = False
            listed: list[dict[str, Any]] = []
            for run in page:
                if not isinstance(run, ledger_exports.LongRun):
                    listed.append(run)
                    continue
                whole(listed)
                listed = []
                await _in_pieces(run, as_json, out, first=count == 0)
                count += 1
            whole(listed)

        # closed here, not when collected: a write that fails (the reader left) leaves it mid-page
        async with contextlib.aclosing(export.pages(ledger, inline=INLINE_ATTEMPTS, piece=ATTEMPTS_READ)) as pages:
            async for page in pages:
                await written(page)
        if as_json:
            write_pieces(["[]\n" if count == 0 else "\n]\n"], stream=out)
        await data.print_notes(ledger, filters, {"agent": count > 0, "run": count > 0, "names": count > 0})
        # only with a limit (without one, every page was read); a page with more names where they begin
        if export.has_more and export.next_cursor is not None:
            data.note_more_runs(count, filters, export.next_cursor)
        return count

    async def read(ledger: Any) -> int:
        # the file --output names (written beside it, renamed over it once whole), or stdout (None): made only once
        # the ledger is open and a SIGTERM watched for (with_ledger); made before, a background job stopped while the
        # ledger opened (SIGTERM's default: killed on the spot) left its temporary file beside the one it replaces
        with export_to(args.output, like=ledger.path) as out:
            return await write(ledger, out)

    from .output import output_errors

    with output_errors(args.output):
        with_ledger(args, read)
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _json_items(runs: list[dict[str, Any]], *, first: bool) -> Iterator[str]:
    """Runs as items of one JSON list, indented as :func:`~.print_json` indents a list (the list's ``[``
    before the first item, its ``]`` after the last)."""
    for i, run in enumerate(runs):
        yield "[\n  " if first and i == 0 else ",\n  "
        for piece in _ENCODER.iterencode(run):
            yield piece.replace("\n", "\n  ")


_ENCODER = json.JSONEncoder(indent=2, ensure_ascii=False, default=str)


async def _in_pieces(long: ledger_exports.LongRun, as_json: bool, out: Any, *, first: bool) -> None:
    """A run listed without its attempts, written with them as they are read."""
    async with contextlib.aclosing(long.attempt_pieces()) as pieces:
        if as_json:
            await _json_run(long.run, pieces, out, first=first)
            return
        written = False
        async for attempts in pieces:
            if not attempts:  # pruned since its ids were read: a row of the run with no attempt is written once, below
                continue
            write_pieces(csv_pieces([{**long.run, "attempts": attempts}], header=False), stream=out)
            written = True
    if not written:  # pruned since its page was read: its one row, as for a run without attempts
        write_pieces(csv_pieces([long.run], header=False), stream=out)


async def _json_run(run: dict[str, Any], pieces: AsyncIterator[list[dict[str, Any]]], out: Any, *, first: bool) -> None:
    """A run whose attempts come in ``pieces``, written as :func:`_json_items` writes it whole: its fields but
    the last, ``attempts``, then each attempt as it is read."""
    # "attempts" is a run's last field: the others, their closing "\n}" cut, then it
    head = _ENCODER.encode({k: v for k, v in run.items() if k != "attempts"})[:-2]
    text = ["[\n  " if first else ",\n  ", head.replace("\n", "\n  "), ',\n    "attempts": [']
    written = 0
    async for piece in pieces:
        for attempt in piece:
            text.append(",\n      " if written else "\n      ")
            text.append(_ENCODER.encode(attempt).replace("\n", "\n      "))
            written += 1
        write_pieces(text, stream=out)
        text = []
    text.append("\n    ]\n  }" if written else "]\n  }")
    write_pieces(text, stream=out)
