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
        , cost_bound_pusd INTEGER, service_tier TEXT, cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0, input_audio_tokens INTEGER NOT NULL DEFAULT 0, output_audio_tokens INTEGER NOT NULL DEFAULT 0);
INSERT INTO "attempts" VALUES(1,'brief-0',1.76364000073952865597e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,0,NULL,2.15369500074302777647e+00,1,0,NULL,1,NULL,NULL,0,0,0);
INSERT INTO "attempts" VALUES(2,'brief-0',1.76364000074219512935e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',0.65137699857587,1,1,NULL,2,NULL,NULL,0,0,0);
INSERT INTO "attempts" VALUES(3,'brief-1',1.76364000075185251232e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,0,NULL,7.05840000591706484556e-01,1,0,NULL,3,NULL,NULL,0,0,0);
INSERT INTO "attempts" VALUES(4,'brief-1',1.76364000075276470182e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',5.13922997924964874982e-01,1,1,NULL,4,NULL,NULL,0,0,0);
INSERT INTO "attempts" VALUES(5,'brief-2',1.76364000075581169131e+09,'openai','gpt-4o','skill.brief','ag1','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.82872002269141376018e-01,1,0,NULL,5,NULL,NULL,0,0,0);
INSERT INTO "attempts" VALUES(6,'odd-0',1.7636400007605826855e+09,'openai','mystery-model-q7','skill.odd','ag2','ok',NULL,NULL,37,10,0,0,0,47,NULL,NULL,5.37407999217975884675e-01,1,0,'["no price known for openai:mystery-model-q7; its cost is recorded as unknown. Add it to catalog/prices.yaml, e.g. \"openai:mystery-model-q7\": {input: 0.5, output: 1.5}"]',NULL,NULL,NULL,0,0,0);
INSERT INTO "attempts" VALUES(7,'mag',1.76364000076372313494e+09,'openai','gpt-4o','skill.brief','mag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.2041700109839439392e-01,1,0,NULL,6,NULL,NULL,0,0,0);
INSERT INTO "attempts" VALUES(8,'sag1',1.7636400007669448852e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',6.45221996819600462913e-01,1,0,NULL,7,NULL,NULL,0,0,0);
INSERT INTO "attempts" VALUES(9,'sag2',1.7636400007758750916e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',4.56526999187190085649e-01,1,0,NULL,8,NULL,NULL,0,0,0);
INSERT INTO "attempts" VALUES(10,'down-0',1.76364000078835225109e+09,'anthropic','claude-3-5-haiku-20241022','skill.down','ag1','error','server_error','anthropic:claude-3-5-haiku-20241022: HTTP 500: loopback: planned HTTP 500 for claude-3-5-haiku-20241022',0,0,0,0,0,0,0,NULL,1.14471700362628325819e+00,1,0,NULL,9,NULL,NULL,0,0,0);
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
INSERT INTO "budget_reservations" VALUES(10,'slow-0','ag2',1.76364000122501444816e+09,1.76364090122501444811e+09,4608000000,'held','slow-0','anthropic','claude-3-5-sonnet-20241022','skill.slow');
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
INSERT INTO "runs" VALUES('brief-0','ag1','skill.brief',NULL,1.76364000060442209245e+09,1.76364000074291181561e+09,'ok',1,57,8,13350000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('brief-1','ag1','skill.brief',NULL,1.76364000075156474112e+09,1.76364000075333070757e+09,'ok',1,57,8,13350000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('brief-2','ag1','skill.brief',NULL,1.76364000075555205342e+09,1.76364000075643849374e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('odd-0','ag2','skill.odd',NULL,1.76364000075952506068e+09,1.7636400007611694336e+09,'ok',1,37,10,0,1,0,NULL,NULL);
INSERT INTO "runs" VALUES('mag','mag','skill.brief',NULL,1.76364000076349854463e+09,1.76364000076427888865e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('sag1','sag','skill.brief','mag',1.76364000076676201824e+09,1.76364000076762890813e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('sag2','sag','skill.brief','mag',1.76364000077569818493e+09,1.76364000077636408803e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('down-0','ag1','skill.down',NULL,1.76364000078321814541e+09,1.76364000078959918017e+09,'error',1,0,0,0,0,0,'all_targets_failed','skill.down: every target failed: anthropic:claude-3-5-haiku-20241022 server_error; last error: anthropic:claude-3-5-haiku-20241022: HTTP 500: loopback: planned HTTP 500 for claude-3-5-haiku-20241022');
CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);
INSERT INTO "schema_migrations" VALUES('0001_runs_attempts_events',1.76364000053213572502e+09);
INSERT INTO "schema_migrations" VALUES('0002_budget_reservations',1.7636400005356914997e+09);
INSERT INTO "schema_migrations" VALUES('0003_agent_spend_rollup',1.7636400005396957397e+09);
INSERT INTO "schema_migrations" VALUES('0004_usage_rollup',1.76364000054376864438e+09);
INSERT INTO "schema_migrations" VALUES('0005_trim_hot_indexes',1.76364000054772067068e+09);
INSERT INTO "schema_migrations" VALUES('0006_error_attempts_cost_zero',1.76364000054992151262e+09);
INSERT INTO "schema_migrations" VALUES('0007_unknown_cost_bound',1.76364000055630111693e+09);
INSERT INTO "schema_migrations" VALUES('0008_run_error',1.7636400005569663048e+09);
INSERT INTO "schema_migrations" VALUES('0009_reservation_attempt',1.76364000055897212032e+09);
INSERT INTO "schema_migrations" VALUES('0010_day_spend',1.76364000056764054294e+09);
INSERT INTO "schema_migrations" VALUES('0011_runs_cost',1.76364000057158923145e+09);
INSERT INTO "schema_migrations" VALUES('0012_reservation_ids_never_reused',1.76364000057651948926e+09);
INSERT INTO "schema_migrations" VALUES('0013_attempt_price_details',1.76364000058016061776e+09);
INSERT INTO "schema_migrations" VALUES('0014_usage_rollup_rebuilt_with_bounds',1.76364000058444881442e+09);
INSERT INTO "schema_migrations" VALUES('0015_delegated_runs_name_their_top_run',1.76364000058777904505e+09);
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
            bounded          INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (bucket, model, provider, agent, skill, outcome)
        ) WITHOUT ROWID;
INSERT INTO "usage_rollup" VALUES(20412,'claude-3-5-haiku-20241022','anthropic','ag1','skill.down','error',1,0,0,0,0,0,0,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','ag1','skill.brief','error',2,0,0,0,0,0,0,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','ag1','skill.brief','ok',1,56,7,0,0,210000000,0,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','mag','skill.brief','ok',1,56,7,0,0,210000000,0,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','sag','skill.brief','ok',2,112,14,0,0,420000000,0,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o-mini','openai','ag1','skill.brief','ok',2,114,16,0,0,26700000,0,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'mystery-model-q7','openai','ag2','skill.odd','ok',1,37,10,0,0,0,1,0,0);
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
INSERT INTO "sqlite_sequence" VALUES('budget_reservations',10);
COMMIT;
