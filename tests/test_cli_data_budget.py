"""`magsag budget`: the limits it prints, what it says when none applies or an agent or run has no call, and the flag
to add or fix when its options fall short."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from magsag_mcp.cli import main
from tests.conftest import CATALOG


def test_budget_prints_each_limit(ledger_db, capsys):
    assert main(["budget", "--agent", "alice", "--run-id", "r-priced", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    by_limit = {lim["limit"]: lim for lim in status["limits"]}
    assert Decimal(by_limit["run"]["spent_usd"]) == Decimal("0.0035")
    assert by_limit["run"]["limit_usd"] in ("5.0", "5")
    assert main(["budget", "--agent", "alice", "--run-id", "r-priced"]) == 0
    text = capsys.readouterr().out
    assert "spent $0.0035" in text and "remaining" in text


def test_budget_for_an_agent_no_run_has_says_so(ledger_db, capsys):
    # Before, `magsag budget --agent alcie` printed alcie's whole daily limit left ("spent $0") and nothing
    # else: a misspelling read as an agent with nothing spent. `data query --agent` already said so.
    assert main(["budget", "--agent", "alcie"]) == 0
    captured = capsys.readouterr()
    assert "spent $0," in captured.out
    assert "no run in this ledger was recorded for agent" in captured.err and "alice" in captured.err
    assert main(["budget", "--agent", "alice", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and json.loads(captured.out)["agent"] == "alice"


@pytest.mark.parametrize(
    ("thresholds", "args", "said"),
    [
        # no thresholds at all: an --agent or a --run-id would add none
        ("", ["--agent", "alice"], "the catalog's policies set no cost thresholds"),
        # only a run limit: --run-id adds it, --agent adds nothing
        ("    thresholds: {max_cost_per_run_usd: 5}\n", [], "pass --run-id for max_cost_per_run_usd"),
        ("    thresholds: {max_cost_per_agent_daily_usd: 5}\n", [], "pass --agent for max_cost_per_agent_daily_usd"),
        # an agent's day and month limits: one option shows both (it said "pass --agent for ... and pass --agent for")
        (
            "    thresholds: {max_cost_per_agent_daily_usd: 5, max_cost_per_agent_monthly_usd: 50}\n",
            [],
            "apply: pass --agent for max_cost_per_agent_daily_usd and max_cost_per_agent_monthly_usd\n",
        ),
        (
            "    thresholds: {max_cost_per_run_usd: 5, max_cost_per_agent_monthly_usd: 50}\n",
            [],
            "apply: pass --run-id for max_cost_per_run_usd and --agent for max_cost_per_agent_monthly_usd\n",
        ),
    ],
)
def test_budget_with_no_limit_to_show_says_what_would_add_one(ledger_db, capsys, tmp_path, thresholds, args, said):
    # Before: "no budget limits apply (pass --agent and/or --run-id; ...)" whatever the policies held, so with no
    # thresholds at all the user passed --agent, then --run-id, and was told the same again
    import shutil

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: limits\n    allowed_models: ['fake:*']\n" + thresholds
    )
    assert main(["budget", "--catalog", str(cat), *args]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no budget limits apply") and said in out
    assert "--agent and/or --run-id" not in out


def test_budget_for_a_run_no_call_has_notes_it_on_stderr_escaped(ledger_db, capsys):
    # Before, the note went to stdout, among the limits a script reads, unescaped (a run id holding an escape
    # sequence reached the terminal as one), and --json said nothing on stderr while --agent's note was there.
    assert main(["budget", "--run-id", "r-\x1b[2Jx"]) == 0
    captured = capsys.readouterr()
    assert "has no recorded calls" not in captured.out and "\x1b" not in captured.out + captured.err
    assert "note: run r-\\x1b[2Jx has no recorded calls (nor delegated runs)" in captured.err
    assert main(["budget", "--run-id", "nope", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["run_recorded"] is False  # stdout is the JSON alone
    assert "note: run nope has no recorded calls" in captured.err
    assert main(["budget", "--run-id", "r-priced", "--json"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["budget", "--max-tokens", "100"], "add --skill SKILL (e.g. --skill skill.analysis)"),
        (["budget", "--model", "gpt-4o", "--agent", "alice"], "add --skill SKILL (e.g. --skill skill.analysis)"),
    ],
)
def test_budget_without_skill_says_which_flag_to_add(ledger_db, capsys, args, said):
    """`magsag budget --max-tokens 100` answered "name the skill too (e.g. skill='skill.analysis')": a Python
    keyword argument, which no command line takes. The CLI says it in its own terms: the flag to add."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert said in err and "--model and --max-tokens" in err
    assert "skill=" not in err


def test_budget_max_tokens_below_one_is_refused_naming_the_option(ledger_db, capsys):
    """`magsag budget --skill skill.analysis --max-tokens 0` answered "max_tokens must be a positive integer":
    the model_config key, not the option given."""
    with pytest.raises(SystemExit) as stopped:
        main(["budget", "--skill", "skill.analysis", "--max-tokens", "0"])
    assert stopped.value.code == 2
    assert "argument --max-tokens: 0 tokens: give 1 or more" in capsys.readouterr().err


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_budget_exits_1_where_a_limit_is_exceeded_as_flow_gate_does_on_a_violation(
    ledger_db, capsys, tmp_path, json_flag
):
    # Before, it printed "exceeded" and exited 0: a script gating on `magsag budget --run-id R` could not tell
    import shutil

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: limits\n    allowed_models: ['*']\n    thresholds: {max_cost_per_run_usd: 0.003}\n"
    )
    # r-priced spent $0.0035 of its $0.003: exceeded, said on stdout (text or JSON) as before, and exit 1
    assert main(["budget", "--catalog", str(cat), "--run-id", "r-priced", *json_flag]) == 1
    out = capsys.readouterr().out
    if json_flag:
        assert [lim["status"] for lim in json.loads(out)["limits"]] == ["exceeded"]
    else:
        assert out.startswith("exceeded  limits: run limit $0.003 for run r-priced")
    # r-unpriced spent nothing known (its one attempt of no known price, no bound): within its limit, exit 0
    assert main(["budget", "--catalog", str(cat), "--run-id", "r-unpriced", *json_flag]) == 0
    assert "exceeded" not in capsys.readouterr().out
