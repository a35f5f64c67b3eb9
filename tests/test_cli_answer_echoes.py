"""What the CLI prints leaves the process, as an MCP tool's result does: a vendor's answer quoting the key it was sent
with (a gateway echoing the request's headers) loses the key there too, by the same code (redaction's
``answer_without_known_keys``), and a key-shaped token the process never sent is the answer's own, kept."""

from __future__ import annotations

import json

import anyio
import pytest

from magsag_mcp.cli import main, print_error
from magsag_mcp.errors import LedgerError
from magsag_mcp.redaction import register_secret
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY

#: shaped like a key, never sent: an example in the answer's code, which is the answer's own
EXAMPLE = "sk-proj-EXAMPLEexampleEXAMPLEexample0123"


@pytest.mark.anyio
@pytest.mark.usefixtures("restored_secrets")
async def test_magsag_invoke_prints_an_answer_quoting_the_key_without_it(cli_env, capsys, fake_openai):
    # Before: MCP's invoke_skill removed the key from such an answer, and `magsag invoke` printed it as it came, into
    # a terminal's scrollback, a CI log or the file a script redirected it to
    fake_openai.queue(R.reply(f"headers seen: Authorization: Bearer {DEFAULT_KEY}; try {EXAMPLE}"))
    payload = json.dumps({"data": "x", "model_config": {"model": "openai:gpt-4o"}})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", DEFAULT_KEY)
        mp.setenv("OPENAI_BASE_URL", fake_openai.url + "/v1")
        assert await anyio.to_thread.run_sync(main, ["invoke", "skill.analysis", "--payload", payload]) == 0
    out = capsys.readouterr().out
    assert DEFAULT_KEY not in out
    result = json.loads(out)
    assert result["output"] == result["text"] == f"headers seen: Authorization: Bearer [REDACTED]; try {EXAMPLE}"


@pytest.mark.usefixtures("restored_secrets")
def test_an_error_carrying_the_paid_answer_is_printed_redacted_as_mcp_sends_it(capsys):
    # A ledger that refused a paid call's record: the error carries the answer (calling again pays twice), and the CLI
    # printed it as it came where MCP's tool error redacts every string of it
    key = "sk-test-echoed-0123456789abcdefghijklmn"
    register_secret(key)
    error = LedgerError("the ledger refused the record. The answer is attached to this error (.result)")
    error.result = {"output": f"you sent {key}", "tool_calls": []}
    print_error(error)
    printed = json.loads(capsys.readouterr().err)["error"]
    assert printed["result"]["output"] == "you sent [REDACTED]"
