"""`magsag run` of an agent whose own code raises an error of magsag's tree (an ``InputError``, as an agent refusing
what it got says it) quoting the answer of its call, the answer echoing the credential that call gave itself (its
``params.api_key``): the error's message was redacted as it was made, after the call had forgotten its credential, and
``magsag run`` printed it (the JSON error) and recorded the run with the credential whole, where an agent's exception
outside the tree loses it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest

from tests.key_echo_helpers import AgentRun
from tests.test_call_key_echoed_in_answer import _CALL_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

_RAISING_CODE = """import json

from magsag_mcp.errors import InputError


def run(payload, *, registry=None, skills=None, runner=None, obs=None):
    result = skills.invoke("skill.analysis", json.loads(payload["call"]))
    raise InputError(f"the analysis is not what was asked: {result['output']}", answer=result["output"])
"""


async def test_a_calls_own_key_in_an_agents_error_of_the_tree_is_neither_printed_nor_recorded(
    echoing_agent_run: Callable[[str], Awaitable[AgentRun]],
):
    run = await echoing_agent_run(_RAISING_CODE)
    assert run.seen == [_CALL_KEY] and run.code != 0, run.err
    assert _CALL_KEY not in run.out + run.err and _CALL_KEY[8:24] not in run.out + run.err, run.err
    error = json.loads(run.err)["error"]
    assert error["type"] == "input_error" and "you sent [REDACTED]" in error["message"], error
    assert "you sent [REDACTED]" in error["answer"], error
    assert _CALL_KEY.encode() not in run.ledger and _CALL_KEY[8:24].encode() not in run.ledger
    assert "you sent [REDACTED]" in (run.error_message or ""), run.error_message
