"""A connection refused on this machine (Ollama not started, a local server on another port): its kernel says at once
that nothing listens there, and nothing starts to within a retry's backoff. The target is not tried again: the
next one is tried at once, and the error asks whether the local server is running, at which address."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from magsag_mcp.transport import Timeouts
from magsag_mcp.transport_failures import conversion, on_loopback

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
LOCAL = "local:llama3.1:70b"  # a local model production_models allows


def closed_port() -> int:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _invoke(tmp_path: Path, url: str, mc: dict) -> tuple[object, list[tuple[str, str, int]]]:
    env = {"MAGSAG_LOCAL_LLM_BASE_URL": url, "MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    svc = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env)
    try:
        try:
            result = await svc.invoke_skill("skill.coding", {"task": "x", "model_config": mc}, run_id="r")
        except E.AllTargetsFailed as exc:
            return exc, [(f"{a.provider}:{a.model}", a.outcome, a.attempt_number) for a in exc.attempts]
        return result, [(a["target"], a["outcome"], a["try"]) for a in result.trace["attempts"]]
    finally:
        await svc.aclose()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_refused_local_target_moves_on_at_once(tmp_path: Path, host: str):
    # was three tries of the local target, a backoff slept before each of the two retries, then the fallback
    _, tried = await _invoke(tmp_path, f"http://{host}:{closed_port()}/v1", {"model": LOCAL, "fallbacks": ["fake:x"]})
    assert tried == [(LOCAL, "error", 1), ("fake:x", "ok", 1)]


async def test_a_refused_lone_local_target_fails_at_once_asking_whether_its_server_runs(tmp_path: Path):
    port = closed_port()
    error, tried = await _invoke(tmp_path, f"http://127.0.0.1:{port}/v1", {"model": LOCAL})
    assert tried == [(LOCAL, "error", 1)]  # (was three, each "connection refused")
    assert isinstance(error, E.ProviderConnectionError)
    message = str(error)
    assert f"(is Ollama / your local server running at http://127.0.0.1:{port}?)" in message, message
    assert "ollama serve" in message and "(MAGSAG_LOCAL_LLM_BASE_URL)" in message, message


def _refused_by(url: str) -> E.MagsagError:
    key = ConnectionKey("h", 1, False, True, None, None, None, None)
    exc = aiohttp.ClientConnectorError(key, ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"))
    return conversion(exc, url, Timeouts())


def test_a_refusal_from_another_host_is_still_retried_and_asks_nothing_of_a_local_server():
    # a load balancer between instances, a host rebooting: it may take the connection on the next try
    err = _refused_by("http://10.1.2.3:8000/v1/chat/completions")
    assert isinstance(err, E.ProviderConnectionError) and err.retryable and err.moves_on
    assert "the connection was refused" in err.message and "local server running" not in err.message
    err = _refused_by("http://[::1]:11434/v1/chat/completions")
    assert not err.retryable and "running at http://[::1]:11434?" in err.message


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
