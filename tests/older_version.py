"""The version before this one, for the tests of a ledger it left (an upgrade must not break the server started
before it; a ledger it recorded that cannot be migrated where it is is read from a migrated copy). It knows every
migration but the last, 0019_reservation_call_id, which gave budget_reservations its ``call_id`` column, and records
calls as this version does (its reservations, which named no call, are not made here). The versions before 0018
wrote usage_rollup rows without ``calls``: :func:`write_rollups_without_calls` writes them so."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

LAST = "0019_reservation_call_id"


def act_as_the_version_before() -> None:
    """Make this process the version before this one (call it before any ledger is opened)."""
    import magsag_mcp.ledger.connection as connection
    import magsag_mcp.ledger.migrations as migrations

    assert migrations.MIGRATIONS[-1][0] == LAST, "the version before this one is the one without the last migration"
    migrations.MIGRATIONS = migrations.MIGRATIONS[:-1]
    connection.MIGRATIONS = migrations.MIGRATIONS


def write_rollups_without_calls(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Write usage_rollup rows as the versions before 0018 did, without ``calls`` (``setattr``: a monkeypatch's, to
    be undone)."""
    import magsag_mcp.ledger.writes as writes

    rollup_rows = writes._rollup_rows
    upsert = writes._UPSERT_ROLLUP.replace(", calls) VALUES (?,", ") VALUES (")
    setattr(writes, "_UPSERT_ROLLUP", upsert.replace(" calls = calls + excluded.calls,", ""))
    setattr(writes, "_rollup_rows", lambda *args: [row[:-1] for row in rollup_rows(*args)])


def leave_as_the_version_before(conn: sqlite3.Connection) -> None:
    """Take a ledger this version made back to the schema the version before left (its rows as they are)."""
    conn.execute("DELETE FROM schema_migrations WHERE name = ?", (LAST,))
    conn.execute("ALTER TABLE budget_reservations DROP COLUMN call_id")


def leave_as_before_0018(conn: sqlite3.Connection) -> None:
    """Take a ledger the version before left (:func:`leave_as_the_version_before`) back to the schema before 0018,
    which gave usage_rollup its ``calls``."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0018_usage_rollup_counts_calls'")
    conn.execute("ALTER TABLE usage_rollup DROP COLUMN calls")
