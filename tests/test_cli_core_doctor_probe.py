"""`magsag doctor --probe`: which providers answer, and which failures count toward its exit code."""

from __future__ import annotations

import json

import anyio
import pytest

from magsag_mcp.cli import main
from tests.conftest import CATALOG


@pytest.mark.anyio
async def test_doctor_probe_says_ready_only_when_the_provider_answers(cli_env, capsys, monkeypatch, fake_openai):
    # the fake checks the key: the right one answers 200, a wrong one 401 (configured, yet not ready)
    from tests.fakes.openai_server import DEFAULT_KEY

    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.url + "/v1")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key-0123456789")
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    for key, expected, code in (
        (DEFAULT_KEY, "ready (reachable)", 0),
        ("sk-wrong-0123456789", "configured, but answered HTTP 401", 1),  # before: exit 0 whatever failed
    ):
        monkeypatch.setenv("OPENAI_API_KEY", key)
        assert await anyio.to_thread.run_sync(main, ["doctor", "--probe"]) == code
        lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
        assert lines["openai"].endswith(expected), lines["openai"]
        assert lines["azure"].count("not configured") == 1  # said once, not again by the probe
    # a base URL without the API's version: the 404 names the URL and what the base URL should be
    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.url)
    assert await anyio.to_thread.run_sync(main, ["doctor", "--probe"]) == 1
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert lines["openai"].endswith(
        f"configured, but answered HTTP 404 at {fake_openai.url}/models: check that the base URL "
        "(OPENAI_BASE_URL, or the target's base_url) ends with the API's version: https://api.openai.com/v1 by default"
    ), lines["openai"]


@pytest.mark.anyio
async def test_doctor_probe_fails_when_a_configured_provider_is_unreachable(
    cli_env, capsys, monkeypatch, refused_port: int
):
    closed = f"http://127.0.0.1:{refused_port}"  # nothing listens there
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", closed + "/v1")
    for name in ("MAGSAG_LOCAL_LLM_BASE_URL", "OLLAMA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert await anyio.to_thread.run_sync(main, ["doctor", "--probe", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["reachable"]["openai"].startswith("unreachable")
    # the JSON names what failed the exit code (the service decides it; local at its default URL never does)
    assert report["probe_failed"] == ["openai"] and report["providers"]["local"]["base_url_set"] is False
    assert await anyio.to_thread.run_sync(main, ["doctor", "--probe"]) == 1
    assert "doctor: configured but failing the probe: openai" in capsys.readouterr().out


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("env", "counted"),
    [
        ({}, False),  # local at its default URL, asked for by nobody: its silence fails nothing
        ({"MAGSAG_PROVIDER": "local"}, True),  # the guide's "Local/Offline": every call goes there
        ({"MAGSAG_PROVIDER": "ollama"}, True),  # an alias of it
        ({"MAGSAG_MODEL": "llama3.1:70b"}, True),  # a tagged model is the local server's
        ({"MAGSAG_MODEL": "gpt-4o"}, False),
    ],
)
async def test_doctor_probe_counts_local_at_its_default_url_when_the_overrides_send_calls_there(
    tmp_path, env, counted
):
    # Before: `MAGSAG_PROVIDER=local magsag doctor --probe` with no server on localhost:11434 said "configured,
    # but unreachable" and exited 0, as if local were asked for by nobody; every call then failed.
    from magsag_mcp.service import Service

    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env, create_ledger=False) as svc:
        assert svc.providers.describe()["local"]["base_url_set"] is False
        reachable = {name: "reachable" for name in svc.providers.describe()}
        reachable["local"] = "unreachable: could not reach http://localhost:11434: the connection was refused"
        assert svc.probe_failures(reachable) == (["local"] if counted else [])


@pytest.mark.anyio
async def test_doctor_probes_the_providers_of_a_catalog_that_cannot_be_loaded(
    cli_env, capsys, monkeypatch, catalog_copy, fake_openai
):
    from tests.fakes.openai_server import DEFAULT_KEY

    (catalog_copy / "routing" / "default.yaml").write_text("default: [openai:gpt-4o\n")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_KEY)
    args = ["doctor", "--catalog", str(catalog_copy), "--probe", "--json"]
    assert await anyio.to_thread.run_sync(main, args) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["reachable"]["openai"] == "reachable" and "openai" not in report["probe_failed"]
    assert [p for p in report["problems"] if "malformed YAML" in p]


@pytest.mark.parametrize("asked", [False, True])
def test_doctor_says_when_locals_failed_probe_is_not_counted(cli_env, capsys, monkeypatch, asked):
    # Before: local at its default URL, asked for by nothing, showed "configured, but unreachable: ..." and doctor
    # exited 0, with no word of why that failure did not count
    from magsag_mcp.providers import provider_names
    from magsag_mcp.service import Service

    async def probe(self):
        return {
            name: "unreachable: could not reach http://localhost:11434" if name == "local" else "not probed"
            for name in provider_names()
        }

    monkeypatch.setattr(Service, "probe", probe)
    for name in ("MAGSAG_LOCAL_LLM_BASE_URL", "OLLAMA_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.delenv(name, raising=False)
    if asked:
        monkeypatch.setenv("MAGSAG_PROVIDER", "local")
    assert main(["doctor", "--probe"]) == (1 if asked else 0)
    out = capsys.readouterr().out.splitlines()
    line = next(line for line in out if line.startswith("  local "))
    assert "configured, but unreachable" in line
    assert ("not counted" in line) is not asked
    assert "not counted" not in next(line for line in out if line.startswith("  fake "))  # never probed
