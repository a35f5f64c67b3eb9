"""What a client hears of a local target while a call runs, in the order it happens and true of where the model runs:
a fallback said before its server is asked where it runs the model, a target then skipped said so (the heartbeat said
it was still asking), and no word of a model loading into memory for a local name that runs on Ollama's cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web
from mcp.client import Client

from magsag_mcp import errors as E
from magsag_mcp.mcp_server import build_server
from magsag_mcp.providers.fake import script
from tests.cascade_helpers import make, plan
from tests.test_local_reach import Ollama
from tests.test_local_server_down import _closed_port
from tests.test_mcp_tools_updates import StubContext

pytestmark = pytest.mark.anyio

SAID = ("attempt", "fallback", "asking", "skipped")


@pytest.mark.usefixtures("fake_scripts")
async def test_a_local_fallback_is_said_before_its_server_is_asked_and_its_skip_is_said():
    # The cascade told "asking local:...'s server" before "falling back to local:...", and a target skipped then (its
    # server not running) was told nothing: the client's last word of the call was that it asked that server.
    cascade, _ = make({"MAGSAG_LOCAL_LLM_BASE_URL": f"{await _closed_port()}/v1"}, tries=1)
    script("a", E.ServerError("fake:a: HTTP 500: internal error", status=500))
    script("b", "from b")
    told: list[tuple[str, dict[str, Any]]] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        if event in SAID:
            told.append((event, data))

    route = {"model": "fake:a", "fallbacks": ["local:llama3.1:70b", "fake:b"]}
    out = await cascade.run(plan(route), run_id="r", agent=None, progress=progress)
    assert out.attempts[-1].outcome == "ok"
    assert [(event, data.get("target", data.get("to"))) for event, data in told] == [
        ("attempt", "fake:a"),
        ("fallback", "local:llama3.1:70b"),
        ("asking", "local:llama3.1:70b"),
        ("skipped", "local:llama3.1:70b"),
        ("fallback", "fake:b"),
        ("attempt", "fake:b"),
    ], told
    assert told[3][1]["reason"] == "its server could not be reached"


async def test_a_skipped_target_is_what_the_heartbeat_then_says_not_its_servers_ask(monkeypatch):
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ctx = StubContext(until=5)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        async with bridge.beating():
            await bridge("fallback", {"to": "local:llama3.1:70b", "position": 1, "of": 3})
            await bridge("asking", {"target": "local:llama3.1:70b"})
            await bridge("skipped", {"target": "local:llama3.1:70b", "reason": "its server could not be reached"})
            await ctx.heard.wait()
    skipping = "skipping local:llama3.1:70b (its server could not be reached)"
    assert ctx.said[:4] == [
        "starting",
        "falling back to local:llama3.1:70b (candidate 2 of 3)",
        "asking local:llama3.1:70b's server where it runs the model",
        skipping,
    ], ctx.said
    assert ctx.said[4].startswith("still waiting after ") and ctx.said[4].endswith(f": {skipping}"), ctx.said


class SlowCloudOllama(Ollama):
    """Ollama whose answer waits until the client has heard the call's heartbeat."""

    def __init__(self) -> None:
        super().__init__({})
        self.waiting_heard = anyio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if request.path != "/api/show":
            await self.waiting_heard.wait()
        return await super().handle(request)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_local_cloud_models_heartbeat_does_not_say_a_model_loads(
    serve_posts, catalog_copy: Path, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
):
    # The heartbeat of a local target's attempt said a local server says nothing while it loads the model into memory;
    # a cloud model of Ollama's (gpt-oss:120b-cloud) runs on ollama.com, and nothing here loads it.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ollama = SlowCloudOllama()
    ollama.url = await serve_posts(ollama.handle)
    said: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        said.append(message or "")
        if message and message.startswith("still waiting after ") and "calling local:" in message:
            ollama.waiting_heard.set()

    env = {"MAGSAG_LOCAL_LLM_BASE_URL": f"{ollama.url}/v1"}
    model = "local:gpt-oss:120b-cloud"
    policies = catalog_copy / "policies" / "model_governance.yaml"
    # (allowed by name, and priced, as a cloud model must be: see catalog/policies/model_governance.yaml)
    policies.write_text(policies.read_text().replace('      - "local:*"\n', f'      - "local:*"\n      - "{model}"\n'))
    prices = catalog_copy / "prices.yaml"
    prices.write_text(f'"{model}": {{input: 0.1, output: 0.4}}\n' + prices.read_text())  # (before local:*)
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": model}}
    async with Client(build_server(catalog=catalog_copy, db=tmp_path / "l.db", env=env), mode=mode) as client:
        with anyio.fail_after(60):  # a hang guard, not a timing assertion
            result = await client.call_tool("invoke_skill", args, progress_callback=on_progress)
    assert not result.is_error, result.content[0].text
    waiting = [m for m in said if m.startswith("still waiting after ") and "calling local:" in m]
    assert waiting and all(m.endswith(f": calling {model} (candidate 1, try 1)") for m in waiting), said
