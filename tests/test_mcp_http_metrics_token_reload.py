"""The scrape token's file (MAGSAG_MCP_METRICS_TOKEN_FILE) is re-read as it changes, as the MCP token files are
(mcp_server/token_reload.py, the same reader): it was read at the start only, so rotating a leaked scrape token meant a
restart, which cancels every call in flight. Each file is checked against the other's tokens as they are now: the
scrape token may not become an MCP token, nor an MCP token the scrape token. A file refused or gone is warned of by
the health probes. Waits poll with a hang guard (the server looks at most once a second, and reads a version once it
has settled): no assertion is about time."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import aiohttp
import pytest

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.client_tokens import TOKENS_FILE_ENV
from magsag_mcp.mcp_server.http import http_app
from magsag_mcp.mcp_server.metrics_endpoint import METRICS_TOKEN_FILE_ENV, metrics_setting
from magsag_mcp.mcp_server.server import server_state
from magsag_mcp.mcp_server.token_reload import TokenFile, Tokens, reloaded_token_files
from magsag_mcp.mcp_server.token_setting import TOKEN_FILE_ENV
from tests.test_mcp_http import held_port, serving
from tests.test_mcp_http_client_tokens import ENV, OPS_TOKEN, RESEARCH_TOKEN, TOKENS
from tests.test_mcp_http_metrics import bearer, scrape
from tests.test_mcp_http_token_rotation import status_of, tokens_app, until

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
TOKEN = "Tq4xM9bZ2wKr7nPv5sJhA3"
SCRAPE_TOKEN = "Mx3pV8kR2nW6tB9qL4zYc7"
NEW_SCRAPE_TOKEN = "Wd8rK3vN6pQ2xT9mB5zLj4"


def scrape_app(tmp_path: Path, named: Path, port: int, host: str = "127.0.0.1", server=None):
    """``server``: the MCP server to serve (see :func:`opened_server`); one of its own when not given."""
    if server is None:
        server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    metrics = metrics_setting({METRICS_TOKEN_FILE_ENV: str(named)})
    return http_app(server, host=host, port=port, token=TOKEN, metrics=metrics)


async def test_a_rotated_scrape_token_is_taken_without_a_restart(tmp_path: Path, caplog):
    caplog.set_level(logging.INFO)
    named = tmp_path / "metrics_token"
    named.write_text(SCRAPE_TOKEN + "\n")
    port = held_port()
    async with serving(scrape_app(tmp_path, named, port), port) as url:
        assert (await scrape(url, bearer(SCRAPE_TOKEN)))[0] == 200
        assert (await scrape(url, bearer(NEW_SCRAPE_TOKEN)))[0] == 401
        named.write_text(NEW_SCRAPE_TOKEN + "\n")

        async def taken() -> bool:
            return (await scrape(url, bearer(NEW_SCRAPE_TOKEN)))[0] == 200

        await until(taken)
        assert (await scrape(url, bearer(SCRAPE_TOKEN)))[0] == 401
        assert (await scrape(url, bearer(TOKEN)))[0] == 401  # the MCP token still reads it not
    said = [r.getMessage() for r in caplog.records if "changed" in r.getMessage()]
    assert any(f"{METRICS_TOKEN_FILE_ENV}={str(named)!r} changed: its new token is taken" in s for s in said), said
    assert SCRAPE_TOKEN not in caplog.text and NEW_SCRAPE_TOKEN not in caplog.text


@pytest.mark.parametrize(
    "bad, said",
    [
        (TOKEN, "is the same as MAGSAG_MCP_TOKEN: give the scraper a token of its own"),
        ("Kp3x9Wq", "the token in the file MAGSAG_MCP_METRICS_TOKEN_FILE names is 7 characters"),
        ("", "is empty; write the token in it"),
    ],
    ids=["the MCP token", "a short token", "empty"],
)
async def test_a_bad_new_scrape_token_is_kept_out_and_said(tmp_path: Path, caplog, bad: str, said: str):
    """Held to the start's checks (here as a server beyond loopback: the length too); the old token serves on."""
    caplog.set_level(logging.INFO)
    named = tmp_path / "metrics_token"
    named.write_text(SCRAPE_TOKEN + "\n")
    port = held_port()
    async with serving(scrape_app(tmp_path, named, port, host="0.0.0.0"), port) as url:
        named.write_text(bad + "\n" if bad else "")

        async def refused() -> bool:
            assert (await scrape(url, bearer(SCRAPE_TOKEN)))[0] == 200
            return "new version is refused" in caplog.text

        await until(refused)
        if bad:
            assert (await scrape(url, bearer(bad)))[0] == 401
    [record] = [r for r in caplog.records if "new version is refused" in r.getMessage()]
    assert record.levelno == logging.ERROR and said in record.getMessage(), record.getMessage()
    assert SCRAPE_TOKEN not in caplog.text and TOKEN not in caplog.text


def settled(path: Path, text: str) -> None:
    path.write_text(text)
    long_ago = path.stat().st_mtime - 7200
    os.utime(path, (long_ago, long_ago))


async def test_each_file_is_checked_against_the_other_s_tokens_as_they_are_now(tmp_path: Path, monkeypatch):
    """The scrape token rotated, the MCP token file may not then take it (nor the scrape file the MCP token's new
    value): the check is against the tokens in force, not the start's. (CHECK_SECONDS none, each file left alone
    long ago: each fresh() reads the file's new version.)"""
    from magsag_mcp.mcp_server import token_reload

    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    mcp_named, scrape_named = tmp_path / "mcp_token", tmp_path / "metrics_token"
    settled(mcp_named, TOKEN)
    settled(scrape_named, SCRAPE_TOKEN)
    metrics = metrics_setting({METRICS_TOKEN_FILE_ENV: str(scrape_named)})
    mcp, scraped = reloaded_token_files(
        TokenFile(TOKEN_FILE_ENV, str(mcp_named)), Tokens(TOKEN), "127.0.0.1", None, metrics
    )
    assert mcp is not None and scraped is not None and scraped.source.scrape
    settled(scrape_named, NEW_SCRAPE_TOKEN)
    assert (await scraped.fresh()).token == NEW_SCRAPE_TOKEN
    settled(mcp_named, NEW_SCRAPE_TOKEN)  # the scrape token now: refused
    assert (await mcp.fresh()).token == TOKEN and mcp.warning is not None
    settled(mcp_named, SCRAPE_TOKEN)  # the scrape token before: free now, taken
    assert (await mcp.fresh()).token == SCRAPE_TOKEN and mcp.warning is None
    settled(scrape_named, SCRAPE_TOKEN + "\n")  # the MCP token now: refused
    assert (await scraped.fresh()).token == NEW_SCRAPE_TOKEN
    assert scraped.warning is not None and METRICS_TOKEN_FILE_ENV in scraped.warning
    assert SCRAPE_TOKEN not in scraped.warning and str(scrape_named) not in scraped.warning


async def test_the_scrape_token_file_is_followed_only_where_it_set_the_token(tmp_path: Path):
    """MAGSAG_MCP_METRICS_TOKEN set in the environment (no file) is no file to follow."""
    metrics = metrics_setting({"MAGSAG_MCP_METRICS_TOKEN": SCRAPE_TOKEN})
    assert metrics.token_file is None
    assert reloaded_token_files(None, Tokens(TOKEN), "127.0.0.1", None, metrics) == (None, None)


async def opened_server(tmp_path: Path, env: dict[str, str]):
    """An MCP server whose service is open before it serves. Served by http_app alone, a server opens its service on
    the first readiness probe, which answers 503 "still opening" once READY_READ_SECONDS have passed (the open goes
    on): on a loaded machine the probes below saw that, not the token files' warnings they are about. Waited for here
    (the open itself, not a time); opening on a probe is test_mcp_http_health's."""
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env=env)
    await server_state(server).service()
    return server


async def probe(url: str, path: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url.removesuffix("/mcp") + path) as resp:
            return resp.status, json.loads(await resp.read())


async def test_the_probes_warn_of_a_refused_or_missing_token_file_and_stay_ready(tmp_path: Path, caplog):
    """A token file's refused version was said by one ERROR line alone: a supervisor or monitor that reads /readyz saw
    nothing. It is said there (and at /healthz) in "warnings", naming the variable, no path, line or token (the probes
    answer anyone), while /readyz stays 200 (the old tokens work); put right, the warning goes."""
    caplog.set_level(logging.INFO)
    named = tmp_path / "tokens"
    named.write_text(TOKENS)
    port = held_port()
    server = await opened_server(tmp_path, ENV)
    async with serving(tokens_app(tmp_path, named, port, server=server), port) as url:
        assert await probe(url, "/readyz") == (200, {"status": "ready"})
        assert await probe(url, "/healthz") == (200, {"status": "ok"})
        named.write_text(f"ops-team {OPS_TOKEN}\nresearch-bot {OPS_TOKEN}\n")  # a token on two lines: refused

        async def warned() -> bool:
            return "warnings" in (await probe(url, "/readyz"))[1]  # (the probe looks at the file, as a request)

        await until(warned)
        status, body = await probe(url, "/readyz")
        assert status == 200 and body["status"] == "ready", body
        [warning] = body["warnings"]
        assert warning.startswith(f"the file {TOKENS_FILE_ENV} names changed and its new version is refused"), warning
        assert await probe(url, "/healthz") == (200, {"status": "ok", "warnings": [warning]})
        assert await status_of(url, RESEARCH_TOKEN) == 200  # the old tokens serve
        text = json.dumps(body)
        for secret in (RESEARCH_TOKEN, OPS_TOKEN, str(named), str(tmp_path), "line 2"):
            assert secret not in text

        named.unlink()

        async def gone() -> bool:
            return "cannot be found now" in json.dumps((await probe(url, "/readyz"))[1])

        await until(gone)
        assert (await probe(url, "/readyz"))[0] == 200
        named.write_text(TOKENS)  # put right

        async def cleared() -> bool:
            return await probe(url, "/readyz") == (200, {"status": "ready"})

        await until(cleared)
        assert await probe(url, "/healthz") == (200, {"status": "ok"})


async def test_the_probes_warn_of_a_refused_scrape_token_file(tmp_path: Path):
    named = tmp_path / "metrics_token"
    named.write_text(SCRAPE_TOKEN + "\n")
    port = held_port()
    server = await opened_server(tmp_path, {"MAGSAG_PROVIDER": "fake"})
    async with serving(scrape_app(tmp_path, named, port, server=server), port) as url:
        named.write_text(TOKEN + "\n")  # the MCP token: refused

        async def warned() -> bool:
            return "warnings" in (await probe(url, "/readyz"))[1]

        await until(warned)
        status, body = await probe(url, "/readyz")
    assert status == 200 and body["status"] == "ready"
    assert body["warnings"][0].startswith(f"the file {METRICS_TOKEN_FILE_ENV} names changed"), body
    assert TOKEN not in json.dumps(body) and SCRAPE_TOKEN not in json.dumps(body)


async def test_a_version_refused_for_the_other_file_s_token_is_taken_once_that_token_moves_on(
    tmp_path: Path, monkeypatch
):
    """A version refused because it held the other file's token is no bad file: once the other file rotates away from
    that token, the refused version (unchanged since) is taken at the next look. It was kept out for good (its version
    read, not read again until it changed), the old token serving and the probes warning though nothing was wrong."""
    from magsag_mcp.mcp_server import token_reload

    monkeypatch.setattr(token_reload, "CHECK_SECONDS", 0)
    mcp_named, scrape_named = tmp_path / "mcp_token", tmp_path / "metrics_token"
    settled(mcp_named, TOKEN)
    settled(scrape_named, SCRAPE_TOKEN)
    metrics = metrics_setting({METRICS_TOKEN_FILE_ENV: str(scrape_named)})
    mcp, scraped = reloaded_token_files(
        TokenFile(TOKEN_FILE_ENV, str(mcp_named)), Tokens(TOKEN), "127.0.0.1", None, metrics
    )
    assert mcp is not None and scraped is not None
    settled(scrape_named, NEW_SCRAPE_TOKEN)  # both rotated together: the scrape file read first, taken
    settled(mcp_named, SCRAPE_TOKEN)
    assert (await scraped.fresh()).token == NEW_SCRAPE_TOKEN
    assert (await mcp.fresh()).token == SCRAPE_TOKEN
    # the scrape file's next token is the MCP token in force (its old scrape token), refused ...
    settled(scrape_named, SCRAPE_TOKEN + "\n")
    assert (await scraped.fresh()).token == NEW_SCRAPE_TOKEN and scraped.warning is not None
    # ... the MCP file then rotated on to a token of its own: the scrape file's version is free now, and taken
    settled(mcp_named, TOKEN)
    assert (await mcp.fresh()).token == TOKEN and mcp.warning is None
    assert (await scraped.fresh()).token == SCRAPE_TOKEN and scraped.warning is None
