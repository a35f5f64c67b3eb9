"""`magsag run` of an agent whose own code raises quoting the answer of its call (a SAG checking what it got), the
answer echoing the credential that call gave itself (its ``params.api_key``: a gateway echoing its request): the call
forgot its credential as it ended, and the agent's exception was printed (its traceback and the JSON error) and its
run recorded with the credential whole, where the run's result, or a paid answer its error carries, loses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.key_echo_helpers import AgentRun
from tests.test_call_key_echoed_in_answer import _CALL_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

_RAISING_CODE = """import json


def run(payload, *, registry=None, skills=None, runner=None, obs=None):
    result = skills.invoke("skill.analysis", json.loads(payload["call"]))
    raise RuntimeError(f"the analysis is not what was asked: {result['output']}")
"""


async def test_a_calls_own_key_in_an_agents_exception_is_neither_printed_nor_recorded(
    echoing_agent_run: Callable[[str], Awaitable[AgentRun]],
):
    run = await echoing_agent_run(_RAISING_CODE)
    assert run.seen == [_CALL_KEY] and run.code == 1, run.err
    assert "RuntimeError: the analysis is not what was asked" in run.err, run.err
    assert _CALL_KEY not in run.out + run.err and _CALL_KEY[8:24] not in run.out + run.err, run.err
    assert "you sent [REDACTED]" in run.err, run.err
    assert _CALL_KEY.encode() not in run.ledger and _CALL_KEY[8:24].encode() not in run.ledger
    assert "you sent [REDACTED]" in (run.error_message or ""), run.error_message
