"""The CSV of ``magsag data query --format csv``: one row per attempt, a header a reader can rely on (columns added
only at the end), every cell a spreadsheet would run as a formula made inert, written a run at a time."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from ..ledger.writes import tool_uses_text

CSV_FIELDS = (
    "run_id",
    "agent",
    "skill",
    "run_status",
    "time",
    "provider",
    "model",
    "outcome",
    "error_class",
    "error_message",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cache_write_1h_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "service_tier",
    "cost_usd",
    "cost_bound_usd",
    "price_source",
    "latency_ms",
    "attempt_number",
    "fallback_position",
    # added after the first columns, so that a consumer reading columns by position reads what it did
    "parent_run_id",
    "warnings",
    "served_model",
    "data_classes",
    "endpoint",
    # what else a cost follows from (empty: not said): of output_tokens, images; where inference ran; the per-use
    # server tool calls by kind, as JSON text ({"web_search": 3})
    "output_image_tokens",
    "inference_geo",
    "server_tool_uses",
    # of cache_write_tokens, those whose time to live the answer did not say (empty: recorded before it was counted)
    "cache_write_ttl_unsaid_tokens",
    # how many more cache writes the answer's split by time to live counted than its total (empty: recorded before it)
    "cache_write_split_past_tokens",
    # a paused turn's story: the id the attempt's answer left its turn paused under; the paused_id its call continued
    "paused_id",
    "continues_paused_id",
)


#: what a spreadsheet reads as the start of a formula (OWASP "CSV injection"); the NUL as OWASP ASVS 5.0 (1.2.10)
#: lists it, which a vendor's error text or service tier may begin with
_FORMULA_START = ("=", "+", "-", "@", "\0", "\t", "\r")


def _inert(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, such as an error body saying
    ``=HYPERLINK("http://...")``, gets a leading ``'``, which spreadsheets show as text."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def runs_to_csv(runs: list[dict[str, Any]]) -> str:
    """:func:`csv_pieces` as one string."""
    return "".join(csv_pieces(runs))


def csv_pieces(runs: list[dict[str, Any]], *, header: bool = True) -> Iterator[str]:
    """One row per attempt (runs without attempts get one row), with a header (unless ``header`` is False: a
    page after the first of one export). Text that would start a
    formula in a spreadsheet is prefixed with ``'`` (see :func:`_inert`): in every column, for text comes
    from callers and vendors in more of them than one would list (a server's ``service_tier``); the numbers
    written as text (costs) are never negative. ``warnings`` is the attempt's list as JSON text, one cell
    (``[]`` for none), so that every row's reads back with ``json.loads``."""
    buf = io.StringIO()
    # The writer quotes a cell that holds a character of its line terminator: with "\n" alone, a bare "\r" (in
    # a run id a client chose, a vendor's error text) went unquoted, and readers end a record there: the row
    # split in two, the rest of the cell read as a row of its own. Written with "\r\n", each record's end is
    # then made "\n" again (:func:`_record`).
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\r\n")
    if header:
        _record(buf, writer.writeheader)
    for run in runs:
        yield buf.getvalue()  # the header, then each run's rows: written as they are made
        buf.seek(0)
        buf.truncate()
        base = {
            "run_id": run["run_id"],
            "agent": run["agent"],
            "skill": run["skill"],
            "run_status": run["status"],
            "parent_run_id": run.get("parent_run_id"),
        }
        # a run that failed before any attempt still says when and why, in the attempt columns of its one row
        error = run.get("error") or {}
        lone = {"time": run.get("started_at")}
        if error:
            lone.update(error_class=error.get("type"), error_message=error.get("message"))
        for attempt in run["attempts"] or [lone]:
            # a session's run spans skills: each attempt names its own (the run's is null then)
            own = {k: attempt.get(k) or base[k] for k in ("agent", "skill")}
            row = {**base, **attempt, **own, "warnings": json.dumps(attempt.get("warnings") or [], ensure_ascii=False)}
            # as warnings: the attempt's list as JSON text, one cell ([] for none)
            row["data_classes"] = json.dumps(attempt.get("data_classes") or [], ensure_ascii=False)
            if (uses := attempt.get("server_tool_uses")) is not None:  # (None stays an empty cell: not said)
                row["server_tool_uses"] = tool_uses_text(uses)
            _record(buf, writer.writerow, {k: _inert(row.get(k)) for k in CSV_FIELDS})
    yield buf.getvalue()


def _record(buf: io.StringIO, write: Callable[..., Any], *row: Any) -> None:
    """One CSV record written into ``buf``, ended by "\n" in place of the "\r\n" the writer ends it with."""
    write(*row)
    buf.seek(buf.tell() - 2)
    buf.write("\n")
    buf.truncate()
