"""`magsag azure forget --endpoint`: a value that names no endpoint (no URL, no host) is told so, with what to give;
one that names a host the ledger has no record of is told that, as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.cli import main


@pytest.mark.parametrize("value", ["notaurl", "not a url", "https://", "res.openai.azure.com:port", ""])
def test_an_endpoint_that_is_no_url_is_told_so_with_the_fix(ledger_db: Path, capsys, value: str):
    # it was "the ledger has no record of what deployment 'X' of notaurl serves", as if notaurl were a host
    try:
        code = main(["azure", "forget", "X", "--endpoint", value])
    except SystemExit as stopped:  # ("" is refused by the option's own type, as every empty value is)
        code = stopped.code
    assert code == 2
    err = capsys.readouterr().err
    if value == "":
        assert "--endpoint: is empty" in err
        return
    message = json.loads(err[err.index("{") :])["error"]["message"]
    assert message.startswith(f"--endpoint {value!r} is not a URL or a host, so no record was dropped: "), message
    assert "https://RESOURCE.openai.azure.com/" in message and "magsag azure served" in message


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("https://res.openai.azure.com/", "res.openai.azure.com"),
        ("res.openai.azure.com", "res.openai.azure.com"),
        ("localhost", "localhost"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("http://gateway:8000/eastus", "gateway:8000/eastus"),
        ("http://[::1]:8443", "[::1]:8443"),
    ],
)
def test_an_endpoint_that_names_a_host_is_told_the_ledger_has_no_record_of_it(
    ledger_db: Path, capsys, value: str, host: str
):
    assert main(["azure", "forget", "X", "--endpoint", value]) == 2
    err = capsys.readouterr().err
    message = json.loads(err[err.index("{") :])["error"]["message"]
    assert message.startswith(f"the ledger has no record of what deployment 'X' of {host} serves"), message
