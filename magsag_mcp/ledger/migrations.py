"""Append-only, named schema migrations. Never edit a shipped migration: add the next one.

Money is stored as INTEGER pico-USD (1e-12 USD): exact for every price quoted to six decimals per
million tokens, and summed by SQLite without floating point. NULL cost means the price was unknown.
"""

from __future__ import annotations

import sqlite3
import time

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_runs_attempts_events",
        """
        CREATE TABLE runs (
            run_id          TEXT PRIMARY KEY,
            agent           TEXT,
            skill           TEXT,
            parent_run_id   TEXT,
            started_at      REAL NOT NULL,
            ended_at        REAL,
            status          TEXT NOT NULL,
            calls           INTEGER NOT NULL DEFAULT 0,
            input_tokens    INTEGER NOT NULL DEFAULT 0,
            output_tokens   INTEGER NOT NULL DEFAULT 0,
            cost_pusd       INTEGER NOT NULL DEFAULT 0,
            unpriced_calls  INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX runs_started ON runs(started_at);
        CREATE INDEX runs_agent ON runs(agent, started_at);
        CREATE INDEX runs_parent ON runs(parent_run_id);
        CREATE TABLE attempts (
            id                 INTEGER PRIMARY KEY,
            run_id             TEXT NOT NULL,
            started_at         REAL NOT NULL,
            provider           TEXT NOT NULL,
            model              TEXT NOT NULL,
            skill              TEXT,
            agent              TEXT,
            outcome            TEXT NOT NULL,
            error_class        TEXT,
            error_message      TEXT,
            input_tokens       INTEGER NOT NULL DEFAULT 0,
            output_tokens      INTEGER NOT NULL DEFAULT 0,
            cached_tokens      INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
            total_tokens       INTEGER NOT NULL DEFAULT 0,
            cost_pusd          INTEGER,
            price_source       TEXT,
            latency_ms         REAL NOT NULL DEFAULT 0,
            attempt_number     INTEGER NOT NULL DEFAULT 0,
            fallback_position  INTEGER NOT NULL DEFAULT 0,
            warnings           TEXT,
            reservation_id     INTEGER
        );
        CREATE INDEX attempts_run ON attempts(run_id);
        CREATE INDEX attempts_started ON attempts(started_at);
        CREATE INDEX attempts_model ON attempts(model, started_at);
        CREATE INDEX attempts_agent ON attempts(agent, started_at);
        CREATE INDEX attempts_run_cost ON attempts(run_id, cost_pusd);
        CREATE TABLE events (
            id      INTEGER PRIMARY KEY,
            run_id  TEXT,
            agent   TEXT,
            at      REAL NOT NULL,
            event   TEXT NOT NULL,
            data    TEXT
        );
        CREATE INDEX events_run ON events(run_id);
        CREATE INDEX events_at ON events(at);
        """,
    ),
    (
        "0002_budget_reservations",
        """
        CREATE TABLE budget_reservations (
            id          INTEGER PRIMARY KEY,
            run_id      TEXT,
            agent       TEXT,
            created_at  REAL NOT NULL,
            expires_at  REAL NOT NULL,
            amount_pusd INTEGER NOT NULL,
            state       TEXT NOT NULL CHECK (state IN ('held', 'settled'))
        );
        CREATE INDEX budget_res_run ON budget_reservations(run_id);
        CREATE INDEX budget_res_agent ON budget_reservations(agent, created_at);
        """,
    ),
]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction. Returns the names applied."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    applied: list[str] = []
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
            conn.execute("ROLLBACK")
            raise
    return applied
