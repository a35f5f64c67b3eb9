"""``flow gate``'s allowed_models against local models whose calls left the machine: a model the local server made
from a cloud one (its /api/show answers ``remote_host``) is called under a local name a glob (``local:*``) matches,
and each call of it is refused under that glob; the summary says per model where its attempts went
(``model_stats[M]["off_machine"]``, read from the endpoint each attempt recorded), and the gate names it. The server
is a loopback aiohttp app answering as Ollama does (tests/test_local_reach.py's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.governance.gate import check_summary
from magsag_mcp.governance.policy import Policy, PolicySet
from tests.test_local_reach import SHOW_CLOUD, SHOW_PULLED
from tests.test_local_reach import ollama as ollama  # (the fixture)

pytestmark = pytest.mark.anyio

GLOB = PolicySet([Policy(name="production_models", allowed_models=["local:*"])])


async def test_a_summary_says_which_local_models_went_off_the_machine_and_the_gate_names_them(
    ollama, catalog_copy: Path, tmp_path: Path
):
    from magsag_mcp.service import Service

    governance = catalog_copy / "policies" / "model_governance.yaml"
    # (its cost is unknown, which the shipped cost limits refuse: allowed here, recorded as unknown)
    text = governance.read_text().replace("allow_unpriced: false", "allow_unpriced: true")
    # (the class names both models itself: the call goes, and the gate's glob is what is checked)
    text = text.replace('["local:llama3.1:70b", "fake:*"]', '["local:llama3.1:70b", "local:qwen2.5:7b", "fake:*"]')
    governance.write_text(text)
    server = await ollama({"llama3.1:70b": SHOW_CLOUD, "qwen2.5:7b": SHOW_PULLED})
    env = {"OLLAMA_BASE_URL": server.url}
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env) as svc:
        for model in ("llama3.1:70b", "llama3.1:70b", "qwen2.5:7b"):
            payload = {"text": "Ann called.", "model_config": {"provider": "local", "model": model}}
            await svc.invoke_skill("skill.pii-redaction", payload)
        summary = json.loads(json.dumps(await svc.summarize()))
    # the one made from a cloud model says where its two attempts went; the one pulled to the machine says nothing
    assert summary["model_stats"]["llama3.1:70b"]["off_machine"] == {"ollama.com": 2}
    assert "off_machine" not in summary["model_stats"]["qwen2.5:7b"]
    [violation] = check_summary(summary, GLOB)
    assert violation == (
        "production_models: model 'llama3.1:70b' (via local) is not in allowed_models (2 calls, 2 attempts): 2 "
        "attempts to ollama.com, off this machine (the local server runs it there, as its /api/show said, or the local "
        "base URL is there), which a glob of local models does not admit; add local:llama3.1:70b itself to allow it"
    )
    named = PolicySet([Policy(name="production_models", allowed_models=["local:*", "local:llama3.1:70b"])])
    assert check_summary(summary, named) == []


def _summary(**stats: object) -> dict[str, object]:
    entry = {"calls": 3, "attempts": 3, "cost_usd": 0, "providers": ["local"], **stats}
    return {"model_stats": {"mybot": entry}}


def test_the_gate_reads_off_machine_of_a_hand_written_summary():
    # several hosts are each named with their count; a summary without the key (an older magsag's) passes as before
    [violation] = check_summary(_summary(off_machine={"ollama.com": 2, "gpu.example": 1}), GLOB)
    assert ": 1 attempt to gpu.example, 2 attempts to ollama.com, off this machine" in violation
    assert check_summary(_summary(), GLOB) == []
    assert check_summary(_summary(off_machine={}), GLOB) == []
    # a bare model pattern (no provider) is the model's name: it admits it, as a call is
    assert (
        check_summary(_summary(off_machine={"ollama.com": 2}), PolicySet([Policy(name="p", allowed_models=["mybot"])]))
        == []
    )


def test_a_bad_off_machine_is_said_as_the_summarys_field():
    from magsag_mcp.errors import InputError

    with pytest.raises(InputError) as info:
        check_summary(_summary(off_machine={"ollama.com": -1}), GLOB)
    assert "model_stats['mybot'].off_machine.ollama.com" in str(info.value)


def test_the_off_machine_read_does_not_walk_the_model_index_over_every_attempt(tmp_path: Path):
    # the read filters on the provider and the endpoint, which no index holds, and groups by the model: SQLite then
    # walked attempts_model, the whole index in model order, and looked each attempt's row up from it, one seek per
    # attempt: 9-13 s on a ledger of 1,000,000 (200,000 local) attempts, where a scan of the table took 0.3 s and the
    # rest of an unfiltered summary 0.2 s. A summary with no filter reads the table in its own order.
    import asyncio
    import sqlite3

    from magsag_mcp.ledger import Ledger, UsageFilters
    from magsag_mcp.records import AttemptRecord
    from tests.test_unbounded_peaks import DAY, _record, _run

    def attempt(run_id: str, at: float, model: str, endpoint: str | None) -> AttemptRecord:
        return AttemptRecord(run_id, at, "local", model, None, "ana", "ok", 0, 1, endpoint=endpoint)

    calls = [
        (_run(f"r{i}", DAY + i), [attempt(f"r{i}", DAY + i, m, "ollama.com" if m == "mybot" else None)])
        for i, m in enumerate(["mybot", "llama3.1:70b", "mybot", "qwen2.5:7b"])
    ]
    asyncio.run(_record(tmp_path / "l.db", calls))
    read: list[str] = []

    async def summarize(filters: dict[str, object]) -> dict[str, object]:
        async with Ledger(tmp_path / "l.db") as ledger:
            await ledger.read(lambda conn: conn.set_trace_callback(read.append), snapshot=False)
            return await ledger.summarize(UsageFilters(**filters))  # type: ignore[arg-type]

    for filters in ({}, {"agent": "ana"}, {"since": "2025-11-01T00:00:00Z"}):
        read.clear()
        summary = asyncio.run(summarize(filters))
        assert summary["model_stats"]["mybot"]["off_machine"] == {"ollama.com": 2}  # type: ignore[index]
        [sql] = [s for s in read if s.startswith("SELECT a.model, a.endpoint, COUNT(*)")]
        conn = sqlite3.connect(tmp_path / "l.db")
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        conn.close()
        walked = [step for step in plan if step.startswith("SCAN a USING") and OFF_MACHINE_INDEX not in step]
        assert not walked, (filters, plan)  # (a whole index walked; 0032's holds the local attempts off it alone)


#: 0032_attempts_local_off_machine's partial index: the local attempts that recorded an endpoint, alone
OFF_MACHINE_INDEX = "attempts_local_off_machine"


def test_an_unfiltered_off_machine_read_walks_the_local_attempts_off_the_machine_alone(tmp_path: Path):
    """0032: the read of a summary with no filter scanned every attempt (160 ms of a summary over 1,000,000, against
    64 ms without it); it walks the partial index, which holds only the local attempts that recorded an endpoint and
    every column the read takes. A ledger of the version before (without the index) gets it once opened, its answer
    the same."""
    import asyncio
    import sqlite3

    from magsag_mcp.ledger import Ledger, UsageFilters
    from magsag_mcp.records import AttemptRecord
    from tests.older_version import (
        leave_as_before_0032,
        leave_as_before_0033,
        leave_as_before_0034,
    leave_as_before_0035,
        leave_as_the_version_before,
    )
    from tests.test_unbounded_peaks import DAY, _record, _run

    def attempt(run_id: str, at: float, provider: str, model: str, endpoint: str | None) -> AttemptRecord:
        return AttemptRecord(run_id, at, provider, model, None, "ana", "ok", 0, 1, endpoint=endpoint)

    made = [("local", "mybot", "ollama.com"), ("local", "llama3.1:70b", None), ("azure", "gpt-4o", "res.openai.azure")]
    made += [("local", "mybot", "ollama.com"), ("local", "mybot", "gpu-box:11434")]
    calls = [(_run(f"r{i}", DAY + i), [attempt(f"r{i}", DAY + i, *m)]) for i, m in enumerate(made)]
    db = tmp_path / "l.db"
    asyncio.run(_record(db, calls))
    read: list[str] = []

    async def summarize() -> dict[str, object]:
        async with Ledger(db) as ledger:
            await ledger.read(lambda conn: conn.set_trace_callback(read.append), snapshot=False)
            return await ledger.summarize(UsageFilters())

    def indexed() -> bool:
        conn = sqlite3.connect(db)
        try:
            return OFF_MACHINE_INDEX in {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            }
        finally:
            conn.close()

    summary = asyncio.run(summarize())
    assert summary["model_stats"]["mybot"]["off_machine"] == {"gpu-box:11434": 1, "ollama.com": 2}  # type: ignore[index]
    assert "off_machine" not in summary["model_stats"]["llama3.1:70b"]  # type: ignore[index]
    [sql] = [s for s in read if s.startswith("SELECT a.model, a.endpoint, COUNT(*)")]
    conn = sqlite3.connect(db)
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    conn.close()
    assert [step for step in plan if step.startswith("SCAN")] == [f"SCAN a USING COVERING INDEX {OFF_MACHINE_INDEX}"]
    conn = sqlite3.connect(db)
    leave_as_the_version_before(conn)
    leave_as_before_0035(conn)
    leave_as_before_0034(conn)
    leave_as_before_0033(conn)
    leave_as_before_0032(conn)
    conn.commit()
    conn.close()
    assert not indexed()  # (the version before's ledger)
    read.clear()
    assert asyncio.run(summarize())["model_stats"] == summary["model_stats"]  # (opened: migrated)
    conn = sqlite3.connect(db)
    assert "0032_attempts_local_off_machine" in {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    conn.close()
    assert indexed()
