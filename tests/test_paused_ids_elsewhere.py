"""A paused_id this process holds no call for (paused_calls.unheld_said): one another process gave (another server, a
CLI run, this server before a restart) says so, that only the process that paused a turn holds it and why the ledger
cannot continue it, and the fix; one this process gave and let go says that; one of no paused_id's form says its form.
Never "not found" alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp import errors as E
from magsag_mcp.mcp_server import build_server
from magsag_mcp.paused_calls import PROCESS_MARK, new_paused_id
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ROOT = Path(__file__).resolve().parent.parent


def _another_process_id() -> str:
    """A paused_id as another process gives it (its own mark: drawn again in each process)."""
    code = "from magsag_mcp.paused_calls import new_paused_id; print(new_paused_id())"
    made = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    given = made.stdout.strip()
    assert given.startswith("paused_") and len(given) == 23
    if given.startswith(f"paused_{PROCESS_MARK}"):  # (one chance in 16.7 million that the marks are alike)
        pytest.skip("the other process drew this process's mark")
    return given


async def test_a_paused_id_of_another_process_says_so_and_the_fix(tmp_path):
    elsewhere = _another_process_id()
    async with await Service.open(catalog=CATALOG, db=tmp_path / "ledger.db", env={}) as svc:
        with pytest.raises(E.InputError) as refused:
            await svc.continue_paused(elsewhere)
    said = refused.value.message
    assert elsewhere in said and "given by another process" in said and "before it restarted" in said
    assert "continue it in that process" in said and "never written to the ledger" in said
    assert "call the skill again to start the turn over (paid again)" in said
    assert "let it go" not in said


async def test_a_paused_id_this_process_gave_and_let_go_says_that(tmp_path):
    ours = new_paused_id()
    assert ours.startswith(f"paused_{PROCESS_MARK}") and len(ours) == 23
    async with await Service.open(catalog=CATALOG, db=tmp_path / "ledger.db", env={}) as svc:
        with pytest.raises(E.InputError) as refused:
            svc.held_paused(ours)
        with pytest.raises(E.InputError) as shapeless:
            svc.held_paused("paused_oslo")
    said = refused.value.message
    assert "this process gave it, and let it go" in said and "continued already" in said
    assert "among the last 256" in said and "another process" not in said
    assert "'paused_' and 16 hex digits" in shapeless.value.message


async def test_mcp_says_a_paused_id_of_another_process_was_given_there(tmp_path):
    elsewhere = _another_process_id()
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={})) as client:
        result = await client.call_tool("continue_paused", {"paused_id": elsewhere})
    assert result.is_error and result.structured_content["error"]["type"] == "input_error"
    said = result.structured_content["error"]["message"]
    assert "given by another process" in said and "continue it in that process" in said


@pytest.mark.usefixtures("restored_secrets")
async def test_a_known_token_passed_as_a_paused_id_leaves_none_of_itself_at_the_refusals_cut(tmp_path):
    # the refusal quotes the id's first 80 characters: cut before redact() read it, a known token after 70 characters
    # kept its first 10 in the message and the error's paused_id, too few to be known for the token's start
    token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa99887766554433221100"
    E.register_secret(token)
    async with await Service.open(catalog=CATALOG, db=tmp_path / "ledger.db", env={}) as svc:
        with pytest.raises(E.InputError) as refused:
            await svc.continue_paused("x" * 70 + token)
    said = str(refused.value.to_dict())
    assert token[:6] not in said and "x" * 70 in said
    assert "'paused_' and 16 hex digits" in refused.value.message
