"""`magsag doctor --probe` against a reachable local server: the models it serves (its OpenAI model list, as Ollama
answers GET /v1/models), bounded as a model-not-found's listing is, and each configured local target naming a model
the server lacks, with the fix a call to it is told. The server is a loopback aiohttp app answering as Ollama does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp.cli import main

pytestmark = pytest.mark.anyio

#: the models an Ollama server has pulled, as its /v1/models names them (twelve: more than a listing shows)
PULLED = [
    "qwen2.5:7b",
    "llama3:latest",
    "llama3.1:8b",
    *(f"phi3:{size}" for size in ("mini", "medium", "3.8b", "14b")),
    *(f"gemma2:{size}" for size in ("2b", "9b", "27b")),
    "mistral:latest",
    "nomic-embed-text:latest",
]


@pytest.fixture
async def ollama() -> AsyncIterator[str]:
    async def models(_request: web.Request) -> web.Response:
        data = [{"id": name, "object": "model", "created": 1764000000, "owned_by": "library"} for name in PULLED]
        return web.json_response({"object": "list", "data": data})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_doctor_probe_lists_the_local_servers_models_and_the_targets_it_lacks(
    cli_env, capsys, monkeypatch, ollama: str
):
    # before: "ready (reachable)" alone; the shipped routing's local:llama3.1:70b (pii-*), which this server lacks,
    # was found only by a call's model-not-found
    monkeypatch.setenv("OLLAMA_BASE_URL", ollama)
    for name in ("MAGSAG_LOCAL_LLM_BASE_URL", "OLLAMA_HOST", "MAGSAG_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAGSAG_MODEL", "llama3")  # (Ollama's llama3:latest, as Ollama takes a name without a tag)
    await anyio.to_thread.run_sync(main, ["doctor", "--probe", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["reachable"]["local"] == "reachable"
    local = report["local_models"]
    assert (local["base_url"], local["models"], local["more"]) == (ollama + "/v1", PULLED[:10], 2)
    assert list(local["missing"]) == ["local:llama3.1:70b"]  # (llama3 is served, as llama3:latest)
    fix = local["missing"]["local:llama3.1:70b"]
    assert fix.startswith(f"the server at {ollama}/v1 serves qwen2.5:7b, llama3:latest") and "and 2 more" in fix
    assert "(did you mean llama3.1:8b?)" in fix and "`ollama pull llama3.1:70b`" in fix
    [note] = [n for n in report["notes"] if "local:llama3.1:70b" in n]
    assert note.startswith("local:llama3.1:70b, a target the catalog or MAGSAG_PROVIDER / MAGSAG_MODEL names, is not")
    await anyio.to_thread.run_sync(main, ["doctor", "--probe"])
    out = capsys.readouterr().out
    assert f"local   : the server at {ollama}/v1 serves qwen2.5:7b, llama3:latest, llama3.1:8b" in out
    assert "nomic-embed-text" not in out.split("local   : ")[1].splitlines()[0]
    assert "gemma2:27b and 2 more\n" in out


async def test_doctor_without_probe_asks_the_local_server_nothing(cli_env, capsys, monkeypatch, ollama: str):
    monkeypatch.setenv("OLLAMA_BASE_URL", ollama)
    await anyio.to_thread.run_sync(main, ["doctor", "--json"])
    assert "local_models" not in json.loads(capsys.readouterr().out)
