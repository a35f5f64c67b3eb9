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
INSERT INTO "attempts" VALUES(1,'brief-0',1.76364000055196523666e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,0,NULL,2.08978199952980503439e+00,1,0,NULL,1,NULL,NULL,0,0,0,NULL);
INSERT INTO "attempts" VALUES(2,'brief-0',1.76364000055447578429e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',0.61385099979816,1,1,NULL,1,NULL,NULL,0,0,0,13350000);
INSERT INTO "attempts" VALUES(3,'brief-1',1.76364000055645561218e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,0,NULL,7.00106000294908881187e-01,1,0,NULL,2,NULL,NULL,0,0,0,NULL);
INSERT INTO "attempts" VALUES(4,'brief-1',1.76364000055729126933e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',4.78549998661037534475e-01,1,1,NULL,2,NULL,NULL,0,0,0,13350000);
INSERT INTO "attempts" VALUES(5,'brief-2',1.76364000055863094328e+09,'openai','gpt-4o','skill.brief','ag1','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.03392002428881824016e-01,1,0,NULL,3,NULL,NULL,0,0,0,210000000);
INSERT INTO "attempts" VALUES(6,'odd-0',1.76364000056085896495e+09,'openai','mystery-model-q7','skill.odd','ag2','ok',NULL,NULL,37,10,0,0,0,47,NULL,NULL,6.16538003669120371341e-01,1,0,'["no price known for openai:mystery-model-q7; its cost is recorded as unknown. Add it to catalog/prices.yaml, e.g. \"openai:mystery-model-q7\": {input: 0.5, output: 1.5}"]',4,NULL,NULL,0,0,0,0);
INSERT INTO "attempts" VALUES(7,'mag',1.76364000056237411493e+09,'openai','gpt-4o','skill.brief','mag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',4.80931004858575761318e-01,1,0,NULL,5,NULL,NULL,0,0,0,210000000);
INSERT INTO "attempts" VALUES(8,'sag1',1.76364000056415605541e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.7406799896853044629e-01,1,0,NULL,6,NULL,NULL,0,0,0,210000000);
INSERT INTO "attempts" VALUES(9,'sag2',1.76364000056569790843e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',4.40253003034740686416e-01,1,0,NULL,7,NULL,NULL,0,0,0,210000000);
INSERT INTO "attempts" VALUES(10,'down-0',1.7636400005827496052e+09,'anthropic','claude-3-5-haiku-20241022','skill.down','ag1','error','server_error','anthropic:claude-3-5-haiku-20241022: HTTP 500 (request id req_loopback): loopback: planned HTTP 500 for claude-3-5-haiku-20241022',0,0,0,0,0,0,0,NULL,1.30320800235494971275e+00,1,0,NULL,8,NULL,NULL,0,0,0,0);
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
        , call_id TEXT, unbounded INTEGER NOT NULL DEFAULT 0);
INSERT INTO "budget_reservations" VALUES(9,'slow-0','ag2',1.76364000092902827258e+09,1.7636409009290282727e+09,4608000000,'held','slow-0','anthropic','claude-3-5-sonnet-20241022','skill.slow','00c2f98806d06887',0);
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
INSERT INTO "runs" VALUES('brief-0','ag1','skill.brief',NULL,1.76364000048902511597e+09,1.76364000055518627164e+09,'ok',1,57,8,13350000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('brief-1','ag1','skill.brief',NULL,1.76364000055618333822e+09,1.76364000055783939359e+09,'ok',1,57,8,13350000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('brief-2','ag1','skill.brief',NULL,1763640000.55842,1.76364000055918645863e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('odd-0','ag2','skill.odd',NULL,1.76364000055968570706e+09,1.76364000056154489521e+09,'ok',1,37,10,0,1,0,NULL,NULL);
INSERT INTO "runs" VALUES('mag','mag','skill.brief',NULL,1.76364000056217861168e+09,1.76364000056289815907e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('sag1','sag','skill.brief','mag',1.7636400005637435913e+09,1.76364000056478095052e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('sag2','sag','skill.brief','mag',1.76364000056549715994e+09,1.76364000056617498393e+09,'ok',1,56,7,210000000,0,0,NULL,NULL);
INSERT INTO "runs" VALUES('down-0','ag1','skill.down',NULL,1.76364000057732415202e+09,1.76364000058425617221e+09,'error',1,0,0,0,0,0,'all_targets_failed','skill.down: every target failed: anthropic:claude-3-5-haiku-20241022 server_error; last error: anthropic:claude-3-5-haiku-20241022: HTTP 500 (request id req_loopback): loopback: planned HTTP 500 for claude-3-5-haiku-20241022');
CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);
INSERT INTO "schema_migrations" VALUES('0001_runs_attempts_events',1.76364000046954607966e+09);
INSERT INTO "schema_migrations" VALUES('0002_budget_reservations',1.76364000047004771233e+09);
INSERT INTO "schema_migrations" VALUES('0003_agent_spend_rollup',1.76364000047040224072e+09);
INSERT INTO "schema_migrations" VALUES('0004_usage_rollup',1.76364000047081065174e+09);
INSERT INTO "schema_migrations" VALUES('0005_trim_hot_indexes',1.76364000047132706647e+09);
INSERT INTO "schema_migrations" VALUES('0006_error_attempts_cost_zero',1.76364000047164916993e+09);
INSERT INTO "schema_migrations" VALUES('0007_unknown_cost_bound',1.76364000047258543965e+09);
INSERT INTO "schema_migrations" VALUES('0008_run_error',1.76364000047312283517e+09);
INSERT INTO "schema_migrations" VALUES('0009_reservation_attempt',1.76364000047379231453e+09);
INSERT INTO "schema_migrations" VALUES('0010_day_spend',1.76364000047412538534e+09);
INSERT INTO "schema_migrations" VALUES('0011_runs_cost',1.76364000047444415093e+09);
INSERT INTO "schema_migrations" VALUES('0012_reservation_ids_never_reused',1.76364000047557616234e+09);
INSERT INTO "schema_migrations" VALUES('0013_attempt_price_details',1.76364000047676920887e+09);
INSERT INTO "schema_migrations" VALUES('0014_usage_rollup_rebuilt_with_bounds',1.76364000047774052617e+09);
INSERT INTO "schema_migrations" VALUES('0015_delegated_runs_name_their_top_run',1.76364000047827315328e+09);
INSERT INTO "schema_migrations" VALUES('0016_costliest_call',1.76364000047955107692e+09);
INSERT INTO "schema_migrations" VALUES('0017_gemini_resource_names_recorded_bare',1.76364000048027086257e+09);
INSERT INTO "schema_migrations" VALUES('0018_usage_rollup_counts_calls',1.763640000480915308e+09);
INSERT INTO "schema_migrations" VALUES('0019_reservation_call_id',1.76364000048149847984e+09);
INSERT INTO "schema_migrations" VALUES('0020_reservation_unbounded',1.76364000048196101189e+09);
INSERT INTO "schema_migrations" VALUES('0021_usage_rollup_cache_writes',1.7636400004827404022e+09);
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
            bounded          INTEGER NOT NULL DEFAULT 0, call_max_pusd INTEGER NOT NULL DEFAULT -1, call_max_run_id TEXT, call_max_at REAL, calls INTEGER NOT NULL DEFAULT 0, cache_write_tokens INTEGER NOT NULL DEFAULT 0, cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (bucket, model, provider, agent, skill, outcome)
        ) WITHOUT ROWID;
INSERT INTO "usage_rollup" VALUES(20412,'claude-3-5-haiku-20241022','anthropic','ag1','skill.down','error',1,0,0,0,0,0,0,0,0,0,'down-0',1.7636400005827496052e+09,1,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','ag1','skill.brief','error',2,0,0,0,0,0,0,0,0,-1,NULL,NULL,0,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','ag1','skill.brief','ok',1,56,7,0,0,210000000,0,0,0,210000000,'brief-2',1.76364000055863094328e+09,1,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','mag','skill.brief','ok',1,56,7,0,0,210000000,0,0,0,210000000,'mag',1.76364000056237411493e+09,1,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','sag','skill.brief','ok',2,112,14,0,0,420000000,0,0,0,210000000,'sag1',1.76364000056415605541e+09,2,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o-mini','openai','ag1','skill.brief','ok',2,114,16,0,0,26700000,0,0,0,13350000,'brief-0',1.76364000055447578429e+09,2,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'mystery-model-q7','openai','ag2','skill.odd','ok',1,37,10,0,0,0,1,0,0,0,'odd-0',1.76364000056085896495e+09,1,0,0);
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
INSERT INTO "sqlite_sequence" VALUES('budget_reservations',9);
COMMIT;
