"""``check_budget`` and ``magsag budget`` given a run id or an agent that no run has but that nearly names one the
ledger holds (a slip of the keys, another case, stray spaces): the run's note said only "check the id", and an agent
in another case or with spaces the difflib ratio put far (ALICE beside alice) was told of no agent meant, beside its
whole limit left, spent $0. Now the note names the run or agent meant: "did you mean 'r-priced'?". A run id is looked
for in another case or spacing among every run, a slip of the keys among the latest runs."""

from __future__ import annotations

import pytest

from magsag_mcp.cli import main


@pytest.mark.parametrize(
    ("given", "meant"),
    [("r-pricde", "r-priced"), ("R-PRICED", "r-priced"), (" r-priced ", "r-priced"), ("r-unpriced2", "r-unpriced")],
)
def test_magsag_budget_names_the_run_a_run_id_nearly_names(ledger_db, capsys, given: str, meant: str):
    assert main(["budget", "--run-id", given]) == 0
    err = capsys.readouterr().err
    assert "has no recorded calls" in err and f"did you mean {meant!r}?" in err, err  # before: "check the id"
    # the id as the limits' scopes name it: quoted where spaces at its ends would not show (before: "run  r-priced ")
    assert err.startswith(f"note: run {given.strip() if given == given.strip() else repr(given)} has"), err


@pytest.mark.parametrize("given", ["ALICE", " alice", "Alice "])
def test_magsag_budget_names_the_agent_another_case_or_spaces_name(ledger_db, capsys, given: str):
    assert main(["budget", "--agent", given]) == 0
    err = capsys.readouterr().err
    assert "(did you mean 'alice'?)" in err, err


def test_a_run_id_near_none_gets_no_guess(ledger_db, capsys):
    assert main(["budget", "--run-id", "zzzz-9999"]) == 0
    err = capsys.readouterr().err
    assert "has no recorded calls" in err and "did you mean" not in err, err


@pytest.mark.anyio
async def test_check_budget_names_the_run_or_agent_meant(client):
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": "alice", "run_id": "build-42"}
    assert not (await client.call_tool("invoke_skill", args)).is_error
    for arg, given, meant in (
        ("run_id", "build-43", "build-42"),
        ("run_id", "BUILD-42", "build-42"),
        ("run_id", "build-42 ", "build-42"),
        ("agent", "ALICE", "alice"),
        ("agent", " alice ", "alice"),
    ):
        budget = (await client.call_tool("check_budget", {arg: given})).structured_content
        notes = " ".join(budget["notes"])
        assert f"did you mean {meant!r}?" in notes, (arg, given, budget["notes"])  # before: no word of it
