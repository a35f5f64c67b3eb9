"""`magsag doctor` (and the commands) on MAGSAG_* settings: misspelt, unread, out of range, the ledger's path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.cli import main
from tests.conftest import CATALOG


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("MAGSAG_PROVIDER", "opnai", "MAGSAG_PROVIDER='opnai': unknown provider"),
        ("MAGSAG_MODEL", ":gpt-4o", "MAGSAG_MODEL=':gpt-4o': target ':gpt-4o' has nothing before its colon"),
        ("MAGSAG_ALLOWED_BASE_URLS", "https://proxy.example.com", "MAGSAG_ALLOWED_BASE_URLS: entry 1"),
    ],
)
def test_doctor_reports_a_setting_calls_would_refuse(cli_env, capsys, monkeypatch, name, value, said):
    # doctor printed "override: MAGSAG_PROVIDER=opnai" and exited 0, while every call failed on it (and every
    # call naming a base URL on a malformed allow-list)
    monkeypatch.setenv(name, value)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"problem: {said}" in out
    assert main(["doctor", "--json"]) == 1
    assert any(p.startswith(said) for p in json.loads(capsys.readouterr().out)["problems"])


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("https://gw.example.com:8443/v1", "write its host alone: gw.example.com"),
        ("openrouter.ai, gw.example.com:8443", "write its host alone: gw.example.com"),
        ("gw example", "write a host, e.g. gw.example.com"),
    ],
)
def test_doctor_reports_a_billed_cost_host_that_is_no_host(cli_env, capsys, monkeypatch, value, fix):
    # answers are matched by their URL's host alone: a URL or a host:port in MAGSAG_BILLED_COST_HOSTS matched no
    # answer, and every cost the gateway billed was recorded as unknown, while doctor listed nothing and exited 0
    monkeypatch.setenv("MAGSAG_BILLED_COST_HOSTS", value)
    assert main(["doctor"]) == 1
    [problem] = [line for line in capsys.readouterr().out.splitlines() if "MAGSAG_BILLED_COST_HOSTS" in line]
    assert problem.startswith("problem: MAGSAG_BILLED_COST_HOSTS: entry ") and "is not a host name" in problem
    assert fix in problem
    monkeypatch.setenv("MAGSAG_BILLED_COST_HOSTS", " gw.example.com , 10.0.0.7,::1")
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problems"] == []


def test_a_target_given_as_magsag_provider_is_told_where_its_model_goes(cli_env, capsys, monkeypatch):
    # MAGSAG_PROVIDER=openai:gpt-4o was "unknown provider 'openai:gpt-4o'; use one of: ...": the list holds openai,
    # and nothing said that the model belongs in MAGSAG_MODEL
    monkeypatch.setenv("MAGSAG_PROVIDER", "openai:gpt-4o")
    fix = (
        "MAGSAG_PROVIDER names a provider alone, and the model goes in MAGSAG_MODEL: set MAGSAG_PROVIDER=openai and "
        "MAGSAG_MODEL=gpt-4o (or MAGSAG_MODEL=openai:gpt-4o alone)"
    )
    assert main(["doctor"]) == 1
    assert fix in capsys.readouterr().out
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "x"}']) == 2
    assert fix in capsys.readouterr().err


def test_doctor_reports_a_misspelt_magsag_variable_that_changes_nothing(cli_env, capsys, monkeypatch):
    # MAGSAG_PROVDER=local was read by nothing: every call went to the routing's cloud models on the user's keys,
    # and doctor listed no override, no problem, and exited 0
    monkeypatch.setenv("MAGSAG_PROVDER", "local")
    monkeypatch.setenv("MAGSAG_MODLE", "sk-proj-AbCdEfGhIjKlMnOpQrSt0123456789")  # a value is never shown
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "problem: MAGSAG_PROVDER is set, but magsag reads no such variable: did you mean MAGSAG_PROVIDER?" in out
    assert "problem: MAGSAG_MODLE is set, but magsag reads no such variable: did you mean MAGSAG_MODEL?" in out
    assert "local" not in out.split("problem:")[1] and "AbCdEf" not in out
    assert main(["doctor", "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert sum("reads no such variable" in p for p in problems) == 2, problems


def test_doctor_notes_a_magsag_variable_it_does_not_read_and_takes_every_one_it_reads(cli_env, capsys, monkeypatch):
    import re

    from magsag_mcp.settings import READ_VARIABLES

    # a variable near none of magsag's is a note, not a problem (another tool's, a script's own)
    monkeypatch.setenv("MAGSAG_DEPLOY_STAGE", "blue")
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and any(n.startswith("MAGSAG_DEPLOY_STAGE is set, but") for n in report["notes"])
    # every MAGSAG_ variable the package (or the tests' spec checker, which README names) reads is one it knows
    root = Path(__file__).resolve().parent.parent
    read = {
        name
        for path in [*root.joinpath("magsag_mcp").rglob("*.py"), root / "tests" / "fakes" / "spec.py"]
        for name in re.findall(r"MAGSAG_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))
    }
    assert read <= READ_VARIABLES, sorted(read - READ_VARIABLES)


def _catalog_reading_magsag_variables(tmp_path: Path) -> Path:
    """The shipped catalog, its pii route's local server and a skill's description read from MAGSAG_* variables of
    the user's own (``${VAR}`` in a catalog file is expanded from the environment)."""
    import shutil

    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog, ignore=shutil.ignore_patterns("__pycache__"))
    routing = catalog / "routing" / "default.yaml"
    routing.write_text(
        routing.read_text().replace(
            "chain: [local:llama3.1:70b]",
            'chain: [{provider: local, model: "llama3.1:70b", base_url: "${MAGSAG_LOCAL_BASE_URL}"}]',
        )
    )
    skill = catalog / "skills" / "summarization.yaml"
    skill.write_text(skill.read_text().replace("in a few sentences.", "in a few sentences, for ${MAGSAG_TEAM:-us}."))
    assert "${MAGSAG_LOCAL_BASE_URL}" in routing.read_text() and "${MAGSAG_TEAM" in skill.read_text()
    return catalog


def test_doctor_takes_a_magsag_variable_the_catalog_reads_for_one_that_is_read(cli_env, capsys, monkeypatch):
    # routing's base_url: ${MAGSAG_LOCAL_BASE_URL} sends the pii route's calls where it says: doctor called it a
    # misspelling of MAGSAG_LOCAL_LLM_BASE_URL that "changes nothing" and exited 1, and renaming it, as told, left
    # the catalog's ${MAGSAG_LOCAL_BASE_URL} unset; MAGSAG_TEAM, which a skill reads, was noted as read by nothing
    monkeypatch.setenv("MAGSAG_CATALOG", str(_catalog_reading_magsag_variables(cli_env)))
    monkeypatch.setenv("MAGSAG_LOCAL_BASE_URL", "http://127.0.0.1:11434")
    monkeypatch.setenv("MAGSAG_TEAM", "blue")
    monkeypatch.setenv("MAGSAG_TEAMS", "blue")  # near the one the catalog reads: a misspelling of it
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not any("MAGSAG_LOCAL_BASE_URL" in p or "MAGSAG_TEAM " in p for p in report["problems"]), report
    assert not any("MAGSAG_LOCAL_BASE_URL" in n or "MAGSAG_TEAM " in n for n in report["notes"]), report
    assert [p for p in report["problems"] if "MAGSAG_" in p] == [
        "MAGSAG_TEAMS is set, but magsag reads no such variable: did you mean MAGSAG_TEAM? As set, it changes "
        "nothing: rename it to MAGSAG_TEAM"
    ], report["problems"]
    monkeypatch.delenv("MAGSAG_TEAMS")
    assert main(["doctor", "--json"]) == 0


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("MAGSAG_MAX_RETRIES", "many", "MAGSAG_MAX_RETRIES='many' is not a number"),
        ("MAGSAG_MAX_RETRIES", "1.5", "must be a whole number"),
        ("MAGSAG_CALL_DEADLINE", "-3", "MAGSAG_CALL_DEADLINE='-3' must be >= 0.001"),
        # float() takes these; as a deadline, a delay or a count they would hang, skip retries or crash
        ("MAGSAG_CALL_DEADLINE", "nan", "MAGSAG_CALL_DEADLINE='nan' is not a finite number; set it to e.g. 300.0"),
        ("MAGSAG_RETRY_BASE_DELAY", "nan", "MAGSAG_RETRY_BASE_DELAY='nan' is not a finite number"),
        ("MAGSAG_RETRY_MAX_DELAY", "inf", "MAGSAG_RETRY_MAX_DELAY='inf' is not a finite number"),
        ("MAGSAG_MAX_RETRIES", "inf", "MAGSAG_MAX_RETRIES='inf' is not a finite number"),
        # digits past a float (float() made them inf): said "not a finite number", with no word of a limit
        # (changed on purpose: the largest value taken is now each setting's bound, not a float's largest, 1e308)
        ("MAGSAG_CALL_DEADLINE", "1e400", "'1e400' is too large: the largest value taken is 21600; set it to e.g. 300"),
        ("MAGSAG_MAX_RETRIES", "9" * 400, "MAGSAG_MAX_RETRIES (a value of 400 characters, not shown) is too large"),
        ("MAGSAG_RETRY_MAX_DELAY", "-1e400", "MAGSAG_RETRY_MAX_DELAY='-1e400' must be >= 0.0"),
        ("MAGSAG_PROVIDER", "opnai", "MAGSAG_PROVIDER='opnai': unknown provider 'opnai'"),
        ("MAGSAG_CATALOG", "/nonexistent/catalog", "MAGSAG_CATALOG points at '/nonexistent/catalog'"),
    ],
)
def test_bad_env_values_are_named(cli_env, capsys, monkeypatch, name, value, needle):
    monkeypatch.setenv(name, value)
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "x"}']) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value", "fix"),
    [
        ("MAGSAG_CALL_DEADLINE", "-3", "MAGSAG_CALL_DEADLINE='-3' must be >= 0.001; set it to e.g. 300.0"),
        ("MAGSAG_RETRY_BASE_DELAY", "-1", "MAGSAG_RETRY_BASE_DELAY='-1' must be >= 0.0; set it to e.g. 0.5"),
        ("MAGSAG_MAX_RETRIES", "1.5", "MAGSAG_MAX_RETRIES='1.5' must be a whole number; set it to e.g. 2"),
    ],
)
def test_a_setting_out_of_range_is_refused_with_a_value_that_fits(cli_env, capsys, monkeypatch, name, value, fix):
    # Before: "MAGSAG_CALL_DEADLINE='-3' must be >= 0.001" and "... must be a whole number", with no value to set,
    # where a value that is no number was given one ("set it to e.g. 300.0"). (doctor exited 2 on it: now a problem of
    # its report, exit 1; a command that opens magsag-mcp still refuses it, exit 2)
    monkeypatch.setenv(name, value)
    assert main(["doctor"]) == 1
    assert f"problem: {fix}" in capsys.readouterr().out
    payload = json.dumps({"data": "x", "model_config": {"model": "fake:echo"}})
    assert main(["invoke", "skill.analysis", "--payload", payload]) == 2
    assert fix in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "largest", "default"),
    [
        ("MAGSAG_MAX_RETRIES", "10", "2"),
        ("MAGSAG_RETRY_BASE_DELAY", "60", "0.5"),
        ("MAGSAG_RETRY_MAX_DELAY", "21600", "20.0"),
        ("MAGSAG_CALL_DEADLINE", "21600", "300.0"),
        ("MAGSAG_CONNECT_TIMEOUT", "300", "10.0"),
        ("MAGSAG_READ_TIMEOUT", "3600", "120.0"),
    ],
)
def test_a_numeric_setting_past_its_bound_is_refused_with_its_range(
    cli_env, capsys, monkeypatch, name, largest, default
):
    # Before: no upper bound. MAGSAG_MAX_RETRIES=1000 (for 10) tried a failing target 1001 times, each try a request the
    # vendor may bill and a ledger row; a deadline of 30000 (for 300) held a budget's reservation for eight hours
    from magsag_mcp.retry import retry_policy_from_env
    from magsag_mcp.settings import refused_at_open

    minimum = "0.001" if name in ("MAGSAG_CALL_DEADLINE", "MAGSAG_CONNECT_TIMEOUT", "MAGSAG_READ_TIMEOUT") else "0"
    too_many = str(int(largest) * 100)
    fix = (
        f"{name}={too_many!r} is too large: the largest value taken is {largest}; set it to e.g. {default} "
        f"(from {minimum} to {largest})"
    )
    assert refused_at_open({name: largest}) == {}  # the bound itself is taken
    assert refused_at_open({name: too_many}) == {name: fix}
    if name == "MAGSAG_MAX_RETRIES":
        assert retry_policy_from_env({name: largest}).tries_per_target == 11
    monkeypatch.setenv(name, too_many)
    assert main(["doctor"]) == 1
    assert f"problem: {fix}" in capsys.readouterr().out
    payload = json.dumps({"data": "x", "model_config": {"model": "fake:echo"}})
    assert main(["invoke", "skill.analysis", "--payload", payload]) == 2
    assert fix in capsys.readouterr().err


def test_doctor_reports_every_setting_refused_at_opening_with_its_fix_and_exits_1(cli_env, capsys, monkeypatch):
    # Before: exit 2 with a JSON error naming the first bad setting alone, and no report: the command run to find
    # what is wrong stopped at the first thing wrong, and the next run at the next one
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setenv("MAGSAG_READ_TIMEOUT", "-1")
    monkeypatch.setenv("MAGSAG_LEDGER_SYNC", "fast")
    monkeypatch.setenv("MAGSAG_CALL_BASE_URLS", "nope")
    monkeypatch.setenv("MAGSAG_CONNECT_TIMEOUT", "5")  # (a setting that is fine is no problem)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    refused = [p for p in report["problems"] if p.startswith(("MAGSAG_CALL", "MAGSAG_READ", "MAGSAG_LEDGER"))]
    assert refused == [
        "MAGSAG_CALL_DEADLINE='abc' is not a number; set it to e.g. 300.0 (from 0.001 to 21600)",
        "MAGSAG_READ_TIMEOUT='-1' must be >= 0.001; set it to e.g. 120.0 (from 0.001 to 3600)",
        refused[2],
        refused[3],
    ]
    assert refused[2].startswith("MAGSAG_CALL_BASE_URLS='nope' is not a mode; set it to 'configured'")
    assert refused[3].startswith("MAGSAG_LEDGER_SYNC='fast' is not a ledger sync mode; use 'full'")
    assert report["providers"]["openai"]["unavailable"] is None  # the rest is diagnosed all the same
    (note,) = [n for n in report["notes"] if "refuses to open" in n]
    assert "MAGSAG_CALL_DEADLINE, MAGSAG_READ_TIMEOUT, MAGSAG_CALL_BASE_URLS, MAGSAG_LEDGER_SYNC" in note
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "problem: MAGSAG_CALL_DEADLINE='abc' is not a number; set it to e.g. 300.0" in out and err == ""


def test_doctor_reports_a_refused_setting_beside_a_catalog_that_cannot_be_loaded(
    cli_env, capsys, monkeypatch, catalog_copy
):
    # the catalog's report is built without a service, from the same settings: the bad one is left out there too
    (catalog_copy / "routing" / "default.yaml").write_text("default: [openai:gpt-4o\n")
    monkeypatch.setenv("MAGSAG_CONNECT_TIMEOUT", "soon")
    assert main(["doctor", "--catalog", str(catalog_copy), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert problems[0] == "MAGSAG_CONNECT_TIMEOUT='soon' is not a number; set it to e.g. 10.0 (from 0.001 to 300)"
    assert any("malformed YAML" in p for p in problems)


@pytest.mark.parametrize("given_as", ["env", "option"])
def test_doctor_shows_a_relative_ledger_path_absolute_and_says_it_depends_on_the_folder(
    cli_env, capsys, monkeypatch, given_as
):
    # MAGSAG_DB=ledger.db: doctor showed "ledger  : ledger.db", while magsag-mcp, started by an MCP client in a
    # folder of the client's choosing, recorded its calls to another file of that name, there
    work = cli_env / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = ["doctor", "--json"]
    if given_as == "env":
        monkeypatch.setenv("MAGSAG_DB", "ledger.db")
    else:
        argv += ["--db", "ledger.db"]
    main(argv)
    report = json.loads(capsys.readouterr().out)
    assert report["db"] == str(work / "ledger.db")
    name = "MAGSAG_DB" if given_as == "env" else "--db"
    [note] = [n for n in report["notes"] if "relative" in n]
    assert name in note and str(work) in note and "absolute path" in note
    main(argv[:1] + argv[2:])
    out = capsys.readouterr().out
    assert f"ledger  : {work / 'ledger.db'}" in out and "relative" in out


def test_doctor_adds_no_note_for_an_absolute_ledger_path(cli_env, capsys):
    main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["db"] == str(cli_env / "cli.db")
    assert not [n for n in report["notes"] if "relative" in n]


@pytest.mark.parametrize(
    ("name", "span"),
    [
        ("MAGSAG_MAX_RETRIES", "from 0 to 10"),
        ("MAGSAG_RETRY_BASE_DELAY", "from 0 to 60"),
        ("MAGSAG_RETRY_MAX_DELAY", "from 0 to 21600"),
        ("MAGSAG_CALL_DEADLINE", "from 0.001 to 21600"),
        ("MAGSAG_CONNECT_TIMEOUT", "from 0.001 to 300"),
        ("MAGSAG_READ_TIMEOUT", "from 0.001 to 3600"),
    ],
)
@pytest.mark.parametrize("value", ["abc", "30 min", "nan", "-1", "1.5"])
def test_every_refusal_of_a_numeric_setting_names_its_range(name, span, value):
    # docs/configuration.md: a value past its bound "is refused as one that is no number is, naming the range and a
    # value to set". Only the value past its bound named the range: `MAGSAG_CALL_DEADLINE=abc` was told "set it to e.g.
    # 300.0", a negative one "must be >= 0.001", with nothing of the most each takes
    from magsag_mcp.settings import refused_at_open

    said = refused_at_open({name: value}).get(name)
    if said is None:  # a value this setting takes (1.5 s)
        assert value == "1.5" and name != "MAGSAG_MAX_RETRIES"
        return
    assert f"({span}" in said, said
    assert "set it to e.g. " in said  # and a value to set, as before


@pytest.mark.parametrize(
    "argv",
    [
        ["invoke", "skill.analysis", "--payload", '{"data": "Q3"}'],
        ["explain", "skill.analysis", "--payload", '{"data": "Q3"}'],
        ["run", "my-mag", "--payload", '{"data": "Q3"}'],
        ["budget"],
    ],
)
def test_a_call_setting_set_wrong_stops_the_commands_that_make_or_plan_a_call(cli_env, capsys, monkeypatch, argv):
    # docs/cli.md (magsag doctor's section): "the commands that make or plan a call ... stop on it, exit 2"
    monkeypatch.setenv("MAGSAG_MAX_RETRIES", "many")
    assert main(argv) == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["type"] == "config_error" and "MAGSAG_MAX_RETRIES='many' is not a number" in error["message"]


@pytest.mark.parametrize("argv", [["data", "query"], ["flow", "summarize"], ["data", "search", "x"]])
def test_the_ledger_readers_need_no_call_setting_but_the_ledgers_own(cli_env, capsys, monkeypatch, argv):
    # docs/cli.md (magsag doctor's section): a call's settings stop the commands that make or plan a call; a command
    # that only reads the ledger uses none of them, and stops only on the ledger's own, MAGSAG_LEDGER_SYNC
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "Q3"}']) == 1  # no key: a ledger, one call
    capsys.readouterr()
    monkeypatch.setenv("MAGSAG_MAX_RETRIES", "many")
    monkeypatch.setenv("MAGSAG_CALL_BASE_URLS", "nope")
    assert main(argv) == 0
    capsys.readouterr()
    monkeypatch.setenv("MAGSAG_LEDGER_SYNC", "fast")
    assert main(argv) == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["type"] == "config_error" and "MAGSAG_LEDGER_SYNC='fast' is not a ledger sync mode" in error["message"]


def test_doctor_tells_a_magsag_variable_a_word_longer_than_one_it_reads_that_one(cli_env, capsys, monkeypatch):
    # MAGSAG_DB_PATH (the ledger's file, as other tools name it) was a note, "another tool's": too far from MAGSAG_DB
    # for the spelling check, while the ledger went to the default file
    monkeypatch.setenv("MAGSAG_DB_PATH", "/tmp/not-read.db")
    assert main(["doctor", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"] == [
        "MAGSAG_DB_PATH is set, but magsag reads no such variable: did you mean MAGSAG_DB? As set, it changes "
        "nothing: rename it to MAGSAG_DB"
    ]


def test_a_command_warns_of_no_magsag_variable_the_catalog_reads(cli_env, capsys, monkeypatch):
    # a command names a MAGSAG_* variable read by nothing as it runs: one the catalog's ${VAR} reads is read
    monkeypatch.setenv("MAGSAG_CATALOG", str(_catalog_reading_magsag_variables(cli_env)))
    monkeypatch.setenv("MAGSAG_LOCAL_BASE_URL", "http://127.0.0.1:11434")
    monkeypatch.setenv("MAGSAG_TEAM", "blue")
    monkeypatch.setenv("MAGSAG_DEPLOY_STAGE", "blue")  # read by nothing, near nothing: said once
    assert main(["budget", "--json"]) == 0
    err = capsys.readouterr().err
    assert [line.split(" is set")[0] for line in err.splitlines() if "magsag: warning:" in line] == [
        "magsag: warning: MAGSAG_DEPLOY_STAGE"
    ], err
    assert "blue" not in err


@pytest.mark.parametrize("value", ["1d", "-5"])
def test_doctor_reports_an_azure_trust_refused_at_opening_as_the_other_settings(cli_env, capsys, monkeypatch, value):
    # MAGSAG_AZURE_SERVED_TRUST, read as the service opens, was left out of the settings doctor reads alone: doctor
    # stopped at it with exit 2 and a JSON error, no report (and magsag-mcp started on it, each call then failing)
    monkeypatch.setenv("MAGSAG_AZURE_SERVED_TRUST", value)
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (problem,) = [p for p in report["problems"] if p.startswith("MAGSAG_AZURE_SERVED_TRUST")]
    assert problem.startswith(f"MAGSAG_AZURE_SERVED_TRUST='{value}' ") and "(from 0 to 2592000)" in problem
    assert any("refuses to open with MAGSAG_AZURE_SERVED_TRUST as set" in n for n in report["notes"])


def test_doctor_reports_a_server_option_variable_the_server_would_not_start_on(cli_env, capsys, monkeypatch):
    # magsag-mcp refuses to start on these (a desktop client's server gone at once), and doctor, which the MCP readme
    # says to run with the same variables to see what the server will use, listed none of them and exited 0
    monkeypatch.setenv("MAGSAG_MCP_TRANSPORT", "htp")
    monkeypatch.setenv("MAGSAG_MCP_LOG_LEVEL", "verbose")
    monkeypatch.setenv("MAGSAG_MCP_LOG_FORMAT", " JSON ")  # (taken, as the server takes it)
    assert main(["doctor", "--json"]) == 1
    problems = [p for p in json.loads(capsys.readouterr().out)["problems"] if p.startswith("MAGSAG_MCP_")]
    assert problems == [
        "MAGSAG_MCP_LOG_LEVEL='verbose' is not a log level; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL (or pass "
        "--log-level)",
        "MAGSAG_MCP_TRANSPORT='htp' is not a transport; use one of stdio, http (or pass --transport)",
    ]
