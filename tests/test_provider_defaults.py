"""``MAGSAG_PROVIDER`` alone, as the users' guide promises it ("Use Google (Gemini) for all tasks"): routing's
``provider_defaults`` names the model a vendor serves where neither the route nor the default chain names one of
its own, and every shipped skill is served under openai, anthropic and google without MAGSAG_MODEL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.catalog import load_catalog, validate_catalog
from magsag_mcp.errors import CatalogError, ConfigError, PayloadError, PolicyDenied
from magsag_mcp.routing import plan_call
from magsag_mcp.types import Target

CATALOG = Path(__file__).resolve().parent.parent / "catalog"

#: a payload for every shipped skill
PAYLOADS: dict[str, dict[str, Any]] = {
    "skill.analysis": {"data": "sales up 8%"},
    "skill.assistant": {"message": "hello"},
    "skill.coding": {"task": "add two numbers"},
    "skill.document-analysis": {"document": "a contract"},
    "skill.extraction": {"text": "Ann paid $5 on May 1", "fields": ["name", "amount"]},
    "skill.pii-redaction": {"text": "Ann's phone is 555-0100"},
    "skill.reasoning": {"problem": "2 + 2"},
    "skill.summarization": {"text": "a long text"},
}

#: (provider, model) that serves each shipped skill under MAGSAG_PROVIDER alone: the route's own model of the
#: provider, else the default chain's, else provider_defaults'; skill.pii-redaction's data class keeps it local
SERVED: dict[str, dict[str, tuple[str, str]]] = {
    "openai": {
        "skill.analysis": ("openai", "gpt-4o"),
        "skill.assistant": ("openai", "gpt-4o-mini"),
        "skill.coding": ("openai", "gpt-4o"),
        "skill.document-analysis": ("openai", "gpt-4o"),
        "skill.extraction": ("openai", "gpt-4o-mini"),
        "skill.pii-redaction": ("local", "llama3.1:70b"),
        "skill.reasoning": ("openai", "o1-preview"),
        "skill.summarization": ("openai", "gpt-4o-mini"),
    },
    "anthropic": {
        "skill.analysis": ("anthropic", "claude-3-5-sonnet-20241022"),
        "skill.assistant": ("anthropic", "claude-3-5-sonnet-20241022"),
        "skill.coding": ("anthropic", "claude-3-5-sonnet-20241022"),
        "skill.document-analysis": ("anthropic", "claude-3-5-sonnet-20241022"),
        "skill.extraction": ("anthropic", "claude-3-haiku-20240307"),
        "skill.pii-redaction": ("local", "llama3.1:70b"),
        "skill.reasoning": ("anthropic", "claude-3-5-sonnet-20241022"),
        "skill.summarization": ("anthropic", "claude-3-haiku-20240307"),
    },
    "google": {
        "skill.analysis": ("google", "gemini-1.5-pro"),
        "skill.assistant": ("google", "gemini-1.5-pro"),
        "skill.coding": ("google", "gemini-1.5-pro"),
        "skill.document-analysis": ("google", "gemini-1.5-pro"),
        "skill.extraction": ("google", "gemini-1.5-pro"),
        "skill.pii-redaction": ("local", "llama3.1:70b"),
        "skill.reasoning": ("google", "gemini-1.5-pro"),
        "skill.summarization": ("google", "gemini-1.5-pro"),
    },
}

#: the shipped skills whose route and the default chain name no Gemini model: provider_defaults.google serves them
FROM_MAPPING = {"skill.assistant", "skill.coding", "skill.extraction", "skill.reasoning", "skill.summarization"}

QUICK = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG, env={})


def test_the_shipped_routing_names_a_default_model_for_each_vendor(catalog):
    assert catalog.routing.provider_defaults == {
        "openai": [Target("openai", "gpt-4o")],
        "anthropic": [Target("anthropic", "claude-3-5-sonnet-20241022")],
        "google": [Target("google", "gemini-1.5-pro")],
    }
    assert validate_catalog(CATALOG, env={}) == []


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_magsag_provider_alone_serves_every_shipped_skill_through_the_python_api(tmp_path: Path, provider: str):
    from magsag_mcp.api import Magsag
    from magsag_mcp.loopback import LoopbackUpstream

    with LoopbackUpstream().running() as up:
        env = {**up.env(), **QUICK, "MAGSAG_PROVIDER": provider}
        with Magsag(catalog=CATALOG, db=tmp_path / "ledger.db", env=env) as mg:
            for skill_id, payload in PAYLOADS.items():
                result = mg.skills.invoke(skill_id, payload)
                assert (result["provider"], result["model"]) == SERVED[provider][skill_id], skill_id
                if provider == "google" and skill_id in FROM_MAPPING:
                    assert "provider_defaults.google" in result["trace"]["rule"], result["trace"]["rule"]
                    assert result["trace"]["candidates"][0]["source"] == "provider_default"


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_magsag_provider_alone_serves_every_shipped_skill_through_the_mcp_tool(
    tmp_path: Path, upstream, provider: str
):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    env = {**upstream.env(), **QUICK, "MAGSAG_PROVIDER": provider}
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=env)) as client:
        for skill_id, payload in PAYLOADS.items():
            result = await client.call_tool("invoke_skill", {"skill_id": skill_id, "payload": payload})
            assert not result.is_error, result.content[0].text
            got = result.structured_content
            assert (got["provider"], got["model"]) == SERVED[provider][skill_id], skill_id
            plan = await client.call_tool("explain_route", {"skill_id": skill_id, "payload": payload})
            assert not plan.is_error, plan.content[0].text
            first = plan.structured_content["targets"][0]
            if provider == "google" and skill_id in FROM_MAPPING:
                assert "provider_defaults.google" in plan.structured_content["rule"]
                assert (first["source"], first["model"]) == ("provider_default", "gemini-1.5-pro")
                assert first["policy"]["allowed"] is True


def test_the_plan_says_the_model_came_from_provider_defaults(catalog):
    plan = plan_call(catalog, "skill.coding", {"task": "x"}, context=None, env={"MAGSAG_PROVIDER": "google"})
    assert [c.target for c in plan.candidates] == [Target("google", "gemini-1.5-pro")]
    cand = plan.candidates[0]
    assert cand.source == "provider_default" and cand.explicit and cand.by_env and cand.routed is None
    assert plan.rule == (
        "route:coding (provider:google from MAGSAG_PROVIDER); neither it nor the default chain names a google "
        "model, so routing's provider_defaults.google serves it"
    )
    # the alias is the provider: MAGSAG_PROVIDER=gemini is google
    plan = plan_call(catalog, "skill.coding", {"task": "x"}, context=None, env={"MAGSAG_PROVIDER": "gemini"})
    assert [c.target for c in plan.candidates] == [Target("google", "gemini-1.5-pro")]


def test_a_route_or_the_default_chain_naming_a_model_of_the_provider_still_comes_first(catalog):
    env = {"MAGSAG_PROVIDER": "google"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x"}, context=None, env=env)
    assert plan.rule == "route:analysis (provider:google from MAGSAG_PROVIDER)"
    assert plan.candidates[0].source == "route"
    # premium names no Claude; the default chain's serves, as before the mapping
    plan = plan_call(
        catalog, "skill.analysis", {"data": "x"}, context={"tier": "premium"}, env={"MAGSAG_PROVIDER": "anthropic"}
    )
    assert [c.target.label for c in plan.candidates] == ["anthropic:claude-3-5-sonnet-20241022"]
    assert plan.candidates[0].source == "tier"


def test_hosting_providers_keep_serving_the_chains_names(catalog):
    for provider in ("azure", "compat", "local"):
        plan = plan_call(catalog, "skill.coding", {"task": "x"}, context=None, env={"MAGSAG_PROVIDER": provider})
        assert [c.target.model for c in plan.candidates] == ["claude-3-5-sonnet-20241022", "gpt-4o", "gpt-4o-mini"]
        assert {c.target.provider for c in plan.candidates} == {provider}
        assert "provider_defaults" not in plan.rule


def test_a_call_naming_only_a_provider_takes_provider_defaults_too(catalog):
    payload = {"task": "x", "model_config": {"provider": "google"}}
    plan = plan_call(catalog, "skill.coding", payload, context=None, env={})
    assert [c.target for c in plan.candidates] == [Target("google", "gemini-1.5-pro")]
    assert plan.rule.startswith("route:coding (provider:google from call); neither it nor the default chain")
    assert plan.candidates[0].source == "provider_default" and not plan.candidates[0].by_env


def test_a_confined_data_class_still_keeps_its_calls_on_its_own_models(catalog):
    classes = {"pii_processing": ["local:llama3.1:70b", "fake:*"]}
    plan = plan_call(
        catalog, "skill.pii-redaction", {"text": "x"}, context=None, env={"MAGSAG_PROVIDER": "google"},
        data_class_models=classes,
    )  # fmt: skip
    assert [(c.target.label, c.source) for c in plan.candidates] == [
        ("google:gemini-1.5-pro", "provider_default"),
        ("local:llama3.1:70b", "data_class"),
    ]


def test_a_policy_refusing_the_mapped_model_refuses_the_call_naming_the_policy(catalog_copy: Path, tmp_path: Path):
    from magsag_mcp.api import Magsag
    from magsag_mcp.loopback import LoopbackUpstream

    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace("      - gemini-1.5-pro\n", ""))
    with LoopbackUpstream().running() as up:
        env = {**up.env(), **QUICK, "MAGSAG_PROVIDER": "google"}
        with Magsag(catalog=catalog_copy, db=tmp_path / "ledger.db", env=env) as mg:
            with pytest.raises(PolicyDenied) as caught:
                mg.skills.invoke("skill.coding", PAYLOADS["skill.coding"])
            explained = mg.skills.explain("skill.coding", PAYLOADS["skill.coding"])
        assert up.calls["gemini-1.5-pro"] == 0  # refused before anything was sent
    err = caught.value
    assert err.details["policy"] == "production_models"
    assert "policy 'production_models' forbids google:gemini-1.5-pro" in err.message
    assert "provider_defaults.google" in err.message  # where the model came from, and so where to change it
    assert explained["targets"][0]["policy"]["allowed"] is False
    # validate says so before any call: every MAGSAG_PROVIDER=google call that takes the mapping is refused
    problems = validate_catalog(catalog_copy, env={})
    assert any(
        p.startswith(f"{catalog_copy / 'routing' / 'default.yaml'}: provider_defaults.google: ")
        and "production_models" in p
        for p in problems
    ), problems


def test_doctor_no_longer_warns_for_a_provider_the_mapping_covers(tmp_path, monkeypatch, capsys):
    from magsag_mcp.cli import main

    for name in ("MAGSAG_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-test-0123456789")
    monkeypatch.setenv("MAGSAG_PROVIDER", "google")
    main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert not [p for p in report["problems"] if "MAGSAG_PROVIDER" in p], report["problems"]


def test_without_the_mapping_the_error_says_to_add_it_or_set_magsag_model(unmapped_catalog: Path):
    catalog_copy = unmapped_catalog
    catalog = load_catalog(catalog_copy, env={})
    assert catalog.routing.provider_defaults == {}
    with pytest.raises(ConfigError) as caught:
        plan_call(catalog, "skill.coding", {"task": "x"}, context=None, env={"MAGSAG_PROVIDER": "google"})
    assert caught.value.message == (
        "MAGSAG_PROVIDER 'google': the routing policy names no google model for task 'coding'; also set "
        "MAGSAG_MODEL to one of its models, or name one in routing's provider_defaults "
        "(provider_defaults: {google: MODEL})"
    )
    with pytest.raises(PayloadError, match="model_config.provider 'google': the routing policy names no google"):
        plan_call(catalog, "skill.coding", {"task": "x", "model_config": {"provider": "google"}}, context=None, env={})


@pytest.mark.parametrize(
    ("written", "said"),
    [
        # a hosting provider serves the chain's names as they are: a model for it would never be used
        ("provider_defaults:\n  local: llama3.1:70b\n", "provider_defaults.local: local serves the chain's"),
        # another vendor's model could never be served by this one
        ("provider_defaults:\n  anthropic: gpt-4o\n", "provider_defaults.anthropic: 'gpt-4o' is an openai model"),
        ("provider_defaults:\n  google: [gemini-1.5-pro, 'openai:gpt-4o']\n", "provider_defaults.google.1: "),
        ("provider_defaults:\n  opnai: gpt-4o\n", "provider_defaults.opnai: unknown provider 'opnai'"),
        ("provider_defaults:\n  google:\n", "provider_defaults.google: names no model"),
        ("provider_defaults:\n  google: []\n", "provider_defaults.google: names no model"),
        ("provider_defaults: [google]\n", "provider_defaults: "),
        # its entries commented out: YAML reads null, which named nothing without a word
        ("provider_defaults:\n  # google: gemini-1.5-pro\n", "provider_defaults: provider_defaults is written with "),
        ("provider_defaults:\n  google: gemini-1.5-pro\n  gemini: gemini-1.5-flash\n", "provider_defaults.gemini: "),
    ],
)
def test_a_wrong_provider_defaults_entry_is_a_problem_naming_its_file_and_key(
    unmapped_catalog: Path, written: str, said: str
):
    catalog_copy = unmapped_catalog
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text() + "\n" + written)
    problems = validate_catalog(catalog_copy, env={})
    assert any(p.startswith(f"{routing}: {said}") for p in problems), problems
    with pytest.raises(CatalogError):
        load_catalog(catalog_copy, env={})


def test_provider_defaults_written_in_two_files_names_both(catalog_copy: Path):
    extra = catalog_copy / "routing" / "more.yaml"
    extra.write_text("provider_defaults:\n  google: gemini-1.5-flash\n")
    problems = validate_catalog(catalog_copy, env={})
    assert any(
        p.startswith(f"{extra}: provider_defaults.google: ") and str(catalog_copy / "routing" / "default.yaml") in p
        for p in problems
    ), problems


def test_provider_defaults_takes_a_chain_a_pinned_name_and_a_target_mapping(unmapped_catalog: Path):
    catalog_copy = unmapped_catalog
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(
        routing.read_text()
        + "\nprovider_defaults:\n"
        + "  gemini: [gemini-1.5-pro, 'google:gemini-1.5-flash']\n"
        + "  openai: {model: ft:gpt-4o-mini-2024-07-18:org:name:id, params: {temperature: 0}}\n"
    )
    catalog = load_catalog(catalog_copy, env={})
    assert catalog.routing.provider_defaults == {
        "google": [Target("google", "gemini-1.5-pro"), Target("google", "gemini-1.5-flash")],
        "openai": [Target("openai", "ft:gpt-4o-mini-2024-07-18:org:name:id", None, (("temperature", 0),))],
    }
    plan = plan_call(catalog, "skill.coding", {"task": "x"}, context=None, env={"MAGSAG_PROVIDER": "google"})
    assert [c.target.label for c in plan.candidates] == ["google:gemini-1.5-pro", "google:gemini-1.5-flash"]


def test_a_model_of_no_known_vendor_is_taken_as_the_providers_own(unmapped_catalog: Path):
    # a new model name no prefix list knows yet is the operator's word for that provider
    catalog_copy = unmapped_catalog
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text() + "\nprovider_defaults:\n  openai: my-new-model\n")
    catalog = load_catalog(catalog_copy, env={})
    assert catalog.routing.provider_defaults == {"openai": [Target("openai", "my-new-model")]}


def test_a_task_no_route_matches_says_the_default_chain_names_no_model_of_the_provider(catalog_copy: Path):
    skill = (catalog_copy / "skills" / "assistant.yaml").read_text()
    (catalog_copy / "skills" / "translation.yaml").write_text(
        skill.replace("id: skill.assistant", "id: skill.translation").replace(
            "task_type: assistant", "task_type: translation"
        )
    )
    catalog = load_catalog(catalog_copy, env={})
    plan = plan_call(catalog, "skill.translation", {"message": "x"}, context=None, env={"MAGSAG_PROVIDER": "google"})
    assert plan.rule == (
        "default (provider:google from MAGSAG_PROVIDER); it names no google model, so routing's "
        "provider_defaults.google serves it"
    )
    assert [(c.target.label, c.source) for c in plan.candidates] == [("google:gemini-1.5-pro", "provider_default")]


@pytest.mark.anyio
async def test_the_routing_resource_shows_provider_defaults(tmp_path: Path):
    # an MCP client reading magsag://catalog/routing saw the chains but not the model MAGSAG_PROVIDER=google takes
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})) as c:
        routing = json.loads((await c.read_resource("magsag://catalog/routing")).contents[0].text)
    assert routing["provider_defaults"] == {
        "openai": ["openai:gpt-4o"],
        "anthropic": ["anthropic:claude-3-5-sonnet-20241022"],
        "google": ["google:gemini-1.5-pro"],
    }
    assert "provider_defaults" in routing["resolution"][1]


def test_a_refused_model_in_a_provider_defaults_list_is_a_problem_as_the_call_it_fails(
    unmapped_catalog: Path, tmp_path: Path
):
    # google: [gemini-1.5-flash, gemini-1.5-pro], the policy allowing only gemini-1.5-pro: every MAGSAG_PROVIDER=google
    # call that takes the mapping failed with policy_denied at gemini-1.5-flash (a refusal of the environment's choice
    # is not replaced), while validate said ok and doctor saw nothing, as one allowed model in the list passed
    from magsag_mcp.api import Magsag
    from magsag_mcp.loopback import LoopbackUpstream

    catalog_copy = unmapped_catalog
    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text() + "\nprovider_defaults:\n  google: [gemini-1.5-flash, gemini-1.5-pro]\n")
    with LoopbackUpstream().running() as up:
        env = {**up.env(), **QUICK, "MAGSAG_PROVIDER": "google"}
        with Magsag(catalog=catalog_copy, db=tmp_path / "ledger.db", env=env) as mg:
            with pytest.raises(PolicyDenied, match="forbids google:gemini-1.5-flash"):
                mg.skills.invoke("skill.coding", PAYLOADS["skill.coding"])
    problems = validate_catalog(catalog_copy, env={})
    said = [p for p in problems if p.startswith(f"{routing}: provider_defaults.google: ")]
    assert len(said) == 1, problems
    assert "google:gemini-1.5-flash is refused by policy 'production_models'" in said[0]
    assert "gemini-1.5-pro" not in said[0].partition(" is refused")[0]  # the allowed one is not named as refused
    assert "add google:gemini-1.5-flash to production_models.allowed_models" in said[0]


def test_a_refusal_of_the_mapped_model_offers_only_models_the_provider_serves(catalog_copy: Path, tmp_path: Path):
    # The policy allowed no Gemini model; the error said "it allows gpt-4o, ..., llama3.1:70b, fake:*: name one of
    # them in routing's provider_defaults.google", advice that, followed, made the catalog invalid (provider_defaults
    # refuses another vendor's model for google). It names the Gemini models the policy allows, or says it allows
    # none and how to allow one.
    from magsag_mcp.api import Magsag
    from magsag_mcp.loopback import LoopbackUpstream

    policies = catalog_copy / "policies" / "model_governance.yaml"
    text = policies.read_text()
    policies.write_text(text.replace("      - gemini-1.5-pro\n", ""))
    with LoopbackUpstream().running() as up:
        env = {**up.env(), **QUICK, "MAGSAG_PROVIDER": "google"}
        with Magsag(catalog=catalog_copy, db=tmp_path / "ledger.db", env=env) as mg:
            with pytest.raises(PolicyDenied) as caught:
                mg.skills.invoke("skill.coding", PAYLOADS["skill.coding"])
    message = caught.value.message
    assert "name one of them in routing's provider_defaults.google" not in message, message
    assert "it allows no google model" in message, message
    assert "add google:gemini-1.5-pro to production_models.allowed_models" in message
    # with a Gemini model allowed (by a glob), it is the one offered
    policies.write_text(text.replace("      - gemini-1.5-pro\n", "      - gemini-1.5-flash*\n"))
    with LoopbackUpstream().running() as up:
        env = {**up.env(), **QUICK, "MAGSAG_PROVIDER": "google"}
        with Magsag(catalog=catalog_copy, db=tmp_path / "ledger2.db", env=env) as mg:
            with pytest.raises(PolicyDenied) as caught:
                mg.skills.invoke("skill.coding", PAYLOADS["skill.coding"])
    message = caught.value.message
    assert "its google models are gemini-1.5-flash*: name one of them in routing's provider_defaults.google" in message


def test_validate_offers_only_models_of_the_provider_for_a_refused_mapping(catalog_copy: Path):
    # validate said "name a model of google's it allows" of a policy allowing none of Google's
    policies = catalog_copy / "policies" / "model_governance.yaml"
    policies.write_text(policies.read_text().replace("      - gemini-1.5-pro\n", ""))
    problems = [p for p in validate_catalog(catalog_copy, env={}) if "provider_defaults.google" in p]
    assert len(problems) == 1, problems
    assert "name a model of google's it allows" not in problems[0]
    assert "it allows no google model" in problems[0]
    assert problems[0].endswith("add google:gemini-1.5-pro to production_models.allowed_models, or remove the entry")


def test_a_gateway_s_model_name_allowed_is_not_offered_as_a_vendor_s_mapped_model(catalog_copy: Path):
    # A policy allowing a gateway's name (openai/gpt-4o-mini, as OpenRouter writes it, served by compat) and no
    # Gemini model was told "name one of its google models there (openai/gpt-4o-mini)": written there, it is a
    # problem (another vendor's model); no vendor serves a name of that shape itself.
    from magsag_mcp.governance.model_patterns import may_be_of

    policies = catalog_copy / "policies" / "model_governance.yaml"
    text = policies.read_text().replace("      - gemini-1.5-pro\n", "      - openai/gpt-4o-mini\n")
    policies.write_text(text)
    problems = [p for p in validate_catalog(catalog_copy, env={}) if "provider_defaults.google" in p]
    assert len(problems) == 1, problems
    assert "(openai/gpt-4o-mini)" not in problems[0], problems[0]
    assert "it allows no google model" in problems[0]
    assert not may_be_of("google", "openai/gpt-4o-mini")
    assert not may_be_of("openai", "openai/gpt-4o-mini")
    # a hosting provider serves such a name, and Google's own resource name stays Google's
    assert may_be_of("compat", "openai/gpt-4o-mini")
    assert may_be_of("google", "models/gemini-1.5-pro")


def test_a_misspelt_mapped_model_the_policy_refuses_is_told_the_allowed_model_it_nearly_is(
    catalog_copy: Path, tmp_path: Path
):
    # a call naming gemini-1.5-prro is told "(did you mean 'gemini-1.5-pro'?)", and so is validate of the mapping;
    # the refusal of the same typo taken from provider_defaults was not
    from magsag_mcp.api import Magsag
    from magsag_mcp.loopback import LoopbackUpstream

    routing = catalog_copy / "routing" / "default.yaml"
    routing.write_text(routing.read_text().replace("  google: gemini-1.5-pro\n", "  google: gemini-1.5-prro\n"))
    with LoopbackUpstream().running() as up:
        env = {**up.env(), **QUICK, "MAGSAG_PROVIDER": "google"}
        with Magsag(catalog=catalog_copy, db=tmp_path / "ledger.db", env=env) as mg:
            with pytest.raises(PolicyDenied) as caught:
                mg.skills.invoke("skill.coding", PAYLOADS["skill.coding"])
    message = caught.value.message
    at = f"{catalog_copy / 'policies' / 'model_governance.yaml'}: policies.0.allowed_models"
    assert (
        # the model it nearly is said next to it, not after the file's path (where it read as the path's)
        f"google:gemini-1.5-prro (did you mean 'gemini-1.5-pro'?) is not in production_models.allowed_models, at {at}"
    ) in message, message
