"""The ledger commands' name filters (--agent, --run-id, --model, --skill, --provider): how they are read (a
target, an alias), an empty one refused, and the note, escaped and with no key in it, when one names nothing held."""

from __future__ import annotations

import time

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.conftest import CATALOG, main_json


def test_an_empty_name_filter_is_refused_not_counted_differently_by_day_and_edge(ledger_db, capsys):
    # Before: --agent '' counted the calls without an agent from the daily rollup (where they are
    # kept under '') but not at a --since edge (read from attempts, where they are NULL).
    for args in (["flow", "summarize", "--agent", ""], ["data", "query", "--skill", ""]):
        assert main(args) == 2
        assert "an empty name selects nothing" in capsys.readouterr().err


def test_a_blank_name_filter_is_refused_as_an_empty_one_is(ledger_db, capsys):
    # Before: --agent '  ' was taken, and the summary said nothing was spent by anyone
    for args in (["flow", "summarize", "--agent", "  "], ["data", "query", "--run-id", " "]):
        assert main(args) == 2
        assert "a name of only whitespace" in capsys.readouterr().err


def test_the_note_listing_the_ledgers_agents_escapes_control_characters(tmp_path, monkeypatch, capsys):
    # `--agent` naming no agent of the ledger prints a note listing the agents it holds: their names, which
    # callers chose, went to the operator's terminal as they were (the table escaped them, the note did not)
    db = tmp_path / "note.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()
    agent = "bob\x1b]52;c;ZWNobyBvd25lZA==\x07\x1b[2J"
    parent = "run-p\x1b[8m"

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("run-1", agent, "skill.analysis", now, parent_run_id=parent)
            await ledger.record_call(
                run, [AttemptRecord("run-1", now, "fake", "x", "skill.analysis", agent, "ok", 0, 1)]
            )

    anyio.run(fill)
    for args in (["data", "query", "--agent", "nobody"], ["flow", "summarize", "--agent", "nobody"]):
        assert main(args) == 0
        err = capsys.readouterr().err
        assert "its agents: bob\\x1b]52;c;ZWNobyBvd25lZA==\\x07\\x1b[2J" in err
        assert "\x1b" not in err and "\x07" not in err
    # `magsag budget --run-id` names the run whose limit applies: the parent the ledger recorded for it
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    assert main(["budget", "--run-id", "run-1", "--agent", agent]) == 0
    out = capsys.readouterr().out
    assert "run-p\\x1b[8m" in out and "\x1b" not in out and "\x07" not in out


@pytest.mark.parametrize("written", ["openai", "OpenAI", " openai"])
def test_a_provider_filter_is_read_as_targets_name_providers(ledger_db, capsys, written):
    """The ledger records the registry's name (google, anthropic, openai); a filter written as a target may
    write it (an alias such as gemini or claude, any case) selected nothing: a summary of $0 spend."""
    runs = main_json(["data", "query", "--format", "json", "--provider", written], capsys)
    assert [r["run_id"] for r in runs] == ["r-priced"]
    assert UsageFilters.build({"provider": "gemini"}).provider == "google"
    assert UsageFilters.build({"provider": "Claude"}).provider == "anthropic"
    # a name this process does not know (a provider another process registered) is read as written
    assert UsageFilters.build({"provider": "my-gateway"}).provider == "my-gateway"


def test_a_model_filter_written_as_a_target_selects_that_target(ledger_db, capsys):
    """Targets are written provider:model everywhere (routing, model_config, MAGSAG_MODEL); the ledger keeps
    the two apart, so --model openai:gpt-4o selected nothing: a summary of $0 spend that a gate passed."""
    runs = main_json(["data", "query", "--format", "json", "--model", "openai:gpt-4o"], capsys)
    assert [r["run_id"] for r in runs] == ["r-priced"]
    assert main_json(["data", "query", "--format", "json", "--model", "anthropic:gpt-4o"], capsys) == []
    filters = UsageFilters.build({"model": "ollama:llama3.1:70b"})
    assert (filters.provider, filters.model) == ("local", "llama3.1:70b")
    assert UsageFilters.build({"model": "llama3.1:70b"}).model == "llama3.1:70b"  # an Ollama tag, not a provider
    with pytest.raises(InputError, match="names provider 'openai'.*'anthropic'"):
        UsageFilters.build({"model": "openai:gpt-4o", "provider": "anthropic"})


def test_an_agent_the_ledger_holds_no_run_of_is_said_so_with_the_nearest_one(ledger_db, capsys):
    # The guide's compliance export (`data query --agent sensitive-data-mag --format csv > audit.csv`): before,
    # an agent misspelt wrote an empty audit file (and `flow summarize --agent` a summary of nothing) without a
    # word. Now stderr says that no run holds that agent, and which agent was meant.
    assert main(["data", "query", "--agent", "alcie", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1  # the header: the export is what it was
    assert err == (
        "note: no run in this ledger was recorded for agent 'alcie' (did you mean 'alice'?); its agents: alice, bob\n"
    )
    assert main(["flow", "summarize", "--agent", "alcie"]) == 0
    assert capsys.readouterr().err.startswith("note: no run in this ledger was recorded for agent 'alcie' (did you")
    # an agent that has runs, or runs outside the other filters, gets no note
    assert main(["data", "query", "--agent", "alice", "--skill", "skill.coding", "--format", "csv"]) == 0
    assert main(["flow", "summarize", "--agent", "bob"]) == 0
    # (bob's one run is of a model of no known price: its note alone, of the cost the guide's jq | awk sums as 0)
    err = capsys.readouterr().err
    assert err.startswith("note: 1 attempt of unknown cost (mystery-7b:") and err.count("\n") == 1, err


def test_a_run_id_the_ledger_holds_no_run_of_is_said_so(ledger_db, capsys):
    """The guide's audit trail (`data query --run-id mag-abc123`): a run id mistyped gave an empty table, or an
    empty audit file, and `flow summarize --run-id` a summary of nothing, which `flow gate` passes, without a
    word (as `magsag budget --run-id` says). Now stderr says no run of the ledger has that id."""
    assert main(["data", "query", "--run-id", "r-pricde", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1  # the header: the export is what it was
    assert err.startswith("note: no run in this ledger has the id 'r-pricde', nor was delegated from it;"), err
    assert main(["flow", "summarize", "--run-id", "r-pricde"]) == 0
    assert capsys.readouterr().err.startswith("note: no run in this ledger has the id 'r-pricde'")
    # a run that is there, even outside the other filters, gets no note
    assert main(["data", "query", "--run-id", "r-priced", "--since", "1s"]) == 0
    assert main(["flow", "summarize", "--run-id", "r-priced"]) == 0
    assert capsys.readouterr().err == ""


def test_a_model_or_skill_the_ledger_never_recorded_is_said_so_with_the_nearest_one(ledger_db, capsys):
    """`flow summarize --model gpt4o --output s.json` (the model misspelt) wrote a summary of nothing, which
    `flow gate` passes, and `data query --skill` an empty export, without a word; --agent and --run-id say
    so. Now a model or skill that no call of the ledger recorded gets the same note, with the one it nearly
    names."""
    assert main(["flow", "summarize", "--model", "openai:gpt4o"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("note: no call in this ledger was recorded for model 'gpt4o' (did you mean 'gpt-4o'?);"), err
    assert "its models: echo, gpt-4o, mystery-7b" in err
    assert main(["data", "query", "--skill", "skill.analysys", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1  # the header: the export is what it was
    assert "for skill 'skill.analysys' (did you mean 'skill.analysis'?)" in err, err
    # recorded ones, even outside the other filters, get no note
    assert main(["data", "query", "--model", "echo", "--skill", "skill.coding"]) == 0
    assert main(["flow", "summarize", "--model", "gpt-4o", "--since", "1s"]) == 0
    assert capsys.readouterr().err == ""


def test_a_provider_the_ledger_never_recorded_is_said_so_with_the_nearest_one(ledger_db, capsys):
    """`flow summarize --provider opnai --output s.json` wrote a summary of nothing, which `flow gate` passes,
    and `data query --provider` an empty audit export, without a word, where a misspelt model or skill gets a
    note (a provider this process does not know is read as written: another process may have recorded it)."""
    assert main(["flow", "summarize", "--provider", "opnai"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("note: no call in this ledger was recorded for provider 'opnai' (did you mean 'openai'?)")
    assert "its providers: compat, fake, openai" in err, err
    assert main(["data", "query", "--provider", "opnai", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and "for provider 'opnai' (did you mean 'openai'?)" in err, err
    # a recorded one (by its alias too), even outside the other filters, gets no note
    assert main(["data", "query", "--provider", "OpenAI", "--skill", "skill.coding"]) == 0
    assert main(["flow", "summarize", "--model", "compat:echo", "--since", "1s"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "query", "--run-id"],
        ["data", "query", "--agent"],
        ["flow", "summarize", "--agent"],
        ["budget", "--agent"],
    ],
)
def test_a_key_given_as_a_filter_is_not_printed_back(ledger_db, capsys, monkeypatch, argv):
    # The note for a filter that matched nothing quoted it: the environment's key pasted as --run-id (a variable
    # read under the wrong name) went whole to stderr and the CI log that keeps it, as argparse's errors no longer do.
    key = "c0ffee5a1b2c3d4e5f60718293a4b5c" + str(len(argv))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", key)
    main([*argv, key])
    out, err = capsys.readouterr()
    assert key not in out + err and "[REDACTED]" in out + err


def test_a_refused_filter_is_named_as_the_command_line_and_python_write_it(ledger_db, capsys):
    # `--status failed` was told "invalid filters: status: Input should be ...", and `--agent ''` "agent: ...": names
    # the command line never takes (its flags are --status, --agent, --run-id). Python's keywords keep their names.
    for args, said in (
        (["data", "query", "--status", "failed"], "invalid filters: --status 'failed' is not a run status: give "),
        (["flow", "summarize", "--run-id", ""], "invalid filters: --run-id: an empty name selects nothing"),
        (
            ["data", "query", "--model", "openai:gpt-4o", "--provider", "anthropic"],
            "invalid filters: --model 'openai:gpt-4o' names provider 'openai', but --provider is 'anthropic'",
        ),
    ):
        assert main(args) == 2
        assert said in capsys.readouterr().err
    with pytest.raises(InputError, match="^invalid filters: status 'failed' is not a run status: give one of 'ok', "):
        UsageFilters.build({"status": "failed"})
    with pytest.raises(InputError, match="^invalid filters: run_id: an empty name"):
        UsageFilters.build({"run_id": ""})


@pytest.mark.anyio
async def test_a_refused_filter_is_named_as_the_mcp_argument_holds_it(client):
    # summarize_usage's {"filters": {"agent": ""}} was told "agent: an empty name selects nothing", a key of no
    # argument the tool has: filters.agent is where it is
    result = await client.call_tool("summarize_usage", {"filters": {"agent": ""}})
    assert result.is_error
    assert "invalid filters: filters.agent: an empty name selects nothing" in result.content[0].text
