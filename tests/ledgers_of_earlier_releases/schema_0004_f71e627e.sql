BEGIN TRANSACTION;
CREATE TABLE agent_spend (
            agent     TEXT NOT NULL,
            bucket    INTEGER NOT NULL,
            cost_pusd INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (agent, bucket)
        ) WITHOUT ROWID;
INSERT INTO "agent_spend" VALUES('ag1',1959600,236700000);
INSERT INTO "agent_spend" VALUES('mag',1959600,210000000);
INSERT INTO "agent_spend" VALUES('sag',1959600,420000000);
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
INSERT INTO "attempts" VALUES(1,'brief-0',1.76364000046619081498e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,NULL,NULL,4.09574499644804745912e+00,1,0,NULL,1);
INSERT INTO "attempts" VALUES(2,'brief-0',1.7636400004706823826e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',5.86962996749207377433e-01,1,1,NULL,2);
INSERT INTO "attempts" VALUES(3,'brief-1',1.76364000047506809237e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,NULL,NULL,6.19605998508632183074e-01,1,0,NULL,1);
INSERT INTO "attempts" VALUES(4,'brief-1',1.76364000047581648833e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',4.37852999311871826648e-01,1,1,NULL,2);
INSERT INTO "attempts" VALUES(5,'brief-2',1.76364000048131179814e+09,'openai','gpt-4o','skill.brief','ag1','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',1.57304199819918721914e+00,1,0,NULL,1);
INSERT INTO "attempts" VALUES(6,'odd-0',1.76364000048448657988e+09,'openai','mystery-model-q7','skill.odd','ag2','ok',NULL,NULL,37,10,0,0,0,47,NULL,NULL,4.72702995466534048318e-01,1,0,'["no price known for openai:mystery-model-q7; its cost is recorded as unknown. Add it to catalog/prices.yaml, e.g. \"openai:mystery-model-q7\": {input: 0.5, output: 1.5}"]',NULL);
INSERT INTO "attempts" VALUES(7,'mag',1.76364000048618435861e+09,'openai','gpt-4o','skill.brief','mag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.41476001671981066465e-01,1,0,NULL,1);
INSERT INTO "attempts" VALUES(8,'sag1',1.76364000048773241044e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.41070003237109631299e-01,1,0,NULL,1);
INSERT INTO "attempts" VALUES(9,'sag2',1.76364000048915266988e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.25734998518601059913e-01,1,0,NULL,1);
INSERT INTO "attempts" VALUES(10,'down-0',1.76364000050193500514e+09,'anthropic','claude-3-5-haiku-20241022','skill.down','ag1','error','server_error','anthropic:claude-3-5-haiku-20241022: HTTP 500: loopback: planned HTTP 500 for claude-3-5-haiku-20241022',0,0,0,0,0,0,NULL,NULL,4.87058400176465511322e+00,1,0,NULL,1);
CREATE TABLE budget_reservations (
            id          INTEGER PRIMARY KEY,
            run_id      TEXT,
            agent       TEXT,
            created_at  REAL NOT NULL,
            expires_at  REAL NOT NULL,
            amount_pusd INTEGER NOT NULL,
            state       TEXT NOT NULL CHECK (state IN ('held', 'settled'))
        );
INSERT INTO "budget_reservations" VALUES(1,'slow-0','ag2',1.76364000108532285688e+09,1.76364090108532285692e+09,4608000000,'held');
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
        );
INSERT INTO "runs" VALUES('brief-0','ag1','skill.brief',NULL,1.7636400003638410568e+09,1.76364000047132182119e+09,'ok',1,57,8,13350000,0);
INSERT INTO "runs" VALUES('brief-1','ag1','skill.brief',NULL,1.76364000047471451756e+09,1.76364000047628855707e+09,'ok',1,57,8,13350000,0);
INSERT INTO "runs" VALUES('brief-2','ag1','skill.brief',NULL,1.76364000048105216021e+09,1.76364000048292469979e+09,'ok',1,56,7,210000000,0);
INSERT INTO "runs" VALUES('odd-0','ag2','skill.odd',NULL,1.76364000048359370227e+09,1.76364000048527812952e+09,'ok',1,37,10,0,1);
INSERT INTO "runs" VALUES('mag','mag','skill.brief',NULL,1.76364000048595190046e+09,1.76364000048675441736e+09,'ok',1,56,7,210000000,0);
INSERT INTO "runs" VALUES('sag1','sag','skill.brief','mag',1.76364000048751544957e+09,1.76364000048830080026e+09,'ok',1,56,7,210000000,0);
INSERT INTO "runs" VALUES('sag2','sag','skill.brief','sag1',1.76364000048895502087e+09,1.76364000048970365522e+09,'ok',1,56,7,210000000,0);
INSERT INTO "runs" VALUES('down-0','ag1','skill.down',NULL,1.76364000049803972243e+09,1.76364000050689435005e+09,'error',1,0,0,0,0);
CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);
INSERT INTO "schema_migrations" VALUES('0001_runs_attempts_events',1.76364000034914207462e+09);
INSERT INTO "schema_migrations" VALUES('0002_budget_reservations',1.76364000035476970679e+09);
INSERT INTO "schema_migrations" VALUES('0003_agent_spend_rollup',1.76364000035535764695e+09);
INSERT INTO "schema_migrations" VALUES('0004_usage_rollup',1.76364000035876941682e+09);
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
INSERT INTO "usage_rollup" VALUES(20412,'claude-3-5-haiku-20241022','anthropic','ag1','skill.down','error',1,0,0,0,0,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','ag1','skill.brief','error',2,0,0,0,0,0,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','ag1','skill.brief','ok',1,56,7,0,0,210000000,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','mag','skill.brief','ok',1,56,7,0,0,210000000,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o','openai','sag','skill.brief','ok',2,112,14,0,0,420000000,0);
INSERT INTO "usage_rollup" VALUES(20412,'gpt-4o-mini','openai','ag1','skill.brief','ok',2,114,16,0,0,26700000,0);
INSERT INTO "usage_rollup" VALUES(20412,'mystery-model-q7','openai','ag2','skill.odd','ok',1,37,10,0,0,0,1);
CREATE INDEX runs_started ON runs(started_at);
CREATE INDEX runs_agent ON runs(agent, started_at);
CREATE INDEX runs_parent ON runs(parent_run_id);
CREATE INDEX attempts_run ON attempts(run_id);
CREATE INDEX attempts_started ON attempts(started_at);
CREATE INDEX attempts_model ON attempts(model, started_at);
CREATE INDEX attempts_agent ON attempts(agent, started_at);
CREATE INDEX attempts_run_cost ON attempts(run_id, cost_pusd);
CREATE INDEX events_run ON events(run_id);
CREATE INDEX events_at ON events(at);
CREATE INDEX budget_res_run ON budget_reservations(run_id);
CREATE INDEX budget_res_agent ON budget_reservations(agent, created_at);
COMMIT;
