"""A connection refused on this machine (Ollama not started, a local server on another port): its kernel says at once
that nothing listens there. The target is not tried again while another is left: the next one is tried at once. The
last one left is retried, as any connection refused: its port may be between two processes (a server restarted, a
tunnel or a container's port mapping coming back). The error asks whether the local server is running, at which
address."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from magsag_mcp.transport import Timeouts
from magsag_mcp.transport_failures import conversion, on_loopback
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
LOCAL = "local:llama3.1:70b"  # a local model production_models allows


def closed_port() -> int:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _invoke(
    tmp_path: Path, url: str, mc: dict, progress: object = None
) -> tuple[object, list[tuple[str, str, int]]]:
    env = {"MAGSAG_LOCAL_LLM_BASE_URL": url, "MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    svc = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env)
    try:
        try:
            payload = {"task": "x", "model_config": mc}
            result = await svc.invoke_skill("skill.coding", payload, run_id="r", progress=progress)
        except E.AllTargetsFailed as exc:
            return exc, [(f"{a.provider}:{a.model}", a.outcome, a.attempt_number) for a in exc.attempts]
        return result, [(a["target"], a["outcome"], a["try"]) for a in result.trace["attempts"]]
    finally:
        await svc.aclose()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_refused_local_target_moves_on_at_once(tmp_path: Path, host: str):
    # was three tries of the local target, a backoff slept before each of the two retries, then the fallback; then one
    # try, after its server's refusal of /api/show (where it runs the model): a second connection to be refused again.
    # Now skipped as the connection error its /api/show met (changed on purpose)
    result, tried = await _invoke(
        tmp_path, f"http://{host}:{closed_port()}/v1", {"model": LOCAL, "fallbacks": ["fake:x"]}
    )
    assert tried == [("fake:x", "ok", 1)]
    [skipped] = result.trace["skipped"]  # type: ignore[attr-defined]
    assert skipped["target"] == LOCAL and "connection was refused" in skipped["reason"], skipped


async def test_a_refused_lone_local_target_is_retried_then_asks_whether_its_server_runs(tmp_path: Path):
    port = closed_port()
    error, tried = await _invoke(tmp_path, f"http://127.0.0.1:{port}/v1", {"model": LOCAL})
    # changed on purpose: the last target left gets its retries (MAGSAG_MAX_RETRIES=2); it failed at its first try
    assert tried == [(LOCAL, "error", 1), (LOCAL, "error", 2), (LOCAL, "error", 3)]
    assert isinstance(error, E.ProviderConnectionError)
    message = str(error)
    assert f"(is Ollama / your local server running at http://127.0.0.1:{port}?)" in message, message
    assert "ollama serve" in message and "(MAGSAG_LOCAL_LLM_BASE_URL)" in message, message


async def test_a_lone_local_target_whose_server_comes_back_between_tries_answers(tmp_path: Path):
    # `ollama serve` restarted, an autossh tunnel or a container's port mapping coming back: the port refuses for a
    # moment, and the retry finds it listening. Not retried, the call failed though its answer was a backoff away
    port = closed_port()
    fake = FakeOpenAI(key=None)  # a local server takes no key
    server = TestServer(fake.make_app(), host="127.0.0.1", port=port)

    async def progress(event: str, data: dict) -> None:
        if event == "retry" and server.runner is None:  # the server starts listening during the backoff
            await server.start_server()

    try:
        result, tried = await _invoke(tmp_path, f"http://127.0.0.1:{port}/v1", {"model": LOCAL}, progress)
    finally:
        await server.close()
    assert tried == [(LOCAL, "error", 1), (LOCAL, "ok", 2)]
    assert result.result.provider == "local" and len(fake.requests) == 1  # type: ignore[attr-defined]
    assert fake.violations == []


def _refused_by(url: str) -> E.MagsagError:
    key = ConnectionKey("h", 1, False, True, None, None, None, None)
    exc = aiohttp.ClientConnectorError(key, ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"))
    return conversion(exc, url, Timeouts())


def test_a_refusal_from_another_host_is_still_retried_and_asks_nothing_of_a_local_server():
    # a load balancer between instances, a host rebooting: it may take the connection on the next try
    err = _refused_by("http://10.1.2.3:8000/v1/chat/completions")
    assert isinstance(err, E.ProviderConnectionError) and err.retryable and err.moves_on
    assert "the connection was refused" in err.message and "local server running" not in err.message
    assert not err.retried_only_on_last_target
    err = _refused_by("http://[::1]:11434/v1/chat/completions")  # this machine's: another target is tried first
    assert err.retryable and err.retried_only_on_last_target and "running at http://[::1]:11434?" in err.message


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:11434/v1", True),
        ("http://LOCALHOST:11434", True),
        ("http://127.0.0.1:8000/v1", True),
        ("http://127.1.2.3:8000/v1", True),
        ("http://[::1]:1234/v1", True),
        ("http://0.0.0.0:11434", True),  # OLLAMA_HOST=0.0.0.0: reached on this machine
        ("http://ollama.localhost:11434", True),
        ("http://10.0.0.5:11434", False),
        ("https://api.openai.com/v1", False),
        ("http://localhost.example.com:80", False),
        ("http://[bad", False),
    ],
)
def test_what_is_this_machine(url: str, local: bool):
    assert on_loopback(url) is local
