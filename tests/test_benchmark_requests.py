"""The benchmark's floors send what the path they are compared with sends, to the same upstream."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from pathlib import Path

import pytest

from benchmarks import fast_upstream, scenarios


@pytest.fixture
async def recorded(monkeypatch: pytest.MonkeyPatch):
    """The benchmark upstream in this process, and the (path, JSON body) of every request it answers."""
    seen: list[tuple[bytes, object]] = []
    answer = fast_upstream._Protocol.answer

    def record(self: fast_upstream._Protocol, path: bytes, body: bytes) -> None:
        seen.append((path, json.loads(body)))
        answer(self, path, body)

    monkeypatch.setattr(fast_upstream._Protocol, "answer", record)
    server, url = await fast_upstream.serve()
    yield url, seen
    server.close()
    await server.wait_closed()


async def _bodies(factory, seen: list) -> list[tuple[bytes, object]]:
    call, close = await factory
    try:
        seen.clear()
        await call()
        return list(seen)
    finally:
        await close()


@pytest.mark.anyio
@pytest.mark.parametrize(("floor", "ours"), [(False, "full"), (True, "fallback")])
async def test_the_floor_sends_the_same_requests_as_our_path(recorded, tmp_path: Path, floor: bool, ours: str):
    # Before: the floor sent the user message alone (no system prompt, no template's trailing newline),
    # so "the cost of what sits on top of the call" included building and sending a longer body.
    url, seen = recorded
    bare = await _bodies(scenarios._floor(url, floor), seen)
    full = await _bodies(scenarios._service(url, tmp_path, scenarios.FAILING.get(ours)), seen)
    assert len(bare) == len(full) == (2 if floor else 1)
    assert bare == full


@pytest.mark.anyio
@pytest.mark.parametrize("scenario", sorted(scenarios.FAILING))
async def test_our_fallback_path_meets_each_error_mode_of_the_upstream(recorded, tmp_path: Path, scenario: str):
    # The upstream's 429 (Retry-After: 0) and dropped connection had no scenario: only its 500 was used.
    url, seen = recorded
    call, close = await scenarios._service(url, tmp_path, scenarios.FAILING[scenario])
    try:
        seen.clear()
        result = await call()
    finally:
        await close()
    assert [body["model"] for _, body in seen] == [scenarios.FAILING[scenario], "gpt-4o"]
    assert result.model == "gpt-4o" and [a.outcome for a in result.attempts][-1] == "ok"


@pytest.mark.slow
@pytest.mark.anyio
async def test_litellm_sends_the_same_request_as_our_path(recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import, or it fetches its price list
    pytest.importorskip("litellm")
    url, seen = recorded
    theirs = await _bodies(scenarios._litellm(url, "router"), seen)
    ours = await _bodies(scenarios._service(url, tmp_path, False), seen)
    assert theirs == ours


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["acompletion", "router"])
def test_litellms_close_lets_go_of_the_event_loop(monkeypatch: pytest.MonkeyPatch, kind: str):
    # Before: the LiteLLM rows' close did nothing, and LiteLLM's process-wide logging worker (its task, queue and
    # semaphore) and its cached aiohttp session kept the loop they ran on alive after it closed: a test's loop
    # was never freed. A loop of the test's own, closed, is gone once nothing of ours holds it.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import, or it fetches its price list
    pytest.importorskip("litellm")

    async def one_call() -> None:
        server, url = await fast_upstream.serve()
        try:
            call, close = await scenarios._litellm(url, kind)
            try:
                answer = await call()
            finally:
                await close()
            assert answer.choices[0].message.content  # the call reached the upstream and was answered
        finally:
            server.close()
            await server.wait_closed()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(one_call())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
    freed = weakref.ref(loop)
    del loop
    gc.collect()
    assert freed() is None, [type(r).__qualname__ for r in gc.get_referrers(freed())]


@pytest.mark.anyio
async def test_litellms_close_refuses_a_worker_whose_loop_fields_were_renamed(monkeypatch: pytest.MonkeyPatch):
    # Before: the close set the worker's _queue, _sem and _bound_loop to None whatever the worker had; a LiteLLM that
    # renamed one (_bound_loop to _loop here) got a new attribute set, the renamed field kept the loop, and nothing
    # said so. Now the close names the field that is gone.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    logging_worker = pytest.importorskip("litellm.litellm_core_utils.logging_worker")

    class RenamedWorker:
        def __init__(self) -> None:
            self._queue = self._sem = None
            self._loop = asyncio.get_running_loop()  # what _bound_loop was renamed to

        async def flush(self) -> None:
            return None

        async def stop(self, discard_pending: bool = False) -> None:
            return None

    worker = RenamedWorker()
    monkeypatch.setattr(logging_worker, "GLOBAL_LOGGING_WORKER", worker)
    with pytest.raises(RuntimeError, match="RenamedWorker has no _bound_loop: this LiteLLM renamed"):
        await scenarios._close_litellm()
    assert not hasattr(worker, "_bound_loop")
    # the LiteLLM installed here has every field the close lets go of (an upgrade that renames one fails here)
    fresh = logging_worker.LoggingWorker()
    assert all(hasattr(fresh, name) for name in scenarios._WORKER_LOOP_FIELDS)


@pytest.mark.anyio
async def test_the_floor_pools_connections_as_our_transport_does(recorded):
    # Before: the floor's pool allowed 200 connections to the upstream where ours allows 128, and it
    # ran aiohttp's cookie jar on every answer, which our sessions skip.
    import aiohttp

    from magsag_mcp.transport import Transport

    url, _ = recorded
    ours = Transport()
    _, close = await scenarios._floor(url, False)
    session = close.__self__
    try:
        assert (session.connector.limit, session.connector.limit_per_host) == (ours.limit, ours.limit_per_host)
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
    finally:
        await close()
