"""`magsag invoke` and `explain`: parse, call the service, format; input errors said in one line with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from magsag_mcp.cli import main
from tests.conftest import CATALOG


def test_invoke_prints_the_result(cli_env, capsys):
    payload = json.dumps({"data": "x", "model_config": {"model": "fake:echo"}})
    assert main(["invoke", "skill.analysis", "--payload", payload, "--agent", "cli", "--run-id", "r-1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"output", "provider", "model", "run_id", "usage", "cost_usd", "attempts", "warnings"} <= set(out)
    assert out["run_id"] == "r-1" and out["provider"] == "fake"


def test_invoke_failure_prints_a_json_error_and_exits_non_zero(cli_env, capsys):
    payload = json.dumps({"data": "x", "model_config": {"model": "fake:fail-server_error"}})
    assert main(["invoke", "skill.analysis", "--payload", payload]) == 1
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["type"] == "all_targets_failed" and err["attempts"]
    assert "server_error" in err["message"]


def test_invoke_with_no_keys_says_which_to_set(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "x"}']) == 1
    err = json.loads(capsys.readouterr().err)["error"]
    assert "OPENAI_API_KEY" in err["message"] and "ANTHROPIC_API_KEY" in err["message"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["invoke", "skill.analysis", "--payload", "{not json"], "--payload is not valid JSON"),
        (["invoke", "skill.analysis", "--payload", "[1]"], "must be a JSON object"),
        (["invoke", "skill.nope", "--payload", "{}"], "unknown skill 'skill.nope'"),
        (["invoke", "skill.analysis", "--payload", "{}"], "missing field 'data'"),
    ],
)
def test_bad_input_exits_2_with_the_fix(cli_env, capsys, args, needle):
    assert main(args) == 2
    assert needle in capsys.readouterr().err


def test_arguments_that_are_not_utf8_exit_2_naming_the_option(cli_env, capsys):
    # argv bytes that are not UTF-8 reach Python as lone surrogates ("\udcff"), which cannot be stored
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "x"}', "--agent", "a\udcff"]) == 2
    assert json.loads(capsys.readouterr().err)["error"]["message"].startswith("--agent is not valid Unicode text")
    assert main(["data", "query", "--agent", "a\udcff"]) == 2
    assert "not valid Unicode text" in capsys.readouterr().err
    assert main(["data", "search", "a\udcff"]) == 2
    assert "not valid Unicode text" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["data", "query", "--agent", "a\udcff"], "--agent"),
        (["data", "query", "--format", "csv", "--run-id", "r\udcff"], "--run-id"),
        (["flow", "summarize", "--skill", "s\udcff"], "--skill"),
        (["flow", "summarize", "--model", "m\udcff"], "--model"),
    ],
)
def test_a_filter_that_is_not_utf8_is_refused_naming_its_option(cli_env, capsys, argv, option):
    # the filters' refusal said "the value is not valid Unicode text", naming no option: which of several given?
    assert main(argv) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert message.startswith(f"{option} is not valid Unicode text"), message


def test_a_filter_that_is_not_unicode_is_named_by_its_field_where_no_caller_names_it():
    from magsag_mcp.errors import InputError
    from magsag_mcp.ledger import UsageFilters

    with pytest.raises(InputError, match=r"^agent is not valid Unicode text"):
        UsageFilters.build({"agent": "a\udcff"})
    with pytest.raises(InputError, match=r"^filters\.skill is not valid Unicode text"):
        UsageFilters.build({"skill": "s\udcff"}, names={"skill": "filters.skill"})


def test_explain_calls_nothing(cli_env, capsys):
    assert main(["explain", "skill.analysis", "--payload", '{"data": "x"}']) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["rule"] == "route:analysis"
    assert [t["label"] for t in plan["targets"]][0] == "openai:gpt-4o"
    assert plan["targets"][0]["estimated_max_cost_usd"] is not None


def test_explain_refusing_a_misspelt_context_key_says_what_it_did_not_do_and_the_fix(cli_env, capsys):
    # explain sends no call, and said "the call was not sent" of the route it did not explain; invoke's words stay
    context = ["--context", '{"preferred_modle": "gpt-4o"}']
    assert main(["explain", "skill.analysis", "--payload", '{"data": "x"}', *context]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert message == (
        "unknown context key 'preferred_modle' (did you mean 'preferred_model'?); the route was not explained: the "
        "key would have chosen it; write it 'preferred_model' and run explain again"
    )
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "x"}', *context]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert message == (
        "unknown context key 'preferred_modle' (did you mean 'preferred_model'?); the call was not sent: the key "
        "would have chosen where it goes; write it 'preferred_model' and send the call again"
    )


def test_wheel_ships_the_catalog(tmp_path):
    """`pip install magsag-mcp` must work without a checkout: the catalog travels inside the wheel."""
    import zipfile

    hatchling = pytest.importorskip("hatchling.builders.wheel")
    root = Path(__file__).resolve().parent.parent
    builder = hatchling.WheelBuilder(str(root))
    wheel = next(iter(builder.build(directory=str(tmp_path), versions=["standard"])))
    names = zipfile.ZipFile(wheel).namelist()
    assert "magsag_mcp/_catalog/skills/analysis.yaml" in names
    assert "magsag_mcp/_catalog/routing/default.yaml" in names
    assert "magsag_mcp/_catalog/policies/model_governance.yaml" in names
    assert "magsag_mcp/py.typed" in names


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["flow", "summarize", "--since", "9999999999999999999999d"], "is longer than any ledger (at most 1000 years)"),
        (["data", "prune", "--older-than", "9999999999999999999999d"], "is longer than any ledger"),
    ],
)
def test_numbers_too_large_for_the_ledger_are_input_errors_not_tracebacks(cli_env, capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_a_numeric_time_beyond_any_ledger_is_an_input_error():
    from magsag_mcp.errors import InputError
    from magsag_mcp.ledger.filters import parse_since

    assert parse_since(1764460800) == 1764460800.0
    for bad in (1e30, float("nan"), -1e30):
        with pytest.raises(InputError, match="is not a time: give unix seconds"):
            parse_since(bad)


def test_small_wordings_say_what_is_wrong(cli_env, capsys, tmp_path):
    assert main(["data", "search", "("]) == 2
    err = capsys.readouterr().err
    said = json.loads(err[err.index("{") :])["error"]["message"]
    assert said.startswith("invalid regular expression '(': missing ): (; to find the text as written: search '\\('")
    assert "RE2 syntax" in said and "b'" not in err
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"totals": {"calls": 0}}))
    assert main(["flow", "gate", "--policy", str(tmp_path), str(summary)]) != 0
    captured = capsys.readouterr()
    assert "is a directory, not a file" in captured.err + captured.out
    bad = tmp_path / "cat"
    (bad / "skills").mkdir(parents=True)
    (bad / "routing").mkdir()
    (bad / "skills" / "s.yaml").write_text("id: skill.s\ndescription: d\ntask_type: s\nprompt: {user: '{text}'}\n")
    (bad / "routing" / "r.yaml").write_text("default: [fake:a\n")  # the file with the default chain is broken
    assert main(["catalog", "validate", "--catalog", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "r.yaml: malformed YAML" in out and "no routing file defines a 'default' chain" not in out


def test_small_wordings_name_what_the_user_gave(cli_env, capsys, monkeypatch, tmp_path):
    # --context's error shows a context, not a payload
    assert main(["invoke", "skill.analysis", "--payload", "{}", "--context", "{bad"]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert message.startswith("--context is not valid JSON")
    assert message.endswith("""pass an object like '{"preferred_model": "gpt-4o"}'""")
    # a run id with nothing recorded is said to be so, not just "ok"
    assert main(["budget", "--run-id", "nope"]) == 0
    assert "run nope has no recorded calls" in capsys.readouterr().err  # a note: on stderr, not among the limits
    assert main(["budget", "--run-id", "nope", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_recorded"] is False
    # a model chosen by MAGSAG_MODEL is named by its source, not as "an explicit override"
    policy = "policies:\n  - name: only_echo\n    allowed_models: ['fake:echo']\n"
    cat = tmp_path / "catalog"
    import shutil

    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "policies" / "only_echo.yaml").write_text(policy)
    monkeypatch.setenv("MAGSAG_CATALOG", str(cat))
    monkeypatch.setenv("MAGSAG_MODEL", "fake:other")
    assert main(["invoke", "skill.analysis", "--payload", json.dumps({"data": "x"})]) != 0
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert "(chosen by MAGSAG_MODEL in the environment)" in message and "explicit override" not in message


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "query", "--db", "LONG"],
        ["budget", "--catalog", "LONG"],
        ["doctor", "--catalog", "LONG"],
        ["catalog", "validate", "--catalog", "LONG"],
        ["invoke", "skill.analysis", "--payload", '{"data": "x"}', "--db", "LONG"],
        ["flow", "summarize", "--output", "LONG"],
    ],
)
def test_a_file_name_too_long_for_the_file_system_is_bad_input_not_a_traceback(cli_env, capsys, argv):
    """A path with a name longer than the file system takes (255 bytes: a value pasted where a path goes) made the
    first look at it raise OSError ENAMETOOLONG: an OSError traceback, exit 1, from every command's --db, --catalog
    (or MAGSAG_DB, MAGSAG_CATALOG) and --output. It is bad input, said in one line naming the path's start."""
    name = "x" * 300
    assert main([name if a == "LONG" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and name not in err
    message = json.loads(err)["error"]["message"]
    assert message.startswith("the path '") and "...' (3" in message  # its start, and its length
    assert "characters) holds a name too long for the file system; check the --db, --catalog or --output" in message


def test_a_misspelt_context_key_is_refused_before_anything_is_sent_as_the_mcp_tool_refuses_it(cli_env, capsys):
    """`magsag invoke --context '{"preferred_modle": ...}'` sent the call to the routed model, paid for, with a warning
    after the fact; invoke_skill refused the same context ("unknown argument 'context.preferred_modle' (did you mean
    'preferred_model'?)"). The CLI refuses it too, in the same words, and the failed call is recorded, unsent."""
    payload, context = json.dumps({"data": "x"}), json.dumps({"preferred_modle": "fake:other"})
    assert main(["invoke", "skill.analysis", "--payload", payload, "--context", context, "--run-id", "r-typo"]) == 2
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["type"] == "invalid_payload"
    assert err["message"].startswith("unknown context key 'preferred_modle' (did you mean 'preferred_model'?)")
    assert main(["data", "query", "--run-id", "r-typo", "--format", "json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["status"] != "ok" and run["attempts"] == []


#: the end of the error of a call whose only target's 429 asked for a wait over the retry cap (20 s by default)
OVER_THE_CAP = (
    "; openai:gpt-4o was rate limited and not tried again: its server asked to wait 45s, longer than the retry cap of "
    "20s (MAGSAG_RETRY_MAX_DELAY); set MAGSAG_RETRY_MAX_DELAY to 45 or more to wait it out, or call again in 45s"
)


@pytest.mark.anyio
async def test_a_call_failed_by_a_429_over_the_retry_cap_names_the_wait_and_the_fix(cli_env, capsys, fake_openai):
    # Over the wire (OpenAI's 429 with Retry-After: 45): `magsag invoke` and MCP's invoke_skill said "every target
    # failed: openai:gpt-4o rate_limited; last error: ...HTTP 429..." and nothing of the wait, the cap or the fix
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server
    from tests.fakes.openai_replies import rate_limited
    from tests.fakes.openai_server import DEFAULT_KEY

    env = {"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": fake_openai.url + "/v1"}
    payload = json.dumps({"data": "x", "model_config": {"model": "openai:gpt-4o"}})
    fake_openai.queue(rate_limited(retry_after="45"))
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        assert await anyio.to_thread.run_sync(main, ["invoke", "skill.analysis", "--payload", payload]) == 1
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["type"] == "all_targets_failed" and err["last_error_type"] == "rate_limited"
    assert err["message"].startswith("skill.analysis: every target failed: openai:gpt-4o rate_limited; last error: ")
    assert err["message"].endswith(OVER_THE_CAP), err["message"]
    (row,) = err["attempts"]  # the attempt's row as it was: its class, the vendor's words, the warning
    assert row["error_class"] == "rate_limited" and "HTTP 429" in row["error_message"]
    assert "MAGSAG_RETRY_MAX_DELAY to" not in row["error_message"] and len(row["warnings"]) == 1

    fake_openai.queue(rate_limited(retry_after="45"))
    server = build_server(catalog=CATALOG, db=cli_env / "mcp.db", env=env)
    async with Client(server) as client:
        result = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": json.loads(payload)})
    assert result.is_error
    error = result.structured_content["error"]
    assert error["type"] == "all_targets_failed" and error["message"].endswith(OVER_THE_CAP), error["message"]


def test_a_context_key_given_several_values_says_what_to_write_for_them(cli_env, capsys):
    # `--context '{"preferred_models": [a, b]}'` (an ordered preference) was told "write it 'preferred_model'", and
    # that, written with the list, was refused next as no model name; nor was data_classes told a call takes one
    payload = ["--payload", '{"data": "x"}']
    for context, said in (
        (
            {"preferred_models": ["fake:a", "fake:b"]},
            "preferred_model names one model, the call's target; for models tried in order write "
            "context['llm_overrides'] = {'model': 'fake:a', 'fallbacks': ['fake:b']} (or payload['model_config']): "
            "each is tried if the ones before it fail, and send the call again",
        ),
        (
            {"preferred_model": ["fake:a", "fake:b"]},
            "context.preferred_model must be a model name such as 'claude-3-5-sonnet-20241022'; preferred_model names "
            "one model, the call's target; for models tried in order write context['llm_overrides'] = ",
        ),
        ({"data_classes": ["pii_processing"]}, "data_class names one class: write 'data_class': 'pii_processing', "),
        ({"data_class": ["pii_processing", "financial_data"]}, "; data_class names one class (the skill's own "),
    ):
        assert main(["invoke", "skill.analysis", *payload, "--context", json.dumps(context)]) == 2
        assert said in json.loads(capsys.readouterr().err)["error"]["message"]
    # what it says to write is taken: the first model, then the next
    fixed = {"llm_overrides": {"model": "fake:a", "fallbacks": ["fake:b"]}}
    assert main(["invoke", "skill.analysis", *payload, "--context", json.dumps(fixed)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "a"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["invoke", "skill.analysis", "--payload", "[1]"],
            """--payload must be a JSON object, got an array; pass an object like '{"data": "..."}'""",
        ),
        (
            ["invoke", "skill.analysis", "--payload", "{}", "--context", '"gpt-4o"'],
            """--context must be a JSON object, got a string; pass an object like '{"preferred_model": "gpt-4o"}'""",
        ),
        # --model-config was told to pass a payload's '{"data": "..."}', which it would then refuse
        (
            ["budget", "--skill", "skill.analysis", "--model-config", "{model: gpt-4o}"],
            "--model-config is not valid JSON (Expecting property name enclosed in double quotes at character 2); "
            """pass an object like '{"model": "gpt-4o-mini"}'""",
        ),
        (
            ["budget", "--skill", "skill.analysis", "--model-config", "null"],
            """--model-config must be a JSON object, got null; pass an object like '{"model": "gpt-4o-mini"}'""",
        ),
    ],
)
def test_a_json_option_that_is_no_object_is_shown_one_of_its_own(cli_env, capsys, args, said):
    assert main(args) == 2
    assert json.loads(capsys.readouterr().err)["error"]["message"] == said
