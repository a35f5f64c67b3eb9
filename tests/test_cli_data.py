"""What the ledger commands (`magsag data query|search|prune`, `flow summarize`, `budget`) share, through main():
bad input exits 2 naming the fix, and reading the ledger needs no catalog. Each command's own tests, and those of one
thing they share (the name filters, --since/--until, a missing ledger, --output, ...), are in test_cli_data_*.py."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.cli import main


def test_bad_search_pattern_and_bad_date_exit_2_with_the_fix(ledger_db, capsys):
    assert main(["data", "search", "(unclosed"]) == 2
    assert main(["data", "query", "--since", "last tuesday"]) == 2
    err = capsys.readouterr().err
    assert "(unclosed" in err and "last tuesday" in err


def test_reading_usage_needs_no_catalog(ledger_db, tmp_path, monkeypatch, capsys):
    # A user mid-way through fixing a skill can still see what was spent: the ledger commands read
    # the ledger alone (before, one bad template made every one of them a catalog_error).
    broken = tmp_path / "broken-catalog"
    (broken / "skills").mkdir(parents=True)
    (broken / "skills" / "bad.yaml").write_text("id: skill.bad\ndescription: d\ntask_type: t\nprompt: {user: '{'}\n")
    monkeypatch.setenv("MAGSAG_CATALOG", str(broken))
    assert main(["flow", "summarize"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["calls"] > 0
    assert main(["data", "query", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["data", "search", "gpt"]) == 0
    capsys.readouterr()
    assert main(["invoke", "skill.bad", "--payload", "{}"]) == 2  # what needs the catalog still says why
    assert "catalog_error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["data", "query", "--limit", "0"], "argument --limit: 0 runs per page: give 1 to 10000"),
        (["data", "query", "--limit", "-3", "--format", "csv"], "argument --limit: -3 runs per page: give 1 to 10000"),
        (["data", "query", "--limit", "10001"], "argument --limit: 10001 runs per page: give 1 to 10000"),
        (["data", "query", "--offset", "-1"], "argument --offset: -1 runs to skip: give 0 to 1000000000000"),
        # past the ledger's largest offset it was pydantic's "invalid filters: --offset: Input should be less than or
        # equal to 1000000000000", a filter's words where the option's range was given for a negative one
        (["data", "query", "--offset", "1000000000001"], "argument --offset: 1000000000001 runs to skip: give 0 to"),
        # (was test_numbers_too_large_for_the_ledger_are_input_errors_not_tracebacks' case: now the parser's refusal)
        (["data", "query", "--offset", "9" * 23], f"argument --offset: {'9' * 23} runs to skip: give 0 to"),
        (["data", "search", "shard", "--limit", "0"], "argument --limit: 0 hits: give 1 to 10000"),
        (["data", "query", "--limit", "ten"], "argument --limit: 'ten' is not a whole number: give 1 to 10000"),
    ],
)
def test_a_count_out_of_its_range_is_refused_naming_the_option_and_its_range(ledger_db, capsys, args, named):
    """`magsag data query --limit 0` answered "invalid filters: limit: Input should be greater than or equal to 1":
    pydantic's words, of a "filter", naming neither the option nor its upper bound (`data search --limit 0` said
    "limit must be between 1 and 10000, got 0", naming no option either). Each is refused as bad input by the
    parser, naming the option, its range and what leaving it out does."""
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "filter" not in err and "Input should" not in err
    if args[:2] == ["data", "query"] and "--limit" in args:
        assert "leave --limit out" in err  # what a user meaning "no limit" writes instead
