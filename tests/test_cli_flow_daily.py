"""`magsag flow daily`: each agent's spend on each day, in a zone's days, as CSV or JSON (a month's report)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import anyio

from magsag_mcp.cli import main


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _fill(db) -> None:
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    calls = [  # (run, agent, UTC time, model, cost: None for no known price)
        ("r1", "alice", "2026-11-01T10:00:00", "gpt-4o", Decimal("0.25")),
        ("r2", "alice", "2026-11-01T23:30:00", "gpt-4o", Decimal("0.5")),  # 00:30 on the 2nd in Berlin (CET)
        ("r3", "=bob", "2026-11-02T09:00:00", "gpt-4o", Decimal("0.125")),
        ("r4", "=bob", "2026-11-02T11:00:00", "mystery-7b", None),
        ("r5", "carol", "2026-12-01T09:00:00", "gpt-4o", Decimal("1")),  # after the month
    ]

    async def fill() -> None:
        async with Ledger(db) as ledger:
            for run_id, agent, when, model, cost in calls:
                at = _at(when)
                attempt = AttemptRecord(run_id, at, "openai", model, "s", agent, "ok", 0, 1, cost_usd=cost)
                await ledger.record_call(RunRecord(run_id, agent, "s", at), [attempt])

    anyio.run(fill)


def test_last_month_per_agent_per_day_as_csv_in_the_policy_s_zone(tmp_path, monkeypatch, capsys):
    """An operator's month report, spend per agent per day in their zone, had no command: `flow summarize` gives
    each agent's costliest day only, and `data query --format csv` one row per attempt in UTC, to add up by hand."""
    db = tmp_path / "l.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    _fill(db)
    month = ["--since", "2026-11-01", "--until", "2026-12-01"]
    out = tmp_path / "november.csv"
    assert main(["flow", "daily", *month, "--timezone", "Europe/Berlin", "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "1 agent-day holds an attempt of no known price" in err and f"wrote {out}" in err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["date"], r["agent"], r["known_cost_usd"], r["at_most_usd"]) for r in rows] == [
        ("2026-11-01", "alice", "0.25", "0.25"),
        ("2026-11-02", "'=bob", "0.125", ""),  # a name a spreadsheet would run is made inert; a cost nothing bounds
        ("2026-11-02", "alice", "0.5", "0.5"),
    ]
    assert rows[1]["unbounded_attempts"] == "1"
    # UTC's days, and JSON: the same money as a summary's by_agent[A].largest_day
    assert main(["flow", "daily", *month, "--agent", "alice", "--format", "json"]) == 0
    assert [(r["date"], r["at_most_usd"]) for r in json.loads(capsys.readouterr().out)] == [("2026-11-01", "0.75")]
    assert main(["flow", "summarize", *month, "--agent", "alice"]) == 0
    assert json.loads(capsys.readouterr().out)["by_agent"]["alice"]["largest_day"]["at_most_usd"] == "0.75"
    # a misspelt agent is told, as summarize tells it, rather than an empty report
    assert main(["flow", "daily", "--agent", "alcie"]) == 0
    out_err = capsys.readouterr()
    assert out_err.out == "date,agent,known_cost_usd,unknown_cost_bound_usd,at_most_usd,unbounded_attempts\n"
    assert "did you mean 'alice'" in out_err.err


def test_a_report_in_est_says_on_stderr_that_the_zone_keeps_no_summer_time(tmp_path, monkeypatch, capsys):
    """`--timezone EST` is taken (an IANA zone, UTC-5 all year), and counted New York's summer days an hour off with
    no word of it; flow daily and flow summarize now say so on stderr, as the tools' notes do. America/New_York: no
    such note."""
    db = tmp_path / "l.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    _fill(db)
    for command in (["flow", "daily", "--format", "json"], ["flow", "summarize"]):
        assert main([*command, "--timezone", "EST"]) == 0
        err = capsys.readouterr().err
        assert "note: timezone 'EST' is UTC-5 all year, with no summer time" in err, (command, err)
        assert "give timezone 'America/New_York'" in err, (command, err)
        assert main([*command, "--timezone", "America/New_York"]) == 0
        assert "summer time" not in capsys.readouterr().err, command
