"""Fuzzing whole calls: a skill's call whose every answer is a mutation of a valid one keeps the call's promises.

Each case sends a call (skill.analysis, one target, plain or streamed, of Chat Completions, the Responses API, the
Messages API or Gemini) to the loopback server of tests/providers/fuzz_answers_helpers.py, which answers every
attempt with one mutation of the fake's valid answer. Whatever comes back, the call ends in an answer or a typed
error of the caller's or the vendor's (not a bug of magsag's); its run is in the ledger with each attempt; no budget
reservation is left held; and the key is in no error and no record. The mutations themselves, and the provider-level
invariants, are tests/providers/test_fuzz_answers.py's.

``FUZZ_CALLS`` sets the number of calls (48 in CI); ``FUZZ_SEED`` draws other ones.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from tests.governance_helpers import policy
from tests.providers.fuzz_answers_helpers import (
    APIS,
    BUG_WORDS,
    KEY,
    SEED,
    MutationServer,
    capture_seeds,
    mutated_answer,
)

pytestmark = pytest.mark.anyio

CALLS = int(os.environ.get("FUZZ_CALLS", "48"))

#: each API's target, as a call's model_config names it
TARGETS = {
    "chat": {"provider": "openai", "model": "gpt-4o"},
    "responses": {"provider": "openai", "model": "gpt-4o", "params": {"api": "responses"}},
    "anthropic": {"provider": "anthropic", "model": "claude-sonnet-4-5"},
    "gemini": {"provider": "google", "model": "gemini-2.5-flash"},
}


def _env(base: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": base + "/v1",
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": base,
        "GEMINI_API_KEY": KEY,
        "GEMINI_BASE_URL": base,
        "MAGSAG_MAX_RETRIES": "1",
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_RETRY_MAX_DELAY": "0.002",
    }


def _held(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]


@pytest.mark.usefixtures("clock_at_noon")  # (the day's limit reads the day's spend)
async def test_mutated_answers_keep_every_calls_record_and_release_its_reservation(catalog_copy, tmp_path):
    # limits of every scope, so every attempt reserves its worst case
    policy(
        catalog_copy,
        "policies:\n  - name: limits\n    thresholds: {max_cost_per_run_usd: 50, max_cost_per_day_usd: 5000,"
        " max_cost_per_agent_daily_usd: 500}\n",
    )
    transport = Transport()
    server = MutationServer()
    seeds = {(api, s): await capture_seeds(api, s, transport) for api in APIS for s in (False, True)}
    await transport.aclose()
    rng = random.Random(f"calls-{SEED}")
    db = tmp_path / "fuzz.db"
    problems: list[str] = []
    ended_in: Counter[str] = Counter()
    try:
        base = await server.start()
        async with await Service.open(catalog=catalog_copy, db=db, env=_env(base)) as svc:
            for i in range(CALLS):
                api, stream = rng.choice(APIS), rng.random() < 0.5
                server.answer = mutated_answer(rng.choice(seeds[api, stream]), stream, api, rng)
                shown = f"#{i} {api} {'streamed' if stream else 'plain'}: {server.answer.body[:300]!r}"
                mc = {**TARGETS[api], "max_tokens": 200, "stream": stream}
                run_id = f"fz-{i}"
                try:
                    await svc.invoke_skill(
                        "skill.analysis", {"data": "x", "model_config": mc}, run_id=run_id, agent="fz"
                    )
                    ended_in["an answer"] += 1
                except E.MagsagError as exc:
                    ended_in["an error"] += 1
                    message = exc.message
                    if isinstance(exc, E.InternalError) or type(exc) is E.MagsagError or exc.kind == "error":
                        problems.append(f"a bug's error ({type(exc).__name__}: {message}) for {shown}")
                    elif any(w in message.lower() for w in BUG_WORDS):
                        problems.append(f"worded as a bug: {message} for {shown}")
                    if KEY in message or KEY in json.dumps(exc.to_dict(), default=str):
                        problems.append(f"the key in an error for {shown}")
                except Exception as exc:  # what escaped the error tree is the problem reported
                    problems.append(f"escaped as {type(exc).__name__}: {exc!r} for {shown}")
                runs = await svc.query_runs({"run_id": run_id})
                if len(runs) != 1 or not runs[0]["attempts"]:
                    problems.append(f"no record of the call, or of its attempts: {runs!r} for {shown}")
                elif KEY in json.dumps(runs, default=str):
                    problems.append(f"the key in the record for {shown}")
                budget = await svc.check_budget(agent="fz", run_id=run_id)
                if any(limit["reserved_usd"] != "0" for limit in budget["limits"]):
                    problems.append(f"a reservation held after the call: {budget['limits']!r} for {shown}")
        if _held(db):
            problems.append(f"{_held(db)} reservations left in the ledger once it closed")
    finally:
        await server.close()
    assert not problems, f"{len(problems)} of {CALLS}:\n" + "\n".join(problems[:8])
    assert server.violations == [], "requests not valid by their vendor's spec"
    if CALLS >= 20:
        # both reached: calls that all failed one way (a server that never answers, a target refused before it is
        # sent) would check the records of one path alone, whatever the rest does
        assert set(ended_in) == {"an answer", "an error"}, dict(ended_in)
