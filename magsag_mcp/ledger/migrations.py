"""Applying the schema migrations (:mod:`.migration_steps`: append-only and named, never edit a shipped one, add
the next), and telling a ledger from another program's database, a blank file or a newer version's ledger."""

from __future__ import annotations

import sqlite3
import time

# re-exported: the list this module's functions read (a test or an older version's emulation replaces it here)
from .migration_steps import MIGRATIONS

__all__ = [
    "MIGRATIONS",
    "ROLLUP_BUCKET_SECONDS",
    "SPEND_BUCKET_SECONDS",
    "BlankFile",
    "NewerSchema",
    "NotALedger",
    "OlderSchema",
    "check_is_ledger",
    "migrate",
    "pending_migrations",
    "unknown_migrations",
]

#: agent_spend buckets are 15 minutes: every real time zone's midnight falls on one of their edges,
#: so an agent's spend "today" in any zone is an exact sum of buckets (O(96) rows, not O(calls)).
SPEND_BUCKET_SECONDS = 900
#: usage_rollup buckets are UTC days: few enough rows that a summary over months reads thousands of
#: rows, not millions; the partial days at a query's edges are read from attempts by time index.
ROLLUP_BUCKET_SECONDS = 86400


class NewerSchema(Exception):
    """The ledger was migrated by a newer version: it names migrations this version does not know."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(", ".join(unknown))
        self.unknown = unknown


class OlderSchema(Exception):
    """The ledger was made by an older version and cannot be migrated where it is (a file this user cannot
    write): it lacks migrations this version's reads need, named in ``pending``."""

    def __init__(self, pending: list[str]) -> None:
        super().__init__(", ".join(pending))
        self.pending = pending


class NotALedger(Exception):
    """The database holds tables and no ``schema_migrations``: another program's, not a ledger."""

    def __init__(self, tables: list[str]) -> None:
        super().__init__(", ".join(tables))
        self.tables = tables


class BlankFile(Exception):
    """The file holds no table at all (an empty file, a new SQLite database): no ledger yet."""


def check_is_ledger(conn: sqlite3.Connection, *, blank_ok: bool = True) -> None:
    """Raise :class:`NotALedger` unless the database is blank or a ledger (:class:`BlankFile` for a blank
    one unless ``blank_ok``: a reader that must not make a ledger of it). A ledger gets its
    ``schema_migrations`` table before any other, in its own commit, so a ledger being created by
    another process meanwhile is never taken for another program's database. Only reads: to be
    called before anything (the switch to WAL) changes the file."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name"
        )
    ]
    if tables and "schema_migrations" not in tables:
        raise NotALedger(tables)
    if not tables and not blank_ok:
        raise BlankFile()


def unknown_migrations(conn: sqlite3.Connection) -> list[str]:
    """The migrations applied to the ledger that this version does not know: a newer version's."""
    known = {name for name, _ in MIGRATIONS}
    return sorted(r[0] for r in conn.execute("SELECT name FROM schema_migrations") if r[0] not in known)


def pending_migrations(conn: sqlite3.Connection) -> list[str]:
    """The migrations this version knows that the ledger lacks (all of them for a blank file): only reads,
    for a ledger that cannot be written (its reads need the tables and columns they add)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    if found.fetchone() is None:
        return [name for name, _ in MIGRATIONS]
    applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    return [name for name, _ in MIGRATIONS if name not in applied]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction. Returns the names applied.

    Raises :class:`NewerSchema` when the ledger holds migrations this version does not know: a
    migration may add a table or column every write must keep up to date (0010 added ``day_spend``,
    which the day limit reads), so a version that predates it would record spend the newer one's
    limits never see. The migrations are append-only, so an unknown name means a newer version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    unknown = unknown_migrations(conn)
    if unknown:
        raise NewerSchema(unknown)
    applied: list[str] = []
    # Read first: an up-to-date ledger (every open but the first after an upgrade) needs no write lock, so
    # opening it does not wait for a process writing meanwhile (a prune's VACUUM, a long batch), as a
    # reading command would have, failing after the busy timeout. Pending ones are checked again under it.
    if not pending_migrations(conn):
        return applied
    for name, sql in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")  # another process may be migrating the same file
        try:
            if conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("COMMIT")
                continue
            for statement in (s.strip() for s in sql.split(";")):
                if statement:
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
            conn.execute("COMMIT")
            applied.append(name)
        except BaseException:
            # SQLite rolls a transaction back by itself on some errors (a full disk, an I/O error): a
            # ROLLBACK then fails with "no transaction is active" and would replace the real cause.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return applied
