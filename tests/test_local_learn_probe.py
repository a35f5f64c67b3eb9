"""A local target's server asked where it runs the model (``learn_where_it_runs``) before the call's attempt, which
says so to the caller's progress (``asking``): a call that was the circuit breaker's probe of that target and stopped
there (its callback raising, a cancel) hands the probe on, as one stopped before any other send does. Kept, every call
after it passed the target over ("another call is sending it now") until the first call's probe hold ran out."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.fake import script
from tests.cascade_helpers import make, plan
from tests.test_local_reach import SHOW_PULLED, Ollama

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

LOCAL_FIRST = {"model": "local:llama3.1:70b", "fallbacks": ["fake:b"]}


class CallerGone(Exception):
    """The caller's progress callback raising (a client gone away), as it hears the server asked."""


async def test_a_probe_stopped_while_its_local_server_is_asked_is_the_next_calls(serve_posts):
    ollama = Ollama({"llama3.1:70b": SHOW_PULLED})
    ollama.url = await serve_posts(ollama.handle)
    cascade, clock = make({"MAGSAG_LOCAL_LLM_BASE_URL": f"{ollama.url}/v1"})
    target = plan(LOCAL_FIRST).candidates[0].target
    assert target.label == "local:llama3.1:70b"
    down = E.ServerError("local:llama3.1:70b: HTTP 500: internal error", status=500)
    for _ in range(cascade.rests.breaker.failures):  # the breaker opened by calls in a row it failed
        cascade.rests.gave_up(target, down, clock())
    clock.now += 30.0  # its cooldown over: the next call is its probe

    async def gone_on_asking(event, data):
        if event == "asking":
            raise CallerGone(data["target"])

    with pytest.raises(CallerGone):
        await cascade.run(plan(LOCAL_FIRST), run_id="stopped", agent=None, progress=gone_on_asking)
    script("b", "from b")
    out = await cascade.run(plan(LOCAL_FIRST), run_id="next", agent=None)
    assert [(a.model, a.outcome) for a in out.attempts] == [("llama3.1:70b", "ok")], out.attempts
    assert ollama.paths == ["/api/show", "/v1/responses"]  # (the stopped call's question never reached it)
