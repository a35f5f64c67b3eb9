BEGIN TRANSACTION;
CREATE TABLE agent_spend (
            agent     TEXT NOT NULL,
            bucket    INTEGER NOT NULL,
            cost_pusd INTEGER NOT NULL DEFAULT 0, cost_bound_pusd INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (agent, bucket)
        ) WITHOUT ROWID;
INSERT INTO "agent_spend" VALUES('ag1',1959600,236700000,0);
INSERT INTO "agent_spend" VALUES('mag',1959600,210000000,0);
INSERT INTO "agent_spend" VALUES('sag',1959600,420000000,0);
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
        , cost_bound_pusd INTEGER, service_tier TEXT, cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0, input_audio_tokens INTEGER NOT NULL DEFAULT 0, output_audio_tokens INTEGER NOT NULL DEFAULT 0, call_cost_pusd INTEGER);
INSERT INTO "attempts" VALUES(1,'brief-0',1.76364000057598829264e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,0,NULL,2.26334400213090702891e+00,1,0,NULL,1,NULL,NULL,0,0,0,NULL);
INSERT INTO "attempts" VALUES(2,'brief-0',1.76364000057868599898e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',7.82064998929854482412e-01,1,1,NULL,1,NULL,NULL,0,0,0,13350000);
INSERT INTO "attempts" VALUES(3,'brief-1',1.76364000058080387114e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,0,NULL,6.96086004609242081642e-01,1,0,NULL,2,NULL,NULL,0,0,0,NULL);
INSERT INTO "attempts" VALUES(4,'brief-1',1.76364000058164048199e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',6.35795004200190305709e-01,1,1,NULL,2,NULL,NULL,0,0,0,13350000);
INSERT INTO "attempts" VALUES(5,'brief-2',1.76364000058314371105e+09,'openai','gpt-4o','skill.brief','ag1','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',0.524552000570111,1,0,NULL,3,NULL,NULL,0,0,0,210000000);
INSERT INTO "attempts" VALUES(6,'odd-0',1.76364000058532834048e+09,'openai','mystery-model-q7','skill.odd','ag2','ok',NULL,NULL,37,10,0,0,0,47,NULL,NULL,4.9610299902269616723e-01,1,0,'["no price known for openai:mystery-model-q7; its cost is recorded as unknown. Add it to catalog/prices.yaml, e.g. \"openai:mystery-model-q7\": {input: 0.5, output: 1.5}"]',NULL,NULL,NULL,0,0,0,0);
INSERT INTO "attempts" VALUES(7,'mag',1.76364000058663725851e+09,'openai','gpt-4o','skill.brief','mag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',4.97957000334281474351e-01,1,0,NULL,4,NULL,NULL,0,0,0,210000000);
INSERT INTO "attempts" VALUES(8,'sag1',1.76364000058826518061e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',0.567682996916119,1,0,NULL,5,NULL,NULL,0,0,0,210000000);
INSERT INTO "attempts" VALUES(9,'sag2',1.76364000058981704706e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.91057003475725650787e-01,1,0,NULL,6,NULL,NULL,0,0,0,210000000);
INSERT INTO "attempts" VALUES(10,'down-0',1.76364000060830354685e+09,'anthropic','claude-3-5-haiku-20241022','skill.down','ag1','error','server_error','anthropic:claude-3-5-haiku-20241022: HTTP 500 (request id req_loopback): loopback: planned HTTP 500 for claude-3-5-haiku-20241022',0,0,0,0,0,0,0,NULL,1.39112200122326612472e+00,1,0,NULL,7,NULL,NULL,0,0,0,0);
CREATE TABLE "budget_reservations" (
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
INSERT INTO "budget_reservations" VALUES(8,'slow-0','ag2',1.76364000090966105459e+09,1.76364090090966105454e+09,4608000000,'held','slow-0','anthropic','claude-3-5-sonnet-20241022','skill.slow');
CREATE TABLE day_spend (
            bucket          INTEGER PRIMARY KEY,
            cost_pusd       INTEGER NOT NULL DEFAULT 0,
            cost_bound_pusd INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
INSERT INTO "day_spend" VALUES(1959600,866700000,0);
CREATE TABLE events (
            id      INTEGER PRIMARY KEY,
            run_id  TEXT,
            agent   TEXT,
            at      REAL NOT NULL,
            event   TEXT NOT NULL,
            data    TEXT
        );
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
        , cost_bound_pusd INTEGER NOT NULL DEFAULT 0, error_class TEXT, error_message TEXT);
INSERT INTO "runs" VALUES('brief-0','ag1','skill.brief',NULL,1.76364000051897358892e+09,1.76364000057957434654e+09,'ok',1,57,8,13350000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('brief-1','ag1','skill.brief',NULL,1.76364000058051562311e+09,1.76364000058234930042e+09,'ok',1,57,8,13350000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('brief-2','ag1','skill.brief',NULL,1.76364000058292412758e+09,1.76364000058372282983e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('odd-0','ag2','skill.odd',NULL,1.76364000058422350884e+09,1.7636400005858845711e+09,'ok',1,37,10,0,1,0,NULL,NULL);
INSERT INTO "runs" VALUES('mag','mag','skill.brief',NULL,1.76364000058643484109e+09,1.76364000058717870712e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('sag1','sag','skill.brief','mag',1.76364000058798503882e+09,1.76364000058887505527e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('sag2','sag','skill.brief','mag',1.76364000058962702753e+09,1.76364000059044766428e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('down-0','ag1','skill.down',NULL,1.76364000060316395757e+09,1.7636400006098124981e+09,'error',1,0,0,0,0,0,'all_targets_failed','skill.down: every target failed: anthropic:claude-3-5-haiku-20241022 server_error; last error: anthropic:claude-3-5-haiku-20241022: HTTP 500 (request id req_loopback): loopback: planned HTTP 500 for claude-3-5-haiku-20241022');
CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);
INSERT INTO "schema_migrations" VALUES('0001_runs_attempts_events',1.76364000050212550163e+09);
INSERT INTO "schema_migrations" VALUES('0002_budget_reservations',1.76364000050266408916e+09);
INSERT INTO "schema_migrations" VALUES('0003_agent_spend_rollup',1.76364000050303721431e+09);
INSERT INTO "schema_migrations" VALUES('0004_usage_rollup',1.76364000050344943999e+09);
INSERT INTO "schema_migrations" VALUES('0005_trim_hot_indexes',1.76364000050389933588e+09);
INSERT INTO "schema_migrations" VALUES('0006_error_attempts_cost_zero',1.76364000050421166417e+09);
INSERT INTO "schema_migrations" VALUES('0007_unknown_cost_bound',1.76364000050512814525e+09);
INSERT INTO "schema_migrations" VALUES('0008_run_error',1.76364000050564289096e+09);
INSERT INTO "schema_migrations" VALUES('0009_reservation_attempt',1763640000.50641);
INSERT INTO "schema_migrations" VALUES('0010_day_spend',1763640000.50676);
INSERT INTO "schema_migrations" VALUES('0011_runs_cost',1.76364000050715303419e+09);
INSERT INTO "schema_migrations" VALUES('0012_reservation_ids_never_reused',1.76364000050826931001e+09);
INSERT INTO "schema_migrations" VALUES('0013_attempt_price_details',1.76364000050920271874e+09);
INSERT INTO "schema_migrations" VALUES('0014_usage_rollup_rebuilt_with_bounds',1.76364000051023149485e+09);
INSERT INTO "schema_migrations" VALUES('0015_delegated_runs_name_their_top_run',1.76364000051076245303e+09);
INSERT INTO "schema_migrations" VALUES('0016_costliest_call',1.76364000051196289061e+09);
INSERT INTO "schema_migrations" VALUES('0017_gemini_resource_names_recorded_bare',1.76364000051263380055e+09);
INSERT INTO "schema_migrations" VALUES('0018_usage_rollup_counts_calls',1.76364000051330971721e+09);
CREATE TABLE "usage_rollup" (
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
            bounded          INTEGER NOT NULL DEFAULT 0, call_max_pusd INTEGER NOT NULL DEFAULT -1, call_max_run_id TEXT, call_max_at REAL, calls INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (bucket, model, provider, agent, skill, outcome)
        ) WITHOUT ROWID;
INSERT INTO "usage_rollup" VALUES(20412,'claude-3-5-haiku-20241022','anthropic','ag1','skill.down','error',1,0,0,0,0,0,0,0,0,0,'down-0',1.76364000060830354685e+09,1);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','ag1','skill.brief','error',2,0,0,0,0,0,0,0,0,-1,NULL,NULL,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','ag1','skill.brief','ok',1,56,7,0,0,210000000,0,0,0,210000000,'brief-2',1.76364000058314371105e+09,1);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','mag','skill.brief','ok',1,56,7,0,0,210000000,0,0,0,210000000,'mag',1.76364000058663725851e+09,1);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','sag','skill.brief','ok',2,112,14,0,0,420000000,0,0,0,210000000,'sag1',1.76364000058826518061e+09,2);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o-mini','openai','ag1','skill.brief','ok',2,114,16,0,0,26700000,0,0,0,13350000,'brief-0',1.76364000057868599898e+09,2);
INSERT INTO "usage_rollup" VALUES(20412,'mystery-model-q7','openai','ag2','skill.odd','ok',1,37,10,0,0,0,1,0,0,0,'odd-0',1.76364000058532834048e+09,1);
CREATE INDEX runs_started ON runs(started_at);
CREATE INDEX runs_agent ON runs(agent, started_at);
CREATE INDEX attempts_started ON attempts(started_at);
CREATE INDEX attempts_model ON attempts(model, started_at);
CREATE INDEX attempts_agent ON attempts(agent, started_at);
CREATE INDEX attempts_run_cost ON attempts(run_id, cost_pusd);
CREATE INDEX events_run ON events(run_id);
CREATE INDEX events_at ON events(at);
CREATE INDEX runs_parent ON runs(parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX runs_cost ON runs(cost_pusd + cost_bound_pusd);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('budget_reservations',8);
COMMIT;
