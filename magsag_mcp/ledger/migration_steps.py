"""The ledger's schema migrations, append-only and named, applied in order by :mod:`.migrations`. Never edit a
shipped migration (a ledger that applied it never applies it again): add the next one, at the end of
:mod:`.migration_steps_latest` (0032 on; 0014 to 0022 are in :mod:`.migration_steps_later`, 0023 to 0031 in
:mod:`.migration_steps_0023_0031`).

Money is stored as INTEGER pico-USD (1e-12 USD): exact for every price quoted to six decimals per
million tokens, and summed by SQLite without floating point. NULL cost means the cost is unknown: the
price was unknown, or the attempt was cut after it reached the vendor, which may bill it.
"""

from __future__ import annotations

from .migration_steps_0023_0031 import MIGRATIONS_0023_0031
from .migration_steps_later import LATER_MIGRATIONS
from .migration_steps_latest import LATEST_MIGRATIONS

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
    (
        "0003_agent_spend_rollup",
        """
        CREATE TABLE agent_spend (
            agent     TEXT NOT NULL,
            bucket    INTEGER NOT NULL,
            cost_pusd INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (agent, bucket)
        ) WITHOUT ROWID;
        INSERT INTO agent_spend (agent, bucket, cost_pusd)
            SELECT agent, CAST(started_at / 900 AS INTEGER), SUM(cost_pusd) FROM attempts
            WHERE agent IS NOT NULL AND cost_pusd IS NOT NULL
            GROUP BY agent, CAST(started_at / 900 AS INTEGER)
        """,
    ),
    (
        "0004_usage_rollup",
        """
        CREATE TABLE usage_rollup (
            bucket           INTEGER NOT NULL,
            model            TEXT NOT NULL,
            provider         TEXT NOT NULL,
            agent            TEXT NOT NULL,
            skill            TEXT NOT NULL,
            outcome          TEXT NOT NULL,
            attempts         INTEGER NOT NULL DEFAULT 0,
            input_tokens     INTEGER NOT NULL DEFAULT 0,
            output_tokens    INTEGER NOT NULL DEFAULT 0,
            cached_tokens    INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            cost_pusd        INTEGER NOT NULL DEFAULT 0,
            unpriced         INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (bucket, model, provider, agent, skill, outcome)
        ) WITHOUT ROWID;
        INSERT INTO usage_rollup
            SELECT CAST(started_at / 86400 AS INTEGER), model, provider, coalesce(agent, ''), coalesce(skill, ''),
                   outcome, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens),
                   SUM(reasoning_tokens), coalesce(SUM(cost_pusd), 0), SUM(outcome = 'ok' AND cost_pusd IS NULL)
            FROM attempts
            GROUP BY 1, 2, 3, 4, 5, 6
        """,
    ),
    (
        # Every index is written on every call: this trims the ones that earn nothing. attempts_run is a
        # prefix of attempts_run_cost; budget_reservations only holds rows for calls in flight (a handful),
        # so a scan beats keeping two indexes; runs_parent only needs the runs that have a parent.
        # Measured: 41 -> 29 write syscalls and 87 -> 60 KB written per recorded call.
        "0005_trim_hot_indexes",
        """
        DROP INDEX attempts_run;
        DROP INDEX budget_res_run;
        DROP INDEX budget_res_agent;
        DROP INDEX runs_parent;
        CREATE INDEX runs_parent ON runs(parent_run_id) WHERE parent_run_id IS NOT NULL
        """,
    ),
    (
        # NULL now means "cost unknown" for every outcome (it counts as unpriced), where it used to be
        # read as 0 on anything but an 'ok' attempt. The failed, skipped and refused attempts recorded
        # before were all meant as $0, so they say so explicitly: their meaning is kept, and the runs and
        # usage_rollup counters, which never counted them as unpriced, stay right without a rebuild.
        # (Which of them were cut after reaching the vendor was not recorded, so none is reclassified.)
        "0006_error_attempts_cost_zero",
        """
        UPDATE attempts SET cost_pusd = 0 WHERE outcome != 'ok' AND cost_pusd IS NULL
        """,
    ),
    (
        # An attempt of unknown cost on a priced model (cut after it reached the vendor) now records its
        # estimated worst case, and run and agent budget limits count that bound, where they counted $0;
        # summaries carry it (usage_rollup: its sum, and how many unknown costs have one) for the gate.
        # Rows recorded before have no bound: what they cost was not kept, and inventing it now would be a
        # guess, so their unknown costs stay unbounded.
        "0007_unknown_cost_bound",
        """
        ALTER TABLE attempts ADD COLUMN cost_bound_pusd INTEGER;
        ALTER TABLE runs ADD COLUMN cost_bound_pusd INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE agent_spend ADD COLUMN cost_bound_pusd INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN cost_bound_pusd INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN bounded INTEGER NOT NULL DEFAULT 0
        """,
    ),
    (
        # Why a run failed, when its error came with no attempt to carry it (an invalid payload, an
        # unknown skill, a bad configuration): the run's row said only "error". Older rows stay NULL.
        "0008_run_error",
        """
        ALTER TABLE runs ADD COLUMN error_class TEXT;
        ALTER TABLE runs ADD COLUMN error_message TEXT
        """,
    ),
    (
        # What a reservation was for: when its process dies with the request in flight, the expired
        # reservation becomes that attempt, of unknown cost bounded by the amount it held, where it was
        # deleted (the spend vanished from every limit). Older reservations lack them: "unknown".
        "0009_reservation_attempt",
        """
        ALTER TABLE budget_reservations ADD COLUMN attempt_run_id TEXT;
        ALTER TABLE budget_reservations ADD COLUMN provider TEXT;
        ALTER TABLE budget_reservations ADD COLUMN model TEXT;
        ALTER TABLE budget_reservations ADD COLUMN skill TEXT
        """,
    ),
    (
        # Spend of every call together per 15-minute bucket (as agent_spend per agent), for a limit on
        # all calls a day (max_cost_per_day_usd), with or without an agent; filled from what is recorded.
        "0010_day_spend",
        """
        CREATE TABLE day_spend (
            bucket          INTEGER PRIMARY KEY,
            cost_pusd       INTEGER NOT NULL DEFAULT 0,
            cost_bound_pusd INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        INSERT INTO day_spend (bucket, cost_pusd, cost_bound_pusd)
            SELECT CAST(started_at / 900 AS INTEGER), coalesce(SUM(cost_pusd), 0),
                   coalesce(SUM(CASE WHEN cost_pusd IS NULL THEN cost_bound_pusd END), 0)
            FROM attempts GROUP BY 1
        """,
    ),
    (
        # A summary names its costliest run (what flow gate checks max_cost_per_run_usd against): read in
        # cost order from this index, stopping at the first run the summary's filters select.
        "0011_runs_cost",
        """
        CREATE INDEX runs_cost ON runs(cost_pusd + cost_bound_pusd)
        """,
    ),
    (
        # A reservation's id was reused: a plain INTEGER PRIMARY KEY takes the largest id + 1, and the
        # table is empty whenever no call is in flight. An attempt names its reservation by id, so a
        # record landing after its reservation was swept (its process suspended past the expiry) deleted
        # whichever live reservation had taken the id since. AUTOINCREMENT never gives an id twice; the
        # sequence starts above every id an attempt already names.
        "0012_reservation_ids_never_reused",
        """
        CREATE TABLE budget_reservations_0012 (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id         TEXT,
            agent          TEXT,
            created_at     REAL NOT NULL,
            expires_at     REAL NOT NULL,
            amount_pusd    INTEGER NOT NULL,
            state          TEXT NOT NULL CHECK (state IN ('held', 'settled')),
            attempt_run_id TEXT,
            provider       TEXT,
            model          TEXT,
            skill          TEXT
        );
        INSERT INTO budget_reservations_0012 (id, run_id, agent, created_at, expires_at, amount_pusd, state,
                attempt_run_id, provider, model, skill)
            SELECT id, run_id, agent, created_at, expires_at, amount_pusd, state, attempt_run_id, provider, model,
                   skill FROM budget_reservations;
        DROP TABLE budget_reservations;
        ALTER TABLE budget_reservations_0012 RENAME TO budget_reservations;
        DELETE FROM sqlite_sequence WHERE name = 'budget_reservations';
        INSERT INTO sqlite_sequence (name, seq) VALUES ('budget_reservations', MAX(
            coalesce((SELECT MAX(id) FROM budget_reservations), 0),
            coalesce((SELECT MAX(reservation_id) FROM attempts), 0)))
        """,
    ),
    (
        # What else set an attempt's price: the service tier that served it (priority costs up to 2x
        # the standard rate), the 1-hour part of its cache writes and its audio tokens (rates of their
        # own). Without them a recorded cost could not be checked against its row. Older rows: NULL and 0.
        "0013_attempt_price_details",
        """
        ALTER TABLE attempts ADD COLUMN service_tier TEXT;
        ALTER TABLE attempts ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE attempts ADD COLUMN input_audio_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE attempts ADD COLUMN output_audio_tokens INTEGER NOT NULL DEFAULT 0
        """,
    ),
]
MIGRATIONS += LATER_MIGRATIONS
MIGRATIONS += MIGRATIONS_0023_0031
MIGRATIONS += LATEST_MIGRATIONS
