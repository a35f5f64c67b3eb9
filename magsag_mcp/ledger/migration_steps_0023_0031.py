"""The ledger's schema migrations 0023 to 0031 (0001 to 0013 are in :mod:`.migration_steps`, whose rules hold here:
append-only and named, never edit a shipped one; 0014 to 0022 are in :mod:`.migration_steps_later`, and the next one
is added in :mod:`.migration_steps_latest`). Apart so that no module of them passes 500 lines."""

from __future__ import annotations

MIGRATIONS_0023_0031: list[tuple[str, str]] = [
    (
        # The answer cache (see answer_cache.py), off unless a route or a call turns it on: one row per request as it
        # would go on the wire to one target, for one agent (its key, a sha256 of both: never a body nor an API key),
        # holding what a result is made of and what its original attempt cost. Its rows expire (swept as answers are
        # stored) and are bounded in number (answer_cache.MAX_ENTRIES). An attempt answered from it is recorded as its
        # own attempt, priced "cache" at $0, and in cache_hits beside it (written with it, in its record's transaction),
        # with saved_pusd the cost of the answer when it was paid for (NULL where that was unknown) and the run that
        # paid it: a summary's cache hits and what they saved. No attempts column: the attempts' rows are written as
        # the version before wrote them.
        "0023_answer_cache",
        """
        CREATE TABLE answer_cache (
            key         TEXT PRIMARY KEY,
            agent       TEXT,
            provider    TEXT NOT NULL,
            model       TEXT NOT NULL,
            created_at  REAL NOT NULL,
            expires_at  REAL NOT NULL,
            run_id      TEXT NOT NULL,
            cost_pusd   INTEGER,
            answer      TEXT NOT NULL
        );
        CREATE INDEX answer_cache_expires ON answer_cache (expires_at);
        CREATE INDEX answer_cache_created ON answer_cache (created_at);
        CREATE TABLE cache_hits (
            id              INTEGER PRIMARY KEY,
            run_id          TEXT NOT NULL,
            started_at      REAL NOT NULL,
            provider        TEXT NOT NULL,
            model           TEXT NOT NULL,
            skill           TEXT,
            agent           TEXT,
            saved_pusd      INTEGER,
            cached_from     TEXT
        );
        CREATE INDEX cache_hits_started ON cache_hits (started_at)
        """,
    ),
    (
        # A reservation names the process that holds it (see reservation_owners.py): where its process id means one
        # process (Linux's boot id and pid namespace), the id, and when that process started (clock ticks since boot,
        # which tell it from a later process given the same id). A process of the same place that finds the owner gone
        # (SIGKILLed, crashed) records the call as abandoned at once, rather than at the reservation's expiry, 15
        # minutes or more. Older rows (and an older version's, still running) name none: they keep their expiry.
        "0024_reservation_owner",
        """
        ALTER TABLE budget_reservations ADD COLUMN owner_host TEXT;
        ALTER TABLE budget_reservations ADD COLUMN owner_pid INTEGER;
        ALTER TABLE budget_reservations ADD COLUMN owner_started INTEGER
        """,
    ),
    (
        # What each Azure deployment was last seen serving (see ledger/azure_served.py): its endpoint's host and its
        # name (never a key), the model its last answer named, and when. A process reads a deployment's row before its
        # first call to it, so one last seen serving a model the policies forbid is refused before anything is sent,
        # where each new process paid for one call to learn it again. An older version writes no row: its calls are
        # learnt by the next process of this one that calls the deployment.
        "0025_azure_served",
        """
        CREATE TABLE azure_served (
            endpoint    TEXT NOT NULL,
            deployment  TEXT NOT NULL,
            model       TEXT NOT NULL,
            seen_at     REAL NOT NULL,
            PRIMARY KEY (endpoint, deployment)
        )
        """,
    ),
    (
        # The model each answer said it came from (the vendor's ``model`` field), beside the model called: an Azure
        # deployment is named by its operator (gpt-4o-mini) and may serve another model (gpt-4o), which `flow gate` and
        # the summaries judge by where this is known. Written on the attempt's own INSERT (no statement more a call).
        # Older rows, and an older version's (still running), write none: NULL, judged by the deployment's name.
        "0026_attempt_served_model",
        "ALTER TABLE attempts ADD COLUMN served_model TEXT",
    ),
    (
        # The data classes each call was held to (the skill's, its agent run's, its context's), as a JSON list: only
        # explain showed them, so `flow gate` could not check a policy's requirements (data class -> models) against
        # what was called. Written on the attempt's own INSERT (no statement more a call). Older rows, and an older
        # version's (still running), write none: NULL, a call of no class as far as the gate can tell. The partial
        # index holds the attempts of some class alone: `flow summarize` reads them by time, and an unclassed call's
        # INSERT does not touch it.
        "0027_attempt_data_classes",
        """
        ALTER TABLE attempts ADD COLUMN data_classes TEXT;
        CREATE INDEX attempts_data_classes ON attempts (started_at) WHERE data_classes IS NOT NULL
        """,
    ),
    (
        # When `magsag azure forget` last dropped what a deployment (of an endpoint, or '' for every endpoint's) was
        # seen serving (see ledger/azure_served.py). A deleted row alone could not be told from a row a process failed
        # to write (a full disk), which it writes again; and a sighting made before the forget, written after it (a
        # queued write, or that retry), brought the forgotten row back. Sightings older than this are not written, and
        # a process reading it forgets what it saw before. An older version writes none: its forget is a delete alone.
        "0028_azure_forgotten",
        """
        CREATE TABLE azure_forgotten (
            endpoint      TEXT NOT NULL,
            deployment    TEXT NOT NULL,
            forgotten_at  REAL NOT NULL,
            PRIMARY KEY (endpoint, deployment)
        )
        """,
    ),
    (
        # The endpoint an Azure attempt went to, as azure_served keys it (served_models.endpoint_host: the host and a
        # gateway's path, never a key): two resources may each have a deployment of one name serving different
        # models, and `flow summarize`/`flow gate` merged their answers by the name alone. Written on the attempt's
        # own INSERT (no statement more a call). NULL for other providers (their base_url is in the catalog, one per
        # target) and for older rows and an older version's (still running): a deployment at an unknown endpoint.
        "0029_attempt_endpoint",
        "ALTER TABLE attempts ADD COLUMN endpoint TEXT",
    ),
    (
        # The parts of an attempt's bill its tokens alone do not give, so that an export re-derives every cost: the
        # image tokens of its output (Gemini's candidatesTokensDetails, billed at an image rate), where inference ran
        # (Anthropic's usage.inference_geo: "us" is billed at 1.1x the token rates) and its per-use server tool calls
        # as a JSON object of counts keyed by the tool's API name, its keys sorted ({"web_search": 3}: Anthropic's
        # usage.server_tool_use, billed per search beside the tokens; the Responses API's web_search_call, ... items;
        # Gemini's grounded_prompt). Written on the attempt's own INSERT (no statement more a call). NULL where the
        # answer did not say (never 0 for that: {} is a count of none said), for older rows and an older version's.
        "0030_attempt_billing_parts",
        """
        ALTER TABLE attempts ADD COLUMN output_image_tokens INTEGER;
        ALTER TABLE attempts ADD COLUMN inference_geo TEXT;
        ALTER TABLE attempts ADD COLUMN server_tool_uses TEXT
        """,
    ),
    (
        # Summaries gave none of 0030's parts of a bill (an attempt's output image tokens, where its inference ran,
        # its per-use server tool calls), which only an export of the attempts showed. The rollup sums them as it sums
        # the rest: the image tokens the answers said, the attempts run US-only (inference_geo 'us', billed at 1.1x),
        # and the server tool calls of each kind in a column of its own (the tool's API name: no JSON merged in the
        # record's upsert). An answer that did not say a part (NULL) adds nothing to its sum and is not counted among
        # the attempts that said it (output_image_said, geo_said, tool_uses_said), as an unknown cost adds to
        # unpriced and not to cost_pusd: a summary tells a part none of the attempts said (null) from a count of none
        # (0), and how many attempts said it. Backfilled from the attempts, as 0021 summed the cache writes (a work
        # table of the attempts that said any, one scan). A rollup row with no attempt left keeps what it had, its
        # parts at 0, said by none: they were never rolled up.
        "0031_usage_rollup_billing_parts",
        """
        ALTER TABLE usage_rollup ADD COLUMN output_image_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN output_image_said INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN us_inference INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN geo_said INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN tool_uses_said INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN web_search_uses INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN file_search_uses INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN code_interpreter_uses INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN image_generation_uses INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE usage_rollup ADD COLUMN grounded_prompt_uses INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE parts_0031 (
            bucket INTEGER, model TEXT, provider TEXT, agent TEXT, skill TEXT, outcome TEXT, images INTEGER,
            images_said INTEGER, us INTEGER, geo_said INTEGER, tools_said INTEGER, web_search INTEGER,
            file_search INTEGER, code_interpreter INTEGER, image_generation INTEGER, grounded_prompt INTEGER
        );
        INSERT INTO parts_0031
            SELECT CAST(started_at / 86400 AS INTEGER), model, provider, coalesce(agent, ''), coalesce(skill, ''),
                outcome, coalesce(SUM(output_image_tokens), 0), SUM(output_image_tokens IS NOT NULL),
                SUM(coalesce(inference_geo = 'us', 0)), SUM(inference_geo IS NOT NULL),
                SUM(server_tool_uses IS NOT NULL),
                coalesce(SUM(json_extract(server_tool_uses, '$.web_search')), 0),
                coalesce(SUM(json_extract(server_tool_uses, '$.file_search')), 0),
                coalesce(SUM(json_extract(server_tool_uses, '$.code_interpreter')), 0),
                coalesce(SUM(json_extract(server_tool_uses, '$.image_generation')), 0),
                coalesce(SUM(json_extract(server_tool_uses, '$.grounded_prompt')), 0)
            FROM attempts
            WHERE output_image_tokens IS NOT NULL OR inference_geo IS NOT NULL OR server_tool_uses IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5, 6;
        CREATE UNIQUE INDEX parts_0031_key ON parts_0031 (bucket, model, provider, agent, skill, outcome);
        UPDATE usage_rollup SET (
                output_image_tokens, output_image_said, us_inference, geo_said, tool_uses_said, web_search_uses,
                file_search_uses, code_interpreter_uses, image_generation_uses, grounded_prompt_uses
            ) = (
                SELECT p.images, p.images_said, p.us, p.geo_said, p.tools_said, p.web_search, p.file_search,
                    p.code_interpreter, p.image_generation, p.grounded_prompt
                FROM parts_0031 p
                WHERE p.bucket = usage_rollup.bucket AND p.model = usage_rollup.model
                    AND p.provider = usage_rollup.provider AND p.agent = usage_rollup.agent
                    AND p.skill = usage_rollup.skill AND p.outcome = usage_rollup.outcome
            )
            WHERE EXISTS (
                SELECT 1 FROM parts_0031 p
                WHERE p.bucket = usage_rollup.bucket AND p.model = usage_rollup.model
                    AND p.provider = usage_rollup.provider AND p.agent = usage_rollup.agent
                    AND p.skill = usage_rollup.skill AND p.outcome = usage_rollup.outcome
            );
        DROP TABLE parts_0031
        """,
    ),
]
