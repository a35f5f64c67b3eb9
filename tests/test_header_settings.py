"""Settings sent beside a key (OpenAI's organization and project ids, Anthropic's API version), a base URL whose host
no host has, and NO_PROXY entries that cover nothing: `magsag doctor` lists each as a problem, and a call refuses it
before sending anything, naming the variable and the fix and never a key."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli import main
from magsag_mcp.providers import ProviderSet
from magsag_mcp.proxies import ProxySettings
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target

KEY = "sk-test-0123456789abcdefghij"


@pytest.mark.parametrize(
    ("env", "provider", "said"),
    [
        (
            {"ANTHROPIC_VERSION": "2023/06/01"},
            "anthropic",
            "anthropic: ANTHROPIC_VERSION='2023/06/01' is not an Anthropic API version, which is a date written "
            "YYYY-MM-DD; set ANTHROPIC_VERSION=2023-06-01, or unset it for that default",
        ),
        (
            {"ANTHROPIC_VERSION": "2023-13-01"},
            "anthropic",
            "anthropic: ANTHROPIC_VERSION='2023-13-01' is not an Anthropic API version",
        ),
        (
            {"OPENAI_ORG_ID": "Acme Corp"},
            "openai",
            "openai: OPENAI_ORG_ID='Acme Corp' is not an OpenAI organization id (org- and letters and digits); set it "
            "to the organization's id (org-..., under Settings in the OpenAI dashboard, not its name), or unset it "
            "to send none (the key's own organization is used)",
        ),
        (
            {"OPENAI_ORGANIZATION": "proj_abc123"},
            "openai",
            "openai: OPENAI_ORGANIZATION='proj_abc123' is not an OpenAI organization id (org- and letters and "
            "digits); it is a project id: move it to OPENAI_PROJECT_ID",
        ),
        (
            {"OPENAI_PROJECT_ID": "my project"},
            "openai",
            "openai: OPENAI_PROJECT_ID='my project' is not an OpenAI project id (proj_ and letters and digits)",
        ),
        (
            {"OPENAI_BASE_URL": "https://api.open ai.com/v1"},
            "openai",
            "openai: the base URL's host has a space in it, which no host name has; set its base URL "
            "(OPENAI_BASE_URL) to e.g. https://host/v1",
        ),
    ],
)
def test_a_setting_sent_beside_the_key_is_a_problem_and_refuses_the_call(
    cli_env, capsys, monkeypatch, env, provider, said
):
    # Before: doctor exited 0 calling the provider ready, and every call sent the value to the vendor, whose answer
    # (a 401 read as a bad key, a 400, a name lookup of "api.open ai.com") named neither the variable nor the fix
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY.replace("sk-", "sk-ant-"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["doctor", "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert any(p.startswith(said) for p in problems), problems
    refused = ProviderSet(env | {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY}, Transport()).get(provider)
    error = refused.unavailable_error(Target(provider, "gpt-4o" if provider == "openai" else "claude-sonnet-4-5"))
    assert isinstance(error, E.NotConfiguredError) and error.message.startswith(said), error


def test_settings_that_look_right_are_no_problem(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-AbC123dEf456")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_abGMw1llN8IrBb6SvvY5A1iH")
    monkeypatch.setenv("ANTHROPIC_VERSION", "2023-06-01")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://[::1]:8080/v1")
    assert main(["doctor", "--json"]) == 0, capsys.readouterr().out


def test_a_key_pasted_where_an_id_goes_is_never_shown(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", KEY)  # two values of a client's config swapped
    assert main(["doctor", "--json"]) == 1
    out = capsys.readouterr().out
    assert "0123456789abcdefghij" not in out
    assert "OPENAI_ORG_ID (a value of 28 characters, not shown) is not an OpenAI organization id" in out


PROXIED = {"HTTPS_PROXY": "http://proxy.corp:3128", "HTTP_PROXY": "http://proxy.corp:3128"}


def test_a_no_proxy_network_that_is_none_is_a_problem_and_refuses_the_hosts_it_may_have_meant(
    cli_env, capsys, monkeypatch
):
    # Before: NO_PROXY=10.0.0.0/99 was skipped without a word, and a local model server on 10.x was asked through the
    # corporate proxy
    settings = ProxySettings(PROXIED | {"NO_PROXY": "internal.example, 10.0.0.0/99"})
    said = (
        "NO_PROXY entry '10.0.0.0/99' covers no host (it is no network), so the hosts it was meant to keep off the "
        "proxy are sent through it; write an address, a slash and a prefix length of at most 32 (128 for IPv6), "
        "e.g. 10.0.0.0/8 or fd00::/8, or remove it"
    )
    assert settings.problems() == [said]
    with pytest.raises(E.ConfigError) as refused:
        settings.for_url("http://10.1.2.3:11434/v1")
    assert refused.value.message == f"a request to 10.1.2.3 would go through the proxy: {said}"
    # a network covers no name: a request to one goes as before, through the proxy or off it
    assert settings.for_url("https://api.openai.com/v1") is not None
    assert settings.for_url("https://internal.example/v1") is None
    for name, value in (PROXIED | {"NO_PROXY": "10.0.0.0/99"}).items():
        monkeypatch.setenv(name, value)
    assert main(["doctor", "--json"]) == 1
    assert said in json.loads(capsys.readouterr().out)["problems"]


def test_a_no_proxy_port_that_is_no_port_is_a_problem_and_no_proxy_without_a_proxy_is_none():
    settings = ProxySettings(PROXIED | {"NO_PROXY": "gpu.internal:99999"})
    (said,) = settings.problems()
    assert said.startswith("NO_PROXY entry 'gpu.internal:99999' covers no host (its port is not a number from 1 to")
    with pytest.raises(E.ConfigError, match="a request to gpu.internal would go through the proxy"):
        settings.for_url("http://gpu.internal:8000/v1")
    # without a proxy NO_PROXY changes nothing here: no problem of magsag's
    assert ProxySettings({"NO_PROXY": "10.0.0.0/99"}).problems() == []


def test_doctor_lists_each_setting_of_a_provider_made_wrong_not_the_first_alone(cli_env, capsys, monkeypatch):
    # one at a time, the base URL's host with a space was said only once the organization id beside it was fixed
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "Acme")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.open ai.com/v1")
    assert main(["doctor", "--json"]) == 1
    problems = [p for p in json.loads(capsys.readouterr().out)["problems"] if p.startswith("openai: ")]
    assert [p.split(" ")[1] for p in problems] == ["OPENAI_ORG_ID='Acme'", "the"], problems
    assert "host has a space in it" in problems[1]


def test_the_ids_and_version_sent_beside_the_key_are_not_matched_again_before_each_attempt(monkeypatch):
    # A target with params of its own (model_config.params: {"seed": 1}) is judged before every attempt, no verdict
    # kept for it (see HTTPProvider.unavailable_error): each attempt matched OPENAI_ORG_ID, OPENAI_PROJECT_ID and
    # ANTHROPIC_VERSION against their patterns again, though the environment had not changed. Each value is matched
    # once now; a value set since is judged as any is.
    from magsag_mcp.providers import header_settings

    matched: list[str] = []

    class Counted:
        def __init__(self, pattern):
            self.pattern = pattern

        def fullmatch(self, value):
            matched.append(value)
            return self.pattern.fullmatch(value)

    for name in ("_ORG_ID", "_PROJECT_ID", "_DATED"):
        monkeypatch.setattr(header_settings, name, Counted(getattr(header_settings, name)))
    org, project, version = "org-CountedOnce42", "proj_CountedOnce42", "2019-02-28"  # (none other judged)
    env = {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY, "OPENAI_ORG_ID": org, "OPENAI_PROJECT_ID": project}
    env["ANTHROPIC_VERSION"] = version
    providers = ProviderSet(env, Transport())
    targets = [
        (providers.get("openai"), Target("openai", "gpt-4o", params=(("seed", 1),))),
        (providers.get("anthropic"), Target("anthropic", "claude-sonnet-4-5", params=(("top_k", 5),))),
    ]
    for _ in range(3):
        for provider, target in targets:
            assert provider.unavailable_error(target) is None
    assert sorted(matched) == sorted([org, project, version]), matched
    env["OPENAI_ORG_ID"] = "Acme Corp"  # changed: judged, and refused
    error = targets[0][0].unavailable_error(targets[0][1])
    assert isinstance(error, E.NotConfiguredError) and "OPENAI_ORG_ID='Acme Corp' is not an OpenAI" in error.message


def test_a_missing_key_is_said_before_a_setting_beside_it():
    # Before: with no OPENAI_API_KEY and OPENAI_ORG_ID=Acme, a call named the organization id alone; fixed, the next
    # call then said the key was missing. The key comes first: the id is checked against the key's organization.
    openai = ProviderSet({"OPENAI_ORG_ID": "Acme"}, Transport()).get("openai")
    error = openai.unavailable_error(Target("openai", "gpt-4o"))
    assert isinstance(error, E.AuthenticationError) and "OPENAI_API_KEY" in error.message, error
    keyed = ProviderSet({"OPENAI_ORG_ID": "Acme", "OPENAI_API_KEY": KEY}, Transport()).get("openai")
    error = keyed.unavailable_error(Target("openai", "gpt-4o"))
    assert isinstance(error, E.NotConfiguredError) and "OPENAI_ORG_ID='Acme'" in error.message, error
