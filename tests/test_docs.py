"""What README.md, docs/*.md and examples/mcp/README.md tell a user stays true: every variable in the
configuration table is read, its documented default is the code's, every command in the command-line
table parses, and every MCP tool is listed with the arguments a client sees in tools/list."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.cli import build_parser
from magsag_mcp.errors import PayloadError
from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.__main__ import build_parser as build_server_parser
from tests.docs_helpers import ALL_DOCS, README, ROOT, doc, subsection, table_rows, with_details

MCP_README = (ROOT / "examples" / "mcp" / "README.md").read_text()
SOURCE = "\n".join(p.read_text() for p in (ROOT / "magsag_mcp").rglob("*.py"))


@contextlib.contextmanager
def offline_upstream(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A docs example's world: no provider or magsag variable of this machine's, ``tmp_path`` the working folder (no
    ./catalog: the bundled one), vendor APIs answered on loopback and a ledger of its own there."""
    from magsag_mcp.loopback import LoopbackUpstream

    prefixes = ("MAGSAG_", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI_", "GEMINI_", "GOOGLE_", "OLLAMA_")
    for name in [n for n in os.environ if n.startswith(prefixes)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    with LoopbackUpstream().running() as up:
        for name, value in {**up.env(), "MAGSAG_DB": str(tmp_path / "ledger.db")}.items():
            monkeypatch.setenv(name, value)
        yield


CONFIGURATION = doc("configuration.md")
#: each variable's row of docs/configuration.md's table, its meaning with the subsection its row links to
CONFIG_ROWS = {
    name: [row[0], with_details(CONFIGURATION, row[1]), *row[2:]]
    for row in table_rows(CONFIGURATION)
    for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row[0])
}


def test_the_configuration_table_was_found():
    assert {"OPENAI_API_KEY", "MAGSAG_DB", "MAGSAG_MAX_RETRIES", "MAGSAG_MCP_TOKEN"} <= set(CONFIG_ROWS)


@pytest.mark.parametrize("name", sorted(CONFIG_ROWS))
def test_every_documented_variable_is_read(name: str):
    assert f'"{name}"' in SOURCE, f"docs/configuration.md documents {name}, which magsag_mcp never reads"


def _default(name: str) -> str:
    return CONFIG_ROWS[name][-1]


def test_documented_defaults_are_the_code_defaults():
    from magsag_mcp.providers.anthropic import DEFAULT_VERSION
    from magsag_mcp.providers.local import DEFAULT_LOCAL_BASE_URL, LocalEndpoint
    from magsag_mcp.providers.openai import DEFAULT_AZURE_API_VERSION
    from magsag_mcp.retry import retry_policy_from_env
    from magsag_mcp.settings import connect_timeout, read_timeout

    policy = retry_policy_from_env({})
    retries = [policy.tries_per_target - 1, policy.base_delay, policy.max_delay, policy.deadline]
    assert _default("MAGSAG_MAX_RETRIES") == ", ".join(f"`{v:g}`" for v in retries)
    local = LocalEndpoint({}).timeouts
    assert _default("MAGSAG_CONNECT_TIMEOUT") == (
        f"`{connect_timeout({}):g}`, `{read_timeout({}):g}` "
        f"(`{local.connect:g}`, `{local.read:g}` for `local` unless set)"
    )
    assert f"`{DEFAULT_LOCAL_BASE_URL}`" == _default("MAGSAG_LOCAL_LLM_BASE_URL")
    assert f"`{DEFAULT_AZURE_API_VERSION}`" in _default("AZURE_OPENAI_API_VERSION")
    assert f"`{DEFAULT_VERSION}`" in _default("ANTHROPIC_VERSION")


def test_the_documented_log_level_default_is_the_servers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MAGSAG_MCP_LOG_LEVEL", raising=False)
    assert _default("MAGSAG_MCP_LOG_LEVEL") == f"`{build_server_parser().get_default('log_level')}`"


def test_the_documented_log_format_default_is_the_servers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MAGSAG_MCP_LOG_FORMAT", raising=False)
    assert _default("MAGSAG_MCP_LOG_FORMAT") == f"`{build_server_parser().get_default('log_format')}`"


#: what the command-line table's placeholders stand for
PLACEHOLDERS = {
    "SKILL": "skill.analysis",
    "JSON": "{}",
    "AGENT": "my-mag",
    "A": "a",
    "R": "r",
    "FILE": "out.json",
    "SUMMARY.json": "summary.json",
    "PATTERN": "error",
    "N": "5",
}


def _argv(usage: str) -> list[str]:
    """``magsag data query [filters] [--limit N] [--format json|csv|table]`` as one argv: every
    optional part given, the first of each choice, ``[filters]`` as one filter."""
    usage = usage.replace("[filters]", "[--agent A]")
    usage = re.sub(r"\[([^\]]*)\]", r"\1", usage)
    words = [w.split("|")[0] for w in shlex.split(usage)]
    return [PLACEHOLDERS.get(w, w) for w in words]


def _commands(text: str) -> list[str]:
    return [re.match(r"`([^`]*)`", row[0]).group(1) for row in table_rows(text)]


CLI_COMMANDS = _commands(doc("cli.md"))


def test_the_command_table_was_found():
    assert len(CLI_COMMANDS) >= 10 and all(c.startswith("magsag ") for c in CLI_COMMANDS)


def test_the_readmes_tour_lists_every_command_as_the_reference_does():
    # README's tour gives each command a line, docs/cli.md says it in full: the two tables list the same usages
    tour = README[README.index("\n### The command line\n") :].split("\n### ")[1]
    assert _commands(tour) == CLI_COMMANDS


@pytest.mark.parametrize("usage", CLI_COMMANDS)
def test_every_documented_command_parses(usage: str):
    args = build_parser().parse_args(_argv(usage)[1:])
    assert getattr(args, "func", None), usage


def _server_commands() -> list[str]:
    found = re.findall(r"`(magsag-mcp[^`]*)`", ALL_DOCS) + re.findall(r"^.*?(magsag-mcp --[^#\n]*)", MCP_README, re.M)
    return [re.sub(r"^\S+=\S+ ", "", c).strip() for c in found]


@pytest.mark.parametrize("command", _server_commands())
def test_every_documented_server_command_parses(command: str):
    build_server_parser().parse_args(shlex.split(command)[1:])


def documented_tools(text: str) -> dict[str, list[str]]:
    tools = {}
    for name, args in re.findall(r"^\| `(\w+)\(([^)]*)\)`", text, re.M):
        tools[name] = [a.strip().rstrip("?") for a in args.split(",") if a.strip()]
    return tools


@pytest.fixture
async def listed_tools(tmp_path: Path) -> dict[str, list[str]]:
    async with Client(build_server(catalog=ROOT / "catalog", db=tmp_path / "l.db", env={})) as client:
        tools = (await client.list_tools()).tools
    return {t.name: list(t.input_schema.get("properties", {})) for t in tools}


@pytest.mark.anyio
@pytest.mark.parametrize("doc", ["README.md", "docs/mcp.md", "examples/mcp/README.md"])
async def test_documented_tools_take_the_arguments_clients_see(doc: str, listed_tools: dict[str, list[str]]):
    documented = documented_tools((ROOT / doc).read_text())
    assert set(documented) == set(listed_tools), f"{doc} lists other tools than tools/list"
    for name, args in documented.items():
        assert args == listed_tools[name], f"{doc}: {name}({', '.join(args)}) but tools/list has {listed_tools[name]}"


def test_the_documented_token_rules_are_the_servers():
    from magsag_mcp.mcp_server.http import MIN_TOKEN_LENGTH

    assert f"at least {MIN_TOKEN_LENGTH} characters" in CONFIG_ROWS["MAGSAG_MCP_TOKEN"][1]


def test_every_documented_filter_is_taken_by_the_filtered_commands():
    cli = doc("cli.md")
    paragraph = cli[cli.index("\nFilters: ") :].split("\n\n")[0]
    flags = re.findall(r"`(--[a-z-]+)`", paragraph.split("(")[0])
    assert len(flags) >= 8, paragraph
    for command in (["flow", "summarize"], ["data", "query"]):
        for flag in flags:
            build_parser().parse_args([*command, flag, "7d" if flag in ("--since", "--until") else "x"])


def test_the_documented_reservation_expiry_is_the_ledgers():
    from magsag_mcp.governance.budget import RESERVATION_MARGIN_SECONDS, RESERVATION_TTL_SECONDS, reservation_ttl

    words = {600: "ten", 900: "fifteen"}
    text = " ".join(ALL_DOCS.split())
    margin, floor = words[RESERVATION_MARGIN_SECONDS], words[RESERVATION_TTL_SECONDS]
    assert f"deadline plus {margin} minutes, and never under {floor}" in text
    assert reservation_ttl(30) == RESERVATION_TTL_SECONDS and reservation_ttl(3600) == 3600 + RESERVATION_MARGIN_SECONDS


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_documented_csv_formula_starts_are_the_exports():
    from magsag_mcp.cli.data import _FORMULA_START

    names = {"\0": "a NUL", "\t": "a tab", "\r": "a carriage return"}
    documented = ", ".join(names.get(c, f"`{c}`") for c in _FORMULA_START)
    documented = documented.replace(f", {names[chr(13)]}", f" or {names[chr(13)]}")
    assert f"starting {documented}, is prefixed with `'`" in _flat(ALL_DOCS)


def test_the_documented_search_pattern_limit_is_the_ledgers():
    from magsag_mcp.ledger.queries import MAX_PATTERN_CHARS
    from magsag_mcp.mcp_server.models import SearchUsageArgs

    said = f"at most {MAX_PATTERN_CHARS} characters"
    reference = doc("mcp.md") + "\n\n" + doc("cli.md")
    rows = [r for r in table_rows(reference) if r[0].startswith(("`search_usage(", "`magsag data search"))]
    assert len(rows) == 2 and all(said in r[1] for r in rows), rows
    assert said in SearchUsageArgs.model_fields["pattern"].description
    help_text = build_parser()._subparsers._group_actions[0].choices["data"].format_help()
    assert said in " ".join(help_text.split())


def test_the_documented_price_and_reservation_figures_are_the_codes():
    from magsag_mcp.pricing import MAX_RATE
    from magsag_mcp.providers import canonical_provider
    from magsag_mcp.providers.openai_responses import MIN_OUTPUT_TOKENS

    text = _flat(ALL_DOCS)
    assert f"USD per million tokens (at most {MAX_RATE:,})" in text
    assert f"at most {MAX_RATE:,}" in (ROOT / "catalog" / "prices.yaml").read_text()
    assert f"at least the {MIN_OUTPUT_TOKENS} output tokens a Responses API call is sent with" in text
    aliases = re.search(r"a provider alias such as ((?:`\w+:`(?:, | or )?)+)", text).group(1)
    for alias in re.findall(r"`(\w+):`", aliases):
        assert canonical_provider(alias) != alias, f"{alias} is documented as an alias"


def test_the_documented_provider_inference_is_the_routers():
    from magsag_mcp.providers import hosts_other_models, provider_names
    from magsag_mcp.targets import VENDOR_PREFIXES, infer_provider, parse_target

    text = _flat(doc("model-choice.md"))
    inferred = r"A provider is inferred from a model name when not given, in any case \((.*?)\); an explicit"
    rules = re.search(inferred, text).group(1)
    documented: dict[str, set[str]] = {}
    for globs, provider in re.findall(r"((?:`[\w.-]+\*`,? )+)-> (\w+)", rules):
        for glob in re.findall(r"`([\w.-]+)\*`", globs):
            assert infer_provider(glob + "x") == provider, glob
            assert infer_provider(glob.upper() + "x") == provider, glob  # "in any case"
            documented.setdefault(provider, set()).add(glob)
    # every prefix the router reads is listed: before, chatgpt-*, text-*, davinci*, babbage*, gemma* and learnlm*
    # went to a vendor unsaid, and a user's gemma-3-27b-it meant for a local server went to Google
    assert documented == {p: set(prefixes) for p, prefixes in VENDOR_PREFIXES.items()}, rules
    named = re.search(r"such as `([^`]+)` -> (\w+)", rules)
    assert infer_provider(named.group(1)) == named.group(2)
    prefixed = re.search(r"`(\w+):([\w.-]+)` names its provider", rules)
    assert parse_target(f"{prefixed.group(1)}:{prefixed.group(2)}").provider == prefixed.group(1)
    hosting = re.search(r"a hosting provider \(((?:`\w+`(?:, )?)+)\)", text).group(1)
    assert set(re.findall(r"`(\w+)`", hosting)) == {p for p in provider_names() if hosts_other_models(p)} - {"fake"}


def test_the_documented_model_choice_examples_route_as_said():
    from magsag_mcp.catalog import load_catalog
    from magsag_mcp.routing import plan_call

    catalog = load_catalog(ROOT / "catalog")
    text = _flat(doc("model-choice.md"))

    def targets(model_config: dict, context: dict | None = None, env: dict | None = None) -> list[str]:
        payload = {"data": "x", "model_config": model_config}
        plan = plan_call(catalog, "skill.analysis", payload, context=context, env=env or {})
        return [f"{c.target.provider}:{c.target.model}" for c in plan.candidates]

    assert '`model_config: {"provider": "azure"}` with `preferred_model: "gpt-4o"` is `azure:gpt-4o`' in text
    assert targets({"provider": "azure"}, {"preferred_model": "gpt-4o"}) == ["azure:gpt-4o"]
    assert "a target named twice (a fallback repeating the model, a chain listing one twice) is tried once" in text
    assert targets({"model": "gpt-4o", "fallbacks": ["openai:gpt-4o", "gpt-4o-mini"]}) == [
        "openai:gpt-4o",
        "openai:gpt-4o-mini",
    ]
    server = {"provider": "local", "base_url": "http://gpu-box:11434"}
    assert f"`{json.dumps(server)}` without a model runs the policy's models on that server" in text
    routed = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env={}).candidates
    assert targets(server) == [f"local:{c.target.model}" for c in routed]
    assert "or `MAGSAG_MODEL` when it is set" in text
    assert targets(server, env={"MAGSAG_MODEL": "llama3.1:70b"}) == ["local:llama3.1:70b"]
    refused = '`{"provider": "azure", "model": "openai:gpt-4o"}`) is refused'
    assert refused in text
    with pytest.raises(PayloadError):
        targets({"provider": "azure", "model": "openai:gpt-4o"})


def test_the_documented_refused_params_are_refused():
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.targets import parse_target

    text = _flat(doc("catalog.md"))
    said = re.search(
        r"Params the vendor would bill beyond what magsag prices and reserves are refused: (.*?); so", text
    )
    names = re.findall(r"`(\w+)`", said.group(1))
    assert len(names) >= 8, names
    values = {"service_tier": "priority", "serviceTier": "priority", "audio": {"voice": "x"}, "modalities": ["audio"]}
    for name in names:
        if name == "priority":
            continue
        with pytest.raises(ConfigError):
            parse_target({"provider": "openai", "model": "gpt-4o", "params": {name: values.get(name, "x")}})
    router = re.search(r"a field magsag sets itself \(((?:`\w+`, )+)", text).group(1)
    for name in re.findall(r"`(\w+)`", router):
        with pytest.raises(ConfigError):
            parse_target({"provider": "openai", "model": "gpt-4o", "params": {name: 1}})


def test_every_module_the_layout_names_exists():
    layout = doc("layout.md")
    named = re.findall(r"`([\w/]+\.py)`", layout)
    assert len(named) >= 10, layout
    package = ROOT / "magsag_mcp"
    for name in named:
        assert (package / name).is_file() or list(package.rglob(name)), f"docs/layout.md names {name}"


def _documented_tree() -> dict[str, tuple[str | None, str | None, str | None]]:
    """errors.py's docstring tree: class -> (parent, retryable, moves_on), as drawn."""
    import re

    import magsag_mcp.errors as errors

    drawn = errors.__doc__.split("    MagsagError\n", 1)[1].split("\n\n", 1)[0]
    tree: dict[str, tuple[str | None, str | None, str | None]] = {"MagsagError": (None, None, None)}
    parents = ["MagsagError"]
    for line in drawn.splitlines():
        m = re.match(r"^ {4}([│ ]*)[├└]── (\w+)(.*)$", line)
        assert m, f"not a line of the tree: {line!r}"
        depth = len(m[1]) // 4 + 1
        name, rest = m[2], m[3]
        columns = re.search(r"\s{2,}(no|yes|last only)\s+(no|yes)\s*$", rest)
        tree[name] = (parents[depth - 1], *(columns.groups() if columns else (None, None)))
        parents[depth:] = [name]
    return tree


def test_the_error_tree_in_errors_docstring_is_the_classes_that_exist():
    """The team's one small tree: every error class is drawn under its real parent, with the retryable and
    moves_on its class has, and nothing is drawn that does not exist."""
    import magsag_mcp.errors as errors

    tree = _documented_tree()
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.MagsagError) and cls is not errors.AllTargetsFailed
    }
    assert set(tree) == set(classes)
    for name, (parent, retryable, moves_on) in tree.items():
        cls = classes[name]
        if parent is not None:
            assert cls.__bases__ == (classes[parent],), name
        if retryable is not None:
            expected = "last only" if cls.retried_only_on_last_target else ("yes" if cls.retryable else "no")
            assert (retryable, moves_on) == (expected, "yes" if cls.moves_on else "no"), name


def _cli_arguments_without_help(parser, path: list[str]) -> list[str]:
    import argparse

    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _cli_arguments_without_help(sub, [*path, name])
        elif not action.help and not isinstance(action, argparse._HelpAction):
            missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    return missing


def _subcommand(*names: str):
    parser = build_parser()
    for name in names:
        parser = parser._subparsers._group_actions[0].choices[name]
    return parser


def test_every_command_line_argument_says_what_it_takes():
    # `magsag data query --help` showed a bare --model and --provider: nothing said a target or an alias
    # would do, nor what --limit defaults to
    assert _cli_arguments_without_help(build_parser(), ["magsag"]) == []
    assert _cli_arguments_without_help(build_server_parser(), ["magsag-mcp"]) == []


def test_the_run_id_help_says_a_given_run_is_joined_under_its_run_limit():
    # `magsag invoke --help` said "--run-id RUN_ID  run id (default: a new one)": nothing of joining a run, nor that a
    # delegated run's calls reserve against its parent's limit (docs/money-records-budgets.md; MCP's run_id says "join
    # an existing run")
    invoke = next(a.help for a in _subcommand("invoke")._actions if a.dest == "run_id")
    assert "an existing run's id joins it" in invoke and "a delegated run's: its parent's" in invoke
    agent = next(a.help for a in _subcommand("invoke")._actions if a.dest == "agent")
    assert "daily limit" in agent
    budget = next(a.help for a in _subcommand("budget")._actions if a.dest == "run_id")
    assert "a delegated run's limit is its parent's" in budget


def test_the_filters_help_names_what_the_ledger_takes():
    from magsag_mcp.ledger import UsageFilters
    from magsag_mcp.mcp_server.models import UsageFiltersArg

    # each form the help names is one the ledger reads
    target = UsageFilters.build(model="openai:gpt-4o")
    assert (target.provider, target.model) == ("openai", "gpt-4o")
    assert UsageFilters.build(provider="gemini").provider == "google"
    for since in ("24h", "7d", "30m", "2025-11-01", "2025-11-01T12:00:00", "1764460800"):
        UsageFilters.build(since=since)
    query = {a.dest: a.help for a in _subcommand("data", "query")._actions}
    for text in (query["model"], UsageFiltersArg.model_fields["model"].description):
        assert "openai:gpt-4o" in text
    for text in (query["provider"], UsageFiltersArg.model_fields["provider"].description):
        assert "alias" in text and "gemini is google" in text
    for text in (query["since"], UsageFiltersArg.model_fields["since"].description):
        assert "unix seconds" in text and "ISO date" in text
    for text in (query["until"], UsageFiltersArg.model_fields["until"].description):
        assert "exclusive" in text


def test_every_ledger_tool_filter_is_described():
    from magsag_mcp.mcp_server.models import UsageFiltersArg

    described = {name for name, field in UsageFiltersArg.model_fields.items() if field.description}
    # status too: its enum lists the values it takes, not that they are a run's status (an attempt's outcome is another)
    assert set(UsageFiltersArg.model_fields) == described


def test_doctors_help_names_what_it_reports():
    doctor = _subcommand("doctor")
    assert "proxies" in doctor.description and "CA bundle" in doctor.description
    json_help = next(a.help for a in doctor._actions if a.dest == "json")
    for key in ("network", "problems", "probe_failed"):
        assert key in json_help


@pytest.mark.parametrize("doc", ["README.md", "docs/mcp.md", "examples/mcp/README.md"])
def test_a_tool_that_says_whether_more_matched_is_documented_so(doc: str):
    from magsag_mcp.mcp_server import models as M

    text = (ROOT / doc).read_text()
    rows = {m.group(1): with_details(text, r[1]) for r in table_rows(text) if (m := re.match(r"`(\w+)\(", r[0]))}
    for tool, result in (
        ("query_runs", M.QueryRunsResult),
        ("search_usage", M.SearchUsageResult),
        ("daily_usage", M.DailyUsageResult),
    ):
        assert "has_more" in result.model_fields
        assert "`has_more`" in rows[tool], f"{doc}: {tool} answers has_more, which its row does not name"


def test_the_mcp_readme_says_a_ledger_error_carries_the_paid_answer():
    from magsag_mcp.errors import LedgerError

    err = LedgerError("not recorded")
    err.result = {"output": "paid"}
    assert err.to_dict()["result"] == {"output": "paid"}
    assert "`ledger_error`" in MCP_README and "paid answer as `result`" in _flat(MCP_README)


def test_docs_python_says_what_pickling_does(tmp_path: Path):
    import pickle

    from magsag_mcp import Magsag
    from magsag_mcp.errors import ConfigError, PolicyDenied

    # a ledger of its own: the user's default one is not the test's to open (or to find migrated by another version)
    with Magsag(db=tmp_path / "l.db", env={}) as mg, pytest.raises(ConfigError, match="each process"):
        pickle.dumps(mg)
    assert pickle.loads(pickle.dumps(PolicyDenied("no", policy="p"))).policy == "p"
    assert "refuse to be pickled: make one in each worker process" in _flat(ALL_DOCS)


def test_an_empty_variable_is_unset_as_documented():
    from magsag_mcp.providers.local import LocalEndpoint
    from magsag_mcp.retry import retry_policy_from_env
    from magsag_mcp.settings import connect_timeout, read_timeout

    assert "A variable set to an empty string counts as unset" in _flat(CONFIGURATION)
    blank = {name: "" for name in CONFIG_ROWS}
    assert retry_policy_from_env(blank) == retry_policy_from_env({})
    assert (connect_timeout(blank), read_timeout(blank)) == (connect_timeout({}), read_timeout({}))
    assert LocalEndpoint(blank).timeouts == LocalEndpoint({}).timeouts


@pytest.mark.anyio
async def test_the_documented_resources_are_the_servers(tmp_path: Path):
    async with Client(build_server(catalog=ROOT / "catalog", db=tmp_path / "l.db", env={})) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        listed |= {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    documented = set(re.findall(r"`(magsag://[^`]+)`", MCP_README))
    assert documented == listed


def test_every_variable_the_mcp_readme_names_is_a_documented_one():
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", MCP_README)) - {"HOME", "PATH", "USER"}
    assert {"HTTPS_PROXY", "SSL_CERT_FILE", "MAGSAG_MCP_TOKEN"} <= named
    assert named <= set(CONFIG_ROWS), named - set(CONFIG_ROWS)
    for config in ("claude_desktop_config.json", "cursor_mcp.json", "vscode_mcp.json"):
        data = json.loads((ROOT / "examples" / "mcp" / config).read_text())
        servers = data.get("mcpServers") or data["servers"]
        for name in (n for server in servers.values() for n in server.get("env", {})):
            assert name in CONFIG_ROWS, f"{config} sets {name}, which docs/configuration.md does not document"


def test_docs_pythons_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    # The example a new user pastes first: every call in it (a skill, an agent, the skills' list, a summary, the
    # budget) against vendor APIs answered on loopback, with the bundled catalog and a ledger of its own.
    # (the others: the next tests', and the paused turn's test_paused_turn_continued_by_caller's)
    code, _json, _paused, _paused_sync, _tracing = re.findall(r"```python\n(.*?)```", doc("python.md"), re.S)
    with offline_upstream(monkeypatch, tmp_path):  # no ./catalog: the bundled one, as the comment says
        exec(compile(code, "docs/python.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("loopback answer from gpt-4o gpt-4o ")
    assert printed[-3] == "ok"  # mg.check_budget()["status"]
    # mg.query_runs(agent="my-mag", ...): the agent's run, with its exact cost as text, on the only page
    runs, has_more = printed[-2].rsplit(" ", 1)
    ((run_id, status, cost),) = ast.literal_eval(runs)
    assert status == "ok" and Decimal(cost) > 0 and has_more == "False"
    assert printed[-1] == "[]"  # mg.search("rate.?limit", ...): the loopback upstream limited no call


def test_docs_pythons_json_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    # "JSON answers (structured output)": a call that asks for a schema's JSON gets the parsed object as its output
    # (a dict, read by key) and the JSON as the model wrote it as its text
    _, code, _paused, _paused_sync, _tracing = re.findall(r"```python\n(.*?)```", doc("python.md"), re.S)
    with offline_upstream(monkeypatch, tmp_path):
        exec(compile(code, "docs/python.md", "exec"), {})
    kind_and_answer, text = capsys.readouterr().out.splitlines()
    assert kind_and_answer == "dict loopback answer from gpt-4o"
    assert json.loads(text) == {"answer": "loopback answer from gpt-4o"}


def test_docs_pythons_tracing_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # "Tracing with OpenTelemetry": in a process of its own, as the example sets the global tracer provider, which a
    # process sets once (set here, every later test's calls were traced into it)
    _, _json, _paused, _paused_sync, code = re.findall(r"```python\n(.*?)```", doc("python.md"), re.S)
    with offline_upstream(monkeypatch, tmp_path):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # (the working folder is tmp_path: this checkout's package)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    attempt, call, yours, duration, used_in, used_out = [line.split(" ") for line in done.stdout.splitlines()]
    assert attempt[:3] == ["chat", "gpt-4o", attempt[2]] and int(attempt[2]) > 0 and float(attempt[3]) > 0
    assert call[:3] == ["magsag", "skill.analysis", "None"] and call[3] == attempt[3]  # one attempt: its cost
    assert yours == ["handle", "request", "None", "None"]
    # the metrics: one operation, its duration in seconds, its tokens by type (the span's output tokens)
    assert duration[:3] == ["gen_ai.client.operation.duration", "None", "1"] and float(duration[3]) > 0
    assert used_in[:3] == ["gen_ai.client.token.usage", "input", "1"] and int(used_in[3]) > 0
    assert used_out == ["gen_ai.client.token.usage", "output", "1", attempt[2]]


def test_docs_python_says_where_a_call_given_to_a_task_is_traced():
    # "Tracing with OpenTelemetry": a coroutine handed to a task is traced under the span current where the task was
    # made, not where it is awaited (tests/test_otel_spans.py shows it); the page said "where it is awaited" of both
    text = " ".join(doc("python.md").split())
    assert "one handed to a task (`asyncio.create_task`), of the span current where the task was made" in text
    assert "(or handed to a task) is a child of the span current where it is awaited" not in text


def test_docs_mcps_tracing_command_is_the_servers():
    # "Tracing with OpenTelemetry" in docs/mcp.md: the launcher's command runs magsag-mcp with arguments it takes, and
    # the page names both places a call's trace is read from, _meta winning (mcp_server/trace_headers.py)
    section = doc("mcp.md").split("## Tracing with OpenTelemetry", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if "opentelemetry-instrument magsag-mcp" in line]
    assert len(lines) == 2  # (traces, metrics and logs by OTLP; the metrics alone on the console)
    for line in lines:
        build_server_parser().parse_args(shlex.split(line.split("opentelemetry-instrument magsag-mcp", 1)[1]))
    assert "`traceparent`" in section and "`_meta`" in section and "where both name a trace, `_meta`'s" in section


def test_the_readmes_first_call_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    # README's tour opens with the guide's own call (docs/python.md's example begins the same way): it runs as
    # written against the vendor's API answered on loopback, and prints the answer, the model and its exact cost
    (code,) = re.findall(r"```python\n(.*?)```", README, re.S)
    assert "with Magsag() as mg:" + code.split("with Magsag() as mg:")[1] in doc("python.md")
    with offline_upstream(monkeypatch, tmp_path):
        exec(compile(code, "README.md", "exec"), {})
    (printed,) = capsys.readouterr().out.splitlines()
    assert printed.startswith("loopback answer from gpt-4o gpt-4o ") and Decimal(printed.rsplit(" ", 1)[1]) > 0


def test_the_readmes_client_configuration_starts_a_server_as_documented():
    # README's first call from an MCP client shows a client's entry for the server: it is JSON, its command and
    # arguments are ones magsag-mcp takes, and each variable it sets is one docs/configuration.md documents
    (block,) = re.findall(r"```json\n(.*?)```", README, re.S)
    (server,) = json.loads(block)["mcpServers"].values()
    assert server["command"] == "magsag-mcp"
    build_server_parser().parse_args(server["args"])
    assert server["env"] and set(server["env"]) <= set(CONFIG_ROWS)


#: every command of the users' guide, as it writes them after its `pnpm --filter @magsag/cli exec` (docs/cli.md: "here
#: they are the `magsag` command ... with the same arguments")
GUIDE_COMMANDS = [
    "magsag flow summarize --output summary.json",
    "magsag data query --agent my-mag --limit 20",
    'magsag data search "claude.*error" --limit 50',
    "magsag data query --run-id mag-abc123",
    "magsag data query --agent sensitive-data-mag --format csv",
    'magsag data search "rate_limit" --limit 100',
    "magsag flow summarize",
    "magsag flow gate summary.json --policy catalog/policies/model_governance.yaml",
]


def test_docs_cli_says_how_the_guides_commands_are_run():
    assert "`pnpm --filter @magsag/cli exec magsag" in doc("cli.md")


@pytest.mark.parametrize("command", GUIDE_COMMANDS)
def test_every_command_of_the_guide_parses_as_it_writes_it(command: str):
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert getattr(args, "func", None), command


def test_the_readme_says_where_its_setup_puts_the_commands():
    """The README's setup makes `.venv` and runs `.venv/bin/magsag demo`, never activating it; the sections after it
    then said `magsag ...` and `magsag-mcp`, "the command the install puts on the PATH", and a reader who typed them
    got "command not found". Each console script is named where the setup puts it, with how to put it on the PATH."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts, "pyproject.toml declares no console script"
    for name in scripts:
        assert f"`.venv/bin/{name}`" in README, name
    assert ". .venv/bin/activate" in README
    assert "the install puts on the PATH" not in ALL_DOCS


def test_the_documented_time_rules_are_the_filters():
    # README said "ISO dates or 24h, 7d" and no more: not whether a time without an offset is UTC or local (text is
    # UTC, a Python datetime local), that --until is exclusive, nor what limits the pages take
    from datetime import UTC, date, datetime, timedelta

    from magsag_mcp.ledger import UsageFilters, parse_since
    from magsag_mcp.mcp_server.models import QueryRunsArgs, SearchUsageArgs

    text = _flat(ALL_DOCS)
    for said in (
        "`--since` is inclusive and `--until` exclusive (`--since 2025-11-01 --until 2025-11-02` is that one day;",
        "An ISO time without an offset is UTC (`2025-11-01T09:00` is 09:00 UTC; `2025-11-01T09:00+01:00` is 08:00 UTC),"
        " `Z` or `z` is UTC, and a date alone is a UTC midnight",
        "From Python, a naive `datetime` is local time",
        "A duration is read when the first page is: the cursor it names",
        "`data query --limit` takes 1 to 10000",
        "`limit` 1 to 500 (default 20), `attempts_per_run` 1 to 1000 (default 50)",
        "`limit` (1 to 500, default 50)",
    ):
        assert said in text, said
    nine = datetime(2025, 11, 1, 9, tzinfo=UTC).timestamp()
    assert parse_since("2025-11-01T09:00") == parse_since("2025-11-01T09:00z") == nine
    assert parse_since("2025-11-01T09:00+01:00") == nine - 3600
    assert parse_since("2025-11-01") == parse_since(date(2025, 11, 1)) == datetime(2025, 11, 1, tzinfo=UTC).timestamp()
    assert parse_since(datetime(2025, 11, 1, 9)) == datetime(2025, 11, 1, 9).timestamp()  # local, as Python reads it
    assert abs(parse_since(timedelta(hours=1), now=1e9) - (1e9 - 3600)) < 1e-6
    for field, bound in (("ge", 1), ("le", 500)):
        for model in (QueryRunsArgs, SearchUsageArgs):
            assert any(getattr(m, field, None) == bound for m in model.model_fields["limit"].metadata), model
    assert QueryRunsArgs.model_fields["limit"].default == 20 and SearchUsageArgs.model_fields["limit"].default == 50
    limit = UsageFilters.model_fields["limit"].metadata
    assert any(getattr(m, "le", None) == 10_000 for m in limit) and any(getattr(m, "ge", None) == 1 for m in limit)


def _command_paths(parser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import argparse

    paths = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += _command_paths(sub, (*path, name))
    return paths


@pytest.mark.parametrize("path", _command_paths(build_parser()), ids=lambda path: " ".join(path) or "magsag")
def test_every_commands_help_says_what_it_does(path: tuple[str, ...], capsys):
    # `magsag demo --help`, `magsag budget --help`, `magsag catalog validate --help` showed the usage and the options
    # alone: the line `magsag --help` lists a command by is not shown in its own help
    from magsag_mcp.cli import main

    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    # argparse prints the description as the paragraph between the usage and the arguments
    paragraphs = [" ".join(p.split()) for p in out.split("\n\n")]
    said = paragraphs[1] if len(paragraphs) > 2 else ""
    assert said and not said.startswith(("usage:", "positional arguments:", "options:")), out
    assert said[0].isupper() and said.endswith("."), said


def test_a_common_option_a_command_never_reads_is_taken_but_not_offered(capsys):
    # `magsag catalog validate --help` offered --db ("ledger database file"), which it never opens; a script that
    # passes --db to every command must still run it
    from magsag_mcp.cli import main

    for path, unread in ((("catalog", "validate"), "--db"), (("catalog", "skills"), "--db")):
        with pytest.raises(SystemExit):
            main([*path, "--help"])
        out = capsys.readouterr().out
        assert unread not in out and "--catalog" in out
    for path in (("data", "search"), ("data", "prune")):
        with pytest.raises(SystemExit):
            main([*path, "--help"])
        out = capsys.readouterr().out
        assert "--catalog" not in out and "--db" in out
    assert main(["catalog", "validate", "--catalog", str(ROOT / "catalog"), "--db", "unused.db"]) == 0
    assert capsys.readouterr().out.endswith(": ok\n")


def test_the_server_help_names_every_variable_that_configures_it():
    # `magsag-mcp --help` named only the variables behind its options' defaults: nothing of MAGSAG_MCP_TOKEN (the
    # bearer token the HTTP transport requires beyond loopback), the providers' keys, nor MAGSAG_PROVIDER: a user
    # setting the server up learnt of them only from the README's Configuration table (now docs/configuration.md),
    # which it mirrors
    shown = " ".join(build_server_parser().format_help().split())  # argparse may wrap a name's line anywhere
    missing = sorted(name for name in CONFIG_ROWS if name not in shown)
    assert missing == []
    assert "Authorization: Bearer" in shown  # what a client does with the token, not only its name


def test_the_server_help_points_at_the_page_that_documents_the_variables():
    # the help said "the README's Configuration table says more" after that table had moved to docs/
    shown = " ".join(build_server_parser().format_help().split())
    named = re.findall(r"(docs/[\w-]+\.md) says more", shown)
    assert named == ["docs/configuration.md"] and (ROOT / named[0]).is_file() and "| `MAGSAG_DB` |" in CONFIGURATION


def test_every_variable_magsag_reads_is_named_in_the_docs():
    # the reverse of test_every_documented_variable_is_read: settings.READ_VARIABLES, which `magsag doctor` takes for
    # every MAGSAG_* variable read, held MAGSAG_SPEC_CACHE (the folder the tests' spec checker caches the vendors'
    # translated specs in), which its comment said README names and README never did
    from magsag_mcp.settings import READ_VARIABLES

    assert sorted(name for name in READ_VARIABLES if f"`{name}`" not in ALL_DOCS) == []


def test_every_magsag_variable_the_code_names_is_in_the_configuration_page():
    # a command warns of every MAGSAG_* variable it reads by no name (cli/misspelt.py): one the code reads that
    # settings.READ_VARIABLES lacks would be warned of as unknown, and one the configuration page leaves out is a
    # setting a user finds only in the code. The tests' spec checker's two were named in README alone
    from magsag_mcp.settings import READ_VARIABLES

    named = {
        name
        for path in ROOT.joinpath("magsag_mcp").rglob("*.py")
        for name in re.findall(r"MAGSAG_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))
    }
    assert named <= READ_VARIABLES, sorted(named - READ_VARIABLES)
    assert sorted(name for name in named | READ_VARIABLES if f"`{name}`" not in CONFIGURATION) == []


def _numeric_options_without_their_range(parser, path: list[str]) -> list[str]:
    import argparse

    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _numeric_options_without_their_range(sub, [*path, name])
        elif action.type is int or hasattr(action.type, "span"):
            said = " ".join((action.help or "").split())
            # count()'s own span, word for word; a bare int's, as a range of numbers
            span = getattr(action.type, "span", None)
            if (span not in said) if span is not None else not re.search(r"\d+ (to \d+|or more)", said):
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings)}")
    return missing


def test_every_numeric_option_says_the_numbers_it_takes():
    # `magsag budget --help` said "--max-tokens MAX_TOKENS  with --skill: the max_tokens the call gives": nothing of
    # the 1 or more it takes, nor what a call gives without it; `data query --offset` said no range or default, and
    # `magsag-mcp --port` no range: each was learnt from the refusal of a value outside it
    assert _numeric_options_without_their_range(build_parser(), ["magsag"]) == []
    assert _numeric_options_without_their_range(build_server_parser(), ["magsag-mcp"]) == []
    budget = next(a.help for a in _subcommand("budget")._actions if a.dest == "max_tokens")
    assert "params.max_tokens" in budget and "1024" in budget  # what a call of the skill gives without it


def test_the_server_help_says_each_numeric_settings_range_and_default():
    # `magsag-mcp --help` said "retries per target (at most 10), backoff (60) ..." and "seconds to connect to a
    # provider (at most 300)": neither what each is when unset (2 retries, a 300 s deadline, a 10 s connect timeout)
    # nor the least each takes, which a user setting up a client's `env` had to find in the README
    from magsag_mcp.providers.local import LocalEndpoint
    from magsag_mcp.retry import retry_policy_from_env
    from magsag_mcp.settings import MAXIMA, connect_timeout, read_timeout

    shown = " ".join(build_server_parser().format_help().split())
    policy = retry_policy_from_env({})
    local = LocalEndpoint({}).timeouts
    said = {
        "MAGSAG_MAX_RETRIES": f"retries per target, 0 to {MAXIMA['MAGSAG_MAX_RETRIES']:g} "
        f"(default {policy.tries_per_target - 1:g})",
        "MAGSAG_RETRY_BASE_DELAY": f"backoff, 0 to {MAXIMA['MAGSAG_RETRY_BASE_DELAY']:g} s "
        f"(default {policy.base_delay:g})",
        "MAGSAG_RETRY_MAX_DELAY": f"0 to {MAXIMA['MAGSAG_RETRY_MAX_DELAY']:g} s (default {policy.max_delay:g})",
        "MAGSAG_CALL_DEADLINE": f"deadline, 0.001 to {MAXIMA['MAGSAG_CALL_DEADLINE']:g} s "
        f"(default {policy.deadline:g})",
        "MAGSAG_CONNECT_TIMEOUT": f"0.001 to {MAXIMA['MAGSAG_CONNECT_TIMEOUT']:g} "
        f"(default {connect_timeout({}):g}; {local.connect:g} for local)",
        "MAGSAG_READ_TIMEOUT": f"0.001 to {MAXIMA['MAGSAG_READ_TIMEOUT']:g} "
        f"(default {read_timeout({}):g}; {local.read:g} for local)",
    }
    assert {name: text for name, text in said.items() if text not in shown} == {}
    for name, low in (("MAGSAG_CALL_DEADLINE", "0.001"), ("MAGSAG_CONNECT_TIMEOUT", "0.001")):
        assert f"{low} to {MAXIMA[name]:g}" in " ".join(CONFIG_ROWS[name])  # as docs/configuration.md's table says


def test_each_option_says_it_may_be_repeated_and_payload_file_its_encodings():
    # `magsag-mcp --allow-host` is taken once per name (its values are appended) and its help did not say so; and
    # `--payload-file` read UTF-16 and UTF-32 with a byte order mark (PowerShell 5's `>`), which docs/cli.md says and
    # its help did not
    import argparse

    for action in build_server_parser()._actions:
        if isinstance(action, argparse._AppendAction):
            assert "once for each" in " ".join(action.help.split()), action.option_strings
    for command in ("invoke", "explain", "run"):
        said = next(a.help for a in _subcommand(command)._actions if a.dest == "payload_file")
        assert "UTF-8" in said and "UTF-16" in said and "byte order mark" in said


def test_the_mcp_readme_says_what_a_client_is_told_of_the_http_body_limit():
    """The server answers a body past the SDK's limit with a JSON-RPC error naming it (test_mcp_http), which the
    client shows; the README said the Python client reported the bare "Server returned an error response" the SDK's
    own 413 gave, which had been made untrue, so a user could not tell the limit from any other failure."""
    from magsag_mcp.mcp_server.refusals import MAX_REQUEST_BODY, too_large_answer

    told = json.loads(too_large_answer())["error"]["message"]
    limit = f"{MAX_REQUEST_BODY / 2**20:g} MiB"
    assert limit in told
    flat = _flat(MCP_README)
    assert "Server returned an error response" not in flat
    assert f"at most {limit}" in flat and "413" in flat and "names the limit" in flat


def test_model_choices_picture_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # docs/model-choice.md's "Pictures in messages" shows a model_config with a screenshot as a data URL: pasted as
    # written, it is a call that goes out (a shortened "iVBORw0KGgo..." would be refused as not base64)
    from magsag_mcp import Magsag

    section = doc("model-choice.md").split("## Pictures in messages", 1)[1]
    (config_text,) = re.findall(r"```json\n(.*?)```", section, re.S)
    with offline_upstream(monkeypatch, tmp_path):
        with Magsag() as mg:
            payload = {"data": "a screenshot", "model_config": json.loads(config_text)}
            result = mg.skills.invoke("skill.analysis", payload)
    assert result["model"] == "gpt-4o" and result["provider"] == "openai"


def test_the_token_per_client_file_and_compose_service_work_as_written(tmp_path: Path):
    """docs/mcp.md's tokens file, each `<...>` written with the output of the command it quotes (run as a shell runs
    it), is read with its agents, also as Windows PowerShell 5.1's `>` saves it (UTF-16, CRLF), which the page says;
    copied with its placeholders it is refused naming the line. Its Compose service's command and environment, with
    that file as the secret, start a server that listens beyond loopback."""
    import subprocess
    import sys

    import yaml

    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.client_tokens import check_client_tokens, client_tokens_setting

    section = subsection(doc("mcp.md"), "a-token-per-client")
    written = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    command = re.search(r"<the output of: (python -c .*?)>", written).group(1)
    argv = [sys.executable, *shlex.split(command)[1:]]
    tokens = iter(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip() for _ in range(2))
    filled = re.sub(r"<[^>]*>", lambda _: next(tokens), written)
    named = tmp_path / "mcp_tokens.txt"
    for data in (filled.encode(), filled.replace("\n", "\r\n").encode("utf-16")):
        named.write_bytes(data)
        entries = client_tokens_setting({"MAGSAG_MCP_TOKENS_FILE": str(named)})
        assert [e.agent for e in entries] == ["research-bot", "ops-team"]
    named.write_text(written)
    with pytest.raises(ConfigError, match="line 2 of the file MAGSAG_MCP_TOKENS_FILE names"):
        client_tokens_setting({"MAGSAG_MCP_TOKENS_FILE": str(named)})

    service = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))["services"]["magsag-mcp"]
    assert service["environment"] == {"MAGSAG_MCP_TOKENS_FILE": "/run/secrets/mcp_tokens"}
    args = build_server_parser().parse_args(shlex.split(service["command"])[1:])
    assert (args.transport, args.host) == ("http", "0.0.0.0")
    named.write_text(filled)
    check_client_tokens(args.host, client_tokens_setting({"MAGSAG_MCP_TOKENS_FILE": str(named)}))


def _help_texts(parser) -> Iterator[str]:
    import argparse

    yield " ".join(parser.format_help().split())
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _help_texts(sub)


def test_a_help_naming_a_docs_section_names_one_its_page_has():
    # `magsag cache clear --help` said "See docs/configuration.md (the answer cache)", a page with no such section:
    # the answer cache is docs/money-records-budgets.md's
    wrong = []
    for said in _help_texts(build_parser()):
        for page, section in re.findall(r"(docs/[\w-]+\.md) \(([^)]+)\)", said):
            headings = [h.lower() for h in re.findall(r"^#+ (.+)$", doc(Path(page).name), re.MULTILINE)]
            if not any(section.lower() in h or h in section.lower() for h in headings):
                wrong.append(f"{page} ({section})")
    assert wrong == []
