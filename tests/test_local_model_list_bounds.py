"""The model list a local server's model-not-found is said with (providers/local_models.py): read within the call's
deadline and a bound of its own, so that the attempt is recorded as the model not found; only names a target could
give; and a bounded "did you mean"."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import ProviderSet, local_models
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.targets import parse_target
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.cascade_helpers import plan
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

MISSING = {"error": {"message": 'model "llama3.1:70b" not found, try pulling it first', "type": "api_error"}}


async def _trickle(request: web.Request) -> web.StreamResponse:
    """A model list that never ends: a byte every 0.2 s, each of which resets a read timeout."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"object": "list", "data": [')
    while True:
        await resp.write(b" ")
        await asyncio.sleep(0.2)


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Any], Any]]:
    started: list[TestServer] = []

    async def start(listing: Any) -> str:
        async def missing(request: web.Request) -> web.Response:
            return web.json_response(MISSING, status=404)

        app = web.Application()
        app.router.add_get("/v1/models", listing)
        app.router.add_post("/{tail:.*}", missing)
        test_server = TestServer(app, host="127.0.0.1")
        await test_server.start_server()
        started.append(test_server)
        return str(test_server.make_url("")).rstrip("/")

    yield start
    for s in started:
        await s.close()


async def test_a_model_list_that_never_ends_leaves_the_attempt_a_model_not_found(server, tmp_path):
    # The list was waited for with a read timeout alone, which each byte resets: a server trickling it held the
    # failed call until the call's deadline, and the attempt was recorded as the deadline's timeout (a sender to
    # raise MAGSAG_CALL_DEADLINE) instead of the model not found.
    url = await server(_trickle)
    cascade = Cascade(
        ProviderSet({}, Transport()), Pricer.from_catalog(tmp_path), None, RetryPolicy(tries_per_target=1, deadline=3.0)
    )
    p = plan({"model": "local:llama3.1:70b"})
    target = parse_target({"provider": "local", "model": "llama3.1:70b", "base_url": url})
    p.candidates[0] = dataclasses.replace(p.candidates[0], target=target)
    with pytest.raises(E.ProviderError) as info:
        await cascade.run(p, run_id="r-list", agent=None)
    attempts = info.value.attempts
    assert [a.error_class for a in attempts] == ["model_not_found"], [a.error_message for a in attempts]
    assert "not found, try pulling it first" in attempts[0].error_message


async def test_a_model_list_that_never_ends_is_given_up_outside_any_deadline(server, monkeypatch, transport):
    # (a library caller of the provider, with no call deadline around it: the list's own bound holds)
    monkeypatch.setattr(local_models, "LIST_WAIT_S", 0.5)
    url = await server(_trickle)
    call = LocalProvider({}, transport).complete(ask(), Target("local", "llama3.1:70b", base_url=url))
    with pytest.raises(E.ModelNotFoundError) as info:
        await asyncio.wait_for(call, 60)  # (only so that the failure before the fix is not a hung suite)
    assert info.value.message.endswith("LM Studio the ones loaded)")


async def test_names_no_target_could_give_are_not_said(server, transport: Transport):
    # A server's names reached the message as it sent them: an escape sequence (a terminal's title, its clipboard
    # through OSC 52) and a line break (a forged log line) went to the caller's terminal and logs; a target refuses
    # such a name, so "name one of them" could not be followed either.
    names = ["llama3.1:8b", "\x1b]0;owned\x07x", "two\nlines:latest", " padded", "\u202eevil", "qwen2.5:7b"]

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

    url = await server(listing)
    with pytest.raises(E.ModelNotFoundError) as info:
        await LocalProvider({}, transport).complete(ask(), Target("local", "llama3.1:70b", base_url=url))
    message = info.value.message
    assert f"the server at {url}/v1 serves llama3.1:8b, qwen2.5:7b (did you mean llama3.1:8b?)" in message
    assert not any(c in message for c in "\x1b\x07\n\u202e"), repr(message)
    assert "padded" not in message


async def test_a_model_list_past_its_bound_in_bytes_is_not_read(server, transport: Transport):
    # (read up to the transport's 64 MiB and parsed on the event loop, as large a list as a server sent)
    body = json.dumps({"data": [{"id": f"org/model-{i}-" + "q" * 150} for i in range(20_000)]})
    assert len(body) > local_models.LIST_MAX_BYTES

    async def listing(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    url = await server(listing)
    with pytest.raises(E.ModelNotFoundError) as info:
        await LocalProvider({}, transport).complete(ask(), Target("local", "llama3.1:70b", base_url=url))
    assert "the server at" not in info.value.message and info.value.message.endswith("LM Studio the ones loaded)")


def test_did_you_mean_compares_a_bounded_number_of_names(monkeypatch):
    # difflib runs on the event loop: 100,000 long names like the one asked for held it for minutes
    compared: list[int] = []
    real = local_models.difflib.get_close_matches

    def counting(word: str, possibilities: list[str], *args: Any, **kwargs: Any) -> list[str]:
        compared.append(len(possibilities))
        return real(word, possibilities, *args, **kwargs)

    monkeypatch.setattr(local_models.difflib, "get_close_matches", counting)
    served = [f"model-{i}:7b" for i in range(50_000)]
    said = local_models.missing_model_fix("model-3:7b-q4", served, "http://localhost:11434/v1")
    assert compared == [local_models.COMPARED]
    assert "and 49990 more" in said and "(did you mean model-3:7b?)" in said


async def test_the_model_list_is_asked_for_with_the_calls_key(server, transport: Transport):
    # (vLLM started with --api-key refuses /v1/models without it, as it does the call)
    seen: list[str | None] = []

    async def listing(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "Bearer vllm-secret-123":
            return web.json_response({"error": "Unauthorized"}, status=401)
        return web.json_response({"object": "list", "data": [{"id": "meta-llama/Llama-3.1-8B-Instruct"}]})

    url = await server(listing)
    env = {"MAGSAG_LOCAL_LLM_API_KEY": "vllm-secret-123"}
    with pytest.raises(E.ModelNotFoundError) as info:
        await LocalProvider(env, transport).complete(ask(), Target("local", "llama3.1:70b", base_url=url))
    assert seen == ["Bearer vllm-secret-123"]
    assert "serves meta-llama/Llama-3.1-8B-Instruct" in info.value.message
    assert "vllm-secret-123" not in info.value.message
