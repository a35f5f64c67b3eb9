"""Agents from the catalog: their payload is checked before their code runs, a module that cannot load
is a config error that names the cause, and the CLI shows an agent's own failure as the agent's."""

from __future__ import annotations

import json
import shutil
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import ConfigError, InputError, Magsag, PayloadError
from magsag_mcp.catalog import load_catalog, validate_catalog
from magsag_mcp.cli import main
from magsag_mcp.errors import CatalogError
from tests.agent_helpers import forget_loaded_agents, write_agent

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}


def test_the_shipped_agents_say_what_their_payload_needs(tmp_path: Path, fake_scripts: None):
    # Before: `magsag run my-mag --payload '{}'` ended in a KeyError traceback from the agent's code.
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
        for agent_id in ("my-mag", "data-analysis-sag"):
            with pytest.raises(PayloadError) as info:
                mg.runner.run_agent(agent_id, {})
            assert info.value.message.startswith(f"agent {agent_id}: payload is missing field 'data'")
            assert info.value.details["agent"] == agent_id
        with pytest.raises(PayloadError, match="payload field preferred_model: 7 is not of type 'string'"):
            mg.runner.run_agent("my-mag", {"data": "x", "preferred_model": 7})
        out = mg.runner.run_agent("my-mag", {"data": "numbers", "preferred_model": "fake:sag-model"})
        assert out["model"] == "sag-model"


@pytest.mark.parametrize("data", [1234.5, {"q3": {"revenue": 4.2, "churn": 0.021}}, [120, 135, 160]])
def test_my_mag_takes_the_numbers_and_json_documents_its_schema_says_it_takes(tmp_path: Path, fake_scripts, data):
    # my-mag's input_schema says `data` is "text, numbers or a JSON document" (no type, as skill.analysis's), but
    # it handed `data` as it was to skill.summarization, whose `text` is a string: `magsag run my-mag --payload
    # '{"data": 5}'` failed with "skill.summarization: payload field text: 5 is not of type 'string'", a field
    # the user never gave. The summary now reads the data as the JSON text it is; the SAG gets it as it was.
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
        out = mg.runner.run_agent("my-mag", {"data": data})
    assert out["summary"].endswith(json.dumps(data)), out
    assert out["analysis"].endswith(json.dumps(data)), out


@pytest.mark.parametrize(
    ("written", "meant"),
    [("my-mga", "my-mag"), ("my_mag", "my-mag"), ("My-Mag", "my-mag"), ("data-analysis", "data-analysis-sag")],
)
def test_a_misspelt_agent_id_is_told_the_agent_it_means(tmp_path: Path, written: str, meant: str):
    # `magsag run my-mga` (or the SAG without its -sag) was told only "unknown agent 'my-mga'; the catalog
    # defines: data-analysis-sag, my-mag", as a skill id was, with no word of which one it nearly named.
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV) as mg:
        with pytest.raises(InputError) as info:
            mg.runner.run_agent(written, {"data": "x"})
    assert info.value.message == (
        f"unknown agent {written!r} (did you mean {meant!r}?); the catalog defines: data-analysis-sag, my-mag"
    )
    assert info.value.details["agent"] == written


def test_an_agent_without_an_input_schema_takes_any_payload(agent_catalog: Path, tmp_path: Path, fake_scripts: None):
    write_agent(agent_catalog, "free-sag", "def run(payload, **deps):\n    return {'keys': sorted(payload)}\n")
    with Magsag(catalog=agent_catalog, db=tmp_path / "l.db", env=ENV) as mg:
        assert mg.runner.run_agent("free-sag", {"b": 1, "a": 2}) == {"keys": ["a", "b"]}


def test_an_async_agent_is_refused_with_the_fix_instead_of_returning_a_coroutine(
    agent_catalog: Path, tmp_path: Path, fake_scripts: None
):
    # Before: `async def run(...)` was called and its coroutine returned unawaited: run_agent, arun and
    # invoke_sag handed back "<coroutine object run>", `magsag run` printed it with exit 0, and the agent
    # never ran (a RuntimeWarning at best).
    import asyncio

    from magsag_mcp import Delegation

    write_agent(
        agent_catalog,
        "async-sag",
        "async def run(payload, **deps):\n    return await deps['skills'].ainvoke('x', {})\n",
    )
    with Magsag(catalog=agent_catalog, db=tmp_path / "l.db", env=ENV) as mg:
        uses = {
            "run_agent": lambda: mg.runner.run_agent("async-sag", {}),
            "invoke_sag": lambda: mg.runner.invoke_sag(Delegation("t", "async-sag", {})),
            "arun": lambda: asyncio.run(mg.runner.arun("async-sag", {})),
        }
        for use in uses.values():
            with pytest.raises(ConfigError) as info:
                use()
            assert info.value.message == (
                "agent 'async-sag': async_sag:run is an async function, and agents are plain functions "
                "(def run(payload, *, registry, skills, runner, obs)) that call skills.invoke(...); from async "
                "code, run one with `await runner.arun(...)`, or await skills.ainvoke(...) without an agent"
            )
        assert mg.bridge.run(lambda: mg.service.query_runs()) == []
    assert any("entrypoint 'async_sag:run' is an async function" in p for p in validate_catalog(agent_catalog))


def test_threads_running_an_agent_for_the_first_time_at_once_all_run_it(
    agent_catalog: Path, tmp_path: Path, fake_scripts: None, monkeypatch: pytest.MonkeyPatch
):
    # A thread pool running one agent over many payloads, the agent's module slow to import (pandas, a
    # client). Before: the first thread put the module in sys.modules and ran it; the others found it there
    # half-loaded and failed with "slow_sag has no function 'run'".
    import threading
    import types

    gate = threading.Event()
    monkeypatch.setitem(sys.modules, "agent_import_gate", types.SimpleNamespace(gate=gate))
    write_agent(
        agent_catalog,
        "slow-sag",
        "from agent_import_gate import gate\n"
        "gate.wait(60)  # the import is under way until the test lets it finish\n\n"
        "def run(payload, **deps):\n    return payload['n']\n",
    )
    results: dict[int, object] = {}

    def run(n: int) -> None:
        try:
            results[n] = mg.runner.run_agent("slow-sag", {"n": n})
        except Exception as exc:
            results[n] = exc

    with Magsag(catalog=agent_catalog, db=tmp_path / "l.db", env=ENV) as mg:
        first = threading.Thread(target=run, args=(1,))
        first.start()
        while not any(name.endswith(".slow_sag") for name in sys.modules):
            threading.Event().wait(0.01)  # the first thread is importing the module
        second = threading.Thread(target=run, args=(2,))
        second.start()
        second.join(0.5)  # before the fix it had failed by now; after it, it waits for the import
        gate.set()
        first.join(60)
        second.join(60)
    assert results == {1: 1, 2: 2}


def test_a_broken_agent_input_schema_is_a_catalog_problem(agent_catalog: Path):
    write_agent(
        agent_catalog,
        "bad-sag",
        "def run(payload, **deps):\n    return 1\n",
        extra_yaml="input_schema: {type: objekt}\n",
    )
    with pytest.raises(CatalogError) as info:
        load_catalog(agent_catalog)
    problem = "\n".join(info.value.problems)
    assert "bad-sag" in problem and "input_schema" in problem and "objekt" in problem


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "def run(payload, **deps):\n    return {'x': 1\n",
            r"has a syntax error at .*broken_sag\.py, line 2: '\{' was never closed",
        ),
        ("import not_installed_pkg_xyz\n", "imports 'not_installed_pkg_xyz', which is not installed"),
        ("raise RuntimeError('no config')\n", "failed while loading: RuntimeError: no config"),
    ],
)
def test_an_agent_module_that_cannot_load_is_a_config_error(
    agent_catalog: Path, tmp_path: Path, fake_scripts: None, source: str, expected: str
):
    write_agent(agent_catalog, "broken-sag", source)
    with Magsag(catalog=agent_catalog, db=tmp_path / "l.db", env=ENV) as mg:
        with pytest.raises(ConfigError, match=expected):
            mg.runner.run_agent("broken-sag", {})
        assert not [n for n in sys.modules if n.endswith(".broken_sag")]  # not left half-loaded
        # fixed in place, the next run loads it afresh
        (agent_catalog / "agents" / "broken_sag.py").write_text("def run(payload, **deps):\n    return 'fixed'\n")
        assert mg.runner.run_agent("broken-sag", {}) == "fixed"


def test_two_catalogs_in_one_process_each_run_their_own_agent_module(tmp_path: Path, fake_scripts: None):
    # Before: agent modules were cached by module name alone, so the second catalog's echo-sag ran the
    # first catalog's file (staging and production catalogs, or two tests, in one process).
    outputs = []
    for name in ("staging", "production"):
        cat = tmp_path / name
        shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
        write_agent(cat, "echo-sag", f"def run(payload, **deps):\n    return {name!r}\n")
        with Magsag(catalog=cat, db=tmp_path / f"{name}.db", env=ENV) as mg:
            outputs.append(mg.runner.run_agent("echo-sag", {}))
    forget_loaded_agents()
    assert outputs == ["staging", "production"]


def test_an_agent_imports_a_module_beside_it_in_its_catalogs_agents_folder(tmp_path: Path, fake_scripts: None):
    # A MAG and its SAGs sharing prompts or helpers in a module of agents/. Before: `from .helpers import x`
    # failed as "imports 'magsag_agents', which is not installed; install it", and `from helpers import x`
    # as "imports 'helpers', which is not installed": a file right beside the agent. Now the relative
    # import loads that catalog's own file (each catalog its own), and the absolute one says to use it.
    outputs = []
    for name in ("staging", "production"):
        cat = tmp_path / name
        shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
        (cat / "agents" / "helpers.py").write_text(f"def tag(text):\n    return {name!r} + ': ' + text\n")
        (cat / "agents" / "tools").mkdir()
        (cat / "agents" / "tools" / "shout.py").write_text("def shout(text):\n    return text.upper()\n")
        write_agent(
            cat,
            "tagging-sag",
            "from .helpers import tag\nfrom .tools.shout import shout\n\n"
            "def run(payload, **deps):\n    return shout(tag(payload['text']))\n",
        )
        write_agent(cat, "absolute-sag", "from helpers import tag\n\ndef run(payload, **deps):\n    return tag('x')\n")
        with Magsag(catalog=cat, db=tmp_path / f"{name}.db", env=ENV) as mg:
            outputs.append(mg.runner.run_agent("tagging-sag", {"text": "hello"}))
            with pytest.raises(ConfigError) as info:
                mg.runner.run_agent("absolute-sag", {})
    forget_loaded_agents()
    assert outputs == ["STAGING: HELLO", "PRODUCTION: HELLO"]
    assert info.value.message == (
        f"agent module 'absolute_sag' imports 'helpers', a module of the catalog's agents folder "
        f"({cat / 'agents' / 'helpers.py'}), as if it were installed; import it relatively (from .helpers import "
        "...): a catalog's agents are modules of one package, their folder"
    )
    assert "helpers" not in sys.modules  # nothing of a catalog is imported under a name of its own


def test_a_catalogs_agent_file_wins_over_a_module_of_the_same_name(tmp_path: Path, fake_scripts: None):
    # Before: a module importable the usual way came first, so agents/email.py with entrypoint email:run
    # loaded the standard library's email and failed with "email has no function 'run'".
    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    write_agent(cat, "email", "def run(payload, **deps):\n    return 'the email agent of the catalog'\n")
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=ENV) as mg:
        out = mg.runner.run_agent("email", {})
    forget_loaded_agents()
    assert out == "the email agent of the catalog"
    assert [p for p in validate_catalog(cat) if "email" in p] == []  # validate finds the same file


@pytest.fixture
def cli_env(tmp_path: Path, agent_catalog: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MAGSAG_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("MAGSAG_CATALOG", str(agent_catalog))
    monkeypatch.setenv("MAGSAG_PROVIDER", "fake")
    return agent_catalog


def test_cli_shows_an_agents_own_failure_from_its_own_frames(cli_env: Path, capsys, monkeypatch, fake_scripts):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-agent-leak-0123456789")
    write_agent(
        cli_env,
        "crashing-sag",
        "import os\n\n"
        "def helper(payload):\n"
        "    return payload['missing'] + os.environ['OPENAI_API_KEY']\n\n"
        "def run(payload, *, skills=None, **deps):\n"
        "    skills.invoke('skill.analysis', {'data': 'first'})\n"
        "    raise ValueError('bad key ' + os.environ['OPENAI_API_KEY']) from None if payload else helper(payload)\n",
    )
    assert main(["run", "crashing-sag", "--payload", "{}"]) == 1
    err = capsys.readouterr().err
    text, _, tail = err.partition("{\n")
    assert text.startswith("Traceback (the agent's code):\n")
    assert 'crashing_sag.py", line 8, in run' in text and "line 4, in helper" in text
    assert "magsag_mcp" not in text  # magsag's frames above the agent only say how it was called
    assert text.rstrip().endswith("KeyError: 'missing'")
    error = json.loads("{\n" + tail)["error"]
    assert error["type"] == "agent_error" and error["agent"] == "crashing-sag"
    assert error["message"] == "agent 'crashing-sag' raised KeyError: 'missing'"
    assert error["where"].endswith("crashing_sag.py:8 in run")
    # a message built from a key is redacted, as every error is
    assert main(["run", "crashing-sag", "--payload", '{"x": 1}']) == 1
    err = capsys.readouterr().err
    assert "sk-agent-leak-0123456789" not in err and "ValueError: bad key [REDACTED]" in err
    # the skill call the agent made before failing is in the ledger, and its run is recorded failed with the error
    # the CLI printed (it said ok before: a run's status was its calls' alone), the key redacted there too
    assert main(["data", "query", "--agent", "crashing-sag", "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 2 and all(r["status"] == "error" and r["calls"] == 1 for r in runs)
    assert sorted(r["error"]["message"] for r in runs) == [
        "agent 'crashing-sag' raised KeyError: 'missing'",
        "agent 'crashing-sag' raised ValueError: bad key [REDACTED]",
    ]
    assert all(r["error"]["type"] == "agent_error" for r in runs)


def test_cli_prints_an_agents_result_quoting_the_key_without_it(cli_env: Path, capsys, monkeypatch):
    # Before: `magsag run` printed an agent's result as it came, with the key an answer it passed on quoted (a gateway
    # echoing the request's headers); MCP's invoke_skill removed it. A key-shaped token never sent is the result's own
    monkeypatch.setenv("OPENAI_API_KEY", "sk-agent-echo-0123456789abcdef")
    write_agent(
        cli_env,
        "echoing-sag",
        "import os\n\n"
        "def run(payload, **deps):\n"
        "    key = os.environ['OPENAI_API_KEY']\n"
        "    return {'answer': 'sent ' + key, 'example': 'sk-proj-EXAMPLEexample0123456789'}\n",
    )
    assert main(["run", "echoing-sag", "--payload", "{}"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"answer": "sent [REDACTED]", "example": "sk-proj-EXAMPLEexample0123456789"}


def test_cli_reports_a_missing_payload_field_with_the_input_error_exit_code(cli_env: Path, capsys):
    assert main(["run", "my-mag", "--payload", "{}"]) == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["type"] == "invalid_payload" and error["agent"] == "my-mag"
    assert "payload is missing field 'data'" in error["message"]


def test_an_agent_in_the_bundled_catalog_inside_the_package_still_shows_its_frames(tmp_path, monkeypatch, capsys):
    # Installed from a wheel, the bundled catalog's agents live under the package's own directory.
    import importlib.util

    import magsag_mcp
    from magsag_mcp.cli.core import _print_agent_failure

    package = tmp_path / "site" / "magsag_mcp"
    agents = package / "_catalog" / "agents"
    agents.mkdir(parents=True)
    (agents / "bundled.py").write_text("def run(payload, **deps):\n    return payload['data']\n")
    monkeypatch.setattr(magsag_mcp, "__file__", str(package / "__init__.py"))
    spec = importlib.util.spec_from_file_location("bundled_agent_under_test", agents / "bundled.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.run({})
    except KeyError as exc:
        _print_agent_failure("bundled", exc, agents)
    err = capsys.readouterr().err
    # before, every frame under the package was cut as magsag's own, the agent's included
    assert 'bundled.py", line 2, in run' in err
    assert err.rstrip().endswith("}") and "KeyError: 'data'" in err


def test_a_crashed_agents_error_names_the_run_that_holds_its_calls(cli_env: Path, capsys, fake_scripts):
    write_agent(
        cli_env,
        "late-crash-sag",
        "def run(payload, *, skills=None, **deps):\n"
        "    skills.invoke('skill.analysis', {'data': 'first'})\n"
        "    raise RuntimeError('after one call')\n",
    )
    assert main(["run", "late-crash-sag", "--payload", "{}"]) == 1
    err = capsys.readouterr().err
    error = json.loads(err[err.index("{\n") :])["error"]
    assert error["type"] == "agent_error" and error["run_id"].startswith("run-")
    assert main(["data", "query", "--run-id", error["run_id"], "--format", "json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["skill"] == "skill.analysis" and run["calls"] == 1


def test_a_crashed_agents_error_says_what_its_run_cost(cli_env: Path, capsys, fake_scripts):
    # The guide's fallback cascade ends in `raise RuntimeError(f"All models failed: {last_error}")`, after the calls
    # it paid for. `magsag run` named the run of such an agent but not what it cost: docs/cli.md promises a failed run's
    # JSON error carries the whole run's cost as `cost_usd`, and only a MagsagError's did.
    with (cli_env / "prices.yaml").open("a") as prices:
        prices.write('"fake:*": {input: 100, output: 100}\n')  # the fake provider's calls cost something
    write_agent(
        cli_env,
        "paid-crash-sag",
        "def run(payload, *, skills=None, **deps):\n"
        "    skills.invoke('skill.analysis', {'data': 'first'})\n"
        "    raise RuntimeError('All models failed: after one call')\n",
    )
    assert main(["run", "paid-crash-sag", "--payload", "{}"]) == 1
    err = capsys.readouterr().err
    error = json.loads(err[err.index("{\n") :])["error"]
    assert main(["data", "query", "--run-id", error["run_id"], "--format", "json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert Decimal(run["cost_usd"]) > 0
    assert error["type"] == "agent_error" and Decimal(error["cost_usd"]) == Decimal(run["cost_usd"])
    assert error["cost_unknown"] is False


def test_cli_run_keeps_stdout_the_runs_json_when_the_agent_prints(cli_env: Path, capsys, fake_scripts):
    # `magsag run my-agent | jq .` failed to parse whenever the agent printed (a progress line, a debug
    # print): its text went to stdout before the result's JSON. What it prints now goes to stderr.
    write_agent(
        cli_env,
        "chatty-sag",
        "def run(payload, *, skills=None, **deps):\n"
        "    print('working on it')\n"
        "    return {'answer': skills.invoke('skill.analysis', {'data': 'x'})['provider']}\n",
    )
    assert main(["run", "chatty-sag", "--payload", "{}"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"answer": "fake"}
    assert err.startswith("working on it\n") and "run_id: " in err


def test_cli_run_stopped_by_ctrl_c_names_its_run(cli_env: Path, capsys):
    """Ctrl-C in an agent's run (here raised by its code, where a terminal's lands) ended `magsag run` with 130 and
    nothing said: the calls it had made were found only by their time. Stderr now names the run, which finds them."""
    write_agent(
        cli_env,
        "stopped-sag",
        "def run(payload, *, skills=None, **deps):\n"
        "    skills.invoke('skill.analysis', {'data': 'first'})\n"
        "    raise KeyboardInterrupt\n",
    )
    assert main(["run", "stopped-sag", "--payload", "{}"]) == 130
    err = capsys.readouterr().err
    run_id = err.split("run_id: ", 1)[1].split(" ", 1)[0]
    assert f"magsag data query --run-id {run_id})" in err
    assert main(["data", "query", "--run-id", run_id, "--format", "json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["agent"] == "stopped-sag" and run["calls"] == 1


def test_an_agents_failure_at_a_terminal_is_its_traceback_then_the_summary_not_json(
    cli_env: Path, capsys, monkeypatch, fake_scripts
):
    # the JSON followed the traceback at a terminal too, where every other command's error is its summary
    write_agent(
        cli_env,
        "terminal-crash-sag",
        "def run(payload, *, skills=None, **deps):\n"
        "    skills.invoke('skill.analysis', {'data': 'first'})\n"
        "    return payload['missing']\n",
    )
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["run", "terminal-crash-sag", "--payload", "{}"]) == 1
    err = capsys.readouterr().err
    text, _, said = err.partition("magsag: error (agent_error): ")
    assert text.startswith("Traceback (the agent's code):\n") and text.rstrip().endswith("KeyError: 'missing'")
    lines = said.splitlines()
    assert lines[0] == "agent 'terminal-crash-sag' raised KeyError: 'missing'"
    assert len(lines) == 2 and lines[1].startswith("  (the call's record: magsag data query --run-id run-")
    assert "2>error.json" in lines[1] and "{" not in err
