"""`magsag doctor` on Azure OpenAI's settings: endpoint, key and api-version, all said in one run."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.cli import main


def _azure_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN", "AZURE_OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


NO_ENDPOINT = "no endpoint; set AZURE_OPENAI_ENDPOINT (https://RESOURCE.openai.azure.com/)"


NO_KEY = "no API key; set AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN in the environment"


BAD_VERSION = (
    "azure: the api-version '2024-1021' (AZURE_OPENAI_API_VERSION) is not one Azure OpenAI takes, which refuses every "
    "call with it; set AZURE_OPENAI_API_VERSION to a dated one (2024-10-21, the GA version, or a preview such as "
    "2025-04-01-preview) or to v1 (the v1 API)"
)


def test_doctor_says_every_azure_setting_missing_or_wrong_in_one_run(cli_env, capsys, monkeypatch):
    # It said one at a time: "no endpoint"; that fixed, "no API key"; that fixed, "ready", with an api-version of no
    # form Azure takes (every call refused with a 400). Missing is still only not configured; wrong is a problem.
    _azure_env(monkeypatch, AZURE_OPENAI_API_VERSION="2024-1021")
    assert main(["doctor"]) == 1  # the api-version set wrong
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["azure"].endswith(f"not configured: azure: {NO_ENDPOINT}; and {NO_KEY}"), lines["azure"]
    assert [p for p in out.splitlines() if p.startswith("problem: azure")] == [f"problem: {BAD_VERSION}"]

    # an endpoint of no URL, and a placeholder key: each a problem, beside the api-version, in the same run
    _azure_env(
        monkeypatch,
        AZURE_OPENAI_ENDPOINT="htp//myres.openai.azure.com",
        AZURE_OPENAI_API_KEY="...",
        AZURE_OPENAI_API_VERSION="2024-1021",
    )
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    azure = [p for p in report["problems"] if p.startswith("azure:")]
    assert len(azure) == 3 and azure[2] == BAD_VERSION, azure
    assert "set its base URL (AZURE_OPENAI_ENDPOINT) to e.g. https://RESOURCE.openai.azure.com/" in azure[0]
    assert "AZURE_OPENAI_API_KEY holds a placeholder" in azure[1]
    unavailable = report["providers"]["azure"]["unavailable"]
    assert "AZURE_OPENAI_ENDPOINT" in unavailable and "; and AZURE_OPENAI_API_KEY holds a placeholder" in unavailable


@pytest.mark.parametrize("version", ["2024-10-21", "2025-04-01-preview", "v1", "preview", "latest"])
def test_doctor_takes_every_api_version_azure_takes(cli_env, capsys, monkeypatch, version):
    _azure_env(
        monkeypatch,
        AZURE_OPENAI_ENDPOINT="https://myres.openai.azure.com/",
        AZURE_OPENAI_API_KEY="azure-test-key-0123456789",
        AZURE_OPENAI_API_VERSION=version,
    )
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["azure"].endswith("ready") and "problem" not in out, out


@pytest.mark.parametrize("version", ["V1", "2024-02-30", "2024-10-21-Preview", "sk-" + "a" * 40])
def test_doctor_finds_an_api_version_azure_takes_in_no_form(cli_env, capsys, monkeypatch, version):
    _azure_env(
        monkeypatch,
        AZURE_OPENAI_ENDPOINT="https://myres.openai.azure.com/",
        AZURE_OPENAI_API_KEY="azure-test-key-0123456789",
        AZURE_OPENAI_API_VERSION=version,
    )
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    (problem,) = [p for p in out.splitlines() if p.startswith("problem: azure")]
    assert "is not one Azure OpenAI takes" in problem and "set AZURE_OPENAI_API_VERSION to a dated one" in problem
    assert version not in problem if len(version) > 24 else repr(version) in problem  # a key pasted there: not shown


def test_doctor_notes_a_target_uris_deployment_that_no_setting_calls(cli_env, capsys, monkeypatch):
    # AZURE_OPENAI_ENDPOINT pasted as a deployment's Target URI: its path (the deployment) is dropped, and calls go
    # to the deployment their model names; doctor said "ready", and the first call's 404 DeploymentNotFound said why
    uri = "https://myres.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version=2025-01-01-preview"
    _azure_env(monkeypatch, AZURE_OPENAI_ENDPOINT=uri, AZURE_OPENAI_API_KEY="azure-test-key-0123456789")
    assert main(["doctor", "--json"]) == 0  # a note, not a problem: a call or a route may name the deployment
    report = json.loads(capsys.readouterr().out)
    assert report["providers"]["azure"]["unavailable"] is None and report["problems"] == []
    (note,) = [n for n in report["notes"] if n.startswith("azure:")]
    assert note.startswith("azure: AZURE_OPENAI_ENDPOINT is the Target URI of the deployment 'my-gpt4o', whose path")
    assert note.endswith("set MAGSAG_MODEL=azure:my-gpt4o (or a call's model_config.model) to call it")
    monkeypatch.setenv("MAGSAG_MODEL", "azure:my-gpt4o")  # named: nothing to note
    main(["doctor", "--json"])
    assert not [n for n in json.loads(capsys.readouterr().out)["notes"] if n.startswith("azure:")]
