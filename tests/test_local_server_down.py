"""A local server not running costs a call one connection attempt, and a server found down only after a wait (its
connect timed out, its name did not resolve) is not waited for again by every call of a cascade for a few seconds
(local_down.DOWN_FOR_S): counted through the transport's session seam, the connector counting each connection it
opens."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.errors import ProviderConnectionError, ProviderTimeoutError
from magsag_mcp.providers import local_down, local_reach
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport

pytestmark = pytest.mark.anyio


class CountingConnector(aiohttp.TCPConnector):
    """aiohttp's connector, noting each connection's URL as it is opened (a refused one too)."""

    def __init__(self, opened: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.opened = opened

    async def _create_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        self.opened.append(str(req.url))
        return await super()._create_connection(req, traces, timeout)


def counting_transport(opened: list[str]) -> Transport:
    return Transport(session_factory=lambda: aiohttp.ClientSession(connector=CountingConnector(opened)))


async def _closed_port() -> str:
    """The URL of a port nothing listens on (a test server's, closed): a local server not started."""
    test_server = TestServer(web.Application(), host="127.0.0.1")
    await test_server.start_server()
    url = str(test_server.make_url("")).rstrip("/")
    await test_server.close()
    return url


FALLBACK = {"model_config": {"provider": "local", "model": "llama3.1:70b", "fallbacks": ["fake:echo"]}}


async def test_a_named_target_whose_server_is_not_running_is_not_connected_to_twice(catalog_copy: Path, tmp_path: Path):
    # the shipped pii_processing class names local:llama3.1:70b itself: /api/show's connection refused, the call
    # was sent all the same and refused again (a second connection, per call), before the fake fallback answered
    url = await _closed_port()
    opened: list[str] = []
    env = {"OLLAMA_BASE_URL": url}
    async with Service.open(
        catalog=catalog_copy, db=tmp_path / "l.db", env=env, transport=counting_transport(opened)
    ) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "Q3", **FALLBACK}, run_classes=("pii_processing",))
        runs = await svc.query_runs()
    assert result.provider == "fake"
    assert opened == [url + "/api/show"], opened
    [attempt, answered] = [a for run in runs for a in run["attempts"]]
    assert attempt["outcome"] == "skipped" and answered["provider"] == "fake"
    skip = attempt["error_message"]
    assert "the connection was refused" in skip and "not sent to be refused again" in skip, skip
    assert "(OLLAMA_BASE_URL)" in skip  # (the setting to correct, as the call's own connection error names it)


async def test_the_last_target_left_is_still_sent_and_retried(catalog_copy: Path, tmp_path: Path):
    # no other target: its retries are for a server restarting between two processes, as before
    url = await _closed_port()
    opened: list[str] = []
    env = {"OLLAMA_BASE_URL": url, "MAGSAG_PROVIDER": "local", "MAGSAG_MODEL": "llama3.1:70b"}
    async with Service.open(
        catalog=catalog_copy, db=tmp_path / "l.db", env=env, transport=counting_transport(opened)
    ) as svc:
        with pytest.raises(ProviderConnectionError):
            await svc.invoke_skill("skill.analysis", {"data": "Q3"}, run_classes=("pii_processing",))
    assert opened[0] == url + "/api/show" and url + "/v1/responses" in opened[1:]


async def test_a_server_found_down_after_a_wait_is_not_waited_for_by_the_next_calls(
    catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # a connect that times out (a host that drops the packets: a machine off, a firewall) cost each call of a cascade
    # the connect timeout on /api/show and again on the call; the connect timing out here is a failure the
    # transport's seam gives, as aiohttp gives it
    opened: list[str] = []

    class TimingOut(CountingConnector):
        async def _create_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
            self.opened.append(str(req.url))
            raise aiohttp.ConnectionTimeoutError("Connection timeout to host")

    transport = Transport(session_factory=lambda: aiohttp.ClientSession(connector=TimingOut(opened)))
    url = "http://192.0.2.1:11434"  # (TEST-NET-1: never connected to, the connector refuses first)
    now = [1000.0]  # (local_down's clock, held: a second call a second later asks the server again, cheaply)
    monkeypatch.setattr(local_down, "_clock", lambda: now[0])
    env = {"OLLAMA_BASE_URL": url}
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env, transport=transport) as svc:
        first = await svc.invoke_skill("skill.analysis", {"data": "Q3", **FALLBACK}, run_classes=("pii_processing",))
        assert opened == [url + "/api/show"]
        second = await svc.invoke_skill("skill.analysis", {"data": "Q3", **FALLBACK}, run_classes=("pii_processing",))
        assert opened == [url + "/api/show"], opened  # not asked again within DOWN_FOR_S
        runs = await svc.query_runs()
        # and said: the call's skip names the wait not paid again
        said = [a["error_message"] for run in runs for a in run["attempts"] if a["provider"] == "local"]
        assert len(said) == 2 and all(f"not tried again for {local_down.DOWN_FOR_S:g}s" in s for s in said), said
        assert all("could not connect to http://192.0.2.1:11434" in s for s in said), said
        # a while later it is asked again (the clock moved, not waited for)
        now[0] += local_down.DOWN_FOR_S + 1
        await svc.invoke_skill("skill.analysis", {"data": "Q3", **FALLBACK}, run_classes=("pii_processing",))
        assert opened == [url + "/api/show"] * 2, opened
    assert first.provider == second.provider == "fake"


async def test_a_server_that_answers_again_is_no_longer_taken_as_down(transport: Transport):
    # any answer ends it: a server started (or a network back) is believed at once
    local_reach.went_down("http://127.0.0.1:1/v1", "could not be asked: could not connect")
    assert local_reach.down("http://127.0.0.1:1/v1") is not None
    local_reach.answered("http://127.0.0.1:1")
    assert local_reach.down("http://127.0.0.1:1/v1") is None


def test_only_a_failure_found_after_a_wait_is_remembered():
    timed_out = ProviderTimeoutError("could not connect to http://h within 5s", timeout_s=5.0)
    timed_out.reached = False
    refused = ProviderConnectionError("could not reach http://h: the connection was refused")
    refused.reached = False
    read_timeout = ProviderTimeoutError("no answer from http://h within 600s", maybe_billed=True, timeout_s=600.0)
    assert local_reach.found_slowly(timed_out)
    assert not local_reach.found_slowly(refused)  # (found again at once: a server just started is believed)
    assert not local_reach.found_slowly(read_timeout)  # (reached: loading a model, not down)


async def test_explain_shows_a_named_target_whose_server_is_not_running_unavailable(catalog_copy: Path, tmp_path: Path):
    # explain asks the server as the call does: it showed the target routable, where the call skips it
    url = await _closed_port()
    env = {"OLLAMA_BASE_URL": url}
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env) as svc:
        explained = await svc.explain_asking(
            "skill.analysis", {"data": "Q3", **FALLBACK}, run_classes=("pii_processing",)
        )
    [local] = [t for t in explained["targets"] if t["label"] == "local:llama3.1:70b"]
    assert local["policy"]["allowed"] is True
    assert "the connection was refused" in (local["unavailable"] or ""), local


class _Failing(CountingConnector):
    """Each connection fails as ``fail(req)`` says, noted first."""

    def __init__(self, opened: list[str], fail: Any) -> None:
        super().__init__(opened)
        self.fail = fail

    async def _create_connection(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
        self.opened.append(str(req.url))
        raise self.fail(req)


async def _two_calls(catalog: Path, db: Path, fail: Any) -> tuple[list[str], list[str]]:
    """The connections two calls of a cascade led by a local target opened, and what each call's local attempt said."""
    opened: list[str] = []
    transport = Transport(session_factory=lambda: aiohttp.ClientSession(connector=_Failing(opened, fail)))
    env = {"OLLAMA_BASE_URL": "https://gpu-box.example:11434"}
    clock = local_down._clock
    local_down._clock = lambda: 1000.0  # (held: the second call a second later asked the server again, cheaply)
    async with Service.open(catalog=catalog, db=db, env=env, transport=transport) as svc:
        try:
            for _ in range(2):
                await svc.invoke_skill("skill.analysis", {"data": "Q3", **FALLBACK}, run_classes=("pii_processing",))
        finally:
            local_down._clock = clock
        runs = await svc.query_runs()
    said = [a["error_message"] for run in runs for a in run["attempts"] if a["provider"] == "local"]
    return opened, said


async def test_a_failure_found_at_once_is_not_taken_for_a_server_down(catalog_copy: Path, tmp_path: Path):
    # an untrusted certificate (a server behind a TLS proxy of its own) is not retried, and found at once: it was
    # taken as a server down for DOWN_FOR_S, told "not tried again for 10s (each call would wait as long ...)", its
    # fix (SSL_CERT_FILE) seen only 10 s after it was made
    def untrusted(req: Any) -> BaseException:
        cert = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
        return aiohttp.ClientConnectorCertificateError(req.connection_key, cert)

    opened, said = await _two_calls(catalog_copy, tmp_path / "l.db", untrusted)
    assert len(opened) == 2 and all(u.endswith("/api/show") for u in opened), opened  # each call asked again
    assert said and not any("not tried again" in s for s in said), said
    assert all("not trusted" in s for s in said), said


async def test_a_name_that_does_not_exist_is_still_taken_for_a_server_down(catalog_copy: Path, tmp_path: Path):
    def no_such_name(req: Any) -> BaseException:
        return aiohttp.ClientConnectorDNSError(
            req.connection_key, socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        )

    opened, said = await _two_calls(catalog_copy, tmp_path / "l.db", no_such_name)
    assert len(opened) == 1, opened  # (the second call not waiting on its lookup again)
    assert len(said) == 2 and all(f"not tried again for {local_down.DOWN_FOR_S:g}s" in s for s in said), said


async def test_a_probe_the_server_answers_ends_its_being_taken_as_down(catalog_copy: Path, tmp_path: Path):
    # any answer ends it: `magsag doctor --probe` (the MCP server's doctor, in the process whose calls skip it) said
    # the server reachable, and the next calls still skipped it as "not tried again for 10s"
    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "llama3.1:70b", "object": "model"}]})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        local_reach.went_down(url, "could not be asked: could not connect to it within 3s")
        async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={"OLLAMA_BASE_URL": url}) as svc:
            reachable = await svc.probe()
    assert reachable["local"] == "reachable", reachable
    assert local_reach.down(url) is None


async def test_routings_models_sent_to_a_local_server_not_running_say_its_fix_once(tmp_path: Path):
    # MAGSAG_PROVIDER=local alone, no server started: the first of routing's models failed to connect and each of the
    # others was skipped with the same 'could not reach ...; start the server (...)' in full, then said a third time
    # as the last error: 1.5 KB, the one fix three times, which is what a model reads first of the call
    from tests.conftest import CATALOG

    url = await _closed_port()
    env = {"MAGSAG_PROVIDER": "local", "MAGSAG_LOCAL_LLM_BASE_URL": url + "/v1", "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.AllTargetsFailed) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"})
    message = info.value.message
    assert message.count("start the server") == 1, message
    assert message.count(f"could not reach {url}") == 1, message
    assert "; last error: could not reach" in message, message
    skipped = info.value.details["trace"]["skipped"]
    assert len(skipped) == 2 and all("start the server" in str(s["reason"]) for s in skipped)  # (kept in full)
    assert "local:gpt-4o skipped (local:gpt-4o: not reached, as the last error says" in message, message
    assert "not sent to be refused again" in message, message
