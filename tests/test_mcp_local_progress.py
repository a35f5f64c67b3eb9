"""What a client sees while a local target's call waits: the server asked where it runs the model (Ollama's
/api/show), then the model loading into memory, silent for minutes. The call said nothing for a heartbeat's length,
then "still waiting: starting" while the server was asked, and "still waiting: calling local:..." while it loaded.
Now it says "starting" at once, that it asks the server, and, on the heartbeat, that a local server says nothing
while it loads the model. The server here is a loopback aiohttp app answering as Ollama does."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from aiohttp import web
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG
from tests.test_local_reach import SHOW_PULLED, Ollama

pytestmark = pytest.mark.anyio


class LoadingOllama(Ollama):
    """Ollama whose /api/show and whose answer (the model loading) each wait until the client has heard of them."""

    def __init__(self) -> None:
        super().__init__({"llama3.1:70b": SHOW_PULLED})
        self.asked_heard, self.loading_heard = anyio.Event(), anyio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        await (self.asked_heard if request.path == "/api/show" else self.loading_heard).wait()
        return await super().handle(request)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_slow_local_target_is_said_from_the_start_through_its_models_load(
    serve_posts, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
):
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ollama = LoadingOllama()
    ollama.url = await serve_posts(ollama.handle)
    said: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        said.append(message or "")
        if message == "asking local:llama3.1:70b's server where it runs the model":
            ollama.asked_heard.set()
        if message and message.startswith("still waiting") and "loads the model" in message:
            ollama.loading_heard.set()

    env = {"MAGSAG_LOCAL_LLM_BASE_URL": f"{ollama.url}/v1", "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": "local:llama3.1:70b"}}
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=env), mode=mode) as client:
        with anyio.fail_after(60):  # a hang guard, not a timing assertion
            result = await client.call_tool("invoke_skill", args, progress_callback=on_progress)
    assert not result.is_error, result.content[0].text
    assert said[0] == "starting", said
    asking = said.index("asking local:llama3.1:70b's server where it runs the model")
    calling = said.index("calling local:llama3.1:70b (candidate 1, try 1)")
    assert 0 < asking < calling, said
    # while the server was asked, the heartbeat says so (not "starting"), and while the model loads, that it may be
    assert all(not m.endswith(": starting") for m in said[asking:calling]), said
    loading = [m for m in said[calling:] if m.startswith("still waiting")]
    assert loading and all(
        m.endswith(
            ": calling local:llama3.1:70b (candidate 1, try 1); a local server says nothing while it loads the "
            "model into memory, minutes for a large one"
        )
        for m in loading
    ), said
    assert ollama.paths[0] == "/api/show"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_explain_route_says_it_asks_a_local_server_where_it_runs_the_model(
    serve_posts, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
):
    # explain_route asks a local target's server (POST /api/show), which may take the connect timeout of a server
    # not answering, and sent no progress: a client that restarts its clock on progress heard nothing meanwhile.
    # Now it says "starting", that it asks the server, and, on the heartbeat, that it still asks, as invoke_skill does.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ollama = LoadingOllama()
    ollama.url = await serve_posts(ollama.handle)
    said: list[str] = []
    asking = "asking local:llama3.1:70b's server where it runs the model"

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        said.append(message or "")
        if message and message.startswith("still waiting after ") and message.endswith(f": {asking}"):
            ollama.asked_heard.set()  # (the server answers once the heartbeat has said it is asked)

    env = {"MAGSAG_LOCAL_LLM_BASE_URL": f"{ollama.url}/v1"}
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": "local:llama3.1:70b"}}
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=env), mode=mode) as client:
        with anyio.fail_after(60):  # a hang guard, not a timing assertion
            result = await client.call_tool("explain_route", args, progress_callback=on_progress)
    assert not result.is_error, result.content[0].text
    assert result.structured_content["targets"][0]["label"] == "local:llama3.1:70b"
    assert said[:2] == ["starting", asking], said
    assert any(m.startswith("still waiting after ") and m.endswith(f": {asking}") for m in said), said
    assert ollama.paths == ["/api/show"]  # asked, and no prompt sent
    # no word of a model loading: explain sends no call
    assert not any("loads the model" in m for m in said), said
