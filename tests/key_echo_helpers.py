"""What the tests of a key a vendor or gateway echoes back (test_echoed_key_prefixes.py, test_split_key_echoes.py,
test_escaped_break_echoes.py, test_encoded_break_echoes.py, test_escaped_key_echoes.py, test_json_escaped_labels.py,
test_redaction_glued.py) share: a key of each provider family's shape, a loopback gateway answering every path, an
error body as each family shapes it, the environment that sends a family's key to the gateway, one refused call
over the MCP client with what the ledger's tools then say of it, and the ledger's bytes on disk."""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp.test_utils import TestServer
from mcp.client import Client

from magsag_mcp.mcp_server import build_server

CATALOG = Path(__file__).resolve().parent.parent / "catalog"

_DRAW = random.Random("echoed-key-prefixes")


def made_up_key(prefix: str, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    """A key of a vendor's shape, drawn here (seeded: the same every run) rather than written out, so that nothing
    in the repository reads as a committed key."""
    return prefix + "".join(_DRAW.choice(alphabet) for _ in range(length - len(prefix)))


KEYS = {
    "openai": made_up_key("sk-proj-", 56),
    "anthropic": made_up_key("sk-ant-api03-", 80),
    "google": made_up_key("AIzaSy", 39),
    "azure": made_up_key("", 32, "0123456789abcdef"),
    "local": made_up_key("gwtok_", 36),  # a gateway's key before a local server
}
MODELS = {
    "openai": "openai:gpt-4o",
    "anthropic": "anthropic:claude-3-5-sonnet-20241022",
    "google": "google:gemini-1.5-pro",
    "azure": "azure:gpt-4o",
    "local": "local:llama3.1:70b",
}


def sent_key(request: web.Request) -> str:
    """The key as the request carried it, wherever its vendor puts it."""
    for header in ("x-api-key", "x-goog-api-key", "api-key"):
        if request.headers.get(header):
            return request.headers[header]
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ") or request.query.get("key", "")


@asynccontextmanager
async def gateway(answer: Any, state: dict[str, Any]) -> AsyncIterator[None]:
    """A loopback gateway answering every path with ``answer``; its base URL put in ``state["url"]``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state["url"] = str(server.make_url("")).rstrip("/")
    try:
        yield
    finally:
        await server.close()


def error_body(family: str, status: int, said: str) -> dict[str, Any]:
    """An error body as each family shapes it (the specs' error objects)."""
    if family == "anthropic":
        return {"type": "error", "error": {"type": "authentication_error", "message": said}}
    if family == "google":
        return {"error": {"code": status, "message": said, "status": "UNAUTHENTICATED"}}
    return {"error": {"message": said, "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}


def key_env(family: str, url: str) -> dict[str, str]:
    """The environment that sends ``family``'s key (of :data:`KEYS`) to the gateway at ``url``, with no retry."""
    key = KEYS[family]
    env = {"MAGSAG_MAX_RETRIES": "0", "MAGSAG_RETRY_BASE_DELAY": "0.001"}
    return (
        env
        | {
            "openai": {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": url + "/v1"},
            "anthropic": {"ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": url},
            "google": {"GEMINI_API_KEY": key, "GEMINI_BASE_URL": url},
            "azure": {"AZURE_OPENAI_API_KEY": key, "AZURE_OPENAI_ENDPOINT": url + "/"},
            "local": {"MAGSAG_LOCAL_LLM_API_KEY": key, "MAGSAG_LOCAL_LLM_BASE_URL": url + "/v1"},
        }[family]
    )


class Refused(NamedTuple):
    """What the MCP tools answered: the call's result, ``search_usage``'s and (when asked for) ``query_runs``'."""

    result: Any
    hits: Any
    runs: Any = None


async def invoke_and_search(
    db: Path, env: dict[str, str], model: str, pattern: str = "refused", *, with_runs: bool = False
) -> Refused:
    """``invoke_skill`` of skill.analysis on ``model`` (through the gateway ``env`` names), then, on the same
    in-memory MCP client, ``query_runs`` (``with_runs``) and ``search_usage`` for ``pattern``."""
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
        result = await client.call_tool(
            "invoke_skill",
            {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": {"model": model}}},
        )
        runs = await client.call_tool("query_runs", {"filters": {}}) if with_runs else None
        hits = await client.call_tool("search_usage", {"pattern": pattern})
    return Refused(result, hits, runs)


def ledger_bytes(db: Path) -> bytes:
    """The ledger's bytes on disk, its write-ahead log's too."""
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


class AgentRun(NamedTuple):
    """What ``magsag run`` of test_call_key_echoed_in_answer's agent left (:func:`run_echoing_agent`): the credentials
    the gateway was sent, the exit code, what it printed, the ledger's bytes on disk and the run's recorded error."""

    seen: list[str]
    code: int
    out: str
    err: str
    ledger: bytes
    error_message: str | None


async def run_echoing_agent(cli_env: Path, monkeypatch: Any, capsys: Any, agent_code: str) -> AgentRun:
    """``magsag run key-echo-mag`` with ``agent_code`` as its code, its one call (test_call_key_echoed_in_answer's
    payload, with its own ``params.api_key``) sent to a loopback gateway echoing that credential in its answer."""
    import json
    import shutil
    import sqlite3

    import anyio

    from magsag_mcp.cli import main
    from tests.test_call_key_echoed_in_answer import _AGENT, _PAYLOAD, _PROCESS_KEY, _echoing

    catalog = cli_env / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "agents" / "key-echo-mag.yaml").write_text(_AGENT)
    (catalog / "agents" / "key_echo_mag.py").write_text(agent_code)
    seen: list[str] = []
    state: dict[str, Any] = {}
    db = cli_env / "ledger.db"
    monkeypatch.setenv("OPENAI_API_KEY", _PROCESS_KEY)
    monkeypatch.setenv("MAGSAG_MAX_RETRIES", "0")
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog))
    monkeypatch.setenv("MAGSAG_DB", str(db))
    async with gateway(_echoing(seen), state):
        monkeypatch.setenv("OPENAI_BASE_URL", state["url"] + "/v1")
        argv = ["run", "key-echo-mag", "--payload", json.dumps({"call": json.dumps(_PAYLOAD)})]
        code = await anyio.to_thread.run_sync(main, argv)
    out = capsys.readouterr()
    ledger = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT error_message FROM runs WHERE agent = 'key-echo-mag'").fetchone()
    return AgentRun(seen, code, out.out, out.err, ledger, row[0] if row else None)
