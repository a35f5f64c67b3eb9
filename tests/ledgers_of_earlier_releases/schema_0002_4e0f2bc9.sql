BEGIN TRANSACTION;
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
INSERT INTO "attempts" VALUES(1,'brief-0',1.76364000101134634022e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,NULL,NULL,1.82171399501385167241e+00,1,0,NULL,1);
INSERT INTO "attempts" VALUES(2,'brief-0',1.76364000102884292599e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',9.33993003854993730783e-01,1,1,NULL,2);
INSERT INTO "attempts" VALUES(3,'brief-1',1.76364000103679823871e+09,'openai','gpt-4o','skill.brief','ag1','error','server_error','openai:gpt-4o: HTTP 500: loopback: planned HTTP 500 for gpt-4o',0,0,0,0,0,0,NULL,NULL,7.40523995773401111364e-01,1,0,NULL,1);
INSERT INTO "attempts" VALUES(4,'brief-1',1.76364000104121947283e+09,'openai','gpt-4o-mini','skill.brief','ag1','ok',NULL,NULL,57,8,0,0,0,65,13350000,'genai-prices',7.3346700082765892148e-01,1,1,NULL,2);
INSERT INTO "attempts" VALUES(5,'brief-2',1.76364000104382658007e+09,'openai','gpt-4o','skill.brief','ag1','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.53165002202149480581e-01,1,0,NULL,1);
INSERT INTO "attempts" VALUES(6,'odd-0',1.76364000104654335978e+09,'openai','mystery-model-q7','skill.odd','ag2','ok',NULL,NULL,37,10,0,0,0,47,NULL,NULL,4.6761200064793229103e-01,1,0,'["no price known for openai:mystery-model-q7; its cost is recorded as unknown. Add it to catalog/prices.yaml, e.g. \"openai:mystery-model-q7\": {input: 0.5, output: 1.5}"]',NULL);
INSERT INTO "attempts" VALUES(7,'mag',1.76364000105564355845e+09,'openai','gpt-4o','skill.brief','mag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.02153001434635370969e-01,1,0,NULL,1);
INSERT INTO "attempts" VALUES(8,'sag1',1.76364000105901384349e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',5.76095000724308192729e-01,1,0,NULL,1);
INSERT INTO "attempts" VALUES(9,'sag2',1.76364000106638860697e+09,'openai','gpt-4o','skill.brief','sag','ok',NULL,NULL,56,7,0,0,0,63,210000000,'genai-prices',1.41489099769387394189e+00,1,0,NULL,1);
INSERT INTO "attempts" VALUES(10,'down-0',1.76364000113263559338e+09,'anthropic','claude-3-5-haiku-20241022','skill.down','ag1','error','server_error','anthropic:claude-3-5-haiku-20241022: HTTP 500: loopback: planned HTTP 500 for claude-3-5-haiku-20241022',0,0,0,0,0,0,NULL,NULL,1.4354410013766027987e+00,1,0,NULL,1);
CREATE TABLE budget_reservations (
            id          INTEGER PRIMARY KEY,
            run_id      TEXT,
            agent       TEXT,
            created_at  REAL NOT NULL,
            expires_at  REAL NOT NULL,
            amount_pusd INTEGER NOT NULL,
            state       TEXT NOT NULL CHECK (state IN ('held', 'settled'))
        );
INSERT INTO "budget_reservations" VALUES(1,'slow-0','ag2',1.76364000258960461611e+09,1.76364090258960461623e+09,4608000000,'held');
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
INSERT INTO "runs" VALUES('brief-0','ag1','skill.brief',NULL,1.76364000095981979373e+09,1.76364000102985405923e+09,'ok',1,57,8,13350000,0);
INSERT INTO "runs" VALUES('brief-1','ag1','skill.brief',NULL,1.76364000103291773801e+09,1.76364000104200553892e+09,'ok',1,57,8,13350000,0);
INSERT INTO "runs" VALUES('brief-2','ag1','skill.brief',NULL,1.76364000104286766049e+09,1.76364000104448652266e+09,'ok',1,56,7,210000000,0);
INSERT INTO "runs" VALUES('odd-0','ag2','skill.odd',NULL,1.76364000104555606837e+09,1.763640001047036171e+09,'ok',1,37,10,0,1);
INSERT INTO "runs" VALUES('mag','mag','skill.brief',NULL,1763640001.05437,1.76364000105626678466e+09,'ok',1,56,7,210000000,0);
INSERT INTO "runs" VALUES('sag1','sag','skill.brief','mag',1.76364000105797839165e+09,1.76364000105962133403e+09,'ok',1,56,7,210000000,0);
INSERT INTO "runs" VALUES('sag2','sag','skill.brief','sag1',1.76364000106526517871e+09,1.76364000106783366198e+09,'ok',1,56,7,210000000,0);
INSERT INTO "runs" VALUES('down-0','ag1','skill.down',NULL,1.76364000111850023266e+09,1.76364000113418245311e+09,'error',1,0,0,0,0);
CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);
INSERT INTO "schema_migrations" VALUES('0001_runs_attempts_events',1.76364000095727515215e+09);
INSERT INTO "schema_migrations" VALUES('0002_budget_reservations',1.76364000095811390873e+09);
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
