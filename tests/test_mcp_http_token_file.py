"""MAGSAG_MCP_TOKEN_FILE: the HTTP server's bearer token read from a file, as a container's secrets come (Docker and
Compose secrets under /run/secrets, a mounted Kubernetes secret). Before it the token could only be set in the
environment, which `docker inspect` and a reader of the process's environment show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from magsag_mcp.errors import ConfigError
from magsag_mcp.mcp_server.http import check_binding
from magsag_mcp.mcp_server.token_setting import FROM_THE_FILE, MAX_TOKEN_FILE_BYTES, token_setting
from tests.mcp_http_helpers import HEADERS, INIT
from tests.shutdown_helpers import until_serving

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
TOKEN = "Fh3kQ8wZx2Nr7mTb5vLc9pJ"


def server_env(tmp: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_DB=str(tmp / "ledger.db"), **settings)
    return env


async def test_the_server_takes_its_token_from_the_file_named(tmp_path: Path):
    secret = tmp_path / "mcp_token"
    secret.write_text(TOKEN + "\n")  # as `echo` writes it, and a secret created from a file with its line break
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    env = server_env(tmp_path, MAGSAG_MCP_TOKEN_FILE=str(secret))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, said = await until_serving(proc)
        assert "(token required: a request without it as its Authorization: Bearer token is refused (401))" in said
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=INIT, headers=HEADERS) as resp:
                assert resp.status == 401
            async with http.post(url, json=INIT, headers={**HEADERS, "Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert TOKEN.encode() not in err


@pytest.mark.parametrize(
    "content, expected",
    [
        ("Qx7kP\n", f"{FROM_THE_FILE} is 5 characters; to listen on 0.0.0.0 it must be at least 16"),
        (f" {TOKEN}\n", f"{FROM_THE_FILE} is blank or has spaces or line breaks around it"),
        ("", "is empty; write the token in it"),
        (None, "cannot be read (No such file or directory): name the file that holds the token"),
    ],
)
def test_a_token_file_that_cannot_serve_is_refused_at_start_naming_the_file(tmp_path: Path, content, expected):
    secret = tmp_path / "mcp_token"
    if content is not None:
        secret.write_text(content)
    proc = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "0"],
        env=server_env(tmp_path, MAGSAG_MCP_TOKEN_FILE=str(secret)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert TOKEN not in proc.stderr and proc.stdout == ""


def test_the_token_setting_reads_the_variable_or_the_file_never_both(tmp_path: Path):
    secret = tmp_path / "mcp_token"
    assert token_setting({}) == (None, "MAGSAG_MCP_TOKEN")
    assert token_setting({"MAGSAG_MCP_TOKEN": TOKEN, "MAGSAG_MCP_TOKEN_FILE": " "}) == (TOKEN, "MAGSAG_MCP_TOKEN")
    for written in (TOKEN, TOKEN + "\n", TOKEN + "\r\n"):
        secret.write_text(written, newline="")
        assert token_setting({"MAGSAG_MCP_TOKEN_FILE": str(secret)}) == (TOKEN, FROM_THE_FILE)
    with pytest.raises(ConfigError, match="both MAGSAG_MCP_TOKEN and MAGSAG_MCP_TOKEN_FILE are set"):
        token_setting({"MAGSAG_MCP_TOKEN": TOKEN, "MAGSAG_MCP_TOKEN_FILE": str(secret)})
    secret.write_text(TOKEN + "\n\n")  # a second line break is the token's, which no client sends: refused
    token, where = token_setting({"MAGSAG_MCP_TOKEN_FILE": str(secret)})
    with pytest.raises(ConfigError, match="line breaks around it") as refused:
        check_binding("127.0.0.1", token, where)
    assert TOKEN not in refused.value.message
    secret.write_bytes("qäZ7mK4xW9nB2vR8".encode())
    with pytest.raises(ConfigError, match="characters other than ASCII") as refused:
        token_setting({"MAGSAG_MCP_TOKEN_FILE": str(secret)})
    assert "xW9nB2vR8" not in refused.value.message
    secret.write_bytes((b"Zq4Wm7" * MAX_TOKEN_FILE_BYTES)[: MAX_TOKEN_FILE_BYTES + 1])
    with pytest.raises(ConfigError, match=f"is over {MAX_TOKEN_FILE_BYTES} bytes"):
        token_setting({"MAGSAG_MCP_TOKEN_FILE": str(secret)})
    # the bound is the file's whole size: one of exactly MAX_TOKEN_FILE_BYTES (4096) bytes is a token, read whole
    assert MAX_TOKEN_FILE_BYTES == 4096
    longest = (b"Zq4Wm7" * MAX_TOKEN_FILE_BYTES)[:MAX_TOKEN_FILE_BYTES]
    secret.write_bytes(longest)
    assert token_setting({"MAGSAG_MCP_TOKEN_FILE": str(secret)}) == (longest.decode(), FROM_THE_FILE)
    with pytest.raises(ConfigError, match="cannot be read"):  # a folder given for the file
        token_setting({"MAGSAG_MCP_TOKEN_FILE": str(tmp_path)})


@pytest.mark.parametrize("mistaken", [TOKEN, "Zr7/Kq2mWx9+Hb4nTd6=", "/Mp3xQ9zKw7vRt2"])
def test_a_token_set_in_the_file_variable_by_mistake_is_not_quoted(tmp_path: Path, mistaken: str):
    # Before: "MAGSAG_MCP_TOKEN_FILE='Fh3kQ8wZx2Nr7mTb5vLc9pJ' cannot be read": the token, in the server's log
    with pytest.raises(ConfigError) as refused:
        token_setting({"MAGSAG_MCP_TOKEN_FILE": mistaken})
    message = refused.value.message
    assert mistaken not in message and mistaken[:12] not in message and mistaken[-8:] not in message, message
    # a bare name is looked for in the current folder, a name below / in the top folder: neither is shown
    said = "a name with no folder, looked for in the current folder" if "/" not in mistaken else ""
    said = said or ("a name in the top folder (/)" if mistaken.startswith("/") else "in no folder that exists")
    assert said in message and "(its value is not shown" in message, message
    assert "cannot be read (No such file or directory): name the file that holds the token" in message


def test_a_path_in_a_folder_that_exists_is_named_in_the_refusal(tmp_path: Path):
    missing = tmp_path / "mcp_token"
    with pytest.raises(ConfigError) as refused:
        token_setting({"MAGSAG_MCP_TOKEN_FILE": str(missing)})
    assert f"MAGSAG_MCP_TOKEN_FILE={str(missing)!r} cannot be read" in refused.value.message


def test_a_relative_path_in_a_folder_that_exists_is_named_in_the_refusal(tmp_path: Path, monkeypatch):
    # a path relative to the working directory (a Compose file's ./secrets/...) is a path as much as an absolute one
    (tmp_path / "secrets").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as refused:
        token_setting({"MAGSAG_MCP_TOKEN_FILE": "secrets/mcp_token"})
    assert "MAGSAG_MCP_TOKEN_FILE='secrets/mcp_token' cannot be read" in refused.value.message
