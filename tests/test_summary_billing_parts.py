"""The parts of a bill its tokens alone do not give (0030: an attempt's output image tokens, whether its inference ran
US-only, its per-use server tool calls) in the usage summaries, per model, provider, agent and skill and in the totals:
summed in usage_rollup (0031_usage_rollup_billing_parts) by every write (a lone call's, a group commit's batch), by
prune's rebuild of a day, and backfilled into a ledger the version before recorded. A part no attempt said is null,
never 0; beside each, how many attempts did not say it. The totals equal the sums an auditor makes of the exported
attempts."""

from __future__ import annotations

import datetime
import json
import random
import sqlite3
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
KINDS = ("web_search", "file_search", "code_interpreter", "image_generation", "grounded_prompt")
#: a summary's figures of the parts of a bill
PARTS = (
    "output_image_tokens",
    "output_image_unsaid_attempts",
    "us_inference_attempts",
    "inference_geo_unsaid_attempts",
    "server_tool_uses",
    "server_tool_uses_unsaid_attempts",
)
DAY = 20_400 * 86400.0


def _parts(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: stats[k] for k in PARTS}


def _attempt(run_id: str, at: float, model: str, outcome: str = "ok", **parts: Any) -> AttemptRecord:
    return AttemptRecord(
        run_id, at, "anthropic", model, "s", "ana", outcome, 0, 1, input_tokens=100, output_tokens=10,
        cost_usd=Decimal("0.01"), **parts,
    )  # fmt: skip


async def _record(ledger: Ledger, run_id: str, attempts: list[AttemptRecord]) -> None:
    at = attempts[0].started_at
    await ledger.record_call(RunRecord(run_id, "ana", "s", at, ended_at=at, status="ok"), attempts)


def _random_attempt(rng: random.Random, run_id: str, at: float) -> AttemptRecord:
    """An attempt of one of three models, each part said or not at random (None: not said; {}: a count of none)."""
    uses = rng.choice([None, None, {}, {"web_search": rng.randint(1, 3)}, {"file_search": 1, "code_interpreter": 2},
                       {"image_generation": 1, "grounded_prompt": 1, "web_search": 1}])  # fmt: skip
    return AttemptRecord(
        run_id,
        at,
        "google",
        rng.choice(["m-images", "m-geo", "m-plain"]),
        rng.choice(["s1", "s2"]),
        rng.choice(["ana", "bo"]),
        rng.choice(["ok", "ok", "ok", "error", "skipped"]),
        0,
        1,
        input_tokens=rng.randint(0, 50),
        output_tokens=rng.randint(0, 50),
        cache_write_tokens=rng.choice([0, 0, 7]),
        cost_usd=Decimal("0.000001") * rng.randint(0, 9),
        output_image_tokens=rng.choice([None, None, 0, rng.randint(1, 900)]),
        inference_geo=rng.choice([None, None, "us", "global"]),
        server_tool_uses=uses,
    )


def _sums_of(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """What an auditor sums from exported attempts: those that reached a provider (ok, error), as the summary counts
    them; a part none of them said is null."""
    reached = [a for a in attempts if a["outcome"] in ("ok", "error")]
    images = [a["output_image_tokens"] for a in reached if a["output_image_tokens"] is not None]
    geos = [a["inference_geo"] for a in reached if a["inference_geo"] is not None]
    uses = [a["server_tool_uses"] for a in reached if a["server_tool_uses"] is not None]
    counted = {kind: sum(u.get(kind, 0) for u in uses) for kind in KINDS}
    return {
        "output_image_tokens": sum(images) if images else None,
        "output_image_unsaid_attempts": len(reached) - len(images),
        "us_inference_attempts": geos.count("us") if geos else None,
        "inference_geo_unsaid_attempts": len(reached) - len(geos),
        "server_tool_uses": {k: n for k, n in counted.items() if n} if uses else None,
        "server_tool_uses_unsaid_attempts": len(reached) - len(uses),
        "cache_write_tokens": sum(a["cache_write_tokens"] for a in reached),
        "input_tokens": sum(a["input_tokens"] for a in reached),
    }


def test_summary_totals_equal_the_sums_of_the_exported_attempts(tmp_path: Path, monkeypatch, capsys):
    """Random calls over three UTC days, recorded at once (so that the group commit writes many in one batch, where
    records of one rollup key are summed before the upsert), then exported as an auditor would: every model's figures
    and the totals equal the exported attempts' sums, from the rollup (whole days) and from the attempts (a period
    starting mid-day). The batch's sum of two records of one key added neither's cache writes before (the second's
    were lost), which the same check shows."""
    from magsag_mcp.cli import main

    db = tmp_path / "audit.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    rng = random.Random(31)
    calls = []
    for i in range(240):
        at = DAY + rng.randrange(3 * 86400)
        attempts = [_random_attempt(rng, f"r{i}", at + k) for k in range(rng.choice([1, 1, 2, 3]))]
        calls.append((RunRecord(f"r{i}", "ana", "s", at, ended_at=at + 3, status="ok"), attempts))
    since = DAY + 86400 + 43_200  # noon of the second day: its afternoon read from the attempts

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Ledger(db) as ledger:
            async with anyio.create_task_group() as tg:
                for run, attempts in calls:
                    tg.start_soon(ledger.record_call, run, attempts)
            return await ledger.summarize(), await ledger.summarize({"since": since})

    whole, edge = anyio.run(go)
    assert main(["data", "query", "--format", "json"]) == 0
    exported = [a for run in json.loads(capsys.readouterr().out) for a in run["attempts"]]
    assert len(exported) == sum(len(attempts) for _, attempts in calls)
    since_iso = datetime.datetime.fromtimestamp(since, datetime.UTC).isoformat()
    for summary, attempts in ((whole, exported), (edge, [a for a in exported if a["time"] >= since_iso])):
        figures = (*PARTS, "cache_write_tokens", "input_tokens")
        assert {k: summary["totals"][k] for k in figures} == _sums_of(attempts)
        for model, stats in summary["model_stats"].items():
            assert {k: stats[k] for k in figures} == _sums_of([a for a in attempts if a["model"] == model]), model
        for agent, stats in summary["by_agent"].items():
            assert {k: stats[k] for k in figures} == _sums_of([a for a in attempts if a["agent"] == agent]), agent
    assert whole["totals"]["server_tool_uses"].keys() == set(KINDS)  # (every kind's column summed)


async def test_a_part_no_attempt_said_is_null_and_a_count_of_none_is_zero(tmp_path: Path):
    """A Chat Completions answer says no part: its model's figures are null (a sum of none said is no 0), each of its
    attempts counted as not saying it. An answer that counted no server tool use ({}) is a count of none: {}; a geo
    said "global" is 0 attempts run US-only, not null."""
    async with Ledger(tmp_path / "l.db") as ledger:
        await _record(ledger, "r1", [_attempt("r1", DAY + 1, "plain")])
        await _record(ledger, "r2", [_attempt("r2", DAY + 2, "counted", inference_geo="global", server_tool_uses={})])
        await _record(ledger, "r3", [_attempt("r3", DAY + 3, "counted", "error")])  # (its failure said nothing)
        summary = await ledger.summarize()
    assert _parts(summary["model_stats"]["plain"]) == {
        "output_image_tokens": None,
        "output_image_unsaid_attempts": 1,
        "us_inference_attempts": None,
        "inference_geo_unsaid_attempts": 1,
        "server_tool_uses": None,
        "server_tool_uses_unsaid_attempts": 1,
    }
    assert _parts(summary["model_stats"]["counted"]) == {
        "output_image_tokens": None,
        "output_image_unsaid_attempts": 2,
        "us_inference_attempts": 0,
        "inference_geo_unsaid_attempts": 1,
        "server_tool_uses": {},
        "server_tool_uses_unsaid_attempts": 1,
    }
    assert summary["totals"]["us_inference_attempts"] == 0 and summary["totals"]["server_tool_uses"] == {}


def _rollup_parts(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT bucket, model, outcome, attempts, output_image_tokens, output_image_said, us_inference, geo_said,"
            " tool_uses_said, web_search_uses, file_search_uses, code_interpreter_uses, image_generation_uses,"
            " grounded_prompt_uses FROM usage_rollup ORDER BY bucket, model, outcome"
        ).fetchall()
    finally:
        conn.close()


async def test_a_ledger_the_version_before_recorded_sums_its_billing_parts_once_upgraded(tmp_path: Path, monkeypatch):
    """The version before 0031 kept each attempt's parts of a bill (0030) and rolled none up. Upgraded, its summaries
    must count them (not null, nor 0), from the rows 0031 fills from the attempts; a rollup row whose attempts are gone
    keeps what it had (none said: its parts were never rolled up), and a call recorded after adds to the filled row."""
    from magsag_mcp.ledger import connection, migrations
    from tests.older_version import write_rollups_without_billing_parts

    db = tmp_path / "older.db"
    before_0031 = MIGRATIONS[: [name for name, _ in MIGRATIONS].index("0031_usage_rollup_billing_parts")]
    with monkeypatch.context() as m:  # the version before 0031
        m.setattr(migrations, "MIGRATIONS", before_0031)
        m.setattr(connection, "MIGRATIONS", before_0031)
        write_rollups_without_billing_parts(m.setattr)
        async with Ledger(db) as ledger:
            retried = [
                _attempt("r1", DAY + 10, "claude", "error"),  # (its failure said nothing)
                _attempt("r1", DAY + 11, "claude", inference_geo="us", server_tool_uses={"web_search": 3}),
            ]
            await _record(ledger, "r1", retried)
            await _record(ledger, "r2", [_attempt("r2", DAY + 20, "claude", inference_geo="global",
                                                  server_tool_uses={})])  # fmt: skip
            await _record(ledger, "r3", [_attempt("r3", DAY + 30, "gemini", output_image_tokens=1_290,
                                                  server_tool_uses={"grounded_prompt": 1})])  # fmt: skip
            await _record(ledger, "gone", [_attempt("gone", DAY - 86400 + 5, "claude", inference_geo="us")])
            old = await ledger.summarize()
    assert old["model_stats"]["claude"]["us_inference_attempts"] is None  # (it summed none)
    conn = sqlite3.connect(db, isolation_level=None)
    assert "0031_usage_rollup_billing_parts" not in {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    assert "us_inference" not in {r[1] for r in conn.execute("PRAGMA table_info(usage_rollup)")}
    conn.execute("DELETE FROM attempts WHERE run_id = 'gone'")  # its day's rollup row alone is left
    conn.close()

    async with Ledger(db) as ledger:
        before = await ledger.summarize({"since": DAY, "until": DAY + 86400})
        await _record(ledger, "r4", [_attempt("r4", DAY + 40, "claude", inference_geo="us", server_tool_uses={})])
        after = await ledger.summarize({"since": DAY, "until": DAY + 86400})
        whole = await ledger.summarize()
    bucket = int(DAY // 86400)
    assert _rollup_parts(db) == [
        (bucket - 1, "claude", "ok", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),  # attempts gone: as it was, none said
        (bucket, "claude", "error", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (bucket, "claude", "ok", 3, 0, 0, 2, 3, 3, 3, 0, 0, 0, 0),
        (bucket, "gemini", "ok", 1, 1_290, 1, 0, 0, 1, 0, 0, 0, 0, 1),
    ]
    claude_before = {
        "output_image_tokens": None,
        "output_image_unsaid_attempts": 3,
        "us_inference_attempts": 1,
        "inference_geo_unsaid_attempts": 1,
        "server_tool_uses": {"web_search": 3},
        "server_tool_uses_unsaid_attempts": 1,
    }
    assert _parts(before["model_stats"]["claude"]) == claude_before
    assert _parts(after["model_stats"]["claude"]) == {
        **claude_before,
        "output_image_unsaid_attempts": 4,
        "us_inference_attempts": 2,
    }
    assert after["model_stats"]["gemini"]["output_image_tokens"] == after["totals"]["output_image_tokens"] == 1_290
    assert after["totals"]["server_tool_uses"] == {"web_search": 3, "grounded_prompt": 1}
    # the day whose attempts are gone: its row said none, so its attempt is one more that did not say
    assert whole["totals"]["inference_geo_unsaid_attempts"] == after["totals"]["inference_geo_unsaid_attempts"] + 1
    assert whole["totals"]["us_inference_attempts"] == 2


async def test_prune_keeps_the_billing_parts_of_what_is_left_of_the_cutoffs_day(tmp_path: Path, monkeypatch):
    """A prune rebuilds the cutoff's UTC day in the rollup from the attempts it keeps: their parts of a bill with
    them."""
    import magsag_mcp.ledger.prune as prune

    now = DAY + 12 * 3600  # noon UTC: the cutoff, two hours back, is inside the day
    monkeypatch.setattr(prune, "time", SimpleNamespace(time=lambda: now))  # (prune's clock alone)
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await _record(ledger, "old", [_attempt("old", now - 3 * 3600, "gem", output_image_tokens=500)])
        await _record(ledger, "kept", [_attempt("kept", now - 3600, "gem", output_image_tokens=70, inference_geo="us",
                                                server_tool_uses={"file_search": 2})])  # fmt: skip
        await ledger.prune(2 * 3600)
        summary = await ledger.summarize()
    assert _rollup_parts(db) == [(int(DAY // 86400), "gem", "ok", 1, 70, 1, 1, 1, 1, 0, 2, 0, 0, 0)]
    assert _parts(summary["totals"]) == {
        "output_image_tokens": 70,
        "output_image_unsaid_attempts": 0,
        "us_inference_attempts": 1,
        "inference_geo_unsaid_attempts": 0,
        "server_tool_uses": {"file_search": 2},
        "server_tool_uses_unsaid_attempts": 0,
    }


async def test_flow_summarize_and_summarize_usage_give_the_parts_as_python_does(tmp_path: Path, capsys):
    """The CLI prints the summary's parts and the MCP tool answers them (its models let them through, null kept)."""
    from mcp.client import Client

    from magsag_mcp.cli import main
    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await _record(ledger, "r1", [_attempt("r1", DAY + 1, "gem", output_image_tokens=1_290,
                                              server_tool_uses={"grounded_prompt": 1})])  # fmt: skip
        await _record(ledger, "r2", [_attempt("r2", DAY + 2, "claude", inference_geo="us", server_tool_uses={})])
        python = await ledger.summarize()
    assert await anyio.to_thread.run_sync(main, ["flow", "summarize", "--db", str(db)]) == 0
    printed = json.loads(capsys.readouterr().out)
    async with Client(build_server(catalog=CATALOG, db=db, env={})) as client:
        result = await client.call_tool("summarize_usage", {})
    assert not result.is_error, result.content[0].text
    answer = result.structured_content
    for summary in (printed, answer):
        for model in ("gem", "claude"):
            assert _parts(summary["model_stats"][model]) == _parts(python["model_stats"][model]), model
        assert _parts(summary["totals"]) == _parts(python["totals"])
        assert _parts(summary["by_agent"]["ana"]) == _parts(python["totals"])
    assert _parts(python["model_stats"]["gem"]) == {
        "output_image_tokens": 1_290,
        "output_image_unsaid_attempts": 0,
        "us_inference_attempts": None,
        "inference_geo_unsaid_attempts": 1,
        "server_tool_uses": {"grounded_prompt": 1},
        "server_tool_uses_unsaid_attempts": 0,
    }
    assert python["totals"]["server_tool_uses"] == {"grounded_prompt": 1}
