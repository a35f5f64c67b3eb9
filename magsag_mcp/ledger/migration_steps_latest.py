"""The ledger's schema migrations from 0032 on: the tail of :data:`.migration_steps.MIGRATIONS`, where the next one
is added (0001 to 0013 are in :mod:`.migration_steps`, 0014 to 0022 in :mod:`.migration_steps_later` and 0023 to 0031
in :mod:`.migration_steps_0023_0031`, whose rules hold here: append-only and named, never edit a shipped one). Apart so
that no module of them passes 500 lines."""

from __future__ import annotations

LATEST_MIGRATIONS: list[tuple[str, str]] = [
    (
        # `flow summarize`'s read of the local attempts that went off this machine (local_off_machine.py: model ->
        # host -> attempts) filters on the provider and the endpoint, which no index held: an unfiltered summary
        # scanned every attempt for it (160 ms of a summary over 1,000,000 attempts, against 64 ms without the read).
        # Only a local attempt that recorded an endpoint (one that went off the machine) is in this index, and it
        # holds every column the read takes (the provider too, last: SQLite reads a column the condition names from
        # the row, not from the condition), so the read walks those alone and seeks no row. An attempt of any other
        # provider, or a local one on the operator's own server (no endpoint), adds no entry: a record's INSERT tests
        # the condition and writes nothing more.
        "0032_attempts_local_off_machine",
        """
        CREATE INDEX attempts_local_off_machine ON attempts (model, endpoint, outcome, provider)
            WHERE provider = 'local' AND endpoint IS NOT NULL
        """,
    ),
    (
        # Claude's cache writes whose time to live the answer did not say (Usage.cache_write_ttl_unsaid_tokens: a
        # stream's writes past message_start's split, all of a usage without cache_creation), priced at the one time to
        # live every cache marker of the request asked, or of unknown cost where they asked none or both: recorded
        # with no count of them, the row's cost could not be told from its tokens (cache_write_1h_tokens is the
        # answer's own split, which leaves them out). NULL on an attempt recorded before it: not counted then, not
        # none. usage_rollup sums the counts recorded, a summary's as the other cache writes are.
        "0033_cache_write_ttl_unsaid",
        """
        ALTER TABLE attempts ADD COLUMN cache_write_ttl_unsaid_tokens INTEGER;
        ALTER TABLE usage_rollup ADD COLUMN cache_write_ttl_unsaid_tokens INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        # The attempts recorded before 0033 that wrote to the cache (cache_write_ttl_unsaid_tokens NULL, not counted
        # then): a summary's cache_write_ttl_unsaid_tokens leaves out whatever of theirs went unsaid, and says how
        # many they are beside it (cache_write_ttl_uncounted_attempts, see ledger/ttl_uncounted.py), which this
        # index finds without a scan of every attempt. No attempt recorded since is in it (0033 records a count, 0
        # for none, and Ledger.record_call refuses a None), so it holds an upgraded ledger's older rows alone, and a
        # ledger this version made keeps it empty: a summary's look at it is one step. The columns a summary's filters
        # and groups read, the outcome and the run included, so that the count seeks no row.
        "0034_attempts_cache_write_ttl_uncounted",
        """
        CREATE INDEX attempts_cache_write_ttl_uncounted
            ON attempts (started_at, model, provider, agent, skill, outcome, run_id)
            WHERE cache_write_ttl_unsaid_tokens IS NULL AND cache_write_tokens > 0
        """,
    ),
    (
        # The marks `magsag data prune` leaves at its cutoff (prune.py's PRUNED_EVENT), read by every summary and list
        # of runs and every budget status of a windowed limit (prune.pruned_before: the latest), and by each prune step
        # (prune._mark: one at or after its end). Found among the run-less events by events_run and sorted, the latest
        # took 0.29-0.36 s of a ledger of 1,000,000 events (500,000 run-less); each step's look walked events_at over
        # every event after its end (47 ms past a 90-day cutoff). A prune keeps one mark, so this index holds one
        # entry (none before the first prune): the latest is one step down it (0.02 ms, with the look for the index),
        # and an event of any other name adds no entry (a record's INSERT tests the condition and writes nothing more).
        # Its condition is the name as a literal: SQLite uses a partial index only where a query's WHERE implies the
        # index's own. Made, it reads every event once, holding the write lock (0.14-0.3 s of 1,000,000 events).
        "0035_events_prune_marks",
        """
        CREATE INDEX events_prune_marks ON events (at) WHERE event = 'ledger_pruned'
        """,
    ),
    (
        # A Claude answer whose cache_creation split by time to live counted more writes than its
        # cache_creation_input_tokens (Usage.cache_write_split_past_tokens: a gateway's usage, or a broken count) is
        # priced at the split's figure, the larger, and may have been billed less: said in the attempt's warnings
        # alone, its row could not be told from one whose writes agreed, and no summary counted such attempts. How many
        # more the split counted, on each attempt (NULL on one recorded before it: not counted then, not none), and
        # summed in usage_rollup as 0033's unsaid writes are.
        "0036_cache_write_split_past",
        """
        ALTER TABLE attempts ADD COLUMN cache_write_split_past_tokens INTEGER;
        ALTER TABLE usage_rollup ADD COLUMN cache_write_split_past_tokens INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        # A turn left paused and its continuation (Service.continue_paused) are one story, told in two calls under one
        # run: the continuation's first attempt said in its warnings which attempt's turn it went on with, but no
        # column linked the two, and the paused call's row did not say it was left paused, nor the id it was held by.
        # paused_id: on the attempt whose answer's turn was left paused, the id it was held by (what continue_paused
        # takes); continues_paused_id: on every attempt of a continuation (its failed tries too), the paused_id it
        # continued. NULL on the rows recorded before it, and on every other attempt.
        "0037_paused_call_links",
        """
        ALTER TABLE attempts ADD COLUMN paused_id TEXT;
        ALTER TABLE attempts ADD COLUMN continues_paused_id TEXT;
        """,
    ),
]
