"""Texts a message quotes only the start of (a path of thousands of characters, a Host header, a YAML value, a
prompt name, a schema's pattern, a ``since`` longer than any time) are redacted *before* the cut
(:func:`~magsag_mcp.redaction.excerpt`): cut first, a known key straddling the cut kept up to 11 characters, too
few for redact() to know as the key's start, and the message, the log line and the MCP result quoted them. Each
value here puts a known key so that the old cut kept its first 11 characters. And a ``since`` too long for any time
under ``--timezone Europe/Berlin`` is refused in Berlin's words, as a shorter one is (it said dates were UTC's)."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli import main, path_too_long
from magsag_mcp.ledger import backup_paths
from magsag_mcp.ledger.times import parse_since
from magsag_mcp.mcp_server.refusals import allow_host_hint, wrong_path_answer
from magsag_mcp.schema_patterns import pattern_problem
from magsag_mcp.yaml_kinds import yaml_kind

pytestmark = pytest.mark.usefixtures("restored_secrets")

KEY = "sk-proj-Zq8rT4mW2xY7vB1nK5pL9sD3fG6hJ0aQcE"


def _straddling(cut: int, kept: int = 11) -> str:
    """A text whose first ``cut`` characters end with the key's first ``kept`` characters."""
    E.register_secret(KEY)
    return "x" * (cut - kept) + KEY + "y" * 300


def _clean(said: str) -> None:
    assert KEY[:8] not in said, said


def test_the_cli_path_too_long_refusal_cuts_after_redacting():
    refusal = path_too_long(OSError(errno.ENAMETOOLONG, "File name too long", _straddling(40)))
    assert refusal is not None
    _clean(refusal.message)
    assert "x" * 29 in refusal.message and "(" in refusal.message


def test_a_backup_folder_named_cuts_both_its_ends_after_redacting():
    _clean(backup_paths._shown(_straddling(40)))
    E.register_secret(KEY)
    tail = "x" * 300 + KEY + "z" * 19  # the last 30 characters hold the key's last 11
    _clean(backup_paths._shown(tail))
    assert backup_paths._shown(tail).endswith("z" * 19)


def test_a_yaml_text_is_quoted_redacted_before_its_cut():
    said = yaml_kind(_straddling(40))
    _clean(said)
    assert said.startswith("the text 'xxxxxxxx") and said.endswith("...")


@pytest.mark.parametrize("header", ["host", "origin"])
def test_a_refused_host_or_origin_is_quoted_redacted_before_its_cut(header: str):
    _clean(allow_host_hint(header, _straddling(200)))


def test_a_wrong_path_is_quoted_redacted_before_its_cut():
    body = json.loads(wrong_path_answer({"path": "/" + _straddling(199), "headers": []}, "/mcp"))
    said = body["error"]["message"]
    _clean(said)
    assert "x" * 150 in said and "/mcp" in said


def test_a_schema_pattern_refused_is_quoted_redacted_before_its_cut():
    said = pattern_problem({"type": "string", "pattern": _straddling(200) + "(?=a)"})
    assert said is not None
    _clean(said)
    assert "linear time" in said


def test_a_since_longer_than_any_time_is_quoted_redacted_before_its_cut():
    with pytest.raises(E.InputError) as refused:
        parse_since(_straddling(24))
    _clean(str(refused.value.to_dict()))
    assert "at most 64 characters" in refused.value.message


def test_a_since_too_long_under_a_timezone_names_the_zone(tmp_path: Path, capsys: Any):
    # the refusal told dates were UTC's, though --timezone read them as Berlin's (a shorter bad time said Berlin's)
    since = "2026-12-01T00:00:00" + "0" * 46
    code = main(["data", "query", "--db", str(tmp_path / "l.db"), "--timezone", "Europe/Berlin", "--since", since])
    said = capsys.readouterr().err
    assert code != 0 and "at most 64 characters" in said, said
    assert "Europe/Berlin's unless it gives an offset" in said and "UTC unless" not in said


@pytest.mark.anyio
async def test_an_unknown_prompt_name_is_quoted_redacted_before_its_cut(tmp_path: Path):
    from mcp.client import Client
    from mcp.shared.exceptions import MCPError

    from magsag_mcp.mcp_server import build_server
    from tests.mcp_tools_helpers import CATALOG, ENV

    name = _straddling(100)
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)) as client:
        with pytest.raises(MCPError) as info:
            await client.get_prompt(name, {})
    _clean(info.value.message)
    assert info.value.code == -32602 and "unknown prompt 'xxxxxxxx" in info.value.message
