"""What the examples print is what happened: the figures they show are checked here against the prices and the
loopback vendors' token counts, not only that the script exits 0 (test_examples.py runs every one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def sections(name: str, tmp_path: Path) -> dict[str, object]:
    """The example's ``== title`` sections, each body parsed as the JSON ``show`` printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_"))}
    env["MAGSAG_DB"] = str(tmp_path / "ledger.db")
    proc = subprocess.run([sys.executable, name], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    found: dict[str, object] = {}
    for chunk in proc.stdout.split("== ")[1:]:
        title, _, body = chunk.partition("\n")
        found[title] = json.loads(body)
    return found


def test_cost_management_prints_the_exact_cost_of_its_four_calls(tmp_path: Path):
    shown = sections("cost_management.py", tmp_path)
    # Each call: the skill's prompt around 20,000 "x", which the loopback vendor counts as 5,065
    # input tokens (a token per 4 bytes), and it answers 7 output tokens; gpt-4o costs $2.50 / $10 per million.
    one_call = (5065 * Decimal("2.50") + 7 * Decimal("10")) / 1_000_000
    assert Decimal(shown["run cost (exact)"]) == 4 * one_call == Decimal("0.05093")
    assert shown["as expected"] == "Budget exceeded: $0.05 > $0.02"
    run_limit = next(lim for lim in shown["budget status"]["limits"] if lim["limit"] == "run")
    assert Decimal(run_limit["spent_usd"]) == 4 * one_call
    assert Decimal(run_limit["remaining_usd"]) == Decimal("5.0") - 4 * one_call


def test_governance_refuses_before_spend_confines_pii_and_records_both(tmp_path: Path):
    shown = sections("governance.py", tmp_path)
    # o1-preview: 60 input tokens at $15 per million, 20,000 output tokens at $60 per million
    assert Decimal(shown["explain: worst case of o1-preview"]) == (60 * 15 + 20000 * 60) / Decimal(1_000_000)
    refused = shown["refused before spend"]
    assert refused.startswith("AllTargetsFailed[BudgetExceeded]") and "call limit $1.0 would be exceeded" in refused
    routed = shown["pii_processing routed to"]
    assert (routed["provider"], routed["model"]) == ("local", "llama3.1:70b")
    assert sum("data_residency" in w for w in routed["warnings"]) == 3  # gpt-4o, claude and gemini skipped
    denied = shown["pii_processing on gpt-4o"]
    assert "PolicyDenied" in denied and "data class 'pii_processing' may only use" in denied
    # one call reached a vendor; the refused and skipped targets are rows of their own, with no tokens and no cost
    assert shown["ledger totals for this run"] == {
        "calls": 1,
        "attempts": 1,
        "budget_exceeded_attempts": 1,
        "policy_denied_attempts": 4,
        "total_tokens": 79,
        "cost_usd_exact": "0",
    }


def test_the_mcp_agent_client_prints_what_its_calls_did(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_"))}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "mcp" / "agent_client.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("== ")]
    assert lines[0].startswith("== report-mag sees 8 skills: skill.analysis, skill.assistant,")
    assert lines[1].endswith(": fake:gpt-4o -> fake:claude-3-5-sonnet-20241022 -> fake:gemini-1.5-pro")
    assert lines[2].startswith("== analysis by fake:gpt-4o (run run-") and lines[2].endswith(", cost $0)")
    run_id = lines[2].split("(run ")[1].split(",")[0]
    # the wrong field is named with the fix, and the retried call answered on the route's summarization model
    assert lines[3].startswith("== tool error invalid_payload: skill.summarization: payload is missing field 'text'")
    assert "did you mean 'text'?" in lines[3]
    assert lines[4].startswith("== summary by fake:gpt-4o-mini: [fake:gpt-4o-mini] Summarise this")
    # the ledger holds the two calls that reached the provider, under the run the agent gave both
    assert lines[5] == f"== run {run_id}: 2 attempt(s) in the ledger"
    assert lines[6] == (
        f"== budget ok: each call: $1.0 left, run {run_id}: $5.0 left, agent report-mag today (UTC): $100.0 left, "
        "all calls today (UTC): $500.0 left"
    )


# Runs an example with offline() wrapped to print, once the example is done, the loopback vendor's own books and
# the ledger's totals over every run the example made.
BOOKS = """
import contextlib, json, runpy, sys
sys.path.insert(0, ".")
import _offline
made = _offline.offline

@contextlib.contextmanager
def booked(*args, **kwargs):
    with made(*args, **kwargs) as (mg, upstream):
        yield mg, upstream
        books = {"sent": sum(upstream.calls.values()), "answered": upstream.log, "ledger": mg.summarize()["totals"]}
        print("BOOKS " + json.dumps(books))

_offline.offline = booked
runpy.run_path(sys.argv[1], run_name="__main__")
"""

# USD per million input / output tokens (the vendors' list prices the catalog's genai-prices data holds)
PRICES = {
    "gpt-4o": (Decimal("2.50"), Decimal("10")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
    "o1-preview": (Decimal("15"), Decimal("60")),
    "claude-3-5-sonnet-20241022": (Decimal("3"), Decimal("15")),
    "llama3.1:70b": (Decimal("0"), Decimal("0")),  # a local model: unpriced in catalog/prices.yaml, costs 0
}


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")))
def test_every_example_records_in_the_ledger_what_the_vendor_answered(name: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_"))}
    proc = subprocess.run(
        [sys.executable, "-c", BOOKS, name], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("BOOKS ")]
    books = json.loads(line.removeprefix("BOOKS "))
    answered, ledger = books["answered"], books["ledger"]
    assert answered, "the example made no call a vendor answered"
    # every request the vendor got is an attempt of the ledger, and every answer a successful one
    assert ledger["attempts"] == books["sent"] and ledger["attempts"] - ledger["attempt_errors"] == len(answered)
    assert ledger["input_tokens"] == sum(n_in for _, n_in, _ in answered)
    assert ledger["output_tokens"] == sum(n_out for _, _, n_out in answered)
    cost = sum((n_in * PRICES[m][0] + n_out * PRICES[m][1]) / 1_000_000 for m, n_in, n_out in answered)
    assert Decimal(ledger["cost_usd_exact"]) == cost and ledger["cost_complete"]


def test_the_examples_offline_setup_leaves_the_process_environment_as_it_was(monkeypatch):
    # examples/_offline.py copied MAGSAG_RETRY_BASE_DELAY=0.01 into os.environ, where it stayed after the example's
    # Magsag closed: code run after it in the process (a notebook's own Magsag(), magsag-mcp started from it) retried
    # at 10 ms. The Magsag reads it from the env it is given.
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delenv("MAGSAG_RETRY_BASE_DELAY", raising=False)
    from _offline import offline

    before = dict(os.environ)
    with offline() as (mg, _upstream):
        assert mg.service.retry.base_delay == 0.01
    assert dict(os.environ) == before
