"""The one reader of the files ``MAGSAG_MCP_TOKEN_FILE`` and ``MAGSAG_MCP_TOKENS_FILE`` name: both refuse a file they
cannot read, one too large and a token set in the variable by mistake alike, each refusal naming the file, what was
wrong and the fix (they were read by two copies of the code, with other words and other limits)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from magsag_mcp.errors import ConfigError
from magsag_mcp.mcp_server.client_tokens import MAX_TOKENS_FILE_BYTES, client_tokens_setting
from magsag_mcp.mcp_server.token_setting import MAX_TOKEN_FILE_BYTES, token_setting

TOKEN = "Zq4Wm7Kx2Nr8Tb5vLc9pJ3hF"  # made up for the test
READERS = [
    pytest.param(token_setting, "MAGSAG_MCP_TOKEN_FILE", "the token", MAX_TOKEN_FILE_BYTES, f"{TOKEN}\n", id="token"),
    pytest.param(
        client_tokens_setting,
        "MAGSAG_MCP_TOKENS_FILE",
        "the AGENT TOKEN lines",
        MAX_TOKENS_FILE_BYTES,
        f"research-bot {TOKEN}\n",
        id="tokens",
    ),
]


@pytest.mark.parametrize(("read", "variable", "holds", "limit", "content"), READERS)
def test_both_token_files_are_read_and_refused_alike(tmp_path: Path, read, variable, holds, limit, content):
    secret = tmp_path / "secret"
    secret.write_text(content)
    assert read({variable: str(secret)})  # read
    # written by Windows PowerShell 5.1 (UTF-16 after its byte order mark): the same
    secret.write_bytes(content.encode("utf-16"))
    assert read({variable: str(secret)})
    with pytest.raises(ConfigError) as refused:  # a folder given for the file
        read({variable: str(tmp_path)})
    assert refused.value.message.startswith(f"{variable}={str(tmp_path)!r} cannot be read (")
    assert refused.value.message.endswith(
        f"name the file that holds {holds} (a Docker secret is /run/secrets/NAME), readable by this user"
    )
    secret.write_bytes(b"x" * (limit + 1))  # a log named by mistake
    with pytest.raises(ConfigError) as refused:
        read({variable: str(secret)})
    size = f"{limit} bytes" if limit < 10 * 1024 else f"{limit // 1024} KiB"
    assert refused.value.message == (
        f"{variable}={str(secret)!r} is over {size}, larger than any file of {holds} (another file named by "
        f"mistake?): name the file that holds {holds}"
    )
    if hasattr(os, "mkfifo"):  # a FIFO (a process's output named by mistake): refused, its open waited for a writer
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        with pytest.raises(ConfigError) as refused:
            read({variable: str(fifo)})
        assert refused.value.message == (
            f"{variable}={str(fifo)!r} is not a regular file (a FIFO, a device or a socket, which may never end): "
            f"name the file that holds {holds}"
        )
    with pytest.raises(ConfigError) as refused:  # the token itself, set in the file's variable
        read({variable: TOKEN})
    assert TOKEN not in refused.value.message
    assert refused.value.message.startswith(f"the file {variable} names, a name with no folder, looked for in the ")
    with pytest.raises(ConfigError) as refused:  # a path in a folder that is not there
        read({variable: str(tmp_path / "gone" / "secret")})
    assert refused.value.message.startswith(f"the file {variable} names, in no folder that exists (its value is not")


@pytest.mark.parametrize(("read", "variable", "holds", "limit", "content"), READERS)
def test_a_bare_file_name_is_read_from_the_current_folder_and_its_refusal_says_so(
    tmp_path: Path, monkeypatch, read, variable, holds, limit, content
):
    # Before: 'the file MAGSAG_MCP_TOKEN_FILE names, in no folder that exists', of token.txt, a name in no folder at
    # all: read from the folder the server was started in (an MCP client's choice), which does exist
    monkeypatch.chdir(tmp_path)
    (tmp_path / "token.txt").write_text(content)
    assert read({variable: "token.txt"})  # read from the current folder
    for missing in ("tokens.txt", TOKEN):  # a name in no folder, or the token itself set there
        with pytest.raises(ConfigError) as refused:
            read({variable: missing})
        message = refused.value.message
        assert "in no folder that exists" not in message and missing not in message, message
        assert message.startswith(
            f"the file {variable} names, a name with no folder, looked for in the current folder ({tmp_path}) (its "
            "value is not shown"
        ), message
        assert message.endswith(
            f"cannot be read (No such file or directory): name the file that holds {holds} by its whole path (a Docker "
            "secret is /run/secrets/NAME), readable by this user"
        ), message
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match=r"current folder .* cannot be read \(Is a directory\)"):
        read({variable: "folder"})
