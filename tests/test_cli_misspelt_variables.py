"""``magsag``'s commands warn on stderr of a misspelt ``MAGSAG_*`` variable (``MAGSAG_DB_PATH`` for ``MAGSAG_DB``),
once, naming the one meant, never its value, and leave stdout, which scripts parse, as it was. Before, only
``magsag doctor`` and ``magsag-mcp`` said so: ``magsag budget``, ``magsag flow summarize`` and ``magsag invoke`` read
and recorded the default ledger in silence."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.cli import main

VALUE = "/never/shown/ledger-path.db"
WARNING = (
    "magsag: warning: MAGSAG_DB_PATH is set, but magsag reads no such variable: did you mean MAGSAG_DB? As set, it "
    "changes nothing: rename it to MAGSAG_DB\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["budget", "--json"],
        ["flow", "summarize"],
        ["data", "query", "--format", "json"],
        ["catalog", "skills", "--json"],
    ],
)
def test_a_command_warns_of_a_misspelt_variable_on_stderr_once_and_its_json_stays_clean(
    cli_env, capsys, monkeypatch, args
):
    monkeypatch.setenv("MAGSAG_DB_PATH", VALUE)
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err.count(WARNING) == 1 and err.startswith(WARNING)
    json.loads(out)  # stdout as a script reads it: the JSON alone
    assert VALUE not in out + err


def test_doctor_says_it_once_among_its_problems_not_again_on_stderr(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("MAGSAG_DB_PATH", VALUE)
    assert main(["doctor", "--json"]) == 1
    out, err = capsys.readouterr()
    assert "magsag: warning:" not in err
    assert any("did you mean MAGSAG_DB?" in problem for problem in json.loads(out)["problems"])


@pytest.mark.parametrize("args", [["--version"], ["budget", "--json"]])
def test_nothing_is_said_with_no_unread_variable_or_for_the_version(cli_env, capsys, monkeypatch, args):
    if args == ["--version"]:
        monkeypatch.setenv("MAGSAG_DB_PATH", VALUE)
        monkeypatch.setenv("MAGSAG_SOMETHING_OF_MY_OWN", VALUE)
    else:
        pass  # only variables it reads (cli_env's): nothing to say
    assert main(args) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_variable_near_no_name_is_warned_of_once_as_doctor_notes_it(cli_env, capsys, monkeypatch):
    # near no name read and no synonym of one: doctor's note alone, and every command did what it would have done
    # without it, saying nothing (MAGSAG_BUDGET_LIMIT, a setting magsag has not, set in the belief it limits spend)
    monkeypatch.setenv("MAGSAG_BUDGET_LIMIT", VALUE)
    assert main(["budget", "--json"]) == 0
    out, err = capsys.readouterr()
    said = (
        "magsag: warning: MAGSAG_BUDGET_LIMIT is set, but magsag reads no such variable (`magsag-mcp --help` lists "
        "those it reads): as set, it changes nothing\n"
    )
    assert err.count(said) == 1 and err.startswith(said), err
    json.loads(out)
    assert VALUE not in out + err
    # doctor says it once, among its notes, not again on stderr
    assert main(["doctor", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "magsag: warning:" not in err
    assert sum(n.startswith("MAGSAG_BUDGET_LIMIT is set") for n in json.loads(out)["notes"]) == 1


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("MAGSAG_DATABASE", "MAGSAG_DB"),
        ("MAGSAG_LEDGER", "MAGSAG_DB"),
        ("MAGSAG_LEDGER_PATH", "MAGSAG_DB"),
        ("MAGSAG_SQLITE_DB", "MAGSAG_DB"),
        ("MAGSAG_CATALOG_PATH", "MAGSAG_CATALOG"),
        ("MAGSAG_PORT", "MAGSAG_MCP_PORT"),
        ("MAGSAG_TOKEN", "MAGSAG_MCP_TOKEN"),
    ],
)
def test_a_variable_named_in_other_words_is_warned_of_with_the_one_meant(cli_env, capsys, monkeypatch, variable, meant):
    # MAGSAG_DATABASE and MAGSAG_LEDGER (the ledger's file, in other tools' words) are near no name by their spelling:
    # they were a note of doctor's alone, "another tool's", while every call recorded to the default ledger
    monkeypatch.setenv(variable, VALUE)
    assert main(["budget", "--json"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(
        f"magsag: warning: {variable} is set, but magsag reads no such variable: did you mean {meant}? As set, it "
        f"changes nothing: rename it to {meant}\n"
    ), err
    assert VALUE not in err


@pytest.mark.parametrize("variable", ["MAGSAG_PATH", "MAGSAG_SKILLS_DIR", "MAGSAG_LEDGER_MODE", "MAGSAG_MY_DB_COPY"])
def test_a_variable_whose_words_mean_no_one_setting_stays_a_note(variable):
    # a word of place alone (PATH), the catalog's skills/ folder (not the catalog), or a word that names no setting
    # beside one that does: no rename would be right, so none is offered
    from magsag_mcp.settings import unread_variables

    problems, notes = unread_variables({variable: VALUE})
    assert problems == [] and len(notes) == 1 and notes[0].startswith(f"{variable} is set"), (problems, notes)
