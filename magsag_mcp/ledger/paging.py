"""Paging runs by a cursor: the place after the last run of a page, not a count of runs to skip.

Runs are read newest first (``started_at DESC, run_id``). An offset counts from the newest run, so
every run recorded between two pages pushed the older ones down, and the next page began with runs
already seen. A cursor names the last run shown (its start and id); the next page is the runs after
it in that order, whatever has been recorded since. (A call that was in flight when a page was read
and started before that page's last run is recorded below the cursor, and no later page shows it:
read again from the newest run to see it.)
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from ..errors import InputError
from ..text import check_text, surrogate_at

_BAD = (
    "cursor {cursor!r} is not one query_runs gave: pass the previous page's next_cursor unchanged, "
    "or leave cursor out to start from the newest run"
)


def encode_cursor(started_at: float, run_id: str) -> str:
    """An opaque token for the place just after this run (URL-safe, unpadded)."""
    raw = json.dumps([started_at, run_id], separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    check_text(cursor, "cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started_at, run_id = json.loads(raw)
        # a number too large for a float (an int of 400 digits) overflows here, not in the query
        started_at = float(started_at) if type(started_at) in (int, float) else None
    except (binascii.Error, ValueError, TypeError, OverflowError, RecursionError):  # nested past what json takes
        raise InputError(_BAD.format(cursor=cursor[:80])) from None
    # a run id that is no text SQLite can bind ("\ud800": an unpaired surrogate) names no run either
    if (
        started_at is None
        or not math.isfinite(started_at)
        or not isinstance(run_id, str)
        or surrogate_at(run_id, "cursor") is not None
    ):
        raise InputError(_BAD.format(cursor=cursor[:80]))
    return started_at, run_id


def after_cursor(where: str, args: list[Any], cursor: str | None, table: str = "r") -> tuple[str, list[Any]]:
    """``where`` narrowed to the runs after ``cursor`` in newest-first order (no cursor: unchanged)."""
    if not cursor:
        return where, args
    started_at, run_id = decode_cursor(cursor)
    clause = f"({table}.started_at < ? OR ({table}.started_at = ? AND {table}.run_id > ?))"
    return (f"{where} AND {clause}" if where else f" WHERE {clause}"), [*args, started_at, started_at, run_id]
