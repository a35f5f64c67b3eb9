"""A name filter with whitespace at its ends (``--agent " alice"``, a value pasted with its quotes' spaces): no call
is recorded so any more (:func:`~magsag_mcp.text.check_name` refuses such a name to a call), and one read as written
selected nothing, a summary of $0 that ``flow gate`` passed, a page of no runs, where a name of only whitespace was
refused. Refused now, with the name meant, unless the ledger holds the name as written (an older version recorded
such names): then it is what the filter selects. Checked in the read itself, for the Python API, the CLI and the MCP
tools alike."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import InputError
from ..redaction import redact
from ..text import shown_name

__all__ = ["refuse_spaced_names"]

#: where each name filter's value is recorded, as a filter selects it: a run filter the run or the runs delegated from
#: it; a skill, model or provider any attempt's (the daily rollup holds each attempt's, a few thousand rows)
_RECORDED = {
    "agent": "SELECT 1 FROM runs WHERE agent = ?1 LIMIT 1",
    "run_id": "SELECT 1 FROM runs WHERE run_id = ?1 UNION ALL SELECT 1 FROM runs WHERE parent_run_id = ?1 LIMIT 1",
    "skill": "SELECT 1 FROM usage_rollup WHERE skill = ?1 LIMIT 1",
    "model": "SELECT 1 FROM usage_rollup WHERE model = ?1 LIMIT 1",
    "provider": "SELECT 1 FROM usage_rollup WHERE provider = ?1 LIMIT 1",
}


def refuse_spaced_names(conn: sqlite3.Connection, filters: Any) -> None:
    """Refuse each name filter of ``filters`` (a :class:`~.filters.UsageFilters`) that begins or ends with whitespace
    and that the ledger holds no call of, naming it as its caller did (``--agent``, ``filters.agent``) and the name
    it means. Most filters have no such name, and read nothing here."""
    names = filters.caller_names()
    for field, sql in _RECORDED.items():
        value = getattr(filters, field)
        if value is None or value == value.strip() or conn.execute(sql, (value,)).fetchone() is not None:
            continue
        raise InputError(  # (a key pasted as a filter is not said back: see reports.filter_notes)
            redact(
                f"invalid filters: {names.get(field, field)}: {shown_name(value)} begins or ends with whitespace, "
                "and no call in this ledger was recorded under such a name (did you mean "
                f"{shown_name(value.strip())}?); write it without the spaces"
            )
        )
