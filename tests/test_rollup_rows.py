"""A record's usage-rollup rows (ledger/rollup_rows.py, which writes.py writes): one per key, each attempt's numbers
summed in, the call counted in the row of its last attempt that reached a provider, the cache writes summed after, and
then, in a row some of whose attempts said any, the parts of a bill (0031: a part not said adds nothing, not even to how
many said it). Read against a plain sum per key on random records (a key's first attempt now writes its row as it is,
without adding to zeros)."""

from __future__ import annotations

import random
import sqlite3
import sys
from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magsag_mcp.ledger.migrations import ROLLUP_BUCKET_SECONDS
from magsag_mcp.ledger.rollup_reads import ROLLUP_TOOL_KINDS
from magsag_mcp.ledger.writes import _rollup_rows
from magsag_mcp.records import AttemptRecord, RunRecord


def _summed_per_key(attempts, money, last, call) -> list[tuple[Any, ...]]:
    rows: dict[tuple[Any, ...], list[Any]] = {}
    for i, (a, (cost, bound)) in enumerate(zip(attempts, money, strict=True)):
        key = (int(a.started_at // ROLLUP_BUCKET_SECONDS), a.model, a.provider, a.agent or "", a.skill or "", a.outcome)
        row = rows.setdefault(key, [*key, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, None, None, 0, 0, 0])
        priced, bounded = a.cost_usd is not None, a.cost_usd is None and a.cost_bound_usd is not None
        numbers = (1, a.input_tokens, a.output_tokens, a.cached_tokens, a.reasoning_tokens)
        numbers += ((cost or 0) if priced else 0, 0 if priced else 1, (bound or 0) if bounded else 0, int(bounded))
        row[6:15] = [have + more for have, more in zip(row[6:15], numbers, strict=True)]
        row[19:21] = row[19] + a.cache_write_tokens, row[20] + a.cache_write_1h_tokens  # (0021)
        images, geo, uses = a.output_image_tokens, a.inference_geo, a.server_tool_uses
        unsaid, past = a.cache_write_ttl_unsaid_tokens, a.cache_write_split_past_tokens
        if images is not None or geo is not None or uses is not None or unsaid or past:  # (0031, 0033, 0036)
            if len(row) == 21:
                row += [0] * 12
            parts = (images or 0, int(images is not None), int(geo == "us"), int(geo is not None))
            parts += (int(uses is not None), *((uses or {}).get(kind, 0) for kind in ROLLUP_TOOL_KINDS), unsaid, past)
            row[21:] = [have + more for have, more in zip(row[21:], parts, strict=True)]
        if i == last:
            row[15:19] = call, a.run_id, a.started_at, 1
    return [tuple(row) for row in rows.values()]


def _attempt(rng: random.Random, started: float) -> tuple[AttemptRecord, tuple[int | None, int | None]]:
    cost = rng.choice([None, Decimal(0), Decimal("0.0000048")])
    bound = rng.choice([None, Decimal("0.00002")])
    written = rng.choice([0, 0, 11])
    a = AttemptRecord(
        "run_1",
        started,
        rng.choice(["openai", "openai", "openai", "anthropic"]),
        rng.choice(["gpt-4o", "gpt-4o-mini"]),
        rng.choice([None, "chat", "chat", "chat"]),
        rng.choice([None, "bench", "bench", "bench"]),
        rng.choice(["error", "error", "error", "ok", "skipped", "budget_exceeded"]),
        0,
        1,
        input_tokens=rng.randint(0, 50),
        output_tokens=rng.randint(0, 50),
        cached_tokens=rng.choice([0, 7]),
        reasoning_tokens=rng.choice([0, 3]),
        cost_usd=cost,
        cache_write_tokens=written,
        cache_write_1h_tokens=rng.choice([0, written]),
        cache_write_ttl_unsaid_tokens=rng.choice([0, 0, 0, 0, written]),
        cache_write_split_past_tokens=rng.choice([0, 0, 0, 0, written]),
        cost_bound_usd=bound,
        output_image_tokens=rng.choice([None, None, None, 0, 40]),
        inference_geo=rng.choice([None, None, None, "us", "global"]),
        server_tool_uses=rng.choice([None, None, None, {}, {"web_search": 2, "grounded_prompt": 1}]),
    )
    to_pusd = {None: None, Decimal(0): 0, Decimal("0.0000048"): 4_800_000, Decimal("0.00002"): 20_000_000}
    return a, (to_pusd[cost], to_pusd[bound])


def test_a_records_rollup_rows_are_each_keys_attempts_summed():
    rng = random.Random(31)
    repeated = split = parted = plain = 0
    for _ in range(5_000):
        start = rng.choice([1_796_300_000.0, 20_790 * ROLLUP_BUCKET_SECONDS - 0.005])  # one bucket, or across two
        made = [_attempt(rng, start + 0.004 * i) for i in range(rng.randint(1, 4))]
        attempts, money = [a for a, _ in made], [m for _, m in made]
        last = rng.randint(-1, len(attempts) - 1)
        rows = _rollup_rows(attempts, money, last, 123)
        assert rows == _summed_per_key(attempts, money, last, 123), (attempts, money, last)
        repeated += len(rows) < len(attempts)
        split += len({row[0] for row in rows}) > 1
        parted += any(len(row) == 33 for row in rows)
        plain += any(len(row) == 21 for row in rows)
    assert 200 < repeated < 4_800 and split > 500  # keys seen again, and records across a bucket's end, were tried
    assert parted > 500 and plain > 500  # rows with parts of a bill, and rows of none said


def _python_calls(fn, *args: Any) -> tuple[Any, list[str]]:
    """``fn(*args)``'s value, and the Python functions it called (not C functions, not ``fn`` itself)."""
    seen: list[str] = []

    def watch(frame, event, _arg):
        if event == "call":
            seen.append(frame.f_code.co_qualname)

    sys.setprofile(watch)
    try:
        value = fn(*args)
    finally:
        sys.setprofile(None)
    return value, seen[1:]


def test_a_lone_attempt_that_said_no_part_of_a_bill_makes_its_row_without_another_frame():
    """Most calls (a Chat Completions answer says no part of a bill): 0031's look at the parts was a frame a call."""
    a = AttemptRecord("run_1", 1_796_300_000.0, "openai", "gpt-4o", "chat", "bench", "ok", 0, 1, input_tokens=3)
    rows, called = _python_calls(_rollup_rows, [a], [(4_800_000, None)], 0, 4_800_000)
    assert rows == _summed_per_key([a], [(4_800_000, None)], 0, 4_800_000) and len(rows[0]) == 21
    assert called == []
    said = replace(a, inference_geo="us")
    rows = _rollup_rows([said], [(4_800_000, None)], 0, 4_800_000)
    assert rows == _summed_per_key([said], [(4_800_000, None)], 0, 4_800_000) and len(rows[0]) == 33


def test_a_fallbacks_attempts_that_said_no_part_of_a_bill_make_their_rows_without_another_frame():
    """A fallback's failed attempt and its answer (two keys), and a retry of one target (one key twice)."""
    failed = AttemptRecord("run_1", 1_796_300_000.0, "openai", "gpt-4o-mini", "chat", "bench", "error", 0, 1)
    answered = replace(failed, model="gpt-4o", outcome="ok", attempt_number=1, input_tokens=3)
    for attempts in ([failed, answered], [answered, replace(answered, attempt_number=2, output_tokens=4)]):
        money = [(None, None), (4_800_000, None)]
        rows, called = _python_calls(_rollup_rows, attempts, money, 1, 4_800_000)
        assert rows == _summed_per_key(attempts, money, 1, 4_800_000)
        assert called == []
    said = [replace(answered, inference_geo="us"), replace(answered, attempt_number=2, server_tool_uses={})]
    rows = _rollup_rows(said, money, 1, 4_800_000)
    assert rows == _summed_per_key(said, money, 1, 4_800_000) and len(rows[0]) == 33


class _Statements:
    """A cursor's stand-in in front of a real one, keeping what each executemany was given."""

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self.cur, self.given = cur, []

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        self.given.append((sql, rows))
        return self.cur.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cur, name)


def test_a_batch_whose_rows_said_no_part_of_a_bill_upserts_them_as_they_are(tmp_path):
    """No two lists made to sort the rows by width where every row is of one (most batches); a batch holding both
    still writes each with its statement."""
    from magsag_mcp.ledger import writes
    from magsag_mcp.ledger.migrations import migrate

    conn = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    migrate(conn)
    run = RunRecord("run_1", "bench", "chat", 1_796_300_000.0)
    plain = AttemptRecord("run_1", 1_796_300_000.0, "openai", "gpt-4o", "chat", "bench", "ok", 0, 1, input_tokens=3)
    w = writes.RecordWrite.of(run, [plain])
    cur = _Statements(conn.cursor())
    writes._write(conn, cur, [w], [], [w.run], w.attempts, w.rollup, w.spend, w.day)
    assert [rows is w.rollup for sql, rows in cur.given if sql == writes._UPSERT_ROLLUP] == [True]  # the very list
    said = replace(plain, model="gpt-4o-mini", server_tool_uses={"web_search": 1})
    both = writes.RecordWrite.of(replace(run, run_id="run_2"), [replace(plain, run_id="run_2"), said])
    cur = _Statements(conn.cursor())
    writes._write(conn, cur, [both], [], [both.run], both.attempts, both.rollup, both.spend, both.day)
    rollups = (writes._UPSERT_ROLLUP, writes._UPSERT_ROLLUP_PARTS)
    assert [(rollups.index(sql), len(rows)) for sql, rows in cur.given if sql in rollups] == [(0, 1), (1, 1)]
    got = conn.execute("SELECT model, tool_uses_said, web_search_uses FROM usage_rollup ORDER BY model").fetchall()
    assert got == [("gpt-4o", 0, 0), ("gpt-4o-mini", 1, 1)]


def _written_as_before_the_cut(rollup: Any, cur: Any) -> None:
    """How a batch's rollup rows were upserted before the cut (65ce431a), whatever they held: sorted into the rows
    holding parts of a bill and the rest, each list by its own statement."""
    from magsag_mcp.ledger import writes

    plain: list[Any] = []
    parted: list[Any] = []
    for row in rollup:
        (parted if len(row) > writes.ROLLUP_PLAIN_WIDTH else plain).append(row)
    if plain:
        cur.executemany(writes._UPSERT_ROLLUP, plain)
    if parted:
        cur.executemany(writes._UPSERT_ROLLUP_PARTS, parted)


#: (output image tokens, inference geo, server tool uses) an attempt's answer said: most say none
_PARTS = (None, None, None, (40, None, None), (None, "us", None), (0, "global", {}), (None, None, {"web_search": 2}))
_PARTED_ATTEMPT = st.tuples(
    st.sampled_from(["gpt-4o", "gpt-4o-mini"]),
    st.sampled_from(["ok", "error"]),
    st.integers(0, 2**40),  # input tokens
    st.sampled_from([None, Decimal(0), Decimal("0.000001"), Decimal("0.123456789012")]),  # cost
    st.sampled_from([None, Decimal("0.00002")]),  # bound
    st.sampled_from(_PARTS),
    st.sampled_from([0.0, 0.004, ROLLUP_BUCKET_SECONDS]),  # same bucket, or the next day's
)


#: batches (a group commit's, or a lone call's) of calls of one to three attempts
_BATCHES = st.lists(st.lists(st.lists(_PARTED_ATTEMPT, min_size=1, max_size=3), min_size=1, max_size=4), max_size=4)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_BATCHES)
def test_a_batch_mixing_calls_with_and_without_parts_sums_as_before_the_cut(batches, tmp_path_factory):
    """Exactness of the cut (65ce431a, 77082b90): batches of calls (a lone call, group commits mixing calls with parts
    of a bill and calls of none, one key in several calls and attempts) leave usage_rollup as the rows summed plainly
    (_summed_per_key) and written as before the cut (every batch sorted by width) did, and each key's sums are its
    attempts' own, to the pico-USD and the token, each part of a bill with them."""
    from magsag_mcp.ledger import writes
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.rollup_reads import ATTEMPT_BILLING_PARTS, ROLLUP_PART_COLUMNS

    folder = tmp_path_factory.mktemp("cut")
    real_write, real_rows = writes._write, writes._rollup_rows
    stored = []
    for before in (False, True):
        conn = sqlite3.connect(folder / f"{before}.db", isolation_level=None)
        migrate(conn)

        def written(conn, cur, ws, held, runs, attempts, rollup, spend, day, before=before):
            real_write(conn, cur, ws, held, runs, attempts, [] if before else rollup, spend, day)
            if before and rollup:
                _written_as_before_the_cut(rollup, cur)

        writes._write = written
        writes._rollup_rows = _summed_per_key if before else real_rows
        try:
            for b, batch in enumerate(batches):
                made = []
                for c, call in enumerate(batch):
                    run = RunRecord(f"r{b}.{c}", "bench", "chat", 1_796_300_000.0)
                    attempts = []
                    for i, (model, outcome, tokens, cost, bound, parts, later) in enumerate(call):
                        images, geo, uses = parts or (None, None, None)
                        attempts.append(AttemptRecord(
                            run.run_id, 1_796_300_000.0 + later + i * 0.001, "openai", model, "chat", "bench",
                            outcome, i, len(call), input_tokens=tokens, cost_usd=cost, cost_bound_usd=bound,
                            output_image_tokens=images, inference_geo=geo, server_tool_uses=uses,
                        ))  # fmt: skip
                    made.append(writes.RecordWrite.of(run, attempts))
                conn.execute("BEGIN")
                writes.RecordWrite.apply_all(conn, made)
                conn.execute("COMMIT")
        finally:
            writes._write, writes._rollup_rows = real_write, real_rows
        stored.append(conn.execute("SELECT * FROM usage_rollup ORDER BY bucket, model, outcome").fetchall())
        by_key = conn.execute(
            "SELECT CAST(started_at / ? AS INTEGER), model, outcome, COUNT(*), SUM(input_tokens),"
            f" SUM(coalesce(cost_pusd, 0)), SUM(cost_pusd IS NULL), {ATTEMPT_BILLING_PARTS}"
            " FROM attempts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            (ROLLUP_BUCKET_SECONDS,),
        ).fetchall()
        summed = conn.execute(
            "SELECT bucket, model, outcome, attempts, input_tokens, cost_pusd, unpriced,"
            f" {', '.join(ROLLUP_PART_COLUMNS)} FROM usage_rollup ORDER BY 1, 2, 3"
        ).fetchall()
        assert summed == by_key
        conn.close()
    assert stored[0] == stored[1]
