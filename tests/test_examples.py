"""The guide's examples in examples/ run as written, offline, and check their own results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def test_every_guide_example_is_here():
    expected = {
        "model_selection.py",
        "task_based_routing.py",
        "cost_tiers.py",
        "fallback_cascade.py",
        "error_handling.py",
        "retry_backoff.py",
        "cost_management.py",
        "migration.py",
        "provider_features.py",
    }
    assert expected <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_"))}
    env["MAGSAG_DB"] = str(tmp_path / "ledger.db")
    proc = subprocess.run([sys.executable, name], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "== " in proc.stdout  # each example shows what it did
    assert "sk-loopback" not in proc.stdout + proc.stderr  # keys never printed
    # each call is given the fields its skill reads: provider_features.py gave every call one payload of every
    # skill's fields, and each of its six results warned that the model never saw four of them, a misuse to copy
    assert "were not sent" not in proc.stdout, proc.stdout


def test_an_example_runs_on_the_shipped_catalog_whatever_magsag_catalog_says(tmp_path: Path):
    """A developer who exported MAGSAG_CATALOG for a project of their own (its skills, routing and policies)
    ran an example and got "unknown skill 'skill.analysis'" (or a fallback its routing does not make): the
    examples stripped MAGSAG_PROVIDER and the rest of the machine's settings, but took MAGSAG_CATALOG. They
    are the guide's examples on the shipped catalog, and run on it wherever they run."""
    from magsag_mcp.cli.demo import write_demo_catalog

    own = write_demo_catalog(tmp_path / "my-catalog")  # one skill, skill.brief, on the fake provider
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_"))}
    env.update(MAGSAG_DB=str(tmp_path / "ledger.db"), MAGSAG_CATALOG=str(own))
    proc = subprocess.run(
        [sys.executable, "fallback_cascade.py"], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"failed:\n{proc.stdout}\n{proc.stderr}"


SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}},
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(
    ("model_config", "fmt"),
    [
        ({"model": "anthropic:claude-3-5-sonnet-20241022"}, None),  # the JSON prefill "{"
        ({"model": "anthropic:claude-3-5-sonnet-20241022"}, SCHEMA),  # a forced tool
        ({"model": "google:gemini-1.5-pro"}, None),  # responseMimeType
        ({"model": "local:llama3.1:70b"}, None),  # the Responses API's text.format
        ({"model": "openai:gpt-4o", "params": {"api": "responses"}}, SCHEMA),
        ({"model": "openai:gpt-4o"}, None),  # chat completions' response_format
    ],
    ids=["claude-prefill", "claude-schema", "gemini", "local-responses", "openai-responses", "openai-chat"],
)
def test_the_offline_vendors_answer_a_json_call_with_json(
    tmp_path: Path, model_config: dict, fmt: dict | None, stream: bool
):
    # The loopback vendors the examples run on (magsag_mcp.loopback) answered JSON only on OpenAI's chat
    # completions: skill.extraction (JSON output) on Claude, Gemini or a local server, which the guide's
    # MAGSAG_PROVIDER settings send it to, failed offline with invalid_output ("was asked for JSON but
    # returned invalid JSON: 'loopback answer from ...'"), as if magsag could not do JSON there.
    from magsag_mcp import Magsag
    from magsag_mcp.loopback import LoopbackUpstream

    cfg = {**model_config, "stream": stream, **({"response_format": fmt} if fmt else {})}
    payload = {"text": "Invoice 42 from ACME", "fields": ["vendor"], "model_config": cfg}
    with LoopbackUpstream().running() as up:
        env = {**up.env(), "MAGSAG_DB": str(tmp_path / "ledger.db")}
        with Magsag(catalog=EXAMPLES.parent / "catalog", env=env) as mg:
            result = mg.skills.invoke("skill.extraction", payload)
    assert result["output"] == {"answer": f"loopback answer from {result['model']}"}, result
    assert result["finish_reason"] == "stop" and not result["tool_calls"]


LOOKUP = {
    "type": "function",
    "function": {
        "name": "get_metric",
        "description": "Fetch a business metric by name",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(
    "model_config",
    [
        {"model": "anthropic:claude-3-5-sonnet-20241022"},
        {"model": "google:gemini-1.5-pro"},
        {"model": "local:llama3.1:70b"},
        {"model": "openai:gpt-4o", "params": {"api": "responses"}},
        {"model": "openai:gpt-4o"},
    ],
    ids=["claude", "gemini", "local-responses", "openai-responses", "openai-chat"],
)
def test_the_offline_vendors_make_the_guides_tool_round_trip(tmp_path: Path, model_config: dict, stream: bool):
    # The guide's function calling (examples/provider_features.py), offline: the loopback vendors asked for a tool
    # only on OpenAI's chat completions; on Claude, Gemini, a local server or the Responses API the call offering
    # get_metric was answered in text, so a tool loop could not be tried offline there.
    from magsag_mcp import Magsag
    from magsag_mcp.loopback import LoopbackUpstream

    cfg = {**model_config, "stream": stream, "tools": [LOOKUP]}
    with LoopbackUpstream().running() as up:
        env = {**up.env(), "MAGSAG_DB": str(tmp_path / "ledger.db")}
        with Magsag(catalog=EXAMPLES.parent / "catalog", env=env) as mg:
            asked = mg.skills.invoke("skill.analysis", {"data": "revenue?", "model_config": cfg})
            (call,) = asked["tool_calls"]
            assert (call["name"], call["arguments"], asked["finish_reason"]) == (
                "get_metric",
                {"name": "revenue"},
                "tool_calls",
            )
            turn = {"id": call["id"], "function": {"name": call["name"], "arguments": call["arguments"]}}
            if "signature" in call:
                turn["signature"] = call["signature"]
            history = [
                {"role": "assistant", "tool_calls": [turn]},
                {"role": "tool", "tool_call_id": call["id"], "content": '{"revenue": "up 8%"}'},
            ]
            answer = mg.skills.invoke(
                "skill.analysis", {"data": "revenue?", "model_config": {**cfg, "messages": history}}
            )
    assert answer["output"] == f"loopback answer from {answer['model']}" and not answer["tool_calls"]


def test_doctor_probe_finds_every_offline_vendor_reachable(tmp_path: Path):
    # The loopback vendors answered no model list, so `magsag doctor --probe` run against them (the README's
    # command, with the environment the examples use) failed every provider with an HTTP 404 and told the user
    # to fix a base URL that was right: "check that the base URL (OPENAI_BASE_URL, ...) ends with the API's version".
    import json

    from magsag_mcp.loopback import LoopbackUpstream

    with LoopbackUpstream().running() as up:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_"))}
        env.update(up.env(), MAGSAG_DB=str(tmp_path / "ledger.db"))
        magsag = [sys.executable, "-c", "from magsag_mcp.cli import run_main; run_main()"]
        proc = subprocess.run(
            [*magsag, "doctor", "--probe", "--json"], env=env, capture_output=True, text=True, timeout=120
        )
    report = json.loads(proc.stdout)
    served = {name: reach for name, reach in report["reachable"].items() if name != "fake"}
    assert served == dict.fromkeys(["anthropic", "azure", "compat", "google", "local", "openai"], "reachable")
    assert proc.returncode == 0 and report["probe_failed"] == [], proc.stdout


def test_the_guides_troubleshooting_searches_find_each_vendors_rate_limit(tmp_path: Path, capsys):
    # The guide's "Rate Limit Issues": `magsag data search "rate_limit" --limit 100` to find rate limit errors, and
    # `magsag data search "claude.*error"` for a model's. Run offline on what each vendor really answers a rate
    # limit with (OpenAI's rate_limit_exceeded, Anthropic's rate_limit_error, Gemini's RESOURCE_EXHAUSTED, a
    # local server's 429), each a call the cascade gave up on: every one is found, and the Claude one by its model.
    import json

    from magsag_mcp import Magsag, RateLimitError
    from magsag_mcp.cli import main
    from magsag_mcp.loopback import LoopbackUpstream

    models = {
        "openai": "gpt-4o-mini",
        "anthropic": "claude-3-haiku-20240307",
        "google": "gemini-1.5-pro",
        "local": "llama3.1:70b",
    }
    db = tmp_path / "ledger.db"
    with LoopbackUpstream(plans={m: [429] * 3 for m in models.values()}).running() as up:
        env = {**up.env(), "MAGSAG_DB": str(db), "MAGSAG_MAX_RETRIES": "0"}
        with Magsag(catalog=EXAMPLES.parent / "catalog", env=env) as mg:
            for provider, model in models.items():
                with pytest.raises(RateLimitError):  # the guide's `except RateLimitError:`
                    mg.skills.invoke(
                        "skill.summarization", {"text": "x", "model_config": {"model": f"{provider}:{model}"}}
                    )
    capsys.readouterr()
    assert main(["data", "search", "rate_limit", "--limit", "100", "--db", str(db)]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert sorted((h["provider"], h["model"], h["error_class"]) for h in hits) == sorted(
        (provider, model, "rate_limited") for provider, model in models.items()
    )
    assert main(["data", "search", "claude.*error", "--limit", "50", "--db", str(db)]) == 0
    (claude,) = json.loads(capsys.readouterr().out)
    assert (claude["model"], claude["outcome"]) == ("claude-3-haiku-20240307", "error")


@pytest.mark.parametrize(
    ("name", "placeholder", "model"),
    [
        ("OPENAI_API_KEY", "sk-...", "openai:gpt-4o"),  # the guide's "Environment Variables", pasted as written
        ("ANTHROPIC_API_KEY", "sk-ant-...", "anthropic:claude-3-5-sonnet-20241022"),
        ("AZURE_OPENAI_API_KEY", "...", "azure:gpt-4o"),
        ("OPENAI_API_KEY", "sk-your-openai-key", "openai:gpt-4o"),  # examples/mcp's client configurations
        ("ANTHROPIC_API_KEY", "sk-ant-your-anthropic-key", "anthropic:claude-3-5-sonnet-20241022"),
        ("GEMINI_API_KEY", "YOUR_API_KEY", "google:gemini-1.5-pro"),
        ("OPENAI_API_KEY", "sk-proj-abc...wxyz", "openai:gpt-4o"),  # a key as a dashboard shows it, shortened
    ],
)
def test_a_placeholder_key_from_the_guide_is_said_to_be_one_and_never_sent(
    tmp_path: Path, capsys, name: str, placeholder: str, model: str
):
    # A new user pasted the guide's `export OPENAI_API_KEY="sk-..."` (or the MCP examples' "sk-your-openai-key")
    # and tried a call: `magsag doctor` said the provider was "ready", and the call sent the placeholder to the
    # vendor, to be refused with a 401 (offline: a DNS error naming the proxy settings), as if the key had been real.
    import json

    from magsag_mcp import AuthenticationError, Magsag
    from magsag_mcp.cli import main
    from magsag_mcp.loopback import LoopbackUpstream

    fix = f"{name} holds a placeholder ('...' or 'your-...', as examples write a key, or a key shortened for display)"
    with LoopbackUpstream().running() as up:
        env = {**up.env(), name: placeholder, "MAGSAG_DB": str(tmp_path / "ledger.db")}
        with Magsag(catalog=EXAMPLES.parent / "catalog", env=env) as mg:
            with pytest.raises(AuthenticationError) as info:
                mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": model}})
            assert fix in str(info.value) and "to your whole API key" in str(info.value)
            # never quoted: it may be the start of a real key
            assert placeholder not in str(info.value).replace(fix, "")
            real = {**env, name: "sk-loopback-whole-key-0123456789"}
        with Magsag(catalog=EXAMPLES.parent / "catalog", env=real) as mg:  # the same call with a key answers
            assert mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": model}})["output"]
        assert sum(up.calls.values()) == 1  # the placeholder was never sent
        capsys.readouterr()
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            doctor = main(["doctor", "--json", "--catalog", str(EXAMPLES.parent / "catalog")])
    report = json.loads(capsys.readouterr().out)
    entry = report["providers"][model.split(":")[0]]
    assert fix in entry["unavailable"], entry
    assert doctor == 1 and [p for p in report["problems"] if fix in p], report["problems"]  # a setting to fix


@pytest.mark.parametrize(
    ("endpoint", "label"),
    [
        ("https://your-resource.openai.azure.com/", "your-resource"),  # the guide's "Environment Variables"
        ("https://your-resource-name.openai.azure.com", "your-resource-name"),  # Azure's spec's server default
        ("https://YOUR-RESOURCE-NAME.openai.azure.com/openai/v1/", "YOUR-RESOURCE-NAME"),
        ("https://<your-resource-name>.openai.azure.com/", "<your-resource-name>"),
        ("https://RESOURCE.openai.azure.com/", "RESOURCE"),  # docs/configuration.md's and the fixes' own example
    ],
)
def test_an_azure_endpoint_left_as_the_guides_placeholder_is_not_configured(
    tmp_path: Path, capsys, endpoint: str, label: str
):
    # A new user pasted the guide's `export AZURE_OPENAI_ENDPOINT="https://your-resource.openai.azure.com/"` with
    # their key: `magsag doctor` said azure was "ready", and a call went to look the placeholder's name up, failing
    # as a name that does not resolve, with the fix to check the proxy settings (behind a proxy: the proxy's error).
    import json

    from magsag_mcp import Magsag
    from magsag_mcp.cli import main
    from magsag_mcp.errors import AllTargetsFailed
    from magsag_mcp.loopback import LoopbackUpstream

    fix = f"azure: AZURE_OPENAI_ENDPOINT names the resource {label!r}, an example's placeholder, not yours"
    catalog = str(EXAMPLES.parent / "catalog")
    with LoopbackUpstream().running() as up:
        env = {**up.env(), "AZURE_OPENAI_ENDPOINT": endpoint, "MAGSAG_DB": str(tmp_path / "ledger.db")}
        capsys.readouterr()
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            doctor = main(["doctor", "--json", "--catalog", catalog])
        report = json.loads(capsys.readouterr().out)
        assert fix in report["providers"]["azure"]["unavailable"], report["providers"]["azure"]
        assert doctor == 1 and [p for p in report["problems"] if fix in p], report["problems"]  # a setting to fix
        call = {"data": "x", "model_config": {"model": "azure:gpt-4o"}}
        with Magsag(catalog=catalog, env=env) as mg:
            with pytest.raises(AllTargetsFailed) as info:
                mg.skills.invoke("skill.analysis", call)
        assert info.value.details["last_error_type"] == "not_configured"
        assert fix in str(info.value) and "Keys and Endpoint" in str(info.value)
        with Magsag(catalog=catalog, env={**env, "AZURE_OPENAI_ENDPOINT": up.env()["AZURE_OPENAI_ENDPOINT"]}) as mg:
            assert mg.skills.invoke("skill.analysis", call)["provider"] == "azure"  # the same call, with its endpoint
        assert sum(up.calls.values()) == 1


def test_a_provider_not_configured_names_the_cost_limit_that_refuses_it_next(tmp_path: Path):
    # The guide's `export MAGSAG_PROVIDER=compat`, with no server set up: each call said only "set
    # MAGSAG_COMPAT_BASE_URL"; set, the next call was refused by the cost limits, which refuse a model of no known
    # price, and only then did the user learn of prices.yaml. Both fixes are named on the first call.
    import shutil

    from magsag_mcp import Magsag
    from magsag_mcp.errors import AllTargetsFailed
    from magsag_mcp.loopback import LoopbackUpstream

    catalog = shutil.copytree(EXAMPLES.parent / "catalog", tmp_path / "catalog")
    env = {"MAGSAG_PROVIDER": "compat", "MAGSAG_DB": str(tmp_path / "ledger.db")}
    with Magsag(catalog=catalog, env=env) as mg:
        with pytest.raises(AllTargetsFailed) as info:
            mg.skills.invoke("skill.analysis", {"data": "x"})
    said = str(info.value)
    assert info.value.details["last_error_type"] == "not_configured"  # still the first thing to fix
    assert "compat:gpt-4o skipped (not configured: compat: no endpoint; set MAGSAG_COMPAT_BASE_URL" in said
    assert "; once it is, cost_limits: compat:gpt-4o has no known price" in said and "catalog/prices.yaml" in said
    with (catalog / "prices.yaml").open("a") as prices:  # both fixes made: the call goes through
        prices.write('"compat:*": {input: 1, output: 2}\n')
    with LoopbackUpstream().running() as up:
        env["MAGSAG_COMPAT_BASE_URL"] = up.env()["MAGSAG_COMPAT_BASE_URL"]
        with Magsag(catalog=catalog, env=env) as mg:
            assert mg.skills.invoke("skill.analysis", {"data": "x"})["provider"] == "compat"

    # a limit that a target's worst case alone exceeds is named beside the missing key, with its policy, too
    policy = catalog / "policies" / "model_governance.yaml"
    policy.write_text(policy.read_text().replace("max_cost_per_call_usd: 1.0", "max_cost_per_call_usd: 0.000001"))
    with Magsag(catalog=catalog, env={"MAGSAG_DB": str(tmp_path / "ledger.db")}) as mg:
        with pytest.raises(AllTargetsFailed) as info:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "openai:gpt-4o"}})
    said = str(info.value)
    assert "not configured: openai: no API key; set OPENAI_API_KEY in the environment; once it is, cost_limits:" in said
    assert "openai:gpt-4o may cost up to $" in said and "above the call limit $0.000001" in said


def test_a_placeholder_in_a_keyless_servers_key_variable_is_refused_too(tmp_path: Path):
    # compat (OpenRouter, Groq, ...) needs its key as much as a vendor does; a local server's optional key set to a
    # placeholder was meant to be one. Their published placeholders ("ollama", "sk-no-key-required") stay keys.
    import shutil

    from magsag_mcp import AuthenticationError, Magsag
    from magsag_mcp.loopback import LoopbackUpstream

    catalog = shutil.copytree(EXAMPLES.parent / "catalog", tmp_path / "catalog")
    with (catalog / "prices.yaml").open("a") as prices:
        prices.write('"compat:*": {input: 1, output: 2}\n')  # the cost limits refuse a model of no known price
    with LoopbackUpstream().running() as up:
        base = {**up.env(), "MAGSAG_DB": str(tmp_path / "ledger.db")}
        for name, provider in (("MAGSAG_COMPAT_API_KEY", "compat"), ("MAGSAG_LOCAL_LLM_API_KEY", "local")):
            call = {"data": "x", "model_config": {"model": "llama3.1:70b", "provider": provider}}
            with Magsag(catalog=catalog, env={**base, name: "sk-..."}) as mg:
                with pytest.raises(AuthenticationError, match=f"{name} holds a placeholder"):
                    mg.skills.invoke("skill.analysis", call)
            with Magsag(catalog=catalog, env={**base, name: "sk-no-key-required"}) as mg:
                assert mg.skills.invoke("skill.analysis", call)["provider"] == provider
        assert sum(up.calls.values()) == 2


def test_the_docs_say_how_an_example_is_run_and_that_command_runs(tmp_path: Path):
    """README.md said the examples "run offline" and no more: after its setup (a venv it does not activate), the
    `python3 examples/cost_tiers.py` a reader then tries failed with "No module named 'magsag_mcp'". It gives the
    command, with the venv's Python, and that command runs from the clone as written."""
    import re

    root = EXAMPLES.parent
    from tests.docs_helpers import ALL_DOCS

    # (the docs say it where they list the examples: docs/python.md)
    commands = re.findall(r"`\.venv/bin/python (examples/[\w/]+\.py)`", ALL_DOCS)
    assert commands, "README.md and docs/ name no `.venv/bin/python examples/NAME.py`"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_"))}
    env["MAGSAG_DB"] = str(tmp_path / "ledger.db")
    for script in commands:
        proc = subprocess.run([sys.executable, script], cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize("script", ["cost_tiers.py", "mcp/agent_client.py"])
def test_an_example_run_by_a_python_without_magsag_names_the_fix(script: str):
    """Run by a Python magsag is not installed in (the system's `python3`, the venv not activated), an example
    ended in a ModuleNotFoundError traceback; it says which Python ran it and the command that runs it."""
    # -S -E: no site-packages (where the install is) and no PYTHONPATH, as a Python without magsag has
    proc = subprocess.run(
        [sys.executable, "-S", "-E", str(EXAMPLES / script)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "is not installed for" in proc.stderr and f".venv/bin/python examples/{script}" in proc.stderr, proc.stderr
