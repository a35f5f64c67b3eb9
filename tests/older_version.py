"""The version before this one, for the tests of a ledger it left (an upgrade must not break the server started before
it; a ledger it recorded that cannot be migrated where it is is read from a migrated copy). It knows every migration but
the last, 0037_paused_call_links, which recorded on each attempt the paused_id its answer's turn was left paused under
and the paused_id its call continued: its attempts name neither, and its run pages read none
(:func:`write_without_paused_links`, :func:`leave_as_the_version_before`). The version two back knew
0036_cache_write_split_past neither, which counted on each attempt (and in usage_rollup) the cache writes its answer's
split by time to live counted past its total: its attempts count none, its rollup rows sum none, and its summaries and
run pages read none (:func:`write_without_split_past`, :func:`leave_as_before_0036`). The version three back knew
0035_events_prune_marks neither, an index of the marks `magsag data prune` leaves: it records and reads calls as the
version two back does, the latest prune mark read without the index (the same mark; :func:`leave_as_before_0035`). The
version four back knew 0034_attempts_cache_write_ttl_uncounted neither, an index of the attempts recorded before 0033
that wrote to the cache: its summaries' count of those attempts is read without the index (the same count;
:func:`leave_as_before_0034`). The version five back knew 0033_cache_write_ttl_unsaid neither,
which counted on each attempt (and in usage_rollup) the cache writes whose time to live its answer did not say: its
attempts count none, its rollup rows sum none, and its summaries and run pages read none
(:func:`write_without_ttl_unsaid`, :func:`leave_as_before_0033`). The version six back knew
0032_attempts_local_off_machine neither, an index of the local attempts that went off the machine, and records and reads
calls as the version five back does (:func:`leave_as_before_0032`). The version seven back knew
0031_usage_rollup_billing_parts neither, which summed in usage_rollup the parts of a bill 0030 records on each attempt,
and records calls as this version does but for those: its rollup rows hold none, and its summaries read none
(:func:`write_rollups_without_billing_parts`, :func:`leave_as_before_0031`). The version eight back knew
0030_attempt_billing_parts neither, which recorded on each attempt the parts of its bill its tokens alone do not give
(its output's image tokens, where inference ran, its per-use server tool calls): its attempts record none
(:func:`write_without_billing_parts`, :func:`leave_as_before_0030`). The version nine back knew 0029_attempt_endpoint
neither, which recorded on each Azure attempt the endpoint it went to: its attempts name none
(:func:`write_without_endpoint`, :func:`leave_as_before_0029`). The version ten back knew 0028_azure_forgotten
neither, which kept when `magsag azure forget` dropped a deployment's row: its forget is a delete alone, and it writes
a sighting whenever made (:func:`forget_without_time`, :func:`leave_as_before_0028`). The version eleven back knew
0027_attempt_data_classes neither, which recorded on each attempt the data classes its call was held to: its attempts
name none (:func:`write_without_data_classes`, :func:`leave_as_before_0027`). The version twelve back knew
0026_attempt_served_model neither, which recorded on each attempt the model its answer said it came from: its attempts
name none (:func:`write_without_served_model`, :func:`leave_as_before_0026`). The version thirteen back knew
0025_azure_served neither, which kept what each Azure deployment was seen serving: it reads and writes no such row
(:func:`serve_without_memory`, :func:`leave_as_before_0025`). The version fourteen back knew 0024_reservation_owner
neither, which gave budget_reservations the process holding each (``owner_host``, ``owner_pid``, ``owner_started``): its
reservations name no process (:func:`reserve_without_owners`, :func:`leave_as_before_0024`). The version fifteen back
knew 0023 neither, which added the answer cache's tables (answer_cache, cache_hits: it has no answer cache, and writes
no cache_hits row; :func:`leave_as_before_0023`). The version sixteen back knew 0022 neither, which set the attempts
never sent that it wrote of no cost to $0, and recorded calls as this version does but for those
(:func:`write_unsent_at_null`: an attempt never sent given no cost is written NULL, an unknown cost;
:func:`leave_as_before_0022`). The version seventeen back knew 0021 neither, which gave usage_rollup its cache writes
(:func:`write_rollups_without_cache_writes`, :func:`leave_as_before_0021`), the version eighteen back not 0020, which
gave budget_reservations its ``unbounded`` mark (its reservations, which marked none, are not made here;
:func:`leave_as_before_0020`), and the version nineteen back not 0019, which gave them their ``call_id``
(:func:`act_as_the_version_before` with ``back=19``, :func:`leave_as_before_0019`). The versions before 0018 wrote
usage_rollup rows without ``calls``: :func:`write_rollups_without_calls` writes them so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

LAST = "0037_paused_call_links"
#: the last migrations, newest first: the version ``back`` versions before this one knows none of the first ``back``
NEWEST = (
    LAST,
    "0036_cache_write_split_past",
    "0035_events_prune_marks",
    "0034_attempts_cache_write_ttl_uncounted",
    "0033_cache_write_ttl_unsaid",
    "0032_attempts_local_off_machine",
    "0031_usage_rollup_billing_parts",
    "0030_attempt_billing_parts",
    "0029_attempt_endpoint",
    "0028_azure_forgotten",
    "0027_attempt_data_classes",
    "0026_attempt_served_model",
    "0025_azure_served",
    "0024_reservation_owner",
    "0023_answer_cache",
    "0022_unsent_attempts_cost_zero",
    "0021_usage_rollup_cache_writes",
    "0020_reservation_unbounded",
    "0019_reservation_call_id",
)


def act_as_the_version_before(back: int = 1) -> None:
    """Make this process the version before this one (``back=2``: the one before that), called before any ledger is
    opened."""
    import magsag_mcp.ledger.connection as connection
    import magsag_mcp.ledger.migrations as migrations

    write_without_paused_links()  # (every version before 0037: back is 1 or more)
    if back >= 2:
        write_without_split_past()  # (every version before 0036)
    if back >= 5:
        write_without_ttl_unsaid()  # (every version before 0033)
    if back >= 7:
        write_rollups_without_billing_parts()  # (every version before 0031)
    if back >= 8:
        write_without_billing_parts()  # (every version before 0030)
    if back >= 9:
        write_without_endpoint()  # (every version before 0029)
    if back >= 10:
        forget_without_time()  # (every version before 0028)
    if back >= 11:
        write_without_data_classes()  # (every version before 0027)
    if back >= 12:
        write_without_served_model()  # (every version before 0026)
    if back >= 13:
        serve_without_memory()  # (every version before 0025)
    if back >= 14:
        reserve_without_owners()  # (every version before 0024)
    if back >= 15:
        summarize_without_cache_hits()  # (every version before 0023)
    if back >= 16:
        write_unsent_at_null()  # (every version before 0022)
    if back >= 17:
        write_rollups_without_cache_writes()  # (every version before 0021)

    names = tuple(name for name, _ in migrations.MIGRATIONS[-back:])[::-1]
    assert names == NEWEST[:back], "the version before this one is the one without the last migration"
    migrations.MIGRATIONS = migrations.MIGRATIONS[:-back]
    connection.MIGRATIONS = migrations.MIGRATIONS


def write_without_paused_links(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Record attempts as the versions before 0037 did, naming neither the paused_id their answer's turn was left
    paused under nor the one their call continued, and list them without reading either (``setattr``: a
    monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.run_pages as run_pages
    import magsag_mcp.ledger.writes as writes

    if " paused_id, continues_paused_id," not in writes._INSERT_ATTEMPT:
        return  # (done already, in this block)
    attempt_row = writes._attempt_row
    insert = writes._INSERT_ATTEMPT.replace(" paused_id, continues_paused_id,", "").replace("?,?,?)", "?)")
    assert "paused_id" not in insert and insert.count("?") == 36, insert
    setattr(writes, "_INSERT_ATTEMPT", insert)
    setattr(writes, "_attempt_row", lambda *args: (row := attempt_row(*args))[:-3] + row[-1:])
    setattr(
        run_pages, "_ATTEMPT_COLS", run_pages._ATTEMPT_COLS.replace(", paused_id, continues_paused_id", ", NULL, NULL")
    )


def write_without_split_past(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Record attempts as the versions before 0036 did, without the count of the cache writes their answers' split by
    time to live counted past their total, nor sum it in usage_rollup, and summarize, prune and list them without
    reading it (``setattr``: a monkeypatch's, to be undone)."""
    write_without_paused_links(setattr)
    _write_without_summed_count("cache_write_split_past_tokens", 35, setattr)


def write_without_ttl_unsaid(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Record attempts as the versions before 0033 did, without the count of their cache writes whose time to live the
    answer did not say, nor sum it in usage_rollup, and summarize, prune and list them without reading it
    (``setattr``: a monkeypatch's, to be undone)."""
    write_without_split_past(setattr)
    _write_without_summed_count("cache_write_ttl_unsaid_tokens", 34, setattr)


def _write_without_summed_count(column: str, placeholders: int, setattr: Callable[[Any, str, Any], None]) -> None:
    """Record attempts without the token count ``column`` (the last but one of an attempt's row as the newer versions
    write it, its insert then ``placeholders`` values), nor sum it in usage_rollup (the last of a rollup's row), and
    summarize, prune and list them without reading it: what each migration adding such a count (0033, 0036) added."""
    import magsag_mcp.ledger.prune as prune
    import magsag_mcp.ledger.queries as queries
    import magsag_mcp.ledger.run_pages as run_pages
    import magsag_mcp.ledger.writes as writes

    if f" {column}," not in writes._INSERT_ATTEMPT:
        return  # (done already, in this block)
    attempt_row = writes._attempt_row
    insert = writes._INSERT_ATTEMPT.replace(f" {column},", "").replace("?,?)", "?)")
    assert column not in insert and insert.count("?") == placeholders, insert
    setattr(writes, "_INSERT_ATTEMPT", insert)
    setattr(writes, "_attempt_row", lambda *args: (row := attempt_row(*args))[:-2] + row[-1:])
    upsert = writes._UPSERT_ROLLUP_PARTS.replace(f", {column}", "", 1).replace(" VALUES (?,", " VALUES (", 1)
    upsert = upsert.replace(f" {column} = {column} + excluded.{column},", "")
    assert column not in upsert, upsert
    setattr(writes, "_UPSERT_ROLLUP_PARTS", upsert)
    rollup_rows = writes._rollup_rows
    width = writes.ROLLUP_PLAIN_WIDTH
    setattr(writes, "_rollup_rows", lambda *args: [r if len(r) <= width else r[:-1] for r in rollup_rows(*args)])
    setattr(queries, "_ROLLUP_PARTS", queries._ROLLUP_PARTS.replace(f", SUM({column})", ", 0"))
    summed = f", coalesce(SUM({column}), 0)"
    setattr(queries, "_ATTEMPT_PARTS", queries._ATTEMPT_PARTS.replace(summed, ", 0"))
    setattr(prune, "_PARTS_REBUILT", prune._PARTS_REBUILT.replace(f", {column}", ""))
    setattr(prune, "_PARTS_SUMMED", prune._PARTS_SUMMED.replace(summed, ""))
    setattr(run_pages, "_ATTEMPT_COLS", run_pages._ATTEMPT_COLS.replace(f", {column}", ", NULL"))


def write_without_billing_parts(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Record attempts as the versions before 0030 did, without their output's image tokens, where inference ran and
    their per-use server tool calls (nor 0031's sums of them), and list them without reading those (``setattr``: a
    monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.run_pages as run_pages
    import magsag_mcp.ledger.writes as writes

    write_without_ttl_unsaid(setattr)
    write_rollups_without_billing_parts(setattr)
    parts = " output_image_tokens, inference_geo, server_tool_uses,"
    if parts not in writes._INSERT_ATTEMPT:
        return  # (done already, in this block)
    attempt_row = writes._attempt_row
    insert = writes._INSERT_ATTEMPT.replace(parts, "").replace("?,?,?,?)", "?)")
    assert "inference_geo" not in insert and insert.count("?") == 31, insert
    setattr(writes, "_INSERT_ATTEMPT", insert)
    setattr(writes, "_attempt_row", lambda *args: (row := attempt_row(*args))[:-4] + row[-1:])
    cols = run_pages._ATTEMPT_COLS.replace(" output_image_tokens, inference_geo, server_tool_uses", " NULL, NULL, NULL")
    setattr(run_pages, "_ATTEMPT_COLS", cols)


def write_without_endpoint(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Record attempts as the versions before 0029 did, without the endpoint each Azure attempt went to (nor 0030's
    parts of a bill), and summarize and list them without reading it (``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.queries as queries
    import magsag_mcp.ledger.run_pages as run_pages
    import magsag_mcp.ledger.writes as writes

    write_without_billing_parts(setattr)
    if " endpoint," not in writes._INSERT_ATTEMPT:
        return  # (done already, in this block)
    attempt_row = writes._attempt_row
    insert = writes._INSERT_ATTEMPT.replace(" endpoint,", "").replace("?,?)", "?)")
    assert " endpoint" not in insert and insert.count("?") == 30, insert
    setattr(writes, "_INSERT_ATTEMPT", insert)
    setattr(writes, "_attempt_row", lambda *args: (row := attempt_row(*args))[:-2] + row[-1:])
    setattr(queries, "served_at_endpoints", lambda *args: {})
    setattr(run_pages, "_ATTEMPT_COLS", run_pages._ATTEMPT_COLS.replace(", endpoint", ", NULL"))


def forget_without_time(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Forget and write Azure deployments' rows as the versions before 0028 did: a forget deletes the rows and keeps
    no time of it, and a sighting is written whenever it was made (``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.governance.served_memory as served_memory
    import magsag_mcp.ledger.azure_served as azure_served

    upsert = azure_served._UPSERT.replace(" SELECT ?, ?, ?, ?", " VALUES (?, ?, ?, ?)")
    upsert = upsert[: upsert.index(" WHERE NOT EXISTS")] + upsert[upsert.index(" ON CONFLICT") :]
    assert "azure_forgotten" not in upsert and upsert.count("?") == 4, upsert
    setattr(azure_served, "_UPSERT", upsert)
    setattr(azure_served, "write_served", lambda conn, e, d, m, at: conn.execute(upsert, (e, d, m, at)))
    setattr(served_memory, "write_served", azure_served.write_served)
    setattr(azure_served, "_FORGOTTEN", "SELECT ?, ?, ?")  # (no time kept)
    setattr(served_memory, "read_forgotten", lambda conn, endpoint, deployment: None)


def write_without_data_classes(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Record attempts as the versions before 0027 did, without the data classes of their calls (nor 0029's
    endpoint), and summarize and list them without reading them (``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.queries as queries
    import magsag_mcp.ledger.run_pages as run_pages
    import magsag_mcp.ledger.writes as writes

    write_without_endpoint(setattr)
    if "data_classes" not in writes._INSERT_ATTEMPT:
        return  # (done already, in this block)
    attempt_row = writes._attempt_row
    insert = writes._INSERT_ATTEMPT.replace(" data_classes,", "").replace("?,?)", "?)")
    assert "data_classes" not in insert and insert.count("?") == 29, insert
    setattr(writes, "_INSERT_ATTEMPT", insert)
    setattr(writes, "_attempt_row", lambda *args: (row := attempt_row(*args))[:-2] + row[-1:])
    # (the counts, the served models and those sent off the machine: none)
    setattr(queries, "by_data_class", lambda *args: (None, None, None))
    setattr(run_pages, "_ATTEMPT_COLS", run_pages._ATTEMPT_COLS.replace(", data_classes", ", NULL"))


def write_without_served_model(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Record attempts as the versions before 0026 did, without the model each answer said it came from (nor 0027's
    data classes), and summarize without reading it (``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.queries as queries
    import magsag_mcp.ledger.run_pages as run_pages
    import magsag_mcp.ledger.writes as writes

    write_without_data_classes(setattr)
    attempt_row = writes._attempt_row
    insert = writes._INSERT_ATTEMPT.replace(" served_model,", "").replace("?,?)", "?)")
    assert "served_model" not in insert and insert.count("?") == 28, insert
    setattr(writes, "_INSERT_ATTEMPT", insert)
    setattr(writes, "_attempt_row", lambda *args: (row := attempt_row(*args))[:-2] + row[-1:])
    setattr(queries, "served_as", lambda *args: {})
    # (nor list it: its query_runs selected no such column, which a ledger it left lacks)
    setattr(run_pages, "_ATTEMPT_COLS", run_pages._ATTEMPT_COLS.replace(", served_model", ", NULL"))


def serve_without_memory(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Call Azure deployments as the versions before 0025 did: what a deployment was seen serving is neither read from
    the ledger nor written to it (``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.governance.served_memory as served_memory

    setattr(served_memory, "read_served", lambda conn, endpoint, deployment: None)
    setattr(served_memory, "write_served", lambda conn, endpoint, deployment, model, seen_at: None)


def reserve_without_owners(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Reserve as the versions before 0024 did: a reservation names no process, and a sweep records one at its expiry
    alone, looking at no process, as check_budget counts it (``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.governance.budget as budget
    import magsag_mcp.governance.status as status
    import magsag_mcp.ledger.abandoned as abandoned

    insert = budget.INSERT_RESERVATION.replace(", owner_host, owner_pid, owner_started)", ")")
    insert = insert.replace(", ?, ?, ?)", ")")
    assert "owner" not in insert and insert.count("?") == 11, insert
    setattr(budget, "INSERT_RESERVATION", insert)
    setattr(budget, "this_owner", lambda: ())
    setattr(abandoned, "expire_gone_owners", lambda conn, now: 0)
    setattr(abandoned, "gone_owners", lambda conn, now: [])
    setattr(status, "gone_owners", lambda conn, now: [])  # (check_budget's look at them)


def summarize_without_cache_hits(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Summarize as the versions before 0023 did, reading no cache_hits table (they had no answer cache): a summary's
    ``cache`` is None (``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.queries as queries

    setattr(queries, "cache_summary", lambda conn, filters: None)


def write_unsent_at_null(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Write an attempt never sent (skipped, policy_denied, budget_exceeded) recorded with no cost and no bound as the
    versions before 0022 did: NULL, an unknown cost of no bound, counted in its run's ``unpriced_calls`` and its rollup
    row's ``unpriced`` (``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.writes as writes

    setattr(writes, "NEVER_SENT", frozenset())


def write_rollups_without_billing_parts(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Write usage_rollup rows as the versions before 0031 did, without the parts of a bill (``output_image_tokens``,
    ``us_inference``, the server tool calls of each kind, and the counts of the attempts that said each; nor 0033's
    count of the cache writes of a time to live unsaid), and summarize without reading them (``setattr``: a
    monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.prune as prune
    import magsag_mcp.ledger.queries as queries
    import magsag_mcp.ledger.writes as writes
    from magsag_mcp.ledger.rollup_reads import ROLLUP_PART_COLUMNS

    write_without_ttl_unsaid(setattr)

    if writes._UPSERT_ROLLUP_PARTS == writes._UPSERT_ROLLUP:
        return  # (done already, in this block)
    rollup_rows = writes._rollup_rows
    width = writes.ROLLUP_PLAIN_WIDTH
    setattr(writes, "_UPSERT_ROLLUP_PARTS", writes._UPSERT_ROLLUP)
    setattr(writes, "_rollup_rows", lambda *args: [row[:width] for row in rollup_rows(*args)])
    # (nor did its summary and its prune read such a column, which a ledger it left lacks: none said)
    setattr(queries, "_ROLLUP_PARTS", ", 0" * len(ROLLUP_PART_COLUMNS))
    setattr(queries, "_ATTEMPT_PARTS", ", 0" * len(ROLLUP_PART_COLUMNS))
    setattr(prune, "_PARTS_REBUILT", "")
    setattr(prune, "_PARTS_SUMMED", "")


def write_rollups_without_cache_writes(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Write usage_rollup rows as the versions before 0021 did, without ``cache_write_tokens`` and
    ``cache_write_1h_tokens`` (nor 0031's parts of a bill; ``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.writes as writes

    write_rollups_without_billing_parts(setattr)
    rollup_rows = writes._rollup_rows
    upsert = writes._UPSERT_ROLLUP.replace(", cache_write_tokens, cache_write_1h_tokens)", ")")
    upsert = upsert.replace(" VALUES (?,?,", " VALUES (", 1)
    upsert = upsert.replace(" cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,", "")
    upsert = upsert.replace(" cache_write_1h_tokens = cache_write_1h_tokens + excluded.cache_write_1h_tokens,", "")
    assert "cache_write" not in upsert, upsert
    setattr(writes, "_UPSERT_ROLLUP", upsert)
    setattr(writes, "_rollup_rows", lambda *args: [row[:-2] for row in rollup_rows(*args)])


def write_rollups_without_calls(setattr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Write usage_rollup rows as the versions before 0018 did, without ``calls`` (nor 0021's cache writes;
    ``setattr``: a monkeypatch's, to be undone)."""
    import magsag_mcp.ledger.writes as writes

    write_rollups_without_cache_writes(setattr)
    rollup_rows = writes._rollup_rows
    upsert = writes._UPSERT_ROLLUP.replace(", calls) VALUES (?,", ") VALUES (")
    setattr(writes, "_UPSERT_ROLLUP", upsert.replace(" calls = calls + excluded.calls,", ""))
    setattr(writes, "_rollup_rows", lambda *args: [row[:-1] for row in rollup_rows(*args)])


def leave_as_the_version_before(conn: sqlite3.Connection) -> None:
    """Take a ledger this version made back to the schema the version before left: without 0037's paused_id and
    continues_paused_id on attempts, its rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = ?", (LAST,))
    conn.execute("ALTER TABLE attempts DROP COLUMN paused_id")
    conn.execute("ALTER TABLE attempts DROP COLUMN continues_paused_id")


def leave_as_before_0036(conn: sqlite3.Connection) -> None:
    """Take a ledger the version before left (:func:`leave_as_the_version_before`) back to the schema the version two
    back left: without 0036's count of the cache writes an answer's split by time to live counted past its total (on
    attempts and in usage_rollup), its rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0036_cache_write_split_past'")
    conn.execute("ALTER TABLE attempts DROP COLUMN cache_write_split_past_tokens")
    conn.execute("ALTER TABLE usage_rollup DROP COLUMN cache_write_split_past_tokens")


def leave_as_before_0035(conn: sqlite3.Connection) -> None:
    """Take a ledger the version two back left (:func:`leave_as_before_0036`) back to the schema the version three
    back left: without 0035's index of the prune marks, its rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0035_events_prune_marks'")
    conn.execute("DROP INDEX events_prune_marks")


def leave_as_before_0034(conn: sqlite3.Connection) -> None:
    """Take a ledger the version three back left (:func:`leave_as_before_0035`) back to the schema the version four
    back left: without 0034's index of the attempts recorded before 0033 that wrote to the cache, its rows as they
    are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0034_attempts_cache_write_ttl_uncounted'")
    conn.execute("DROP INDEX attempts_cache_write_ttl_uncounted")


def leave_as_before_0033(conn: sqlite3.Connection) -> None:
    """Take a ledger the version four back left (:func:`leave_as_before_0034`) back to the schema the version five
    back left: without 0033's count of the cache writes whose time to live the answer did not say (on attempts and in
    usage_rollup), its rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0033_cache_write_ttl_unsaid'")
    conn.execute("ALTER TABLE attempts DROP COLUMN cache_write_ttl_unsaid_tokens")
    conn.execute("ALTER TABLE usage_rollup DROP COLUMN cache_write_ttl_unsaid_tokens")


def leave_as_before_0032(conn: sqlite3.Connection) -> None:
    """Take a ledger the version five back left (:func:`leave_as_before_0033`) back to the schema the version six
    back left: without 0032's index of the local attempts that went off the machine, its rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0032_attempts_local_off_machine'")
    conn.execute("DROP INDEX attempts_local_off_machine")


def leave_as_before_0031(conn: sqlite3.Connection) -> None:
    """Take a ledger the version six back left (:func:`leave_as_before_0032`) back to the schema the version seven
    back left: its usage_rollup without 0031's parts of a bill (their sums, and the counts of the attempts that said
    each), its other rows as they are."""
    from magsag_mcp.ledger.rollup_reads import ROLLUP_PART_COLUMNS

    conn.execute("DELETE FROM schema_migrations WHERE name = '0031_usage_rollup_billing_parts'")
    for column in ROLLUP_PART_COLUMNS:
        # (0033's and 0036's, which leave_as_before_0033 and leave_as_the_version_before dropped)
        if column not in ("cache_write_ttl_unsaid_tokens", "cache_write_split_past_tokens"):
            conn.execute(f"ALTER TABLE usage_rollup DROP COLUMN {column}")


def leave_as_before_0030(conn: sqlite3.Connection) -> None:
    """Take a ledger the version seven back left (:func:`leave_as_before_0031`) back to the schema the version eight
    back left: its attempts without 0030's ``output_image_tokens``, ``inference_geo`` and ``server_tool_uses``, its
    other rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0030_attempt_billing_parts'")
    for column in ("output_image_tokens", "inference_geo", "server_tool_uses"):
        conn.execute(f"ALTER TABLE attempts DROP COLUMN {column}")


def leave_as_before_0029(conn: sqlite3.Connection) -> None:
    """Take a ledger the version eight back left (:func:`leave_as_before_0030`) back to the schema the version nine
    back left: its attempts without 0029's ``endpoint``, its other rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0029_attempt_endpoint'")
    conn.execute("ALTER TABLE attempts DROP COLUMN endpoint")


def leave_as_before_0028(conn: sqlite3.Connection) -> None:
    """Take a ledger the version nine back left (:func:`leave_as_before_0029`) back to the schema the version ten
    back left: without 0028's times of the forgets, its other rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0028_azure_forgotten'")
    conn.execute("DROP TABLE azure_forgotten")


def leave_as_before_0027(conn: sqlite3.Connection) -> None:
    """Take a ledger the version ten back left (:func:`leave_as_before_0028`) back to the schema the version eleven
    back left: its attempts without 0027's ``data_classes`` (and its index), its other rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0027_attempt_data_classes'")
    conn.execute("DROP INDEX attempts_data_classes")
    conn.execute("ALTER TABLE attempts DROP COLUMN data_classes")


def leave_as_before_0026(conn: sqlite3.Connection) -> None:
    """Take a ledger the version eleven back left (:func:`leave_as_before_0027`) back to the schema the version twelve
    back left: its attempts without 0026's ``served_model``, its other rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0026_attempt_served_model'")
    conn.execute("ALTER TABLE attempts DROP COLUMN served_model")


def leave_as_before_0025(conn: sqlite3.Connection) -> None:
    """Take a ledger the version twelve back left (:func:`leave_as_before_0026`) back to the schema the version thirteen
    back left: without 0025's table of what each Azure deployment was seen serving, its other rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0025_azure_served'")
    conn.execute("DROP TABLE azure_served")


def leave_as_before_0024(conn: sqlite3.Connection) -> None:
    """Take a ledger the version thirteen back left (:func:`leave_as_before_0025`) back to the schema the version
    fourteen back left: its reservations without 0024's owners, its other rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0024_reservation_owner'")
    for column in ("owner_host", "owner_pid", "owner_started"):
        conn.execute(f"ALTER TABLE budget_reservations DROP COLUMN {column}")


def leave_as_before_0023(conn: sqlite3.Connection) -> None:
    """Take a ledger the version fourteen back left (:func:`leave_as_before_0024`) back to the schema the version
    fifteen back left: without 0023's tables (the answer cache's), its other rows as they are."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0023_answer_cache'")
    conn.execute("DROP TABLE answer_cache")
    conn.execute("DROP TABLE cache_hits")


def leave_as_before_0022(conn: sqlite3.Connection) -> None:
    """Take a ledger the version fifteen back left (:func:`leave_as_before_0023`) back to the schema the version
    fifteen back left (its rows as they are: 0022 changed no table, only the attempts never sent that the version
    fifteen back wrote NULL, which the versions since write at $0)."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0022_unsent_attempts_cost_zero'")


def leave_as_before_0021(conn: sqlite3.Connection) -> None:
    """Take a ledger the version sixteen back left (:func:`leave_as_before_0022`) back to the schema the version
    sixteen back left, before 0021, which gave usage_rollup its cache writes."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0021_usage_rollup_cache_writes'")
    conn.execute("ALTER TABLE usage_rollup DROP COLUMN cache_write_tokens")
    conn.execute("ALTER TABLE usage_rollup DROP COLUMN cache_write_1h_tokens")


def leave_as_before_0020(conn: sqlite3.Connection) -> None:
    """Take a ledger the version seventeen back left (:func:`leave_as_before_0021`) back to the schema the version
    seventeen back left, before 0020, which gave budget_reservations its ``unbounded`` mark."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0020_reservation_unbounded'")
    conn.execute("ALTER TABLE budget_reservations DROP COLUMN unbounded")


def leave_as_before_0019(conn: sqlite3.Connection) -> None:
    """Take a ledger the version eighteen back left (:func:`leave_as_before_0020`) back to the schema the version
    eighteen back left, before 0019, which gave budget_reservations its ``call_id``."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0019_reservation_call_id'")
    conn.execute("ALTER TABLE budget_reservations DROP COLUMN call_id")


def leave_as_before_0018(conn: sqlite3.Connection) -> None:
    """Take a ledger the version nineteen back left (:func:`leave_as_before_0019`) back to the schema before 0018,
    which gave usage_rollup its ``calls``."""
    conn.execute("DELETE FROM schema_migrations WHERE name = '0018_usage_rollup_counts_calls'")
    conn.execute("ALTER TABLE usage_rollup DROP COLUMN calls")


def attempts_as_read_after_0033(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``rows`` (``SELECT * FROM attempts`` of ``conn``'s ledger) with each attempt recorded before 0033 as this version
    records and reads it: its count of cache writes of unsaid time to live (and 0036's of writes a split counted past
    its total) is NULL (not counted then), where this
    version records 0; with no cache writes at all it had none of them, and is read so (run_pages), so taken as that 0
    here, after checking that such rows exist and that every one of them wrote no cache."""
    names = [d[0] for d in conn.execute("SELECT * FROM attempts LIMIT 0").description]
    unsaid, written = names.index("cache_write_ttl_unsaid_tokens"), names.index("cache_write_tokens")
    upgraded = [row for row in rows if row[unsaid] is None]
    assert upgraded and all(row[written] == 0 for row in upgraded), upgraded
    # (0036's count of the writes a split counted past its total, as 0033's: NULL on such a row, read as 0)
    past = names.index("cache_write_split_past_tokens")
    rows = [row[:past] + (0,) + row[past + 1 :] if row[past] is None and row[written] == 0 else row for row in rows]
    return [row[:unsaid] + (0,) + row[unsaid + 1 :] if row[unsaid] is None else row for row in rows]
