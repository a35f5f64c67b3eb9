"""Where a call goes: the base URLs a call may name and the keys that go with them, and the models a data class
confines it to, on the server the call names or another."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import ConfigError, PayloadError
from magsag_mcp.routing import plan_call

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CATALOG, env={})


def labels(plan):
    return [c.target.label for c in plan.candidates]


KEYED = {"OPENAI_API_KEY": "sk-test-0123456789", "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}


def test_data_class_models_are_appended_for_routed_calls(catalog):
    plan = plan_call(
        catalog,
        "skill.pii-redaction",
        {"text": "x"},
        context=None,
        env={"MAGSAG_MODEL": "gpt-4o"},
        data_class_models={"pii_processing": ["llama3.1:70b"]},
    )
    assert labels(plan) == ["openai:gpt-4o", "local:llama3.1:70b"]
    assert [c.source for c in plan.candidates] == ["env", "data_class"]


def test_a_data_class_pattern_allows_models_but_names_no_target(catalog):
    # A requirement may be a glob ("local:*", "claude-*": model_patterns.matches reads them so). It was also
    # appended to the plan as a target: "local:*" called the model "*", and "llama*" (no provider to
    # infer) failed every call of the class with "cannot tell which provider serves model 'llama*'".
    plan = plan_call(
        catalog,
        "skill.pii-redaction",
        {"text": "x"},
        context=None,
        env={"MAGSAG_MODEL": "gpt-4o"},
        data_class_models={"pii_processing": ["local:*", "llama*", "claude-?-haiku", "llama3.1:70b"]},
    )
    assert labels(plan) == ["openai:gpt-4o", "local:llama3.1:70b"]


def test_provider_with_base_url_runs_the_policy_models_on_that_server(catalog):
    mc = {"provider": "local", "base_url": "http://gpu-box:11434"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert {c.target.base_url for c in plan.candidates} == {"http://gpu-box:11434"}
    assert {c.target.provider for c in plan.candidates} == {"local"}


def test_a_call_cannot_send_a_configured_key_to_its_own_base_url(catalog):
    mc = {"model": "openai:gpt-4o", "base_url": "https://collector.example.net/v1"}
    with pytest.raises(
        PayloadError,
        match=r"collector.example.net:443 is not an endpoint configured for openai.*"
        "MAGSAG_ALLOWED_BASE_URLS",
    ):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=KEYED)
    # the same through llm_overrides and through a fallback given as an object
    lo = {"model": "gpt-4o", "base_url": "http://10.0.0.9:8000/v1"}
    with pytest.raises(PayloadError, match="context.llm_overrides.base_url"):
        plan_call(catalog, "skill.analysis", {"data": "x"}, context={"llm_overrides": lo}, env=KEYED)
    mc = {
        "model": "gpt-4o",
        "fallbacks": [
            {
                "provider": "anthropic",
                "model": "claude-3-5-sonnet-20241022",
                "base_url": "https://collector.example.net",
            }
        ],
    }
    with pytest.raises(PayloadError, match=r"fallbacks\[0\].base_url.*configured for anthropic"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=KEYED)


@pytest.mark.parametrize(
    ("env", "base_url"),
    [
        ({}, "https://anywhere.example.net/v1"),  # no key configured: nothing to leak
        (KEYED, "https://api.openai.com/v1/"),  # the vendor's own endpoint
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/v1/"),  # the same URL
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/v1/team-a"),  # below it
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000"}, "http://127.0.0.1:4000/other"),  # the whole server
        (
            {**KEYED, "MAGSAG_ALLOWED_BASE_URLS": "openai=https://proxy.corp:8443, local=http://x"},
            "https://proxy.corp:8443/v1",
        ),
    ],
)
def test_call_base_urls_the_operator_allowed(catalog, env, base_url):
    mc = {"model": "openai:gpt-4o", "base_url": base_url}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert plan.candidates[0].target.base_url == base_url


@pytest.mark.parametrize(
    ("env", "base_url"),
    [
        # a gateway that serves its tenants under paths of one host: another account's path got the key
        (
            {**KEYED, "OPENAI_BASE_URL": "https://gateway.ai.cloudflare.com/v1/acct-mine/gw/openai"},
            "https://gateway.ai.cloudflare.com/v1/acct-theirs/gw/openai",
        ),
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/other"),
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/v1/../other"),
        ({**KEYED, "OPENAI_BASE_URL": "http://127.0.0.1:4000/v1"}, "http://127.0.0.1:4000/v1/%2e%2e/other"),
        ({**KEYED, "MAGSAG_ALLOWED_BASE_URLS": "openai=https://apim.corp/team-a"}, "https://apim.corp/team-b/v1"),
    ],
)
def test_another_path_on_a_configured_server_does_not_get_the_key(catalog, env, base_url):
    # Before: a call's base URL was taken when its scheme, host and port were configured, whatever its path,
    # and the operator's key went to whoever answers at that other path (another tenant of a shared gateway).
    mc = {"model": "openai:gpt-4o", "base_url": base_url}
    with pytest.raises(PayloadError, match=r"is at no base URL configured for openai on that server") as caught:
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert "sk-" not in caught.value.message


def test_a_token_in_a_refused_base_urls_path_is_not_repeated(catalog):
    # the refusal is recorded in the ledger, which every caller can search (search_usage)
    env = {**KEYED, "OPENAI_BASE_URL": "https://gw.example/v1"}
    mc = {"model": "openai:gpt-4o", "base_url": "https://gw.example/gw7Qx2secretTOKEN9876/v1"}
    with pytest.raises(PayloadError) as caught:
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert "https://gw.example:443/[REDACTED]/v1 is at no base URL" in caught.value.message
    assert "gw7Qx2secretTOKEN9876" not in caught.value.message


def test_local_base_url_from_a_call_is_fine_without_a_local_key(catalog):
    mc = {"model": "llama3.1:70b", "base_url": "http://gpu-box:11434"}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=KEYED)
    assert plan.candidates[0].target.base_url == "http://gpu-box:11434"
    # with a key for the local server, only its configured origin (default http://localhost:11434) gets it
    keyed_local = {"MAGSAG_LOCAL_LLM_API_KEY": "secret-local-key"}
    with pytest.raises(PayloadError, match="configured for local"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=keyed_local)
    mc = {"model": "llama3.1:70b", "base_url": "http://localhost:11434"}
    plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=keyed_local)


def test_a_bad_allow_list_names_the_entry(catalog):
    mc = {"model": "openai:gpt-4o", "base_url": "https://h.example/v1"}
    for value, bad in (
        ("openai=https://ok.example,openai=ftp://nope", "openai=ftp://nope"),
        ("openai=https://ok.example,https://no-provider", "https://no-provider"),
    ):
        env = {**KEYED, "MAGSAG_ALLOWED_BASE_URLS": value}
        with pytest.raises(ConfigError, match=rf"MAGSAG_ALLOWED_BASE_URLS: entry 2 \('{bad}'\) is not provider=URL"):
            plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)


def test_an_origin_allowed_for_one_provider_does_not_receive_anothers_key(catalog):
    env = {**KEYED, "MAGSAG_ALLOWED_BASE_URLS": "local=http://127.0.0.1:8080"}
    mc = {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022", "base_url": "http://127.0.0.1:8080"}
    with pytest.raises(PayloadError, match="configured for anthropic"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)


@pytest.mark.parametrize(
    ("env", "base_url"),
    [
        ({}, "http://localhost:11434"),  # the guide's local-model example: Ollama's default server, written its way
        ({}, "http://localhost:11434/v1/"),
        ({"OLLAMA_BASE_URL": "http://gpu-box:11434"}, "http://gpu-box:11434/v1"),
        ({"MAGSAG_LOCAL_LLM_BASE_URL": "http://gpu-box:8000/v1/"}, "http://gpu-box:8000/v1"),
    ],
)
def test_a_data_class_model_on_the_server_the_call_names_is_not_tried_twice(catalog, env, base_url):
    # The guide's pii_payload: model llama3.1:70b at base_url http://localhost:11434, for a data class confined
    # to local:llama3.1:70b. Before: the class's model was appended once more (base_url None: the same server,
    # the default), so a server that was down was tried 3 + 3 times and every failure recorded twice.
    mc = {"model": "llama3.1:70b", "base_url": base_url}
    plan = plan_call(
        catalog,
        "skill.pii-redaction",
        {"text": "x", "model_config": mc},
        context=None,
        env=env,
        data_class_models={"pii_processing": ["local:llama3.1:70b"]},
    )
    assert labels(plan) == ["local:llama3.1:70b"]
    assert plan.candidates[0].target.base_url == base_url


def test_a_data_class_model_on_another_server_stays_its_fallback(catalog):
    env = {"MAGSAG_ALLOWED_BASE_URLS": "local=http://gpu-box:11434"}
    mc = {"model": "llama3.1:70b", "base_url": "http://gpu-box:11434"}
    plan = plan_call(
        catalog,
        "skill.pii-redaction",
        {"text": "x", "model_config": mc},
        context=None,
        env=env,
        data_class_models={"pii_processing": ["local:llama3.1:70b"]},
    )
    assert [(c.target.label, c.target.base_url, c.source) for c in plan.candidates] == [
        ("local:llama3.1:70b", "http://gpu-box:11434", "call"),
        ("local:llama3.1:70b", None, "data_class"),
    ]


def test_a_fallback_naming_the_same_server_another_way_is_tried_once(catalog):
    mc = {"model": "llama3.1:70b", "base_url": "http://localhost:11434", "fallbacks": ["llama3.1:70b"]}
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env={})
    assert labels(plan) == ["local:llama3.1:70b"]


@pytest.mark.parametrize(
    ("env", "mc"),
    [
        # Azure's Target URI as the portal shows it: its resource's root is where requests go below
        (
            {
                "AZURE_OPENAI_API_KEY": "azure-key-0123456789",
                "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions",
            },
            {"provider": "azure", "model": "gpt-4o", "base_url": "https://res.openai.azure.com/"},
        ),
        # Ollama's root as the guide writes it is its /v1 API, where the configured server is called
        (
            {"MAGSAG_LOCAL_LLM_API_KEY": "secret-local-key", "OLLAMA_BASE_URL": "http://gpu-box:11434"},
            {"model": "llama3.1:70b", "base_url": "http://gpu-box:11434/"},
        ),
    ],
)
def test_a_configured_server_named_as_its_provider_reads_it_is_the_same_base_url(catalog, env, mc):
    plan = plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
    assert plan.candidates[0].target.base_url == mc["base_url"]


def test_an_allowed_base_url_with_a_dot_segment_is_refused_saying_so(catalog):
    env = {**KEYED, "MAGSAG_ALLOWED_BASE_URLS": "openai=https://apim.corp/team-a/../team-b"}
    mc = {"model": "openai:gpt-4o", "base_url": "https://apim.corp/team-b"}
    with pytest.raises(ConfigError, match=r"entry 1 .* has a '\.' or '\.\.' segment in its path"):
        plan_call(catalog, "skill.analysis", {"data": "x", "model_config": mc}, context=None, env=env)
