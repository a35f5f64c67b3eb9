"""`magsag flow gate SUMMARY.json --policy FILE`: exit 0 pass, 1 violations, 2 bad input (never a crash)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.cli import main

POLICY = """policies:
  - name: prod
    allowed_models: [gpt-4o, 'claude-*']
  - name: limits
    thresholds: {max_cost_per_call_usd: 0.5, max_cost_per_run_usd: 10, max_cost_per_agent_daily_usd: 3}
"""

#: a summary as magsag wrote them before they named their costliest run and day (the gate then checks
#: per-run and per-day limits against totals, and says so in NOTE lines)
GOOD: dict[str, Any] = {
    "model_stats": {
        "gpt-4o": {
            "calls": 10,
            "errors": 1,
            "input_tokens": 1000,
            "output_tokens": 500,
            "total_tokens": 1500,
            "cost_usd": 2.0,
            "cost_usd_exact": "2.0",
            "unpriced_calls": 0,
            "providers": ["openai"],
        }
    },
    "by_agent": {"ana": {"calls": 10, "errors": 1, "cost_usd": 2.0, "cost_usd_exact": "2.0", "unpriced_calls": 0}},
}


@pytest.fixture
def gate(tmp_path: Path, capsys):
    def run(summary: Any, policy: str = POLICY, *, raw: str | None = None) -> tuple[int, str, str]:
        path = tmp_path / "summary.json"
        path.write_text(raw if raw is not None else json.dumps(summary))
        pol = tmp_path / "policy.yaml"
        pol.write_text(policy)
        capsys.readouterr()
        code = main(["flow", "gate", str(path), "--policy", str(pol)])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def changed(**edits: Any) -> dict[str, Any]:
    """GOOD with ``model=`` / ``agent=`` entries updated."""
    s = copy.deepcopy(GOOD)
    s["model_stats"]["gpt-4o"].update(edits.get("model", {}))
    s["by_agent"]["ana"].update(edits.get("agent", {}))
    return s


def test_a_summary_within_the_policy_passes(gate):
    code, out, _ = gate(GOOD)
    assert (code, out.splitlines()[-1]) == (0, "gate: pass")


def test_agent_daily_violation(gate):
    code, out, _ = gate(changed(agent={"cost_usd": 4.0, "cost_usd_exact": "4.0"}))
    assert code == 1
    assert "FAIL limits: agent 'ana' cost $4.0 exceeds max_cost_per_agent_daily_usd $3" in out


def test_per_call_violation(gate):
    code, out, _ = gate(changed(model={"calls": 2, "errors": 0}))  # $2.0 over 2 calls
    assert code == 1
    assert "FAIL limits: gpt-4o averaged $1.000000 per call, above max_cost_per_call_usd $0.5" in out


def test_unpriced_calls_violate_a_cost_limit_unless_allowed(gate):
    code, out, _ = gate(changed(model={"unpriced_calls": 2}))
    assert code == 1
    assert "FAIL limits: 2 attempts have no known cost, so the cost limits cannot be checked" in out
    allowing = POLICY.replace("  - name: limits\n", "  - name: limits\n    allow_unpriced: true\n")
    code, out, _ = gate(changed(model={"unpriced_calls": 2}), allowing)
    assert (code, out.splitlines()[-1]) == (0, "gate: pass")
    # Before: "gate: pass" alone, as if those calls' cost had been checked; the limits counted them at $0
    assert (
        "NOTE limits: 2 attempts (gpt-4o) have no known cost and no bound on it, which allow_unpriced admits: its cost "
        "limits were checked without them, so they may have been exceeded unseen; price those models in the "
        "prices.yaml of your catalog (magsag doctor names the catalog in use) to count them"
    ) in out
    assert "NOTE prod" not in out  # a policy of allowed models alone counts no cost
    assert "allow_unpriced admits" not in gate(changed(), allowing)[1]  # every cost known: nothing to say


def test_an_old_summarys_unbounded_calls_under_allow_unpriced_are_not_all_blamed_on_prices(gate):
    # A summary written before bounds were kept (no unbounded_calls) counts every unknown cost as unbounded: a call
    # cut in flight of a priced model too. The NOTE told only "price those models in catalog/prices.yaml", which
    # gpt-4o already is; writing the summary again counts those calls at their bound.
    allowing = POLICY.replace("  - name: limits\n", "  - name: limits\n    allow_unpriced: true\n")
    code, out, _ = gate(changed(model={"unpriced_calls": 2}), allowing)
    assert code == 0
    [note] = [line for line in out.splitlines() if "allow_unpriced admits" in line]
    assert note.endswith(
        "price those models in the prices.yaml of your catalog (magsag doctor names the catalog in use) to count "
        "them; this summary has no unbounded_calls (written by an older magsag), so a call cut in flight is among "
        "them too: write the summary again with `magsag flow summarize` to count those at their bound"
    ), note
    today = {"unpriced_calls": 2, "unbounded_calls": 2}
    [note] = [line for line in gate(changed(model=today), allowing)[1].splitlines() if "allow_unpriced admits" in line]
    assert note.endswith(
        "price those models in the prices.yaml of your catalog (magsag doctor names the catalog in use) to count them"
    ), note


def test_bounded_unknown_costs_count_at_their_bound(gate):
    """A call cut after it reached the vendor has an unknown cost but a bound: the gate counts the bound,
    as budget limits do, instead of refusing to check; an unknown cost with no bound still fails."""
    bounded = {"unpriced_calls": 2, "unbounded_calls": 0, "unknown_cost_bound_usd": "0.5"}
    code, out, err = gate(changed(model=bounded, agent=bounded))
    assert (code, out.splitlines()[-1], err) == (0, "gate: pass", "")
    code, out, _ = gate(changed(model={**bounded, "unknown_cost_bound_usd": "8.5"}, agent=bounded))
    assert code == 1
    assert (
        "FAIL limits: total cost up to $10.5 ($2.0 known, up to $8.5 of unknown cost) exceeds max_cost_per_run_usd $10"
    ) in out
    assert "FAIL limits: gpt-4o averaged up to $1.050000 per call, above max_cost_per_call_usd $0.5" in out
    code, out, _ = gate(changed(model=bounded, agent={**bounded, "unknown_cost_bound_usd": "1.5"}))
    assert "FAIL limits: agent 'ana' cost up to $3.5 ($2.0 known, up to $1.5 of unknown cost) exceeds" in out
    # today's summaries write a null cost beside the known part while any cost is unknown
    today = {**bounded, "cost_usd": None, "cost_usd_exact": None, "known_cost_usd": "2.0", "cost_complete": False}
    code, out, _ = gate(changed(model={**today, "unknown_cost_bound_usd": "8.5"}, agent=today))
    assert code == 1 and "FAIL limits: total cost up to $10.5 ($2.0 known, up to $8.5 of unknown cost)" in out
    code, out, _ = gate(changed(model={**bounded, "unbounded_calls": 1}, agent=bounded))
    assert code == 1
    assert "FAIL limits: 1 attempt has no known cost nor a bound on it, so the cost limits cannot be checked" in out


def test_model_outside_allowed_models_and_run_total(gate):
    s = copy.deepcopy(GOOD)
    s["model_stats"]["o1-preview"] = {"calls": 40, "errors": 0, "cost_usd": 9.0, "providers": ["openai"]}
    code, out, _ = gate(s)
    assert code == 1
    assert "FAIL prod: model 'o1-preview' (via openai) is not in allowed_models (40 calls)" in out
    assert "FAIL limits: total cost $11.0 exceeds max_cost_per_run_usd $10" in out
    assert "gate: 2 violations" in out


@pytest.mark.parametrize(
    ("summary", "names"),
    [
        ({**GOOD, "by_agent": [1]}, "by_agent: should be a JSON object"),
        ({**GOOD, "by_agent": {"a": 3}}, "by_agent['a']: should be a JSON object"),
        (changed(model={"calls": "x"}), "model_stats['gpt-4o'].calls: Input should be a valid integer (got 'x')"),
        (changed(model={"calls": True}), "model_stats['gpt-4o'].calls: Input should be a valid integer"),
        (changed(model={"calls": -1}), "model_stats['gpt-4o'].calls: Input should be greater than or equal to 0"),
        (changed(model={"cost_usd_exact": "lots"}), "model_stats['gpt-4o'].cost_usd_exact: Input should be a valid"),
        (changed(agent={"cost_usd": [2]}), "by_agent['ana'].cost_usd:"),
        (changed(model={"unpriced_calls": 1.5}), "model_stats['gpt-4o'].unpriced_calls:"),
        (changed(model={"providers": "openai"}), "model_stats['gpt-4o'].providers: Input should be a valid list"),
        ({"model_stats": {"gpt-4o": 3}}, "model_stats['gpt-4o']: should be a JSON object"),
        ({"model_stats": {"gpt-4o": {"cost_usd": 1}}}, "model_stats['gpt-4o'].calls: Field required"),
        ({"model_stats": []}, "model_stats: should be a JSON object"),
        (changed(model={"cost_usd_exact": "1e30"}), "model_stats['gpt-4o'].cost_usd_exact: Input should be less"),
        ({"stats": {}}, "model_stats: Field required"),
        ([GOOD], "the summary must be a JSON object with 'model_stats', not list"),
    ],
)
def test_malformed_summary_exits_2_naming_the_field(gate, summary, names):
    code, out, err = gate(summary)
    assert code == 2, (out, err)
    assert names in err
    assert "magsag flow summarize --output FILE" in err  # and how to get a good one
    assert "is not JSON" not in err and out == ""


def test_non_finite_cost_is_bad_input(gate):
    code, _, err = gate(None, raw=json.dumps(GOOD).replace('"cost_usd": 2.0', '"cost_usd": NaN', 1))
    assert code == 2 and "model_stats['gpt-4o'].cost_usd: Input should be a finite number" in err


def test_unreadable_inputs_exit_2(gate, tmp_path: Path):
    assert gate(None, raw="{not json")[0] == 2
    code, _, err = gate(None, raw="{not json")
    assert "is not JSON" in err
    bad_policy = gate(GOOD, "policies:\n  - name: x\n    thresholds: {max_cost_per_run: 5}\n")
    assert bad_policy[0] == 2 and "max_cost_per_run" in bad_policy[2]
    assert main(["flow", "gate", str(tmp_path / "missing.json"), "--policy", str(tmp_path / "policy.yaml")]) == 2


def test_the_day_limit_bounds_a_summarys_total(gate):
    daily = "policies:\n  - name: all_calls\n    thresholds: {max_cost_per_day_usd: 1.5}\n"
    code, out, _ = gate(GOOD, daily)
    assert code == 1 and "FAIL all_calls: total cost $2.0 exceeds max_cost_per_day_usd $1.5" in out
    assert gate(GOOD, daily.replace("1.5", "2.5"))[0] == 0


def with_peaks(summary: dict[str, Any], *, run: str, day: str, agent_day: str, call: str = "0.4") -> dict[str, Any]:
    """``summary`` as `flow summarize` writes it now: with its costliest run, days and calls."""
    s = copy.deepcopy(summary)
    for stats in s["model_stats"].values():
        stats["largest_call"] = {"run_id": "run-call", "time": "2025-11-02T10:00:00+00:00", "at_most_usd": call}
    s["largest_call"] = {"run_id": "run-call", "time": "2025-11-02T10:00:00+00:00", "at_most_usd": call}
    s["largest_run"] = {"run_id": "run-big", "delegated_runs": 2, "known_cost_usd": run, "unknown_cost_bound_usd": "0"}
    s["largest_day"] = {"date": "2025-11-02", "known_cost_usd": day, "unknown_cost_bound_usd": "0"}
    s["by_agent"]["ana"]["largest_day"] = {"date": "2025-11-01", "known_cost_usd": agent_day}
    return s


def test_per_run_and_per_day_limits_check_the_costliest_run_and_day_not_the_total(gate):
    # Before: a summary of many cheap runs over several days failed max_cost_per_run_usd and the day
    # limits on its total, though no single run or day came near them.
    policy = POLICY + "  - name: days\n    thresholds: {max_cost_per_day_usd: 1.5}\n"
    many = changed(model={"calls": 40, "cost_usd": 12.0, "cost_usd_exact": "12.0"}, agent={"cost_usd_exact": "12.0"})
    code, out, _ = gate(with_peaks(many, run="0.3", day="1.2", agent_day="1.2"), policy)
    assert (code, out) == (0, "gate: pass\n")  # no NOTE: every limit was checked as it is meant
    code, out, _ = gate(with_peaks(many, run="10.5", day="1.6", agent_day="3.5"), policy)
    assert code == 1
    assert "FAIL limits: run run-big (with 2 delegated runs) cost $10.5 exceeds max_cost_per_run_usd $10" in out
    assert "FAIL days: 2025-11-02 (UTC) cost $1.6 exceeds max_cost_per_day_usd $1.5" in out
    assert "FAIL limits: agent 'ana' on 2025-11-01 (UTC) cost $3.5 exceeds max_cost_per_agent_daily_usd $3" in out
    assert "total cost" not in out and "NOTE" not in out


def test_costs_under_a_millionth_of_a_dollar_are_plain_decimals_in_failures(gate):
    """A run whose known part is tiny beside its unknown costs' bound: the FAIL line wrote the summary's
    "0.0000005" as "$5E-7" (Python's print of a small Decimal), where the summary itself says 0.0000005."""
    s = with_peaks(GOOD, run="0.0000005", day="0.1", agent_day="0.1")
    s["largest_run"]["unknown_cost_bound_usd"] = "10.0000001"
    code, out, _ = gate(s)
    assert code == 1
    assert "cost up to $10.0000006 ($0.0000005 known, up to $10.0000001 of unknown cost) exceeds" in out
    assert "E-7" not in out


def test_a_summary_without_peaks_is_checked_on_its_totals_and_the_gate_says_so(gate):
    many = changed(model={"calls": 40, "cost_usd": 12.0, "cost_usd_exact": "12.0"}, agent={"cost_usd_exact": "12.0"})
    code, out, _ = gate(many)
    assert code == 1 and "FAIL limits: total cost $12.0 exceeds max_cost_per_run_usd $10" in out
    assert (
        "NOTE this summary has no largest_run (written by an older magsag): max_cost_per_run_usd $10 was checked "
        "against the total, which may span many runs; write the summary again with `magsag flow summarize`"
    ) in out
    assert "NOTE this summary has no largest_day in by_agent" in out


def test_the_gate_says_when_the_policys_days_are_not_utc(gate):
    policy = "policies:\n  - name: berlin\n    timezone: Europe/Berlin\n    thresholds: {max_cost_per_day_usd: 5}\n"
    code, out, _ = gate(with_peaks(GOOD, run="1", day="1", agent_day="1"), policy)
    assert code == 0
    assert "NOTE berlin: the summary's days are UTC days; the policy's budget counts days in Europe/Berlin" in out


def test_flow_summarize_names_the_costliest_run_tree_and_day_and_the_gate_uses_them(tmp_path: Path, capsys):
    # End to end through the ledger: three runs of $0.60 each (one of them delegated to a child run
    # for another $0.60) on two days. Per run at most $1.20, per day at most $1.80, in total $2.40.
    import asyncio
    from decimal import Decimal

    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    day1, day2 = 1_762_000_000.0, 1_762_000_000.0 + 86400  # 2025-11-01 and 2025-11-02 (UTC)
    calls = [("r1", None, day1), ("r1-child", "r1", day1 + 60), ("r2", None, day1 + 120), ("r3", None, day2)]

    async def record() -> None:
        async with Ledger(tmp_path / "l.db") as ledger:
            for run_id, parent, at in calls:
                run = RunRecord(run_id, "ana", "skill.analysis", at, ended_at=at + 1, status="ok", parent_run_id=parent)
                att = AttemptRecord(
                    run_id, at, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1, cost_usd=Decimal("0.6")
                )
                await ledger.record_call(run, [att])

    asyncio.run(record())
    summary_path = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--db", str(tmp_path / "l.db"), "--output", str(summary_path)]) == 0
    summary = json.loads(summary_path.read_text())
    assert summary["largest_run"] == {
        "run_id": "r1",
        "delegated_runs": 1,
        "known_cost_usd": "1.2",
        "unknown_cost_bound_usd": "0",
        "at_most_usd": "1.2",
        "unbounded_attempts": 0,
    }
    assert summary["largest_day"]["date"] == "2025-11-01" and summary["largest_day"]["at_most_usd"] == "1.8"
    assert summary["by_agent"]["ana"]["largest_day"]["date"] == "2025-11-01"
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "policies:\n  - name: p\n    thresholds: {max_cost_per_run_usd: 1.5, max_cost_per_day_usd: 2,"
        " max_cost_per_agent_daily_usd: 2}\n"
    )
    capsys.readouterr()
    assert main(["flow", "gate", str(summary_path), "--policy", str(policy)]) == 0  # before: $2.40 total failed
    policy.write_text("policies:\n  - name: p\n    thresholds: {max_cost_per_run_usd: 1.0}\n")
    assert main(["flow", "gate", str(summary_path), "--policy", str(policy)]) == 1
    assert "FAIL p: run r1 (with 1 delegated run) cost $1.2 exceeds" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["", "# policies to come\n"])
def test_an_empty_policy_file_is_bad_input_saying_what_it_needs(gate, text):
    # Before: "gate: FILE: FILE: : Input should be a valid dictionary or instance of PolicyFile".
    code, out, err = gate(GOOD, text)
    assert (code, out) == (2, "")
    assert err.count("policy.yaml") == 1, err
    assert "the file is empty" in err and "policies:" in err


@pytest.mark.parametrize(
    ("policy", "said"),
    [
        # the two files swapped: the summary given as --policy
        (
            json.dumps(GOOD),
            "policy.yaml: the file is a usage summary (model_stats, totals: what `magsag flow summarize` "
            "writes), not a policy file; a policy file holds `policies:`",
        ),
        # one policy written at the file's top, without the list
        (
            "name: p\nthresholds: {max_cost_per_run_usd: 1}\n",
            "policy.yaml: the file holds one policy's keys (name, "
            "thresholds) at its top; a policy file holds `policies:`",
        ),
        (
            "default: [openai:gpt-4o]\nroutes: []\n",
            "policy.yaml: the file is a routing file (it holds default, routes), not a policy file",
        ),
    ],
    ids=["summary", "one-policy", "routing"],
)
def test_a_policy_file_that_is_another_file_says_which(gate, policy, said):
    # Before: "policies: Field required; ...: model_stats: Extra inputs are not permitted; accepted here: policies;
    # ...: totals: Extra inputs are not permitted; ...", a line for each key of the file, and no word of what it was
    code, out, err = gate(GOOD, policy)
    assert (code, out) == (2, "")
    assert said in err and "Extra inputs" not in err, err


def test_a_policy_file_with_a_name_used_twice_is_named(gate):
    code, _, err = gate(GOOD, "policies:\n  - name: a\n  - name: a\n")
    # Before: "policy.yaml: policy names must be unique; repeated: ['a']": which entries, the file did not say
    assert code == 2 and "policy.yaml:3: policies.1.name: policy name 'a' is also used in " in err
    assert "policy.yaml:2: policies.0; give each policy a name of its own" in err


def test_calls_without_an_agent_are_not_held_to_the_per_agent_daily_limit(tmp_path: Path, capsys):
    """max_cost_per_agent_daily_usd limits each agent's day; the budget never applies it to calls made
    without an agent (max_cost_per_day_usd covers those). A summary lists them in by_agent as "(none)",
    and the gate failed them as an agent named "(none)": a CI gate that failed on spend the policy allows."""
    import asyncio
    from decimal import Decimal

    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    day = 1_762_000_000.0

    async def record() -> None:
        async with Ledger(tmp_path / "l.db") as ledger:
            for i, (agent, cost) in enumerate([(None, "2.5"), (None, "2.5"), ("ana", "1"), ("bo", "4")]):
                at = day + i
                run = RunRecord(f"r{i}", agent, "skill.analysis", at, ended_at=at + 1, status="ok")
                att = AttemptRecord(
                    run.run_id, at, "openai", "gpt-4o", "skill.analysis", agent, "ok", 0, 1, cost_usd=Decimal(cost)
                )
                await ledger.record_call(run, [att])

    asyncio.run(record())
    summary = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--db", str(tmp_path / "l.db"), "--output", str(summary)]) == 0
    assert json.loads(summary.read_text())["by_agent"]["(none)"]["known_cost_usd"] == "5"
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: p\n    thresholds: {max_cost_per_agent_daily_usd: 4.5}\n")
    capsys.readouterr()
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "gate: pass"
    policy.write_text("policies:\n  - name: p\n    thresholds: {max_cost_per_agent_daily_usd: 3}\n")
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL p: agent 'bo' on 2025-11-01 (UTC) cost $4 exceeds max_cost_per_agent_daily_usd $3" in out
    assert "(none)" not in out and "gate: 1 violation" in out
    policy.write_text("policies:\n  - name: p\n    thresholds: {max_cost_per_day_usd: 9}\n")  # the day counts them
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 1
    assert "FAIL p: 2025-11-01 (UTC) cost $10 exceeds max_cost_per_day_usd $9" in capsys.readouterr().out


def test_a_summary_narrowed_by_filters_says_which_limits_it_checked_on_part_of_their_calls(tmp_path: Path, capsys):
    """`flow summarize --agent my-mag --output s.json` then `flow gate`: the MAG's run ($1) delegated to a
    SAG ($5, its own agent), and the run limit counts the whole tree, $6. The filtered summary's largest_run
    holds only the MAG's $1, and the gate said "gate: pass" against max_cost_per_run_usd $5, with no word
    that it had seen part of the run. It says so now, and how to check the limits whole."""
    import asyncio
    from decimal import Decimal

    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    day = 1_762_000_000.0

    async def record() -> None:
        async with Ledger(tmp_path / "l.db") as ledger:
            for run_id, agent, parent, cost in [("m1", "my-mag", None, "1"), ("d1", "sag", "m1", "5")]:
                run = RunRecord(
                    run_id, agent, "skill.analysis", day, ended_at=day + 1, status="ok", parent_run_id=parent
                )
                att = AttemptRecord(
                    run_id, day, "openai", "gpt-4o", "skill.analysis", agent, "ok", 0, 1, cost_usd=Decimal(cost)
                )
                await ledger.record_call(run, [att])

    asyncio.run(record())
    db, policy = str(tmp_path / "l.db"), tmp_path / "policy.yaml"
    policy.write_text(
        "policies:\n  - name: p\n    thresholds: {max_cost_per_run_usd: 5, max_cost_per_agent_daily_usd: 50}\n"
    )
    narrowed, whole = tmp_path / "agent.json", tmp_path / "whole.json"
    assert main(["flow", "summarize", "--db", db, "--agent", "my-mag", "--output", str(narrowed)]) == 0
    assert main(["flow", "summarize", "--db", db, "--output", str(whole)]) == 0
    capsys.readouterr()
    assert main(["flow", "gate", str(narrowed), "--policy", str(policy)]) == 0
    out = capsys.readouterr().out
    assert (
        "NOTE p: this summary holds only the calls its filters select (agent='my-mag'): max_cost_per_run_usd was "
        "checked against those alone, not every call it counts (a run's delegated runs"
    ) in out
    assert "write the summary without those filters to check it whole" in out and "max_cost_per_agent_daily" not in out
    assert main(["flow", "gate", str(whole), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL p: run m1 (with 1 delegated run) cost $6 exceeds max_cost_per_run_usd $5" in out
    assert "NOTE" not in out


def test_a_summary_of_a_delegated_run_says_its_run_limit_counts_the_whole_tree(tmp_path: Path, capsys):
    """`flow summarize --run-id d1` of a SAG's run (delegated from the MAG's m1) then `flow gate`: a delegated
    run spends its parent's run limit (`magsag budget --run-id d1` shows m1's, $6 spent), but the summary holds
    d1's calls alone ($5) and the gate said "gate: pass" against max_cost_per_run_usd $5.5, with no word that
    it had seen part of the run: a run filter was taken to select a run whole. A NOTE says so now, with the
    run to summarize instead."""
    import asyncio
    from decimal import Decimal

    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    day = 1_762_000_000.0

    async def record() -> None:
        async with Ledger(tmp_path / "l.db") as ledger:
            for run_id, agent, parent, cost in [("m1", "my-mag", None, "1"), ("d1", "sag", "m1", "5")]:
                run = RunRecord(
                    run_id, agent, "skill.analysis", day, ended_at=day + 1, status="ok", parent_run_id=parent
                )
                att = AttemptRecord(
                    run_id, day, "openai", "gpt-4o", "skill.analysis", agent, "ok", 0, 1, cost_usd=Decimal(cost)
                )
                await ledger.record_call(run, [att])

    asyncio.run(record())
    db, policy = str(tmp_path / "l.db"), tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: p\n    thresholds: {max_cost_per_run_usd: 5.5}\n")
    child, top = tmp_path / "child.json", tmp_path / "top.json"
    assert main(["flow", "summarize", "--db", db, "--run-id", "d1", "--output", str(child)]) == 0
    assert main(["flow", "summarize", "--db", db, "--run-id", "m1", "--output", str(top)]) == 0
    capsys.readouterr()
    assert main(["flow", "gate", str(child), "--policy", str(policy)]) == 0
    out = capsys.readouterr().out
    assert (
        "NOTE p: this summary's run filter names run 'd1', delegated from run 'm1', whose run limit counts every "
        "run of its tree: max_cost_per_run_usd was checked against 'd1' alone; write the summary with --run-id m1 "
        "to check it whole"
    ) in out
    assert main(["flow", "gate", str(top), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL p: run m1 (with 1 delegated run) cost $6 exceeds max_cost_per_run_usd $5.5" in out
    assert "NOTE" not in out


def test_a_summary_nested_too_deeply_is_bad_input_not_a_traceback(gate):
    # `--payload-file` said "nested too deeply"; the gate died with a RecursionError traceback (exit 1)
    code, out, err = gate(None, raw="[" * 100_000 + "]" * 100_000)
    assert (code, out) == (2, "") and "is nested too deeply" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("window", "cut"),
    [
        ({"since": "24h"}, "starts"),
        ({"since": "2025-11-01T12:00:00Z"}, "starts"),
        ({"until": 1_761_998_400}, "ends"),  # unix seconds, 2025-11-01T12:00Z: an MCP client's summary
        ({"since": "7d", "until": "1d"}, "starts and ends"),
        ({"since": "2025-11-01"}, None),
        ({"since": "2025-11-01T00:00:00+00:00", "until": "2025-11-08"}, None),
        ({"since": "2025-11-01T01:00:00+01:00"}, None),  # midnight UTC, written in another zone
    ],
)
def test_a_summary_of_a_window_that_cuts_a_day_says_its_day_limits_saw_part_of_that_day(gate, window, cut):
    """The nightly CI job `flow summarize --since 24h --output s.json && flow gate s.json`: at 02:00 UTC the
    window holds yesterday's last 22 hours, and the next night's its first 2: the day limits were checked on each
    part alone, so a day that spent past max_cost_per_day_usd passed both gates, with "gate: pass" and no word
    (as a summary narrowed by --agent says). Now a NOTE says which day limits saw part of a day, and the fix."""
    summary = {
        **changed(),
        "largest_run": {"run_id": "r", "known_cost_usd": "1"},
        "largest_day": {"date": "2025-11-01", "known_cost_usd": "1"},
        "period": {"from": None, "to": None, "filters": window},
    }
    summary["by_agent"]["ana"]["largest_day"] = {"date": "2025-11-01", "known_cost_usd": "1"}
    policy = "policies:\n  - name: p\n    thresholds: {max_cost_per_day_usd: 9, max_cost_per_agent_daily_usd: 9}\n"
    code, out, _ = gate(summary, policy)
    assert code == 0 and out.splitlines()[-1] == "gate: pass"
    if cut is None:
        assert "NOTE" not in out
        return
    shown = ", ".join(f"{k}={v!r}" for k, v in window.items())
    assert (
        f"NOTE p: this summary's window ({shown}) {cut} inside a UTC day, and holds only the part of that day within "
        "it: max_cost_per_day_usd and max_cost_per_agent_daily_usd were checked against that part"
    ) in out, out
    assert "give --since and --until as dates (e.g. --since 2025-11-01 --until 2025-11-02)" in out
    # a policy with no day limit: nothing to say
    code, out, _ = gate(summary, "policies:\n  - name: p\n    thresholds: {max_cost_per_run_usd: 9}\n")
    assert code == 0 and "NOTE" not in out


def test_a_policy_that_gives_the_gate_nothing_to_check_says_so(gate):
    """`flow gate s.json --policy P` with P holding no allowed_models, no thresholds and no requirements
    (`policies: []`) printed "gate: pass" as if it had checked the spend: a CI job pointed at the wrong policy file
    passed whatever was spent. It still passes (nothing in the file is broken), and a NOTE says that nothing was
    checked and why. (A file of the guide's data_residency alone is checked now, against by_data_class: below.)"""
    code, out, _ = gate(changed(model={"cost_usd": 99.0, "cost_usd_exact": "99.0"}), "policies: []\n")
    assert code == 0 and out.splitlines()[-1] == "gate: pass"
    assert out.startswith(
        "NOTE the policy file sets no allowed_models, no thresholds and no requirements, so the gate checked nothing"
    )
    # (where the limits are: not catalog/policies, right only in a clone's folder; the gate knows no catalog)
    [note] = [line for line in out.splitlines() if "checked nothing" in line]
    assert note.endswith(
        "give --policy the file with the limits, as in the policies/ folder of your catalog (magsag doctor names the "
        "catalog in use)"
    ), note
    # a policy with something to check: no such note
    code, out, _ = gate(changed(), POLICY)
    assert "checked nothing" not in out


def test_a_policy_file_of_requirements_alone_is_checked_against_where_each_class_went(gate):
    # the guide's data_residency alone as --policy: "the gate checked nothing" before (a summary showed no data class);
    # its requirements are checked against by_data_class now, and a summary without it is named unchecked
    residency = "policies:\n  - name: data_residency\n    requirements:\n      pii_processing: ['local:llama3.1:70b']\n"
    code, out, _ = gate(changed(), residency)
    assert code == 0 and "checked nothing" not in out
    assert "NOTE data_residency: its requirements (data class -> models) were not checked" in out
    summary = {**changed(), "by_data_class": {"pii_processing": {"local:llama3.1:70b": 4}}}
    code, out, _ = gate(summary, residency)
    assert (code, out) == (0, "gate: pass\n")
    summary["by_data_class"]["pii_processing"]["openai:gpt-4o"] = 1
    code, out, _ = gate(summary, residency)
    assert code == 1 and out.splitlines() == [
        "FAIL data_residency: 1 attempt of data class 'pii_processing' went to openai:gpt-4o, which its requirements "
        "do not allow (pii_processing: local:llama3.1:70b): they were sent under other policies than these; `magsag "
        "data query --provider openai --model gpt-4o --format json` lists them with their data_classes",
        "gate: 1 violation",
    ]
    # a by_data_class of the wrong shape is refused naming the field, as every summary field is (exit 2)
    code, _, err = gate({**changed(), "by_data_class": {"pii_processing": ["openai:gpt-4o"]}}, residency)
    assert code == 2 and "by_data_class['pii_processing']" in err, err


def test_an_ollama_cloud_model_a_local_glob_admits_is_a_violation_of_the_class(gate):
    # gpt-oss:120b-cloud is named on the local server and runs on ollama.com: the calls refuse it under local:*, and
    # the gate audits recorded attempts by the same rule (it passed them as local)
    residency = "policies:\n  - name: data_residency\n    requirements:\n      pii_processing: ['local:*']\n"
    summary = {**changed(), "by_data_class": {"pii_processing": {"local:llama3.1:70b": 4}}}
    assert gate(summary, residency)[:2] == (0, "gate: pass\n")
    summary["by_data_class"]["pii_processing"]["local:gpt-oss:120b-cloud"] = 2
    code, out, _ = gate(summary, residency)
    assert code == 1 and out.splitlines()[0] == (
        "FAIL data_residency: 2 attempts of data class 'pii_processing' went to local:gpt-oss:120b-cloud, which its "
        "requirements do not allow (pii_processing: local:*; an Ollama cloud model, run on ollama.com, is admitted by "
        "its name alone): they were sent under other policies than these; `magsag data query --provider local "
        "--model gpt-oss:120b-cloud --format json` lists them with their data_classes"
    )
    named = residency.replace("['local:*']", "['local:*', 'local:gpt-oss:120b-cloud']")
    assert gate(summary, named)[:2] == (0, "gate: pass\n")


def test_the_summary_may_come_on_stdin_as_dash(tmp_path: Path, monkeypatch, capsys):
    """`magsag flow summarize | magsag flow gate - --policy P`, as --payload-file and --output take '-': the gate
    said "cannot read -: No such file or directory" (exit 2). The bytes are read as a file's are (a BOM, UTF-16)."""
    import io

    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    over = changed(model={"cost_usd": 99.0, "cost_usd_exact": "99.0"})
    for raw, code in ((json.dumps(GOOD).encode("utf-16"), 0), (json.dumps(over).encode(), 1)):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
        assert main(["flow", "gate", "-", "--policy", str(pol)]) == code
    out = capsys.readouterr().out
    assert "gate: pass" in out and "FAIL" in out


def test_a_summary_on_a_closed_stdin_is_bad_input_not_a_traceback(tmp_path: Path, monkeypatch, capsys):
    """`magsag flow gate - --policy P <&-` (a job started with stdin closed: Python's sys.stdin is None) ended in
    an AttributeError traceback with exit 1, the gate's "fail". It is input the gate cannot read: exit 2."""
    pol = tmp_path / "policy.yaml"
    pol.write_text(POLICY)
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["flow", "gate", "-", "--policy", str(pol)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gate: cannot read the summary on stdin: stdin is closed") and "Traceback" not in err


def test_the_guides_policy_path_outside_the_repository_names_the_catalog_in_use(tmp_path: Path, monkeypatch, capsys):
    """The guide's `magsag flow gate summary.json --policy catalog/policies/model_governance.yaml`, run where no
    ./catalog is (magsag installed with pip, a CI job's other folder): "policy file ... does not exist", with no
    word of where the policy magsag uses is. The message now names the catalog in use and its policy files."""
    from magsag_mcp.catalog import find_catalog

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAGSAG_CATALOG", raising=False)
    (tmp_path / "summary.json").write_text(json.dumps(GOOD))
    code = main(["flow", "gate", "summary.json", "--policy", "catalog/policies/model_governance.yaml"])
    err = capsys.readouterr().err
    policies = find_catalog() / "policies"
    assert code == 2 and "policy file catalog/policies/model_governance.yaml does not exist" in err
    assert "give --policy a YAML file of policies, as in a catalog's policies/ folder (the catalog in use" in err, err
    assert f"the catalog in use ({find_catalog()}) has: {policies / 'model_governance.yaml'}" in err, err


def test_the_gate_of_a_window_checks_a_run_begun_before_it_that_spent_within_it(tmp_path: Path, capsys):
    # The nightly `flow summarize --since 2025-11-02 | flow gate`: a run begun the day before (a long-lived
    # Magsag's, a reused --run-id) spent $3 in the window, past max_cost_per_run_usd $2. The summary's
    # largest_run held only the runs begun in the window: none, so the gate passed the run limit unchecked.
    import asyncio
    from decimal import Decimal

    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    day1, day2 = 1_762_000_000.0, 1_762_000_000.0 + 86400  # 2025-11-01 and 2025-11-02 (UTC), 12:26:40
    calls = [
        ("long", None, day1, day1, "1"),
        ("long", None, day1, day2, "3"),
        ("child", "long", day2 + 60, day2 + 60, "0.5"),  # delegated from it, in the window
        ("small", None, day2 + 120, day2 + 120, "0.25"),
    ]

    async def record() -> None:
        async with Ledger(tmp_path / "l.db") as ledger:
            for run_id, parent, begun, at, cost in calls:
                run = RunRecord(
                    run_id, "ana", "skill.analysis", begun, ended_at=at + 1, status="ok", parent_run_id=parent
                )
                att = AttemptRecord(
                    run_id, at, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1, cost_usd=Decimal(cost)
                )
                await ledger.record_call(run, [att])

    asyncio.run(record())
    summary_path = tmp_path / "summary.json"
    db = str(tmp_path / "l.db")
    argv = ["flow", "summarize", "--db", db, "--since", "2025-11-02", "--output", str(summary_path)]
    assert main(argv) == 0
    summary = json.loads(summary_path.read_text())
    assert summary["totals"]["cost_usd_exact"] == "3.75"
    # the run as its limit counts it: the whole run, with the run delegated from it
    assert summary["largest_run"] == {
        "run_id": "long",
        "delegated_runs": 1,
        "known_cost_usd": "4.5",
        "unknown_cost_bound_usd": "0",
        "at_most_usd": "4.5",
        "unbounded_attempts": 0,
    }
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: p\n    thresholds: {max_cost_per_run_usd: 2}\n")
    capsys.readouterr()
    assert main(["flow", "gate", str(summary_path), "--policy", str(policy)]) == 1
    assert "FAIL p: run long (with 1 delegated run) cost $4.5 exceeds" in capsys.readouterr().out
    # a window the run made no call in leaves it out
    argv = ["flow", "summarize", "--db", db, "--since", f"{day2 + 90:.0f}", "--output", str(summary_path)]
    assert main(argv) == 0
    assert json.loads(summary_path.read_text())["largest_run"]["run_id"] == "small"


EMPTY_SUMMARY: dict[str, Any] = {
    "model_stats": {},
    "totals": {"calls": 0, "errors": 0, "cost_usd": 0.0, "cost_usd_exact": "0", "known_cost_usd": "0"},
    "by_agent": {},
    "largest_run": None,
    "largest_day": None,
    "period": {"from": None, "to": None, "filters": {}},
}


@pytest.mark.parametrize(
    ("filters", "said"),
    [({}, "an empty ledger"), ({"agent": "ana", "since": "2025-11-01"}, "agent='ana', since='2025-11-01'")],
)
def test_a_summary_of_no_calls_passes_with_a_note_that_nothing_was_checked(gate, filters, said):
    """A CI job whose `flow summarize` read another ledger than the server's (a mistyped MAGSAG_DB, a relative one
    from another folder, a runner without the volume) wrote a summary of no calls, and `flow gate` printed
    "gate: pass" alone, as if it had checked the spend: summarize's note was on another step's stderr. It still
    passes (no call broke a limit), and a NOTE says the summary holds no calls, so nothing was checked, and why."""
    summary = copy.deepcopy(EMPTY_SUMMARY)
    summary["period"]["filters"] = filters
    code, out, _ = gate(summary)
    assert code == 0 and out.splitlines()[-1] == "gate: pass"
    [note] = [line for line in out.splitlines() if "holds no calls" in line]
    assert note.startswith("NOTE this summary holds no calls") and "checked nothing" in note and said in note
    code, out, _ = gate(GOOD)
    assert "holds no calls" not in out


def test_a_policys_requirements_the_gate_cannot_check_are_named_not_passed_over(gate):
    # The guide's policy file (allowed models, limits and data_residency's requirements) as --policy: "gate: pass"
    # said nothing of the requirements, which a summary written before calls' data classes were recorded cannot show,
    # so a compliance job read the data residency as audited. A NOTE names the policy whose requirements went unchecked.
    residency = "  - name: data_residency\n    requirements:\n      pii_processing: ['local:llama3.1:70b']\n"
    code, out, _ = gate(changed(), POLICY + residency)
    assert code == 0 and out.splitlines()[-1] == "gate: pass"
    assert (
        "NOTE data_residency: its requirements (data class -> models) were not checked: this summary has no "
        "by_data_class (written by a magsag that did not record calls' data classes); write it again with `magsag "
        "flow summarize` to check them"
    ) in out
    code, out, _ = gate(changed(), POLICY)
    assert "requirements" not in out


def test_a_count_of_one_is_said_in_the_singular(gate):
    # `magsag flow gate` said "(1 calls, 1 attempts)" of a forbidden model called once, and "1 call(s) have"
    s = changed(model={"unpriced_calls": 1, "unbounded_calls": 1})
    s["model_stats"]["o1-preview"] = {"calls": 1, "attempts": 1, "errors": 0, "cost_usd": 0.1, "providers": ["openai"]}
    code, out, _ = gate(s)
    assert code == 1
    assert "FAIL prod: model 'o1-preview' (via openai) is not in allowed_models (1 call, 1 attempt)" in out
    assert "FAIL limits: 1 attempt has no known cost, so the cost limits cannot be checked" in out
    assert out.splitlines()[-1] == "gate: 2 violations"
    s["model_stats"]["o1-preview"].update(calls=0, attempts=2)  # a model every call of it left for another
    assert "is not in allowed_models (0 calls, 2 attempts)" in gate(s)[1]
    allowing = POLICY.replace("  - name: limits\n", "  - name: limits\n    allow_unpriced: true\n")
    code, out, _ = gate(changed(model={"unpriced_calls": 1, "unbounded_calls": 1}), allowing)
    assert (code, out.splitlines()[-1]) == (0, "gate: pass")
    assert "NOTE limits: 1 attempt (gpt-4o) has no known cost and no bound on it, which allow_unpriced admits" in out


def test_a_summary_that_cannot_be_read_is_refused_with_its_fix(gate, tmp_path: Path, capsys):
    # "gate: cannot read missing.json: No such file or directory" and "is not JSON: Expecting ..." said what was wrong,
    # not what to give instead
    (tmp_path / "policy.yaml").write_text(POLICY)
    assert main(["flow", "gate", str(tmp_path / "missing.json"), "--policy", str(tmp_path / "policy.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gate: cannot read {tmp_path / 'missing.json'}: No such file or directory; give the file ")
    assert "`magsag flow summarize --output FILE` wrote ('-' for stdin)" in err
    code, out, err = gate(None, raw="{not json")
    assert (code, out) == (2, "")
    assert "is not JSON" in err and err.rstrip().endswith(
        "the summary must be the JSON that `magsag flow summarize --output FILE` writes"
    )


def test_a_key_in_a_summarys_names_is_not_printed(gate, monkeypatch):
    # the summary is a file from anywhere (a CI job's artifact, another tool's): a model name or an agent holding a
    # key (one of the environment's, or one shaped like a key) was quoted whole in the FAIL lines, into the CI log
    env_key = "3b8e1d6a9c2f5b0e7a4d1c8f3e6b9a2d"  # (Azure's shape: known only as the environment's)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", env_key)
    shaped = "sk-proj-Zq8Wm2Xc4Vb6Nq1Lp3Kr5Ts7Yd9Hf0Ga2Jc4Be6"
    summary = copy.deepcopy(GOOD)
    summary["model_stats"][shaped] = summary["model_stats"].pop("gpt-4o")
    summary["by_agent"] = {f"ops-{env_key}": {**GOOD["by_agent"]["ana"], "cost_usd": 9.0, "cost_usd_exact": "9.0"}}
    code, out, err = gate(summary)
    assert code == 1, err
    assert env_key[:12] not in out + err and shaped[8:20] not in out + err, out
    assert "FAIL prod: model '[REDACTED]' (via openai) is not in allowed_models (10 calls)" in out
    assert "FAIL limits: agent 'ops-[REDACTED]' cost $9.0 exceeds max_cost_per_agent_daily_usd $3" in out


def test_costs_exactly_at_each_limit_pass_and_a_millionth_over_fails(gate):
    # a limit is an amount not to pass: a run, a day, an agent's day and a call costing it exactly are within it
    # (the budget admits a call whose worst case fills the limit to the pico-dollar)
    policy = POLICY + "  - name: days\n    thresholds: {max_cost_per_day_usd: 1.5}\n"
    at = with_peaks(GOOD, run="10", day="1.5", agent_day="3", call="0.5")
    assert gate(at, policy)[:2] == (0, "gate: pass\n")
    over = with_peaks(GOOD, run="10.000001", day="1.500001", agent_day="3.000001", call="0.500001")
    code, out, _ = gate(over, policy)
    assert code == 1 and len([line for line in out.splitlines() if line.startswith("FAIL")]) == 4, out
    # an older summary (no largest_call), whose average per call is checked: $2.0 over 4 calls, $0.5 each
    average = changed(model={"calls": 4})
    code, out, _ = gate(average)
    assert code == 0 and "FAIL" not in out, out
    code, out, _ = gate(changed(model={"calls": 4, "cost_usd": 2.000004, "cost_usd_exact": "2.000004"}))
    assert code == 1 and "gpt-4o averaged $0.500001 per call, above max_cost_per_call_usd $0.5" in out


def test_a_peak_holding_an_attempt_of_no_known_bound_that_the_counts_left_out_fails_a_strict_policy(gate):
    # the costliest run's at_most_usd null: an attempt of no known cost nor bound inside it, which the summary's counts
    # (narrowed by its filters) hold none of: its run limit cannot be checked, and a policy that does not allow
    # unpriced models fails, where one that does passes with a note
    s = with_peaks(GOOD, run="0.3", day="0.3", agent_day="0.3")
    s["largest_run"]["at_most_usd"] = None
    code, out, _ = gate(s)
    assert code == 1, out
    assert (
        "FAIL limits: figures it checks hold an attempt of no known cost nor a bound on it (their at_most_usd is "
        "null), which this summary's filters left out of its counts, so the cost limits cannot be checked: "
        "max_cost_per_run_usd against largest_run ($0.3, run run-big)"
    ) in out
    lenient = POLICY.replace("  - name: limits\n", "  - name: limits\n    allow_unpriced: true\n")
    code, out, _ = gate(s, lenient)
    assert code == 0 and "FAIL" not in out and "NOTE" in out, out
