"""Ledgers recorded before Gemini's resource name (models/gemini-...) was recorded as the model it names (0dc9d6e),
upgraded by 0017: one model, in every table and every read, as if this version had recorded them."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from magsag_mcp.governance.gate import check_summary
from magsag_mcp.governance.policy import Policy, PolicySet
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.ledger_schema_helpers import open_at_once, since_set_apart, when_0027_ran
from tests.older_version import (
    attempts_as_read_after_0033,
    write_rollups_without_calls,
    write_without_served_model,
)

#: Gemini's resource name for gemini-2.5-flash, which calls were recorded under before 0dc9d6e, and the model it names
RESOURCE, BARE = "models/gemini-2.5-flash", "gemini-2.5-flash"
#: the release before 0017
BEFORE_0017 = [m for m in MIGRATIONS if m[0] < "0017"]
DAY = 20_400 * 86400.0
TABLES = ("attempts", "runs", "usage_rollup", "agent_spend", "day_spend", "budget_reservations", "events")

Call = tuple[str, str | None, str | None, list[tuple[Any, ...]]]


def _calls(now: float) -> list[Call]:
    """(run, agent, skill, attempts) of a ledger whose Gemini calls were recorded under both names; each attempt
    (time, provider, model, outcome, fallback position, try, cost pUSD or None, bound pUSD or None, tokens in, out)."""
    return [
        # one call a name, of equal cost, in one day's row: the first recorded is the row's costliest call
        ("tie-old", "tie", "s", [(DAY + 50, "google", RESOURCE, "ok", 0, 1, 5_000_000, None, 50, 5)]),
        ("tie-new", "tie", "s", [(DAY + 60, "google", BARE, "ok", 0, 1, 5_000_000, None, 60, 6)]),
        ("r1", "ag", "s", [(DAY + 100, "google", RESOURCE, "ok", 0, 1, 3_000_000, None, 100, 10)]),
        ("r2", "ag", "s", [(DAY + 200, "google", BARE, "ok", 0, 1, 5_000_000, None, 200, 20)]),
        (  # cut after it reached the vendor (its bound kept), retried: the day's costliest call, under the old name
            "r3", "ag", "s",
            [(DAY + 300, "google", RESOURCE, "error", 0, 1, None, 7_000_000, 0, 0),
             (DAY + 301, "google", RESOURCE, "ok", 0, 2, 11_000_000, None, 300, 30)],
        ),
        (  # failed under the new name, answered by the fallback
            "r4", "ag", "s",
            [(DAY + 400, "google", BARE, "error", 0, 1, 0, None, 0, 0),
             (DAY + 401, "openai", "gpt-4o", "ok", 1, 1, 13_000_000, None, 400, 40)],
        ),
        # a day only the old name has, at an unknown price (no bound): still unknown after
        ("r5", "bo", "s2", [(DAY + 86400 + 50, "google", RESOURCE, "ok", 0, 1, None, None, 40, 4)]),
        # a gateway's model of that name is not Gemini's resource name: the compat provider's stays as it is
        ("r6", "ag", "s", [(DAY + 500, "compat", RESOURCE, "ok", 0, 1, 17_000_000, None, 5, 5)]),
        ("r7", "ag", "s", [(DAY + 600, "google", "models/gemma-3-27b-it", "ok", 0, 1, 0, None, 7, 7)]),
        # today, read from the attempts at a summary's edges
        ("r8", "ag", "s", [(now - 30, "google", RESOURCE, "ok", 0, 1, 19_000_000, None, 80, 8)]),
        ("r9", None, None, [(now - 20, "google", BARE, "ok", 0, 1, 23_000_000, None, 90, 9)]),
    ]  # fmt: skip


def _bare(provider: str, model: str) -> str:
    return model.removeprefix("models/") if provider == "google" else model


async def _record(db: Path, calls: list[Call], *, bare: bool, reserved_at: float | None = None) -> None:
    """``calls`` recorded through the ledger's own writes; ``bare``: each Gemini model as this version records it.
    ``reserved_at``: with two reservations for the model, one expired (its process died) and one in flight."""
    async with Ledger(db) as ledger:
        for run_id, agent, skill, attempts in calls:
            rows = []
            for at, provider, model, outcome, pos, n, cost, bound, tin, tout in attempts:
                rows.append(
                    AttemptRecord(
                        run_id, at, provider, _bare(provider, model) if bare else model, skill, agent, outcome, pos,
                        n, input_tokens=tin, output_tokens=tout,
                        cost_usd=None if cost is None else Decimal(cost) / 10**12,
                        cost_bound_usd=None if bound is None else Decimal(bound) / 10**12,
                    )
                )  # fmt: skip
            status = "ok" if attempts[-1][3] == "ok" else "error"
            run = RunRecord(run_id, agent, skill, attempts[0][0], ended_at=attempts[-1][0], status=status)
            await ledger.record_call(run, rows)
    if reserved_at is not None:
        conn = sqlite3.connect(db, isolation_level=None)
        model = BARE if bare else RESOURCE
        conn.execute(
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
            " attempt_run_id, provider, model, skill) VALUES ('r10', 'ag', ?, ?, 29000000, 'held', 'r10', 'google',"
            " ?, 's'), ('r11', 'ag', ?, ?, 31000000, 'held', 'r11', 'google', ?, 's')",
            (DAY + 700, DAY + 800, model, reserved_at, reserved_at + 3600, model),
        )
        conn.close()


def _old_ledger(db: Path, calls: list[Call], monkeypatch: pytest.MonkeyPatch, reserved_at: float | None) -> None:
    """A ledger the release before 0017 recorded: each Gemini call under the name the call gave."""
    from magsag_mcp.ledger import migrations

    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", BEFORE_0017)
        write_rollups_without_calls(m.setattr)  # (0018 gave the rollup its calls)
        write_without_served_model(m.setattr)  # (0026 gave attempts their served_model)
        anyio.run(partial(_record, db, calls, bare=False, reserved_at=reserved_at))
    conn = sqlite3.connect(db)
    assert [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")] == [
        name for name, _ in BEFORE_0017
    ]
    conn.close()


def _twin(db: Path, calls: list[Call], reserved_at: float | None) -> None:
    """The same calls recorded by this version."""
    anyio.run(partial(_record, db, calls, bare=True, reserved_at=reserved_at))


def _tables(db: Path, *, recorded_before_0033: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of each table; ``recorded_before_0033``: its attempts as this version reads them (older_version's
    attempts_as_read_after_0033)."""
    conn = sqlite3.connect(db)
    try:
        tables = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
        if recorded_before_0033:
            tables["attempts"] = sorted(attempts_as_read_after_0033(conn, tables["attempts"]), key=repr)
        return tables
    finally:
        conn.close()


def _schema(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        conn.close()


def _rollup_and_attempts(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The usage rollup's rows, and the same rows recomputed from the attempts (as 0014 built it)."""
    conn = sqlite3.connect(db)
    try:
        rollup = conn.execute(
            "SELECT bucket, model, provider, agent, skill, outcome, attempts, input_tokens, output_tokens, cost_pusd,"
            " unpriced, cost_bound_pusd, bounded, call_max_pusd FROM usage_rollup ORDER BY 1, 2, 3, 4, 5, 6"
        ).fetchall()
        recomputed = conn.execute(
            "SELECT CAST(started_at / 86400 AS INTEGER), model, provider, coalesce(agent, ''), coalesce(skill, ''),"
            " outcome, COUNT(*), SUM(input_tokens), SUM(output_tokens), coalesce(SUM(cost_pusd), 0),"
            " SUM(cost_pusd IS NULL), coalesce(SUM(CASE WHEN cost_pusd IS NULL THEN cost_bound_pusd END), 0),"
            " SUM(cost_pusd IS NULL AND cost_bound_pusd IS NOT NULL), MAX(coalesce(call_cost_pusd, -1))"
            " FROM attempts GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
        ).fetchall()
        return rollup, recomputed
    finally:
        conn.close()


def _open(db: Path) -> None:
    async def go() -> None:
        async with Ledger(db):
            pass

    anyio.run(go)


def _reads(db: Path, now: float) -> list[Any]:
    """What a user reads of the ledger: summaries (whole, by model, a window cutting days), runs by model."""

    async def go() -> list[Any]:
        out: list[Any] = []
        async with Ledger(db) as ledger:
            for filters in (
                {},
                {"model": BARE},
                {"model": f"google:{BARE}"},
                {"model": BARE, "since": DAY + 250, "until": now - 25},
                {"agent": "tie"},
                {"model": RESOURCE},
            ):
                out.append(await ledger.summarize(filters))
                runs = await ledger.query_runs({**filters, "limit": 100})
                for run in runs:
                    for attempt in run["attempts"]:
                        attempt.pop("id", None)
                out.append(runs)
            out.append(await ledger.recorded_names("model"))
        return out

    return anyio.run(go)


def test_gemini_calls_recorded_under_the_resource_name_are_one_model_after_the_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A ledger recorded before 0dc9d6e holds Gemini calls under models/gemini-2.5-flash and gemini-2.5-flash: its
    model_stats split the model in two, `--model gemini-2.5-flash` (summarize, query, a gate of it) left out the
    old calls, and exports named both. Upgraded, it holds what this version would have recorded: every table, each
    day's rollup rows merged to the pico-dollar, and every read, equal to a ledger this version recorded (a model
    only a gateway names so, compat's, stays as it is); a second open changes nothing."""
    now = time.time()
    old, twin = tmp_path / "old.db", tmp_path / "twin.db"
    _old_ledger(old, _calls(now), monkeypatch, reserved_at=now)
    _twin(twin, _calls(now), reserved_at=now)
    assert _tables(old) != _tables(twin)

    # The expired reservation's stand-in run ends when it is swept (at each ledger's first read): both are swept at
    # one moment, or the two sweeps could fall either side of a second and the runs' ended_at differ (1 run in 5
    # failed so on a loaded machine)
    from types import SimpleNamespace

    from magsag_mcp.ledger import recording

    swept = time.time()
    monkeypatch.setattr(recording, "time", SimpleNamespace(time=lambda: swept))
    _open(old)
    assert _tables(old, recorded_before_0033=True) == _tables(twin)
    assert _schema(old) == _schema(twin)  # no work table left behind, every index the reads use in place
    # the expired reservation became its attempt in both; each summary's data_classes_since is when that ledger's
    # 0027 ran (both hold calls begun before it: the twin's were made before it was), a second apart under load
    assert since_set_apart(_reads(old, now), when_0027_ran(old)) == since_set_apart(
        _reads(twin, now), when_0027_ran(twin)
    )

    # and against the attempts themselves: each rollup row, and the model's calls, tokens and costs in the summary
    rollup, recomputed = _rollup_and_attempts(old)
    assert rollup == recomputed
    conn = sqlite3.connect(old)
    from_attempts = conn.execute(
        "SELECT COUNT(*), SUM(input_tokens), SUM(cost_pusd), SUM(cost_pusd IS NULL) FROM attempts WHERE model = ?",
        (BARE,),
    ).fetchone()
    rollup = conn.execute(
        "SELECT SUM(attempts), SUM(input_tokens), SUM(cost_pusd), SUM(unpriced) FROM usage_rollup WHERE model = ?",
        (BARE,),
    ).fetchone()
    assert conn.execute("SELECT model FROM budget_reservations").fetchall() == [(BARE,)]  # the one in flight
    conn.close()
    stats = _reads(old, now)[0]["model_stats"]
    assert from_attempts == rollup == (11, 920, 71_000_000, 3)  # r3's cut attempt, r5's price, r10's stand-in
    # 11 attempts, 9 calls: r3's retry is its call's second attempt, and r4's failed attempt fell back to gpt-4o
    assert (stats[BARE]["attempts"], stats[BARE]["calls"], stats[BARE]["known_cost_usd"]) == (11, 9, "0.000071")
    assert stats[BARE]["unpriced_calls"] == 3 and stats[BARE]["unbounded_calls"] == 1  # r5's stays unknown
    assert stats[BARE]["unknown_cost_bound_usd"] == "0.000036"
    assert stats[RESOURCE]["calls"] == 1  # compat's
    assert "models/gemma-3-27b-it" not in stats and stats["gemma-3-27b-it"]["calls"] == 1
    # `flow gate` of `flow summarize --model gemini-2.5-flash` checks the call limit against the old calls too: the
    # costliest is the stand-in of the reservation an older process held when it died
    limits = PolicySet([Policy(name="limits", thresholds={"max_cost_per_call_usd": "0.000025"})])
    violations = check_summary(_reads(old, now)[2], limits)
    assert any("a call to gemini-2.5-flash in run r10" in v and "$0.000029" in v for v in violations), violations

    before = _tables(old)
    _open(old)  # a second open applies nothing
    assert _tables(old) == before


def test_processes_upgrading_an_old_ledger_at_once_merge_its_gemini_rows_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two MCP servers (a desktop client and an IDE) restarted together after the upgrade: both open the old ledger
    at once, one migrates it (each takes the write lock to check), and the other finds it done: its rows renamed
    and merged once, every table as this version would have recorded it."""
    now = time.time()
    old, twin = tmp_path / "old.db", tmp_path / "twin.db"
    _old_ledger(old, _calls(now), monkeypatch, reserved_at=now)
    _twin(twin, _calls(now), reserved_at=now)
    assert open_at_once(old, 4, event=False) == [0] * 4
    assert _tables(old, recorded_before_0033=True) == _tables(twin)
    conn = sqlite3.connect(old)
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_a_merge_past_what_the_ledger_holds_leaves_that_pair_apart_and_the_ledger_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two rows of one day for the two names whose money together passes what an INTEGER column holds (2**63 - 1
    pUSD, about $9.2M, which a write refuses): merged, the upgrade would fail on every open, and the ledger could
    not be used by this version at all. That pair stays apart, its attempts with it (the rollup equals its
    attempts), and every other row is merged; the summary's totals stay exact."""
    big = 5 * 10**18  # $5,000,000: one of them fits a row, both do not
    calls: list[Call] = [
        ("big-old", "ag", "s", [(DAY + 100, "google", RESOURCE, "ok", 0, 1, big, None, 1, 1)]),
        ("big-new", "ag", "s", [(DAY + 2000, "google", BARE, "ok", 0, 1, big, None, 1, 1)]),
        ("small", "bo", "s", [(DAY + 3000, "google", RESOURCE, "ok", 0, 1, 1_000_000, None, 1, 1)]),
    ]
    db = tmp_path / "old.db"
    _old_ledger(db, calls, monkeypatch, reserved_at=None)
    _open(db)
    conn = sqlite3.connect(db)
    models = conn.execute("SELECT run_id, model FROM attempts ORDER BY id").fetchall()
    conn.close()
    assert models == [("big-old", RESOURCE), ("big-new", BARE), ("small", BARE)]
    rollup, recomputed = _rollup_and_attempts(db)
    assert rollup == recomputed and len(rollup) == 3
    summary = _reads(db, time.time())[0]
    assert summary["totals"]["known_cost_usd"] == "10000000.000001"
    assert summary["model_stats"][BARE]["known_cost_usd"] == "5000000.000001"
    assert summary["model_stats"][RESOURCE]["known_cost_usd"] == "5000000"


@pytest.mark.anyio
async def test_a_gemini_resource_name_that_names_no_model_is_recorded_as_written(tmp_path: Path, upstream):
    """'google:models/' names no model: the resource name's prefix alone. Its attempt (refused by the policy) was
    recorded as the model '', which no --model filter can name (an empty name is refused) and which `data query`
    and the exports showed as a blank. It is recorded as written, as 0017 leaves such a row."""
    from magsag_mcp.errors import MagsagError
    from magsag_mcp.service import Service

    svc = await Service.open(db=tmp_path / "l.db", env=upstream.env())
    try:
        with pytest.raises(MagsagError):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "google:models/"}})
        names = await svc.ledger.recorded_names("model")
        runs = await svc.ledger.query_runs({"model": "models/"})
    finally:
        await svc.aclose()
    assert names == ["models/"]
    assert [(a["model"], a["outcome"]) for r in runs for a in r["attempts"]] == [("models/", "policy_denied")]
