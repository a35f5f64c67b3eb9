"""A ledger this user can only read, holding the expired reservations of calls whose process died mid-call: its
summary counts each as the abandoned attempt of unknown cost a writable read records it as, so that the two reads
of one ledger agree, and `flow gate` fails the read-only one as it fails the other."""

from __future__ import annotations

import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

_RESERVE = (
    "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state, attempt_run_id,"
    " provider, model, skill, call_id, unbounded) VALUES (?, ?, ?, ?, ?, 'held', ?, ?, ?, ?, ?, ?)"
)


async def _ledger_with_dead_calls(db: Path) -> None:
    async with Ledger(db) as ledger:
        now = time.time()
        at = now - 600
        paid = AttemptRecord("r1", at, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1, cost_usd=Decimal(".25"))
        await ledger.record_call(RunRecord("r1", "ana", "skill.analysis", at), [paid])
        rows = [
            # a call of one attempt, bounded by what it reserved
            ("r2", "ana", now - 2000, now - 1000, 600_000_000, "r2", "openai", "gpt-4o", "skill.analysis", "c2", 0),
            # a call cut on its first attempt (expired), its fallback's reservation made later (not expired yet):
            # both its attempts, the call counted once, under the last (anthropic's)
            ("r3", "bo", now - 1900, now - 900, 700_000_000, "r3", "openai", "gpt-4o", "skill.summary", "c3", 0),
            ("r3", "bo", now - 1800, now + 600, 800_000_000, "r3", "anthropic", "claude-x", "skill.summary", "c3", 0),
            # a model of unknown price's placeholder, two hours ago, of no agent nor skill: no bound at all
            ("r4", None, now - 7200, now - 6000, 0, "r4", "compat", "mystery-model", None, "c4", 1),
        ]
        for row in rows:
            await ledger.submit(lambda c, row=row: c.execute(_RESERVE, row))


@pytest.fixture
async def twins(tmp_path: Path) -> tuple[Path, Path]:
    """The same closed ledger twice: one to read read-only, one to read writable (which records the dead calls)."""
    (tmp_path / "a").mkdir()
    db = tmp_path / "a" / "ledger.db"
    await _ledger_with_dead_calls(db)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    return db, tmp_path / "b" / "ledger.db"


def _counts(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary's counts and costs: totals and each breakdown's (each model's costliest call among them), its
    costliest run, day and call, each agent's costliest day, and its period."""
    out: dict[str, Any] = {k: summary[k] for k in ("totals", "period", "largest_day", "largest_run", "largest_call")}
    for part in ("model_stats", "by_provider", "by_agent", "by_skill"):
        out[part] = summary[part]
    return out


@pytest.mark.parametrize(
    "filters",
    [
        None,
        {"model": "gpt-4o"},
        {"provider": "anthropic"},
        {"agent": "ana"},
        {"skill": "skill.summary"},
        {"run_id": "r3"},
        {"since": "1h"},
        {"status": "error"},
        {"status": "ok"},
    ],
)
@pytest.mark.parametrize("zone", [None, "Asia/Tokyo"])
async def test_a_read_only_summary_counts_dead_calls_as_the_writable_read_records_them(twins, filters, zone):
    read_only, writable = twins
    async with Ledger(read_only, read_only=True) as ledger:
        assert ledger.read_only
        seen = await ledger.summarize(filters, zone)
        seen_days = await ledger.agent_days(filters, zone)
    async with Ledger(writable) as ledger:
        recorded = await ledger.summarize(filters, zone)
        recorded_days = await ledger.agent_days(filters, zone)
    assert _counts(seen) == _counts(recorded)
    assert seen_days == recorded_days  # (`magsag flow daily`)


async def test_the_unfiltered_read_only_summary_is_incomplete_and_the_gate_fails_it(twins):
    from magsag_mcp.governance import Policy, PolicySet
    from magsag_mcp.governance.gate import check_summary

    read_only, _ = twins
    before = {p.name: p.read_bytes() for p in read_only.parent.iterdir()}
    async with Ledger(read_only, read_only=True) as ledger:
        summary = await ledger.summarize()
    totals = summary["totals"]
    assert totals["cost_complete"] is False and totals["cost_usd"] is None
    assert totals["unpriced_attempts"] == 4 and totals["unbounded_attempts"] == 1
    assert totals["calls"] == 4 and totals["errors"] == 3 and totals["attempts"] == 5
    assert totals["known_cost_usd"] == "0.25" and totals["unknown_cost_bound_usd"] == "0.0021"
    assert summary["model_stats"]["claude-x"]["calls"] == 1 and summary["model_stats"]["gpt-4o"]["calls"] == 2
    violations = check_summary(summary, PolicySet([Policy(name="caps", thresholds={"max_cost_per_run_usd": "1"})]))
    assert any("no known cost" in v for v in violations), violations
    # nothing written: the ledger's folder is as it was, byte for byte
    assert {p.name: p.read_bytes() for p in read_only.parent.iterdir()} == before


def test_flow_summarize_of_a_read_only_ledger_into_flow_gate_fails(tmp_path: Path, monkeypatch, capsys):
    """`magsag flow summarize | magsag flow gate` of a ledger this user cannot write: it passed (cost_complete true, the
    dead call of no known price left out, said on stderr alone); it fails, as the same ledger read writable does."""
    import anyio

    from magsag_mcp.cli import main
    from magsag_mcp.ledger import opening

    (tmp_path / "a").mkdir()
    db = tmp_path / "a" / "ledger.db"
    anyio.run(_ledger_with_dead_calls, db)
    monkeypatch.setattr(opening, "file_writable", lambda path: False)  # (as for a user who cannot write it)
    summary = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--db", str(db), "--output", str(summary)]) == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: caps\n    thresholds: {max_cost_per_run_usd: 1}\n")
    capsys.readouterr()
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "caps: 1 attempt has no known cost" in out, out


async def _ledger_with_dead_calls_in_runs(db: Path) -> None:
    """Dead calls that decide the costliest run: one in a run recorded ok (which it turns to error) that makes it the
    costliest, one in a run delegated from another (a run of its own, recorded with the dead call), one of no bound in
    that tree, and one in a run begun hours before the calls within the last hour."""
    async with Ledger(db) as ledger:
        now = time.time()

        def paid(run: str, at: float, cost: str, agent: str = "ana", model: str = "gpt-4o") -> AttemptRecord:
            return AttemptRecord(run, at, "openai", model, "skill.analysis", agent, "ok", 0, 1, cost_usd=Decimal(cost))

        await ledger.record_call(
            RunRecord("r1", "ana", "skill.analysis", now - 600, status="ok"), [paid("r1", now - 600, ".25")]
        )
        await ledger.record_call(
            RunRecord("r6", "bo", "skill.analysis", now - 9000, status="ok"), [paid("r6", now - 9000, ".10", "bo")]
        )
        await ledger.record_call(
            RunRecord("r0", "bo", "skill.analysis", now - 8000, status="ok"), [paid("r0", now - 8000, ".30", "bo")]
        )
        rows = [
            # r6 (recorded ok, 2.5 hours ago): $0.30 at most, which makes it the costliest run, and an error
            ("r6", "bo", now - 1500, now - 700, 3 * 10**11, "r6", "anthropic", "claude-x", "skill.analysis", "c6", 0),
            # a run delegated from r1, not recorded: r1's tree
            ("r1", "ana", now - 1400, now - 650, 50_000_000_000, "r7", "openai", "gpt-4o", "skill.summary", "c7", 0),
            # another delegated from r1, of no known price: no bound on r1's tree
            ("r1", "ana", now - 1300, now - 640, 0, "r9", "compat", "mystery-model", "skill.summary", "c9", 1),
        ]
        for row in rows:
            await ledger.submit(lambda c, row=row: c.execute(_RESERVE, row))


@pytest.fixture
async def run_twins(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "a").mkdir()
    db = tmp_path / "a" / "ledger.db"
    await _ledger_with_dead_calls_in_runs(db)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    return db, tmp_path / "b" / "ledger.db"


@pytest.mark.parametrize(
    "filters",
    [
        None,
        {"status": "ok"},
        {"status": "error"},
        {"since": "1h"},
        {"since": "1h", "agent": "bo"},
        {"agent": "ana"},
        {"model": "gpt-4o"},
        {"provider": "anthropic"},
        {"skill": "skill.summary"},
        {"run_id": "r1"},
        {"run_id": "r6"},
        {"until": "30m"},
    ],
)
async def test_a_read_only_summary_finds_the_costliest_run_and_call_as_the_writable_read_does(run_twins, filters):
    """largest_run and largest_call (what `flow gate`'s run and call limits check) count the dead calls as recorded:
    left out, r6's $0.30 at most went unseen, and r1's tree lacked its delegated runs and its call of no bound; and a
    status filter reads r6, recorded ok, as the error its dead call makes it (its paid call with it)."""
    read_only, writable = run_twins
    async with Ledger(read_only, read_only=True) as ledger:
        seen = await ledger.summarize(filters)
        seen_days = await ledger.agent_days(filters)
    async with Ledger(writable) as ledger:
        recorded = await ledger.summarize(filters)
        recorded_days = await ledger.agent_days(filters)
    assert _counts(seen) == _counts(recorded)
    assert seen_days == recorded_days


async def test_the_gate_fails_a_run_over_its_limit_by_a_dead_call_read_only(run_twins):
    from magsag_mcp.governance import Policy, PolicySet
    from magsag_mcp.governance.gate import check_summary

    read_only, _ = run_twins
    async with Ledger(read_only, read_only=True) as ledger:
        summary = await ledger.summarize({"run_id": "r6"})
    assert summary["largest_run"]["run_id"] == "r6" and summary["largest_run"]["at_most_usd"] == "0.4"
    violations = check_summary(summary, PolicySet([Policy(name="caps", thresholds={"max_cost_per_run_usd": "0.35"})]))
    assert any("r6" in v for v in violations), violations


def _runs_by_id(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    # (ended_at: the time of the read that records a dead call, this read's read-only)
    return {run["run_id"]: {k: v for k, v in run.items() if k != "ended_at"} for run in page["runs"]}


@pytest.mark.parametrize(
    "filters",
    [
        None,
        {"status": "ok"},
        {"status": "error"},
        {"agent": "bo"},
        {"run_id": "r6"},
        {"since": "1h"},
        # r6's recorded attempt is gpt-4o's, its dead call claude-x's (anthropic's): recorded, it holds one of each
        {"model": "claude-x"},
        {"provider": "anthropic", "status": "error"},
        {"model": "claude-x", "agent": "bo", "since": "1h"},
    ],
)
@pytest.mark.parametrize("attempts_per_run", [None, 1])
async def test_a_read_only_list_of_runs_shows_a_run_with_a_dead_call_as_the_writable_read_does(
    run_twins, filters, attempts_per_run
):
    """`data query` / query_runs of a read-only ledger: r6, recorded ok, is listed as the writable read lists it once
    its dead call is recorded (status error, its stand-in among its attempts, cost unknown, bounded), and a status
    filter reads it so; the runs of dead calls alone (r7, r9, delegated from r1) are not listed, which the note says."""
    read_only, writable = run_twins
    async with Ledger(read_only, read_only=True) as ledger:
        seen = _runs_by_id(await ledger.query_runs_page(filters, attempts_per_run))
        note = await ledger.expired_unrecorded_note()
    async with Ledger(writable) as ledger:
        recorded = _runs_by_id(await ledger.query_runs_page(filters, attempts_per_run))
    assert seen == {run_id: run for run_id, run in recorded.items() if run_id not in ("r7", "r9")}
    if filters is None:
        assert seen["r6"]["status"] == "error" and seen["r6"]["cost_usd"] is None
        assert seen["r6"]["attempts"][-1]["error_class"] == "abandoned"
    assert note is not None and "lists no run of them alone" in note, note


@pytest.mark.parametrize("run_id", ["r1", "r6", "r7", "r0"])
async def test_a_read_only_run_spend_counts_the_dead_calls_of_its_scope_as_the_writable_read_does(run_twins, run_id):
    """run_spend (obs.get_current_cost(), cost_detail()): r1's scope holds the dead calls of the runs delegated from it
    (one bounded, one of no bound), r6 its own; left out, r1's read $0.25 complete where it holds an unknown cost."""
    read_only, writable = run_twins
    async with Ledger(read_only, read_only=True) as ledger:
        seen = await ledger.run_spend(run_id)
    async with Ledger(writable) as ledger:
        recorded = await ledger.run_spend(run_id)
    assert seen.to_dict() == recorded.to_dict()
    if run_id == "r1":
        assert not seen.cost_complete and seen.unbounded_attempts == 1 and seen.unknown_attempts == 2


def test_data_search_and_budget_of_a_read_only_ledger_say_its_dead_calls(tmp_path: Path, monkeypatch, capsys):
    """`magsag data search` (search_usage) finds no stand-in of a dead call on a ledger it cannot write (a writable read
    records them, as errors it finds), and `magsag budget --run-id` counts them as reservations, not as the attempts
    a writable read records them as: each says so in a note (on stderr; search_usage's and check_budget's notes)."""
    import json

    import anyio

    from magsag_mcp.cli import main
    from magsag_mcp.ledger import opening

    (tmp_path / "a").mkdir()
    db = tmp_path / "a" / "ledger.db"
    anyio.run(_ledger_with_dead_calls_in_runs, db)
    monkeypatch.setattr(opening, "file_writable", lambda path: False)  # (as for a user who cannot write it)
    catalog = Path(__file__).resolve().parent.parent / "catalog"
    said = "3 calls of processes that ended with their requests in flight (their reservations expired) cannot be"
    capsys.readouterr()
    assert main(["data", "search", "in flight", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [] and said in err and "a search does not find them" in err, err
    assert main(["budget", "--db", str(db), "--catalog", str(catalog), "--run-id", "r6"]) == 0
    err = capsys.readouterr().err
    assert said in err and "reserved_by.expired" in err, err
    assert main(["budget", "--db", str(db), "--catalog", str(catalog), "--run-id", "r6", "--json"]) == 0
    assert any(said in note for note in json.loads(capsys.readouterr().out)["notes"])


async def test_search_usage_of_a_read_only_ledger_says_its_dead_calls(run_twins):
    read_only, writable = run_twins
    async with Ledger(read_only, read_only=True) as ledger:
        notes = (await ledger.search_page("in flight"))["notes"]
    assert any("a search does not find them" in note for note in notes), notes
    async with Ledger(writable) as ledger:  # (recorded, each is found)
        page = await ledger.search_page("in flight")
    assert len(page["hits"]) == 3 and not page["notes"]


async def test_a_writable_read_works_out_nothing_of_dead_calls(run_twins, monkeypatch):
    """A writable ledger has just recorded its dead calls: its reads (a summary of 1,000,000 attempts among them) do
    none of the read-only work of counting them as recorded, not a function of it called."""
    from magsag_mcp.ledger import dead_runs, peaks, queries, reports, run_pages, unrecorded

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a writable read worked out its dead calls as a read-only one does")

    for module in (dead_runs, peaks, queries, reports, run_pages, unrecorded):
        for name in (
            "runs_as_recorded",
            "errored_runs",
            "called_within_window",
            "selected_by_name",
            "touched_trees",
            "tree_dead_unbounded",
            "dead_in_scope",
            "stand_in_calls",
            "dead_calls",
        ):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refused)
    _, writable = run_twins
    async with Ledger(writable) as ledger:
        for filters in (None, {"since": "1h", "agent": "bo"}, {"status": "error", "model": "claude-x"}):
            await ledger.summarize(filters)
            await ledger.agent_days(filters)
            await ledger.query_runs_page(filters, 1)
        await ledger.run_spend("r1")


async def _ledger_of_a_run_continued_after_its_process_died(db: Path) -> None:
    """r1's first call died in flight 25 minutes ago (its reservation expired); another process continued r1 and
    recorded a call 10 minutes ago. Recorded, the dead call moves r1's start back 15 minutes (the upsert's MIN)."""
    async with Ledger(db) as ledger:
        now = time.time()

        def paid(run: str, at: float) -> AttemptRecord:
            return AttemptRecord(
                run, at, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1, cost_usd=Decimal(".1")
            )

        await ledger.record_call(
            RunRecord("r1", "ana", "skill.analysis", now - 600, status="ok"), [paid("r1", now - 600)]
        )
        await ledger.record_call(
            RunRecord("r2", "ana", "skill.analysis", now - 1000, status="ok"), [paid("r2", now - 1000)]
        )
        row = ("r1", "ana", now - 1500, now - 700, 10**11, "r1", "openai", "gpt-4o", "skill.analysis", "c1", 0)
        await ledger.submit(lambda c: c.execute(_RESERVE, row))


@pytest.mark.parametrize("filters", [None, {"until": "15m"}, {"since": "20m"}])
async def test_a_read_only_list_of_runs_selects_a_run_its_dead_call_began_as_the_writable_read_does(tmp_path, filters):
    """A run whose dead call began before its first recorded call (a process killed mid-call, the run continued by
    another) begins, recorded, at the dead call: r1 began before `until` 15 minutes ago, and a writable read lists it
    there; read-only it was left out (its recorded start is after). Its place in the list stays its recorded start's
    (the order of a page, and its cursor, are the SQL's), which the note says."""
    (tmp_path / "a").mkdir()
    await _ledger_of_a_run_continued_after_its_process_died(tmp_path / "a" / "ledger.db")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    async with Ledger(tmp_path / "a" / "ledger.db", read_only=True) as ledger:
        seen = _runs_by_id(await ledger.query_runs_page(filters))
        note = await ledger.expired_unrecorded_note()
    async with Ledger(tmp_path / "b" / "ledger.db") as ledger:
        recorded = _runs_by_id(await ledger.query_runs_page(filters))
    assert seen == recorded and "r1" in seen
    assert note is not None and "in the place of its recorded start, which it may move back" in note, note
    assert "To record it, run any read (`magsag flow summarize`, say) as a user who can write the ledger" in note
