"""A start with MAGSAG_MODEL, MAGSAG_ALLOWED_BASE_URLS or MAGSAG_BILLED_COST_HOSTS set checks them without importing
routing, the provider registry, its transport and aiohttp: setting_warnings reached them through routing's
check_env_override and call_urls, some 320 modules before the answer to `initialize`. A target naming a built-in
provider is read from provider_aliases' names while the registry is not loaded (targets.canonical_provider). A bad
value of each is still warned of, in the words it was with the registry loaded (what `magsag doctor` says)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from magsag_mcp.provider_aliases import HOSTING_PROVIDERS

SCRIPT = """
import json, sys
from magsag_mcp.startup import package_init_deferred
package_init_deferred("magsag_mcp.providers")  # as the server's start defers it
if sys.argv[2] == "registry first":
    from magsag_mcp.providers import provider_names
    provider_names()
import magsag_mcp.mcp_server.__main__ as main
from magsag_mcp.mcp_server.server_settings import start_checks
args = main.build_parser().parse_args([])
checks = start_checks(args, json.loads(sys.argv[1]))
heavy = sorted(m for m in ("aiohttp", "magsag_mcp.routing", "magsag_mcp.transport", "genai_prices")
               if m in sys.modules)
registry = "_REGISTRY" in vars(sys.modules["magsag_mcp.providers"])
print(json.dumps({"refused": checks.refused, "warnings": checks.warnings, "heavy": heavy, "registry": registry}))
"""


def checked(env: dict[str, str], registry_first: bool = False) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(env), "registry first" if registry_first else "deferred"],
        capture_output=True,
        text=True,
        timeout=120,  # (a hang guard, not a timing assertion)
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


VALID = [
    {"MAGSAG_MODEL": "gpt-4o"},
    {"MAGSAG_MODEL": "openai:gpt-4o"},
    {"MAGSAG_MODEL": " claude-3-5-sonnet-20241022 "},
    {"MAGSAG_MODEL": "gemini:gemini-2.5-pro"},
    {"MAGSAG_MODEL": "llama3.1:70b"},
    {"MAGSAG_PROVIDER": "ollama", "MAGSAG_MODEL": "llama3.1:70b"},
    {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "gpt-4o"},
    {"MAGSAG_PROVIDER": "azure", "MAGSAG_MODEL": "my-deployment"},
    {"MAGSAG_PROVIDER": "compat", "MAGSAG_MODEL": "meta-llama/Llama-3.1-8B-Instruct"},
    {"MAGSAG_ALLOWED_BASE_URLS": "openai=https://proxy.example.com/v1, ollama=http://gpu-box:11434"},
    {"MAGSAG_BILLED_COST_HOSTS": "gw.example.com, 10.0.0.7"},
    {
        "MAGSAG_PROVIDER": "anthropic",
        "MAGSAG_MODEL": "claude-3-5-haiku-20241022",
        "MAGSAG_ALLOWED_BASE_URLS": "anthropic=https://gw.example.com/anthropic",
        "MAGSAG_BILLED_COST_HOSTS": "gw.example.com",
    },
]


@pytest.mark.parametrize("env", VALID, ids=lambda env: " ".join(f"{k}={v.strip()}" for k, v in env.items()))
def test_a_valid_setting_is_checked_without_routing_the_registry_or_aiohttp(env: dict[str, str]):
    seen = checked(env)
    assert seen == {"refused": [], "warnings": [], "heavy": [], "registry": False}, seen


BAD = [
    ({"MAGSAG_MODEL": "   "}, "MAGSAG_MODEL='   ' is blank; set it to a model (e.g. openai:gpt-4o)"),
    ({"MAGSAG_MODEL": "GPT-4o"}, "set MAGSAG_MODEL=gpt-4o"),
    ({"MAGSAG_MODEL": "openai:GPT-4o"}, "set MAGSAG_MODEL=openai:gpt-4o"),
    (
        {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "claude-3-5-sonnet-20241022"},
        "which MAGSAG_PROVIDER='openai' cannot serve",
    ),
    ({"MAGSAG_MODEL": "opnai:gpt-4o"}, "did you mean 'openai'?"),
    ({"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "opneai:gpt-4o"}, "as the model's name; set MAGSAG_MODEL=gpt-4o"),
    ({"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "openai/gpt-4o"}, "as the model's name: set MAGSAG_MODEL=gpt-4o"),
    ({"MAGSAG_MODEL": "anthropic/claude-3-5-sonnet-20241022"}, "'anthropic:claude-3-5-sonnet-20241022'"),
    ({"MAGSAG_ALLOWED_BASE_URLS": "openai:https://proxy.example.com"}, "is not provider=URL"),
    ({"MAGSAG_ALLOWED_BASE_URLS": "opnai=https://proxy.example.com"}, "did you mean 'openai'?"),
    ({"MAGSAG_ALLOWED_BASE_URLS": "openai=https://gw.example.com/a/../b"}, "has a '.' or '..' segment in its path"),
    ({"MAGSAG_BILLED_COST_HOSTS": "https://gw.corp.example/v1"}, "write its host alone: gw.corp.example"),
]


@pytest.mark.parametrize("env,fix", BAD, ids=[fix for _, fix in BAD])
def test_a_bad_setting_is_still_warned_of_in_the_words_said_with_the_registry_loaded(env: dict[str, str], fix: str):
    seen = checked(env)
    assert seen["refused"] == [] and len(seen["warnings"]) == 1 and fix in seen["warnings"][0], seen
    with_registry = checked(env, registry_first=True)
    assert with_registry["registry"] is True
    assert seen["warnings"] == with_registry["warnings"]


def test_a_bad_setting_beside_a_misspelt_provider_is_warned_once_and_the_provider_refused():
    # (setting_warnings is given the refusals start_checks found, not finding them again)
    seen = checked({"MAGSAG_PROVIDER": "opnai", "MAGSAG_BILLED_COST_HOSTS": "gw.example.com:443"})
    assert len(seen["refused"]) == 1 and "MAGSAG_PROVIDER='opnai'" in seen["refused"][0], seen
    assert len(seen["warnings"]) == 1 and seen["warnings"][0].startswith("MAGSAG_BILLED_COST_HOSTS: entry 1"), seen


def test_the_hosting_providers_are_the_registrys():
    from magsag_mcp.providers import hosts_other_models, provider_names

    assert {name for name in provider_names() if hosts_other_models(name)} == HOSTING_PROVIDERS


def test_once_the_registry_is_loaded_the_targets_answers_import_nothing_more(monkeypatch: pytest.MonkeyPatch):
    # env_routing asks targets.hosts_other_models of MAGSAG_PROVIDER on every call: it ran an import statement each time
    # (some 1.7 us), where canonical_provider keeps the registry's function once imported
    import builtins

    from magsag_mcp import targets
    from magsag_mcp.providers import provider_names

    provider_names()
    assert targets.hosts_other_models("ollama") and not targets.hosts_other_models("openai")
    assert targets.canonical_provider("gemini") == "google"
    imports = []
    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda *a, **k: imports.append(a[0]) or real_import(*a, **k))
    answers = [(targets.hosts_other_models(n), targets.canonical_provider(n)) for n in ("ollama", "openai", " Azure ")]
    monkeypatch.undo()
    assert answers == [(True, "local"), (False, "openai"), (True, "azure")]
    assert imports == []


TOKENS_SCRIPT = """
import json, os, sys
from magsag_mcp.startup import package_init_deferred
package_init_deferred("magsag_mcp.providers")  # as the server's start defers it
import magsag_mcp.mcp_server.__main__ as main
from magsag_mcp.mcp_server.server_settings import start_checks
from magsag_mcp.mcp_server.server import build_server
from magsag_mcp.mcp_server.http import http_app
args = main.build_parser().parse_args(["--transport", "http", "--port", "0", "--db", ":memory:"])
checks = start_checks(args, {"MAGSAG_MCP_TOKENS_FILE": sys.argv[1]})
gate = checks.gate
server = build_server(db=":memory:", agent=checks.agent)
http_app(server, host=args.host, port=8765, token=gate.token, clients=gate.clients, metrics=gate.metrics,
         token_file=gate.token_file)
heavy = sorted(m for m in ("aiohttp", "magsag_mcp.transport", "magsag_mcp.providers.endpoint",
                           "magsag_mcp.mcp_server.tools", "magsag_mcp.mcp_server.models") if m in sys.modules)
made = "_tools" in vars(server._tool_manager)
described = {t.name: t.parameters["properties"]["agent"]["description"]
             for t in server._tool_manager.list_tools() if "agent" in t.parameters.get("properties", {})}
print(json.dumps({"refused": checks.refused, "agents": [c.agent for c in gate.clients], "heavy": heavy,
                  "made": made, "described": described}))
"""


def test_a_token_per_client_is_read_and_checked_at_start_and_the_tools_made_at_the_first_request(tmp_path):
    # start87: MAGSAG_MCP_TOKENS_FILE's tokens were checked for a placeholder through the providers' endpoint module,
    # which imported the transport and aiohttp (some 110 modules), and the HTTP app made every tool (some thirty more)
    # to say in their agent argument that each client is held to its token's agent: all before `initialize`. The file
    # is still read and every line checked at start; the tools say the same, made when first asked for.
    tokens = tmp_path / "tokens"
    tokens.write_text("ops Fh3kQ8wZx2Nr7mTb5vLc9pJqW4eR6tYu\nbilling pV4nR8xK2wM6qT9bZ3cL7yHsD1fG5hJk\n")
    tokens.chmod(0o600)
    out = subprocess.run(
        [sys.executable, "-c", TOKENS_SCRIPT, str(tokens)], capture_output=True, text=True, timeout=120
    )  # (a hang guard, not a timing assertion)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert (seen["refused"], seen["agents"], seen["heavy"], seen["made"]) == ([], ["ops", "billing"], [], False), seen
    said = "this server records every call as the agent of your client's token: leave agent out"
    assert seen["described"] and all(
        text == said or text.startswith("default the agent of your client's token")
        for text in seen["described"].values()
    ), seen
    assert seen["described"]["check_budget"].startswith("default the agent of your client's token"), seen
    # a placeholder token is still refused at start, naming its line
    tokens.write_text("ops Fh3kQ8wZx2Nr7mTb5vLc9pJqW4eR6tYu\nbilling sk-your-token...\n")
    again = subprocess.run(
        [sys.executable, "-c", TOKENS_SCRIPT.split("gate = checks.gate")[0] + "print(json.dumps(checks.refused))",
         str(tokens)],
        capture_output=True, text=True, timeout=120,
    )
    assert again.returncode == 0, again.stderr
    refused = json.loads(again.stdout.splitlines()[-1])
    assert len(refused) == 1 and "line 2 of the file MAGSAG_MCP_TOKENS_FILE names" in refused[0], refused
    assert "placeholder" in refused[0], refused
