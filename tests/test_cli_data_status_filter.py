"""--status, as --provider: taken in any case; one no run has is refused in the CLI's words (the value given,
escaped, the statuses taken, the one it nearly is), exit 2. The rule is the ledger filters', which Python shares."""

from __future__ import annotations

import pytest

from magsag_mcp.cli import main
from magsag_mcp.errors import InputError
from magsag_mcp.ledger import UsageFilters
from tests.conftest import main_json

STATUSES = "give one of 'ok', 'error', 'policy_denied', 'budget_exceeded', 'cancelled' or 'running', in any case"


@pytest.mark.parametrize("written", ["RUNNING", "Running", "rUnNiNg"])
def test_a_status_in_another_case_selects_the_runs_of_that_status(ledger_db, capsys, written):
    # Before: `--status OK` was refused ("did you mean 'ok'?") while `--provider OpenAI` was taken. (ledger_db's
    # runs were recorded as calls alone, no run's end: each is 'running'.)
    lower = main_json(["data", "query", "--status", "running", "--format", "json"], capsys)
    upper = main_json(["data", "query", "--status", written, "--format", "json"], capsys)
    assert [r["run_id"] for r in upper] == [r["run_id"] for r in lower]
    assert {r["run_id"] for r in upper} == {"r-priced", "r-unpriced", "r-old"}
    summary = main_json(["flow", "summarize", "--status", written], capsys)
    assert summary["totals"] == main_json(["flow", "summarize", "--status", "running"], capsys)["totals"]
    assert summary["totals"]["calls"] == 3  # (one call each; r-priced's tried twice)
    assert main_json(["data", "query", "--status", "OK", "--format", "json"], capsys) == []


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("bogus", f"--status 'bogus' is not a run status: {STATUSES}"),
        ("errors", f"--status 'errors' is not a run status: {STATUSES} (did you mean 'error'?)"),
        ("Failed", f"--status 'Failed' is not a run status: {STATUSES} (did you mean 'error'?)"),
        ("CANCELED", f"--status 'CANCELED' is not a run status: {STATUSES} (did you mean 'cancelled'?)"),
    ],
)
def test_an_unknown_status_is_refused_naming_it_the_statuses_and_the_near_one(ledger_db, capsys, written, said):
    # Before: pydantic's "--status: Input should be 'ok', ...", which never said what was given
    for command in (["data", "query"], ["flow", "summarize"]):
        assert main([*command, "--status", written]) == 2
        err = capsys.readouterr().err
        assert f"invalid filters: {said}" in err, err
        assert "Input should be" not in err


def test_a_status_refused_is_escaped_for_the_terminal_and_keeps_no_key(ledger_db, capsys, monkeypatch):
    assert main(["data", "query", "--status", "ok\x1b[2J"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "--status 'ok\\\\x1b[2J' is not a run status" in err, err  # (JSON's \\ for repr's \)
    key = "c0ffee5a1b2c3d4e5f60718293a4b5c7"
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", key)
    assert main(["data", "query", "--status", key]) == 2
    err = capsys.readouterr().err
    assert key not in err and "[REDACTED]" in err and "is not a run status" in err, err


def test_python_takes_a_status_in_any_case_and_refuses_one_in_the_same_words():
    assert UsageFilters.build({"status": "Cancelled"}).status == "cancelled"
    assert UsageFilters.build(status="RUNNING").status == "running"
    with pytest.raises(InputError) as info:
        UsageFilters.build({"status": "errors"})
    said = f"invalid filters: status 'errors' is not a run status: {STATUSES} (did you mean 'error'?)"
    assert info.value.message == said
    with pytest.raises(InputError, match="^invalid filters: status 5 is not a run status: give one of"):
        UsageFilters.build({"status": 5})
