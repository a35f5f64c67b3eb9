"""Fuzzing each API's answers: a provider given a mutation of a valid answer ends in a result or a typed error.

For each of Chat Completions, the Responses API, the Messages API and Gemini, plain and streamed, the answers the
spec-checking fakes send (a text and a tool call) are mutated with fixed seeds (fuzz_answers_helpers.py says how)
and sent byte for byte by a loopback server. Whatever comes, the provider's call must end in an ``LLMResult`` of
sound fields or an error of errors.py's tree that is not ``InternalError`` (our bug), has a message, and holds no
key. The full call's invariants (the ledger's record, the reservation's release) are test_fuzz_calls.py's.

``FUZZ_CASES`` sets the cases per API and mode (120 in CI; a long run: 5000), ``FUZZ_SEED`` draws other ones.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from magsag_mcp.transport import Transport

from .fuzz_answers_helpers import (
    APIS,
    CASES,
    SEED,
    MutationServer,
    capture_seeds,
    check_outcome,
    mutated_answer,
    provider_for,
    request,
)

pytestmark = pytest.mark.anyio

#: a call that has not ended after this long never will (each ends within milliseconds on a loopback)
HANG_SECONDS = 120
#: from how many cases an API and mode must have ended both in results and in errors
MIXED_FROM = 20


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("api", APIS)
async def test_mutated_answers_end_in_a_result_or_a_typed_error(api: str, stream: bool):
    transport = Transport()
    server = MutationServer()
    try:
        seeds = await capture_seeds(api, stream, transport)
        provider, target = provider_for(api, await server.start(), transport)
        rng = random.Random(f"{api}-{stream}-{SEED}")
        problems = []
        ended_in: Counter[str] = Counter()
        for _ in range(CASES):
            server.answer = mutated_answer(rng.choice(seeds), stream, api, rng)
            try:
                # (no speed is asked: the wait only turns a call that never ends into a failure, not a stuck run)
                outcome = await asyncio.wait_for(provider.complete(request(stream), target), HANG_SECONDS)
            except TimeoutError:
                outcome = AssertionError(f"the call did not end in {HANG_SECONDS} s")
            except Exception as exc:  # what escaped is judged below
                outcome = exc
            ended_in["an error" if isinstance(outcome, BaseException) else "a result"] += 1
            problem = check_outcome(outcome, server.answer)
            if problem is not None:
                problems.append(problem)
        assert not problems, f"{len(problems)} of {CASES}:\n" + "\n".join(problems[:8])
        assert server.violations == [], "requests not valid by their vendor's spec"
        if CASES >= MIXED_FROM:
            # both kinds reached: a fuzzer whose every case ended one way (a server that never answers, mutations
            # that break every answer, a seed no longer read as an answer) checks one path alone, and passes whatever
            # the readers do (at the 120 cases of CI: some 70 results, 40 errors per API and mode)
            assert set(ended_in) == {"a result", "an error"}, dict(ended_in)
    finally:
        await server.close()
        await transport.aclose()
