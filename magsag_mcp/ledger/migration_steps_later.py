"""The ledger's schema migrations 0014 to 0022 (0001 to 0013 are in :mod:`.migration_steps`, whose rules hold here:
append-only and named, never edit a shipped one; 0023 to 0031 are in :mod:`.migration_steps_0023_0031`, and the next
one is added in :mod:`.migration_steps_latest`). Apart so that no module of them passes 500 lines."""

from __future__ import annotations

LATER_MIGRATIONS: list[tuple[str, str]] = [
    (
        # 0007 was first released without usage_rollup's two columns (added to it later, against the rule of
        # migration_steps): a ledger that applied that first form never got them, and every write and summary then
        # failed ("no such column: cost_bound_pusd"); its rollup rows written meanwhile lack their bounds.
        # The rollup is rebuilt from the attempts, as 0004 built it: a statement that reads no column of the
        # old table fits both forms (about 1.7 s on a year of 1,000,000 attempts, once).
        "0014_usage_rollup_rebuilt_with_bounds",
        """
        CREATE TABLE rollup_0014 (
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
            cost_bound_pusd  INTEGER NOT NULL DEFAULT 0,
            bounded          INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (bucket, model, provider, agent, skill, outcome)
        ) WITHOUT ROWID;
        INSERT INTO rollup_0014 (bucket, model, provider, agent, skill, outcome, attempts, input_tokens,
                output_tokens, cached_tokens, reasoning_tokens, cost_pusd, unpriced, cost_bound_pusd, bounded)
            SELECT CAST(started_at / 86400 AS INTEGER), model, provider, coalesce(agent, ''), coalesce(skill, ''),
                   outcome, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens),
                   SUM(reasoning_tokens), coalesce(SUM(cost_pusd), 0), SUM(cost_pusd IS NULL),
                   coalesce(SUM(CASE WHEN cost_pusd IS NULL THEN cost_bound_pusd END), 0),
                   SUM(cost_pusd IS NULL AND cost_bound_pusd IS NOT NULL)
            FROM attempts
            GROUP BY 1, 2, 3, 4, 5, 6;
        DROP TABLE usage_rollup;
        ALTER TABLE rollup_0014 RENAME TO usage_rollup
        """,
    ),
    (
        # A delegated run names the top run of its tree as its parent, and every read of a run's scope (its
        # run limit, --run-id, largest_run) goes one level down. Before that rule (the runner, and
        # Service.invoke_skill given a delegated run as parent, recorded the immediate parent), a SAG
        # delegated from a SAG was recorded under the first SAG: the top run's limit and --run-id left it
        # out, and calls continuing it reserved against the first SAG's subtree. Such runs now name the top.
        "0015_delegated_runs_name_their_top_run",
        """
        CREATE TABLE run_tops_0015 AS
            WITH RECURSIVE up(run_id, top, depth) AS (
                SELECT c.run_id, p.parent_run_id, 1 FROM runs c JOIN runs p ON p.run_id = c.parent_run_id
                WHERE c.parent_run_id IS NOT NULL AND c.parent_run_id != c.run_id
                    AND p.parent_run_id IS NOT NULL AND p.parent_run_id != p.run_id
                UNION ALL
                SELECT up.run_id, p.parent_run_id, up.depth + 1 FROM up JOIN runs p ON p.run_id = up.top
                WHERE p.parent_run_id IS NOT NULL AND p.parent_run_id != p.run_id AND up.depth < 64
            )
            SELECT run_id, top, depth FROM up;
        CREATE INDEX run_tops_0015_run ON run_tops_0015(run_id, depth);
        UPDATE runs SET parent_run_id = (
                SELECT t.top FROM run_tops_0015 t WHERE t.run_id = runs.run_id ORDER BY t.depth DESC LIMIT 1)
            WHERE run_id IN (SELECT run_id FROM run_tops_0015);
        DROP TABLE run_tops_0015
        """,
    ),
    (
        # A summary names each model's costliest call, which flow gate checks max_cost_per_call_usd against (it
        # checked each model's average: one $3 call among cheap ones passed a $1 limit). A call is what that
        # limit bounds: its attempts together (retries, fallbacks), each known cost plus the bound of each
        # unknown one. It counts under its last attempt that reached a provider: that attempt carries the
        # call's cost (call_cost_pusd, NULL on the others), and its usage_rollup row the costliest such call
        # (-1: none), its run and time. Backfilled from the attempts: a call of a run begins at an attempt on
        # the first target's first try (fallback_position 0, attempt_number 0 or 1; a call's attempts are
        # recorded together, so they are consecutive in the run by id). Written without UPDATE ... FROM (SQLite
        # 3.33): the system SQLite of some distributions' Pythons is older (Ubuntu 20.04's 3.31). The work tables
        # are declared with their columns' types: made by CREATE TABLE AS, a column of an expression has no
        # affinity, and a comparison with an INTEGER column cannot use its index (the backfill took minutes).
        "0016_costliest_call",
        """
        ALTER TABLE attempts ADD COLUMN call_cost_pusd INTEGER;
        ALTER TABLE usage_rollup ADD COLUMN call_max_pusd INTEGER NOT NULL DEFAULT -1;
        ALTER TABLE usage_rollup ADD COLUMN call_max_run_id TEXT;
        ALTER TABLE usage_rollup ADD COLUMN call_max_at REAL;
        CREATE TABLE calls_0016 (last INTEGER, cost INTEGER);
        INSERT INTO calls_0016
            WITH numbered AS (
                SELECT id, run_id, outcome, coalesce(cost_pusd, cost_bound_pusd, 0) AS cost,
                    SUM(fallback_position = 0 AND attempt_number <= 1) OVER (PARTITION BY run_id ORDER BY id) AS call
                FROM attempts
            )
            SELECT MAX(CASE WHEN outcome IN ('ok', 'error') THEN id END) AS last, SUM(cost) AS cost
            FROM numbered GROUP BY run_id, call;
        CREATE INDEX calls_0016_last ON calls_0016 (last);
        UPDATE attempts SET call_cost_pusd = (SELECT c.cost FROM calls_0016 c WHERE c.last = attempts.id)
            WHERE id IN (SELECT last FROM calls_0016);
        DROP TABLE calls_0016;
        CREATE TABLE tops_0016 (
            bucket INTEGER, model TEXT, provider TEXT, agent TEXT, skill TEXT, outcome TEXT, cost INTEGER, run_id TEXT,
            at REAL
        );
        INSERT INTO tops_0016
            SELECT CAST(started_at / 86400 AS INTEGER) AS bucket, model, provider, coalesce(agent, '') AS agent,
                coalesce(skill, '') AS skill, outcome, MAX(call_cost_pusd) AS cost, run_id, started_at AS at
            FROM attempts WHERE call_cost_pusd IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6;
        CREATE UNIQUE INDEX tops_0016_key ON tops_0016 (bucket, model, provider, agent, skill, outcome);
        UPDATE usage_rollup SET (call_max_pusd, call_max_run_id, call_max_at) = (
                SELECT m.cost, m.run_id, m.at FROM tops_0016 m
                WHERE m.bucket = usage_rollup.bucket AND m.model = usage_rollup.model
                    AND m.provider = usage_rollup.provider AND m.agent = usage_rollup.agent
                    AND m.skill = usage_rollup.skill AND m.outcome = usage_rollup.outcome
            )
            WHERE EXISTS (
                SELECT 1 FROM tops_0016 m
                WHERE m.bucket = usage_rollup.bucket AND m.model = usage_rollup.model
                    AND m.provider = usage_rollup.provider AND m.agent = usage_rollup.agent
                    AND m.skill = usage_rollup.skill AND m.outcome = usage_rollup.outcome
            );
        DROP TABLE tops_0016;
        """,
    ),
    (
        # A Gemini model called by its resource name (models/gemini-2.5-flash) is recorded as the model it names
        # (gemini-2.5-flash, rates.bare_model: the google provider's names only) since 0dc9d6e; the rows recorded
        # before kept the name the call gave, so model_stats split the model in two and `--model gemini-2.5-flash`
        # left the old calls out. They are renamed wherever a model is named (attempts, reservations, the rollup),
        # and a rollup row meeting the bare name's row of its day merges into it: counts, tokens and money summed
        # (an unknown cost stays unknown: counted in unpriced, its bound in cost_bound_pusd), the costliest call
        # the costlier one (of equal ones the first, as a write keeps). A pair whose money would pass what an
        # INTEGER holds (2**63 - 1 pUSD, which a write refuses) stays apart, its attempts under the old name with
        # it, so the rollup still equals its attempts. The attempts are found by attempts_model's range, not read
        # whole (the rollup, a row a day, is read once): about 0.1 ms an attempt renamed, with its rollup rows, once
        # (200,000 attempts: 1.2 s with 5,300 to rename, 2.4 s with 20,800). runs, agent_spend and day_spend name no
        # model. Events are the caller's own data: kept as written.
        # Not renamed: 'models/' alone (it names no model), tunedModels/... (a collection of its own), other cases.
        "0017_gemini_resource_names_recorded_bare",
        """
        CREATE TABLE rollup_0017 (
            bucket INTEGER, model TEXT, provider TEXT, agent TEXT, skill TEXT, outcome TEXT, attempts INTEGER,
            input_tokens INTEGER, output_tokens INTEGER, cached_tokens INTEGER, reasoning_tokens INTEGER,
            cost_pusd INTEGER, unpriced INTEGER, cost_bound_pusd INTEGER, bounded INTEGER, call_max_pusd INTEGER,
            call_max_run_id TEXT, call_max_at REAL, apart INTEGER
        );
        INSERT INTO rollup_0017
            SELECT o.bucket, o.model, o.provider, o.agent, o.skill, o.outcome, o.attempts, o.input_tokens,
                o.output_tokens, o.cached_tokens, o.reasoning_tokens, o.cost_pusd, o.unpriced, o.cost_bound_pusd,
                o.bounded, o.call_max_pusd, o.call_max_run_id, o.call_max_at,
                EXISTS (
                    SELECT 1 FROM usage_rollup b
                    WHERE b.bucket = o.bucket AND b.model = substr(o.model, 8) AND b.provider = o.provider
                        AND b.agent = o.agent AND b.skill = o.skill AND b.outcome = o.outcome
                        AND (b.cost_pusd > 9223372036854775807 - o.cost_pusd
                            OR b.cost_bound_pusd > 9223372036854775807 - o.cost_bound_pusd)
                )
            FROM usage_rollup o WHERE o.provider = 'google' AND o.model > 'models/' AND o.model < 'models0';
        CREATE INDEX rollup_0017_apart ON rollup_0017 (apart, bucket, model, agent, skill, outcome);
        UPDATE attempts SET model = substr(model, 8)
            WHERE provider = 'google' AND model > 'models/' AND model < 'models0' AND NOT EXISTS (
                SELECT 1 FROM rollup_0017 w
                WHERE w.apart = 1 AND w.bucket = CAST(attempts.started_at / 86400 AS INTEGER)
                    AND w.model = attempts.model AND w.agent = coalesce(attempts.agent, '')
                    AND w.skill = coalesce(attempts.skill, '') AND w.outcome = attempts.outcome
            );
        DELETE FROM usage_rollup
            WHERE bucket IN (SELECT bucket FROM rollup_0017) AND model > 'models/' AND model < 'models0'
                AND provider = 'google' AND NOT EXISTS (
                    SELECT 1 FROM rollup_0017 w
                    WHERE w.apart = 1 AND w.bucket = usage_rollup.bucket AND w.model = usage_rollup.model
                        AND w.agent = usage_rollup.agent AND w.skill = usage_rollup.skill
                        AND w.outcome = usage_rollup.outcome
                );
        INSERT INTO usage_rollup (bucket, model, provider, agent, skill, outcome, attempts, input_tokens,
                output_tokens, cached_tokens, reasoning_tokens, cost_pusd, unpriced, cost_bound_pusd, bounded,
                call_max_pusd, call_max_run_id, call_max_at)
            SELECT bucket, substr(model, 8), provider, agent, skill, outcome, attempts, input_tokens, output_tokens,
                cached_tokens, reasoning_tokens, cost_pusd, unpriced, cost_bound_pusd, bounded, call_max_pusd,
                call_max_run_id, call_max_at
            FROM rollup_0017 WHERE apart = 0
            ON CONFLICT (bucket, model, provider, agent, skill, outcome) DO UPDATE SET
                attempts = attempts + excluded.attempts, input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cached_tokens = cached_tokens + excluded.cached_tokens,
                reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
                cost_pusd = cost_pusd + excluded.cost_pusd, unpriced = unpriced + excluded.unpriced,
                cost_bound_pusd = cost_bound_pusd + excluded.cost_bound_pusd, bounded = bounded + excluded.bounded,
                call_max_run_id = CASE WHEN excluded.call_max_pusd > call_max_pusd OR (excluded.call_max_pusd
                    = call_max_pusd AND excluded.call_max_at < call_max_at) THEN excluded.call_max_run_id
                    ELSE call_max_run_id END,
                call_max_at = CASE WHEN excluded.call_max_pusd > call_max_pusd OR (excluded.call_max_pusd
                    = call_max_pusd AND excluded.call_max_at < call_max_at) THEN excluded.call_max_at
                    ELSE call_max_at END,
                call_max_pusd = MAX(call_max_pusd, excluded.call_max_pusd);
        UPDATE budget_reservations SET model = substr(model, 8)
            WHERE provider = 'google' AND model > 'models/' AND model < 'models0';
        DROP TABLE rollup_0017
        """,
    ),
    (
        # model_stats' `calls` counted attempts (a retry or a fallback hop one more call; `errors` each failed try)
        # where the guide's "calls: Number of invocations" and "errors: Failed calls" count calls, as runs.calls and
        # largest_call do. A call counts under its last attempt that reached a provider (the one call_cost_pusd
        # marks, see 0016), so a row's `calls` are the calls ending in it, and those of its 'error' rows failed.
        # Backfilled from the attempts, as 0016 filled call_max_pusd (a work table, one scan of attempts).
        "0018_usage_rollup_counts_calls",
        """
        ALTER TABLE usage_rollup ADD COLUMN calls INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE calls_0018 (
            bucket INTEGER, model TEXT, provider TEXT, agent TEXT, skill TEXT, outcome TEXT, calls INTEGER
        );
        INSERT INTO calls_0018
            SELECT CAST(started_at / 86400 AS INTEGER), model, provider, coalesce(agent, ''), coalesce(skill, ''),
                outcome, COUNT(*)
            FROM attempts WHERE call_cost_pusd IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6;
        CREATE UNIQUE INDEX calls_0018_key ON calls_0018 (bucket, model, provider, agent, skill, outcome);
        UPDATE usage_rollup SET calls = (
                SELECT c.calls FROM calls_0018 c
                WHERE c.bucket = usage_rollup.bucket AND c.model = usage_rollup.model
                    AND c.provider = usage_rollup.provider AND c.agent = usage_rollup.agent
                    AND c.skill = usage_rollup.skill AND c.outcome = usage_rollup.outcome
            )
            WHERE EXISTS (
                SELECT 1 FROM calls_0018 c
                WHERE c.bucket = usage_rollup.bucket AND c.model = usage_rollup.model
                    AND c.provider = usage_rollup.provider AND c.agent = usage_rollup.agent
                    AND c.skill = usage_rollup.skill AND c.outcome = usage_rollup.outcome
            );
        DROP TABLE calls_0018
        """,
    ),
    (
        # A reservation names its call (an id the service gives each call as it starts): a call holds one for each
        # attempt not yet recorded (a cut attempt held at its bound beside its retry's), so what counts calls in
        # flight (check_budget's reserved_by, the ledger's notes) counted rows. Older rows (and an older version's,
        # still running) have none: each counts as a call of its own, as before. Neither this column nor
        # attempt_run_id, which reads scan, is indexed, as 0005 left run_id and agent: the table holds only the calls
        # in flight, and an index is written twice a call (measured: 12 -> 20 KB written a call, and slower even with
        # 200 calls in flight to scan).
        "0019_reservation_call_id",
        """
        ALTER TABLE budget_reservations ADD COLUMN call_id TEXT
        """,
    ),
    (
        # A delegated call's attempt that no limit counts (a model of unknown price every limit allows) holds a
        # reservation all the same, for its placement check, at 0: it has no worst case. Swept after its process died,
        # it was recorded "at an unknown cost bounded by what was reserved", at most $0, where an unknown price has no
        # bound (null, counted in unbounded_attempts): from its amount alone the sweep cannot tell it from a free
        # model's genuine $0 hold. 1 marks a reservation whose amount is no bound. Older rows (and an older version's,
        # still running) are 0: their amount is their bound, as before.
        "0020_reservation_unbounded",
        """
        ALTER TABLE budget_reservations ADD COLUMN unbounded INTEGER NOT NULL DEFAULT 0
        """,
    ),
    (
        # Summaries gave a model's cache reads (cached_tokens) and not its cache writes (Anthropic's
        # cache_creation_input_tokens, at 1.25x its input rate, 2x for a 1-hour write): each attempt kept them since
        # 0001 (the 1-hour part since 0013), the rollup the summaries read did not. Backfilled from the attempts, as
        # 0018 counted calls (a work table of the attempts that wrote any, one scan). A rollup row with no attempt
        # left keeps what it had, its writes at 0: they were never rolled up, and the rest of the row is right.
        "0021_usage_rollup_cache_writes",
        """
        ALTER TABLE usage_rollup ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE writes_0021 (
            bucket INTEGER, model TEXT, provider TEXT, agent TEXT, skill TEXT, outcome TEXT, written INTEGER,
            written_1h INTEGER
        );
        INSERT INTO writes_0021
            SELECT CAST(started_at / 86400 AS INTEGER), model, provider, coalesce(agent, ''), coalesce(skill, ''),
                outcome, SUM(cache_write_tokens), SUM(cache_write_1h_tokens)
            FROM attempts WHERE cache_write_tokens != 0 OR cache_write_1h_tokens != 0 GROUP BY 1, 2, 3, 4, 5, 6;
        CREATE UNIQUE INDEX writes_0021_key ON writes_0021 (bucket, model, provider, agent, skill, outcome);
        UPDATE usage_rollup SET (cache_write_tokens, cache_write_1h_tokens) = (
                SELECT w.written, w.written_1h FROM writes_0021 w
                WHERE w.bucket = usage_rollup.bucket AND w.model = usage_rollup.model
                    AND w.provider = usage_rollup.provider AND w.agent = usage_rollup.agent
                    AND w.skill = usage_rollup.skill AND w.outcome = usage_rollup.outcome
            )
            WHERE EXISTS (
                SELECT 1 FROM writes_0021 w
                WHERE w.bucket = usage_rollup.bucket AND w.model = usage_rollup.model
                    AND w.provider = usage_rollup.provider AND w.agent = usage_rollup.agent
                    AND w.skill = usage_rollup.skill AND w.outcome = usage_rollup.outcome
            );
        DROP TABLE writes_0021
        """,
    ),
    (
        # An attempt never sent (skipped, policy_denied, budget_exceeded: refused before any request left) cost exactly
        # $0, and is written so since 8883ccdc (writes.NEVER_SENT) when recorded with no cost and no bound (as a caller
        # of Ledger.record_call may give it). Before, it was written NULL, an unknown cost of no bound: counted in its
        # run's unpriced_calls and its rollup row's unpriced (not in bounded, cost_bound_pusd, agent_spend, day_spend
        # nor any call's cost: its bound was none, so it added $0 to each), and so by check_budget, a run limit's scope,
        # query_runs and a summary's days as an unknown cost. Those attempts are set to $0 and exactly what they added
        # is taken back: each run's unpriced_calls by its own such attempts (found by a work table of them, one scan of
        # attempts: 1.2 s on a year of 1,000,000 attempts, 12,500 of them set to $0, once). A rollup row of a never-sent
        # outcome counted in unpriced only those of unknown cost, and in bounded those of them with a bound, which stay
        # unknown: the rest were such attempts, so its unpriced becomes its bounded (the row alone says it, its attempts
        # left or not). A run whose such attempts a prune took (its row outlives them) keeps counting them: its row does
        # not say which of its unknown costs they were. An attempt of those outcomes given a bound (an unknown cost by
        # its caller's word) stays as written, as the writer keeps it.
        "0022_unsent_attempts_cost_zero",
        """
        CREATE TABLE unsent_0022 (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL);
        INSERT INTO unsent_0022
            SELECT id, run_id FROM attempts
            WHERE cost_pusd IS NULL AND cost_bound_pusd IS NULL
                AND outcome IN ('skipped', 'policy_denied', 'budget_exceeded');
        CREATE INDEX unsent_0022_run ON unsent_0022 (run_id);
        UPDATE runs SET unpriced_calls = MAX(0, unpriced_calls - (
                SELECT COUNT(*) FROM unsent_0022 u WHERE u.run_id = runs.run_id))
            WHERE run_id IN (SELECT run_id FROM unsent_0022);
        UPDATE attempts SET cost_pusd = 0 WHERE id IN (SELECT id FROM unsent_0022);
        UPDATE usage_rollup SET unpriced = bounded
            WHERE outcome IN ('skipped', 'policy_denied', 'budget_exceeded') AND unpriced > bounded;
        DROP TABLE unsent_0022
        """,
    ),
]
