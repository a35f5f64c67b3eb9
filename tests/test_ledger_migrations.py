"""The ledger's schema and its migrations: what a new ledger gets, each migration applied once (however many
processes open it at once), a ledger of every earlier schema upgraded whole, and a version older than the ledger
refused."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.errors import LedgerError
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.ledger.rollup_reads import ROLLUP_PART_COLUMNS
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.ledger_schema_helpers import ledger_of_schema, open_at_once

pytestmark = pytest.mark.anyio


async def test_blank_database_migrates_to_the_expected_schema(tmp_path: Path):
    async with Ledger(tmp_path / "new.db"):
        pass
    conn = sqlite3.connect(tmp_path / "new.db")
    applied = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert applied == [name for name, _ in MIGRATIONS]
    assert applied[-19:] == [
        "0019_reservation_call_id",
        "0020_reservation_unbounded",
        "0021_usage_rollup_cache_writes",
        "0022_unsent_attempts_cost_zero",
        "0023_answer_cache",
        "0024_reservation_owner",
        "0025_azure_served",
        "0026_attempt_served_model",
        "0027_attempt_data_classes",
        "0028_azure_forgotten",
        "0029_attempt_endpoint",
        "0030_attempt_billing_parts",
        "0031_usage_rollup_billing_parts",
        "0032_attempts_local_off_machine",
        "0033_cache_write_ttl_unsaid",
        "0034_attempts_cache_write_ttl_uncounted",
        "0035_events_prune_marks",
        "0036_cache_write_split_past",
        "0037_paused_call_links",
    ]
    # the marks `magsag data prune` leaves, by time (0035): the latest read in one step, not among every run-less event
    marks = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events_prune_marks'").fetchone()[0]
    assert marks == "CREATE INDEX events_prune_marks ON events (at) WHERE event = 'ledger_pruned'"
    # when `magsag azure forget` last dropped a deployment's row, of an endpoint or ('') of every one (0028)
    forgotten = {r[1]: (r[2], r[3], r[5]) for r in conn.execute("PRAGMA table_info(azure_forgotten)")}
    assert forgotten == {
        "endpoint": ("TEXT", 1, 1),
        "deployment": ("TEXT", 1, 2),
        "forgotten_at": ("REAL", 1, 0),
    }
    # the model each answer said it came from, beside the deployment called (0026): NULL for older rows
    attempt_cols = {r[1]: (r[2], r[3], r[4]) for r in conn.execute("PRAGMA table_info(attempts)")}
    assert attempt_cols["served_model"] == ("TEXT", 0, None)
    # the endpoint an Azure attempt went to (0029: its host, as azure_served keys it): NULL for others and older rows
    assert attempt_cols["endpoint"] == ("TEXT", 0, None)
    # the parts of a bill its tokens alone do not give (0030): NULL where the answer did not say, and for older rows
    assert attempt_cols["output_image_tokens"] == ("INTEGER", 0, None)
    assert attempt_cols["inference_geo"] == ("TEXT", 0, None)
    assert attempt_cols["server_tool_uses"] == ("TEXT", 0, None)
    # the data classes each call was held to (0027), a JSON list: NULL for a call of none and for older rows; indexed
    # for the rows that have them alone
    assert attempt_cols["data_classes"] == ("TEXT", 0, None)
    index = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'attempts_data_classes'").fetchone()[0]
    assert index.endswith("ON attempts (started_at) WHERE data_classes IS NOT NULL")
    # what each Azure deployment (its endpoint's host and name: never a key) was last seen serving, and when (0025)
    served = {r[1]: (r[2], r[3], r[5]) for r in conn.execute("PRAGMA table_info(azure_served)")}
    assert served == {
        "endpoint": ("TEXT", 1, 1),
        "deployment": ("TEXT", 1, 2),
        "model": ("TEXT", 1, 0),
        "seen_at": ("REAL", 1, 0),
    }
    # the process holding a reservation (0024): where its id means one process, the id, and when it started
    owner = {r[1]: (r[2], r[3], r[4]) for r in conn.execute("PRAGMA table_info(budget_reservations)")}
    assert owner["owner_host"] == ("TEXT", 0, None)
    assert owner["owner_pid"] == owner["owner_started"] == ("INTEGER", 0, None)
    # the answer cache's rows and the record of the calls it answered (0023), each found by time
    cached = {r[1]: (r[2], r[3], r[5]) for r in conn.execute("PRAGMA table_info(answer_cache)")}
    assert cached["key"] == ("TEXT", 0, 1) and cached["expires_at"] == ("REAL", 1, 0)
    hits = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(cache_hits)")}
    assert hits["saved_pusd"] == "INTEGER" and hits["cached_from"] == "TEXT"
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"answer_cache_expires", "answer_cache_created", "cache_hits_started"} <= indexes
    # the rollup sums the cache writes as it sums the reads (0021), its work table gone
    rollup = {r[1]: (r[2], r[3], r[4]) for r in conn.execute("PRAGMA table_info(usage_rollup)")}
    assert rollup["cache_write_tokens"] == rollup["cache_write_1h_tokens"] == ("INTEGER", 1, "0")
    assert "cached_tokens" in rollup and "calls" in rollup
    assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%0021%'").fetchall() == []
    # and the parts of a bill (0031): of the attempts that said each, its sum and how many said it, a column a tool
    # kind; its work table gone
    for column in ROLLUP_PART_COLUMNS:
        assert rollup[column] == ("INTEGER", 1, "0"), column
    assert ROLLUP_PART_COLUMNS[5:] == (
        "web_search_uses", "file_search_uses", "code_interpreter_uses", "image_generation_uses", "grounded_prompt_uses",
        "cache_write_ttl_unsaid_tokens",  # (0033: the cache writes whose time to live the answer did not say)
        "cache_write_split_past_tokens",  # (0036: the cache writes a split by time to live counted past its total)
    )  # fmt: skip
    assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%0031%'").fetchall() == []
    # 0022's work table and its index are gone too
    assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%0022%'").fetchall() == []
    run_cols = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(runs)")}
    assert run_cols["error_class"] == "TEXT" and run_cols["error_message"] == "TEXT"
    held = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(budget_reservations)")}
    assert {"attempt_run_id", "provider", "model", "skill"} <= set(held) and held["call_id"] == "TEXT"
    # 1: a placeholder of a model of unknown price, whose amount bounds nothing; a row that says nothing is bounded
    unbounded = next(r for r in conn.execute("PRAGMA table_info(budget_reservations)") if r[1] == "unbounded")
    assert (unbounded[2], unbounded[3], unbounded[4]) == ("INTEGER", 1, "0")
    # the reservations of the calls in flight are scanned, unindexed (0005, 0019): an index is written twice a call
    assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'budget_reservations'"
                        " AND sql IS NOT NULL").fetchall() == []  # fmt: skip
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "attempts", "events", "budget_reservations", "schema_migrations"} <= tables
    cols = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(attempts)")}
    assert cols["cost_pusd"] == "INTEGER" and cols["input_tokens"] == "INTEGER"
    for needed in (
        "cached_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "error_class",
        "fallback_position",
        "attempt_number",
        "latency_ms",
        "price_source",
        "warnings",
        "cost_bound_pusd",
        "service_tier",
        "cache_write_1h_tokens",
        "input_audio_tokens",
        "output_audio_tokens",
    ):
        assert needed in cols
    # of the cache writes, those whose time to live the answer did not say (0033): NULL on a row recorded before it
    unsaid = next(r for r in conn.execute("PRAGMA table_info(attempts)") if r[1] == "cache_write_ttl_unsaid_tokens")
    assert (unsaid[2], unsaid[3], unsaid[4]) == ("INTEGER", 0, None)
    # how many more cache writes the answer's split by time to live counted than its total (0036): NULL on older rows
    past = next(r for r in conn.execute("PRAGMA table_info(attempts)") if r[1] == "cache_write_split_past_tokens")
    assert (past[2], past[3], past[4]) == ("INTEGER", 0, None)
    # a paused turn's story (0037): the id an answer left its turn paused under, and the one a continuation continued
    links = {r[1]: (r[2], r[3], r[4]) for r in conn.execute("PRAGMA table_info(attempts)")}
    assert links["paused_id"] == links["continues_paused_id"] == ("TEXT", 0, None)
    for table in ("runs", "agent_spend"):
        assert "cost_bound_pusd" in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # 0005 trimmed the indexes every call writes; the ones queries use remain
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"attempts_run", "budget_res_run", "budget_res_agent"}.isdisjoint(indexes)
    assert {"attempts_run_cost", "attempts_started", "runs_parent"} <= indexes
    # opening again applies nothing twice
    async with Ledger(tmp_path / "new.db"):
        pass
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


async def test_an_older_magsag_refuses_a_ledger_a_newer_one_migrated(tmp_path: Path, monkeypatch):
    """Two versions on one MAGSAG_DB (a desktop client runs the latest, an IDE a pinned older one). A
    version that predates a migration does not write what it added: one from before 0010_day_spend
    recorded spend that the newer one's max_cost_per_day_usd never saw. Before, the older version
    opened the newer ledger without a word; it must refuse, say why and what to do."""
    from magsag_mcp.ledger import migrations

    db = tmp_path / "shared.db"
    async with Ledger(db):  # the newer version (all migrations) made it
        pass
    before = sqlite3.connect(db).execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:9])  # a version from before 0010_day_spend
    with pytest.raises(LedgerError) as info:
        await Ledger(db).open()
    message = info.value.message
    assert f"the ledger at {db} was migrated by a newer magsag-mcp" in message
    assert "0010_day_spend, 0011_runs_cost" in message
    assert "upgrade magsag-mcp" in message and "MAGSAG_DB" in message
    with pytest.raises(LedgerError, match="newer magsag-mcp"):  # through the service too, as the CLI and MCP open it
        await Service.open(db=db, env={})
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    assert sqlite3.connect(db).execute("SELECT name FROM schema_migrations ORDER BY name").fetchall() == before
    async with Ledger(db) as ledger:  # the version that knows every migration still opens it
        await ledger.log_event(None, None, "e", {})


async def test_an_older_magsag_already_running_stops_writing_once_a_newer_one_migrates(tmp_path: Path):
    """The other order of two versions on one MAGSAG_DB: this version (an IDE's pinned server) is running
    when a newer one (a desktop client's, just upgraded) opens the ledger and migrates it. The check at
    open had passed long before, so this one went on recording without what the newer migration keeps up
    to date (as 0010's day_spend, which the day limit reads). Its next write now finds the migration it
    does not know and refuses, as at open."""
    db = tmp_path / "shared.db"
    now = time.time()
    run = RunRecord("r", "a", "s", now, ended_at=now, status="ok")
    attempt = AttemptRecord("r", now, "openai", "gpt-4o", "s", "a", "ok", 0, 1, cost_usd=Decimal("0.5"))
    async with Ledger(db) as ledger:
        await ledger.record_call(run, [attempt], alone=True)
        newer = sqlite3.connect(db, isolation_level=None)  # the newer version's process migrates it
        newer.execute("BEGIN IMMEDIATE")
        newer.execute("CREATE TABLE hour_spend (bucket INTEGER PRIMARY KEY, cost_pusd INTEGER NOT NULL)")
        newer.execute("INSERT INTO schema_migrations VALUES ('0014_hour_spend', ?)", (time.time(),))
        newer.execute("COMMIT")
        newer.close()
        for write in (
            lambda: ledger.record_call(run, [attempt], alone=True),  # inline, as a lone call's record
            lambda: ledger.record_call(run, [attempt]),  # the group commit
            lambda: ledger.log_event(None, None, "e", {}),
        ):
            with pytest.raises(LedgerError) as info:
                await write()
            message = info.value.message
            assert f"the ledger at {db} was migrated by a newer magsag-mcp" in message
            assert "0014_hour_spend" in message and "upgrade magsag-mcp" in message
        assert (await ledger.summarize())["totals"]["calls"] == 1  # what is there can still be read
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1


def test_reservation_ids_continue_above_every_id_an_attempt_names(tmp_path: Path):
    """0012 makes reservation ids never reused; on a ledger recorded before it, the first new id is above
    every reservation id its attempts name, so none can be mistaken for an earlier one."""
    from magsag_mcp.ledger.migrations import migrate

    conn = ledger_of_schema(tmp_path / "old.db", MIGRATIONS[:11])
    conn.execute(
        "INSERT INTO attempts (run_id, started_at, provider, model, outcome, reservation_id)"
        " VALUES ('r', 1, 'openai', 'm', 'ok', 41)"
    )
    held = (
        "INSERT INTO budget_reservations (run_id, created_at, expires_at, amount_pusd, state)"
        " VALUES ('r', 1, 2, 5, 'held')"
    )
    conn.execute(held)  # in flight while the migration runs: kept, with its id
    migrate(conn)
    assert conn.execute("SELECT id, run_id, amount_pusd FROM budget_reservations").fetchall() == [(1, "r", 5)]
    conn.execute("DELETE FROM budget_reservations")
    new_id = conn.execute(held).lastrowid
    conn.execute("DELETE FROM budget_reservations")
    assert (new_id, conn.execute(held).lastrowid) == (42, 43)  # an emptied table reuses no id
    conn.close()


def test_processes_opening_a_new_ledger_at_once_each_migrate_it_once(tmp_path: Path):
    """Two MCP servers (a desktop client and an IDE) started together on a MAGSAG_DB that does not exist
    yet: every process opens it, and each migration is applied once (BEGIN IMMEDIATE per migration)."""
    db = tmp_path / "new" / "ledger.db"
    assert open_at_once(db, 8) == [0] * 8
    conn = sqlite3.connect(db)
    assert [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")] == [
        name for name, _ in MIGRATIONS
    ]
    assert conn.execute("SELECT COUNT(*) FROM events WHERE event = 'opened'").fetchone()[0] == 8
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class _FullDisk(sqlite3.Connection):
    """A connection on a disk that fills up during a migration: SQLite rolls the transaction back itself
    (as it does on SQLITE_FULL) and reports the full disk."""

    def execute(self, sql, *args):
        if sql.startswith("CREATE TABLE budget_reservations"):
            super().execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def test_a_migration_that_fails_reports_its_own_error_not_the_rollback(tmp_path: Path):
    from magsag_mcp.ledger.migrations import migrate

    conn = sqlite3.connect(tmp_path / "full.db", isolation_level=None, factory=_FullDisk)
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        migrate(conn)
    # the migrations before the failure stay applied; the failed one left nothing behind
    assert [r[0] for r in conn.execute("SELECT name FROM schema_migrations")] == ["0001_runs_attempts_events"]


#: the migrations that fill a column they add from the attempts (their other statements: the backfill)
_BACKFILLS = (
    "0016_costliest_call",
    "0018_usage_rollup_counts_calls",
    "0021_usage_rollup_cache_writes",
    "0031_usage_rollup_billing_parts",
)


def _derived_tables_from_attempts(conn: sqlite3.Connection, applied: list[tuple[str, str]]) -> None:
    """What the writer of a version with ``applied`` migrations kept beside the attempts: each rollup
    table it had, filled by the statement its migration filled it with; from 0016 on, each call's cost on its last
    attempt and each rollup row's costliest call, as 0016 computes them from the attempts; from 0018 on, each rollup
    row's calls, as 0018 counts them; from 0021 on, its cache writes, as 0021 sums them; from 0031 on, the parts of
    a bill, as 0031 sums them."""
    for name, sql in applied:
        for statement in (s.strip() for s in sql.split(";")):
            backfill = name in _BACKFILLS
            if backfill and statement and not statement.startswith("ALTER TABLE"):
                conn.execute(statement)
            for table in ("agent_spend", "usage_rollup", "day_spend"):
                # (0017's INSERT INTO usage_rollup merges renamed rows of the rollup itself: no fill from attempts)
                if statement.startswith(f"INSERT INTO {table}") and "FROM attempts" in statement:
                    conn.execute(f"DELETE FROM {table}")
                    # 0004 names no columns; 0007 added two (their defaults are right for these rows)
                    columns = (
                        " (bucket, model, provider, agent, skill, outcome, attempts, input_tokens, output_tokens,"
                        " cached_tokens, reasoning_tokens, cost_pusd, unpriced)"
                    )
                    conn.execute(statement.replace("INSERT INTO usage_rollup", "INSERT INTO usage_rollup" + columns, 1))


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
async def test_a_ledger_of_every_earlier_schema_upgrades_with_its_records_intact(tmp_path: Path, monkeypatch, version):
    """A ledger recorded by a version that knew only the first ``version`` migrations (built by applying
    just those), opened by this one: every migration after them applies, and its records read back whole:
    rows, text, money to the pico-dollar, unknown costs still unknown, summaries equal to its attempts."""
    from magsag_mcp.ledger import migrations

    db = tmp_path / f"v{version}.db"
    conn = sqlite3.connect(db, isolation_level=None)
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:version])
    migrations.migrate(conn)
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    day = 20_390 * 86400.0
    rows = [  # run, agent, at, model, outcome, error, cost (pico-USD; None: unknown)
        ("r1", "agént", day + 10.25, "gpt-4o", "ok", None, 1_234_567_890_123_456),
        ("r1", "agént", day + 11.5, "gpt-4o", "error", "überlastet 🙂\r\nretry\n", 0),
        ("r2", None, day + 86400 + 3, "mystery-7b", "ok", None, None),
        ("r3", "bo", day + 2 * 86400, "claude-3-5-sonnet", "ok", "=not a formula", 7),
    ]
    for run_id, agent, at, model, outcome, error, cost in rows:
        conn.execute(
            "INSERT INTO attempts (run_id, started_at, provider, model, agent, outcome, error_message, input_tokens,"
            " output_tokens, total_tokens, cost_pusd, cache_write_tokens)"
            " VALUES (?, ?, 'openai', ?, ?, ?, ?, 3, 2, 5, ?, 1)",
            (run_id, at, model, agent, outcome, error, cost),
        )
    if version >= 13:  # (0013 gave attempts the 1-hour part of their cache writes)
        conn.execute("UPDATE attempts SET cache_write_1h_tokens = 1 WHERE run_id = 'r1' AND outcome = 'ok'")
    if version >= 30:  # (0030 gave attempts the parts of a bill their tokens do not give; r1's error said none)
        conn.execute(
            "UPDATE attempts SET output_image_tokens = 4, inference_geo = 'us',"
            " server_tool_uses = '{\"web_search\": 2}' WHERE run_id = 'r1' AND outcome = 'ok'"
        )
    for run_id in ("r1", "r2", "r3"):
        mine = [r for r in rows if r[0] == run_id]
        conn.execute(
            "INSERT INTO runs (run_id, agent, started_at, ended_at, status, calls, input_tokens, output_tokens,"
            " cost_pusd, unpriced_calls) VALUES (?, ?, ?, ?, 'ok', ?, ?, ?, ?, ?)",
            (
                run_id,
                mine[0][1],
                mine[0][2],
                mine[-1][2] + 1,
                len(mine),
                3 * len(mine),
                2 * len(mine),
                sum(r[6] or 0 for r in mine),
                sum(r[6] is None for r in mine),
            ),
        )
    conn.execute(
        "INSERT INTO events (run_id, agent, at, event, data) VALUES ('r1', 'agént', ?, 'note', ?)", (day, '{"k": "ü"}')
    )
    _derived_tables_from_attempts(conn, MIGRATIONS[:version])
    if version >= 2:  # two calls of run r4 in flight, reserved by that version (its rows name no call)
        conn.executemany(
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state)"
            " VALUES ('r4', 'bo', ?, ?, 5, 'held')",
            [(time.time(), time.time() + 3600)] * 2,
        )
    conn.close()

    async with Ledger(db) as ledger:
        runs = await ledger.query_runs(UsageFilters(limit=10))
        summary = await ledger.summarize()
        hits = await ledger.search("note")
        in_flight = await ledger.in_flight_note("run", "r4")
    if version >= 2:  # each row a call of its own, as that version counted them
        assert in_flight is not None and "2 calls of it in flight hold reservations" in in_flight, in_flight
    conn = sqlite3.connect(db)
    assert [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")] == [
        n for n, _ in MIGRATIONS
    ]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    got = [
        (r["run_id"], a["agent"], a["model"], a["outcome"], a["error_message"], a["cost_usd"])
        for r in sorted(runs, key=lambda r: r["run_id"])
        for a in r["attempts"]
    ]
    assert got == [
        (run_id, agent, model, outcome, error, None if cost is None else format(Decimal(cost) / 10**12, "f"))
        for run_id, agent, _, model, outcome, error, cost in rows
    ]
    assert summary["totals"]["known_cost_usd"] == "1234.567890123463"
    assert (summary["totals"]["calls"], summary["totals"]["errors"], summary["totals"]["unpriced_calls"]) == (4, 1, 1)
    assert summary["by_agent"]["agént"]["known_cost_usd"] == "1234.567890123456"
    assert summary["largest_day"] == {
        "date": "2025-10-29",
        "known_cost_usd": "1234.567890123456",
        "unknown_cost_bound_usd": "0",
        "at_most_usd": "1234.567890123456",
        "unbounded_attempts": 1,  # an unknown cost recorded before bounds were kept: of no bound
    }
    # 0016 backfilled each model's costliest call (each of these attempts a call of its own: a first try)
    largest = {
        "run_id": "r1",
        "time": "2025-10-29T00:00:10+00:00",
        "at_most_usd": "1234.567890123456",
        "counted_usd": "1234.567890123456",
        "unbounded_attempts": 1,  # that attempt's call is another, whose figure leaves it out
    }
    assert summary["largest_call"] == largest
    assert summary["model_stats"]["claude-3-5-sonnet"]["largest_call"]["at_most_usd"] == "0.000000000007"
    # 0021 rolled up the cache writes each attempt kept (none of those versions' rollups had them)
    gpt = summary["model_stats"]["gpt-4o"]
    assert (gpt["cache_write_tokens"], gpt["cache_write_1h_tokens"]) == (2, int(version >= 13))
    assert summary["totals"]["cache_write_tokens"] == 4
    # 0031 rolled up the parts of a bill the attempts of 0030 on kept; older attempts said none: null, never 0
    said = version >= 30
    parts = ("output_image_tokens", "us_inference_attempts", "server_tool_uses")
    assert tuple(gpt[k] for k in parts) == ((4, 1, {"web_search": 2}) if said else (None, None, None))
    assert gpt["output_image_unsaid_attempts"] == gpt["server_tool_uses_unsaid_attempts"] == (1 if said else 2)
    assert tuple(summary["totals"][k] for k in parts) == tuple(gpt[k] for k in parts)
    assert summary["totals"]["inference_geo_unsaid_attempts"] == (3 if said else 4)
    assert [h["data"] for h in hits if h["kind"] == "event"] == [{"k": "ü"}]
    day_spend = conn.execute("SELECT SUM(cost_pusd) FROM day_spend").fetchone()[0]
    assert day_spend == 1_234_567_890_123_463  # what the day limit counts: every known cost


#: the migrations released so far, with a digest of each one's SQL (whitespace aside). A ledger that applied
#: one never applies it again, so an edit to it would reach only new ledgers: migrations are append-only.
RELEASED_MIGRATIONS = {
    "0001_runs_attempts_events": "5a75e3ce28b75f9b",
    "0002_budget_reservations": "a0324afbed509869",
    "0003_agent_spend_rollup": "1f3b595de00372ce",
    "0004_usage_rollup": "a0cc2526316488cf",
    "0005_trim_hot_indexes": "f838658d90803f02",
    "0006_error_attempts_cost_zero": "fbd97baaa2a43f18",
    "0007_unknown_cost_bound": "dc842b90d523c737",
    "0008_run_error": "221756d4ba0f5a16",
    "0009_reservation_attempt": "4a9de00f590c8e11",
    "0010_day_spend": "80f05bbd2d5e66f8",
    "0011_runs_cost": "21d9b91b1621a3ad",
    "0012_reservation_ids_never_reused": "ba89d15aa34a604f",
    "0013_attempt_price_details": "66f72ce93e79599c",
    "0014_usage_rollup_rebuilt_with_bounds": "f51b74caed74188e",
    "0015_delegated_runs_name_their_top_run": "38de61be09074f4d",
    "0016_costliest_call": "b1c74a8c12b362e2",
    "0017_gemini_resource_names_recorded_bare": "9ab64b53a2f150b8",
    "0018_usage_rollup_counts_calls": "27e27b1d796f79a7",
    "0019_reservation_call_id": "b955b195ceb052a8",
    "0020_reservation_unbounded": "f7328daa6cec7769",
    "0021_usage_rollup_cache_writes": "99d1fca24d42b7b5",
    "0022_unsent_attempts_cost_zero": "897a60c7e72df394",
}


def test_migrations_are_append_only_and_named_in_order():
    import hashlib

    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(set(names))
    assert [int(name[:4]) for name in names] == list(range(1, len(names) + 1))
    for name, sql in MIGRATIONS:
        if name in RELEASED_MIGRATIONS:
            digest = hashlib.sha256(" ".join(sql.split()).encode()).hexdigest()[:16]
            assert digest == RELEASED_MIGRATIONS[name], (
                f"migration {name} was released and must not change (ledgers that applied it never apply it "
                "again): add a new migration instead"
            )
    assert set(RELEASED_MIGRATIONS) <= set(names), "a released migration was removed"
