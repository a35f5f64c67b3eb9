"""An agent run whose entrypoint raised is recorded as failed (cancelled when cancelled), with its error, not as the
``ok`` its calls alone made it: a MAG failed by its SAG names the SAG's error, and every call's spend stays."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import Magsag
from magsag_mcp.errors import AuthenticationError
from magsag_mcp.providers.fake import script
from tests.agent_helpers import write_agent

ENV = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake", "MAGSAG_MAX_RETRIES": "0"}
KEY = "sk-agent-run-leak-0123456789abcdef"


@pytest.fixture
def catalog(agent_catalog: Path) -> Path:
    with (agent_catalog / "prices.yaml").open("a") as prices:
        prices.write('"fake:*": {input: 100, output: 100}\n')  # the calls cost something
    return agent_catalog


def _runs(mg: Magsag, **filters: object) -> dict[str, dict]:
    return {r["run_id"]: r for r in mg.bridge.run(lambda: mg.service.query_runs(filters))}


def test_a_sync_agent_run_that_raised_after_a_call_is_recorded_failed(
    catalog: Path, tmp_path: Path, fake_scripts: None, monkeypatch: pytest.MonkeyPatch
):
    # Before: its run showed as ok (its one call succeeded), the failure nowhere in the ledger.
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    write_agent(
        catalog,
        "late-crash-sag",
        "import os\n\ndef run(payload, *, skills=None, **deps):\n"
        "    skills.invoke('skill.analysis', {'data': 'first'})\n"
        "    raise ValueError('bad key ' + os.environ['OPENAI_API_KEY'])\n",
    )
    with Magsag(catalog=catalog, db=tmp_path / "l.db", env=ENV) as mg:
        with pytest.raises(ValueError) as info:
            mg.runner.run_agent("late-crash-sag", {}, run_id="crash-1")
        assert str(info.value) == f"bad key {KEY}"  # the caller's own exception, unchanged
        assert type(info.value) is ValueError and not hasattr(info.value, "run_id")
        run = _runs(mg, run_id="crash-1")["crash-1"]
    assert run["status"] == "error"
    assert run["error"] == {
        "type": "agent_error",
        "message": "agent 'late-crash-sag' raised ValueError: bad key [REDACTED]",
    }
    # the call's row and spend as recorded: one call, its cost
    assert run["calls"] == 1 and run["skill"] == "skill.analysis" and Decimal(run["cost_usd"]) > 0
    assert [a["outcome"] for a in run["attempts"]] == ["ok"]


def test_an_agent_that_raised_before_any_call_leaves_a_failed_run(catalog: Path, tmp_path: Path, fake_scripts: None):
    write_agent(catalog, "early-crash-sag", "def run(payload, **deps):\n    raise KeyError('missing')\n")
    with Magsag(catalog=catalog, db=tmp_path / "l.db", env=ENV) as mg:
        with pytest.raises(KeyError):
            mg.runner.run_agent("early-crash-sag", {}, run_id="early-1")
        runs = _runs(mg)
    assert list(runs) == ["early-1"]
    run = runs["early-1"]
    assert run["status"] == "error" and run["agent"] == "early-crash-sag" and run["parent_run_id"] is None
    assert run["error"] == {"type": "agent_error", "message": "agent 'early-crash-sag' raised KeyError: 'missing'"}
    assert run["calls"] == 0 and run["cost_usd"] == "0" and run["skill"] is None and run["attempts"] == []
    assert run["ended_at"] is not None


def test_a_mag_whose_sag_failed_is_recorded_failed_naming_the_sags_error(
    tmp_path: Path, fake_scripts: None, catalog: Path
):
    # The catalog's own my-mag and data-analysis-sag: the SAG's call fails and both agents let the error go on.
    # Before: mag-abc123 showed as ok, and only the SAG's run as error.
    script("sag-model", AuthenticationError("the key was refused", provider="fake", status=401))
    with Magsag(catalog=catalog, db=tmp_path / "l.db", env=ENV) as mg:
        with pytest.raises(AuthenticationError) as info:
            mg.runner.run_agent("my-mag", {"data": "x", "preferred_model": "fake:sag-model"}, run_id="mag-abc123")
        runs = _runs(mg, run_id="mag-abc123")
    mag = runs.pop("mag-abc123")
    [(sag_run, sag)] = runs.items()
    assert sag_run.startswith("analyze-1-") and sag["parent_run_id"] == "mag-abc123"
    assert info.value.run_id == sag_run  # the SAG's call's error, as it was raised
    assert sag["status"] == "error" and sag["error"]["type"] == info.value.kind
    assert mag["status"] == "error" and mag["error"]["type"] == info.value.kind
    assert mag["error"]["message"] == f"SAG 'data-analysis-sag' (run {sag_run!r}) failed: {sag['error']['message']}"
    assert "the key was refused" in mag["error"]["message"]
    # the MAG's own call (the summary) is its one call, paid as recorded
    assert mag["calls"] == 1 and mag["skill"] == "skill.summarization" and Decimal(mag["cost_usd"]) > 0


def test_a_mag_that_wraps_its_sags_failure_names_it_too(catalog: Path, tmp_path: Path, fake_scripts: None):
    write_agent(catalog, "boom-sag", "def run(payload, **deps):\n    raise RuntimeError('sag broke')\n")
    write_agent(
        catalog,
        "wrapping-mag",
        "from magsag_mcp import Delegation\n\ndef run(payload, *, runner=None, **deps):\n"
        "    try:\n        runner.invoke_sag(Delegation('t1', 'boom-sag', {}))\n"
        "    except RuntimeError as exc:\n        raise LookupError('no analysis') from exc\n",
        kind="mag",
    )
    with Magsag(catalog=catalog, db=tmp_path / "l.db", env=ENV) as mg:
        with pytest.raises(LookupError):
            mg.runner.run_agent("wrapping-mag", {}, run_id="wrap-1")
        runs = _runs(mg)
    mag = runs.pop("wrap-1")
    [(sag_run, sag)] = runs.items()
    assert sag["error"] == {"type": "agent_error", "message": "agent 'boom-sag' raised RuntimeError: sag broke"}
    assert sag["status"] == "error" and sag["parent_run_id"] == "wrap-1" and sag["calls"] == 0
    assert mag["status"] == "error" and mag["error"] == {
        "type": "agent_error",
        "message": "agent 'wrapping-mag' raised LookupError: no analysis; after SAG 'boom-sag' (run "
        f"{sag_run!r}) failed: agent 'boom-sag' raised RuntimeError: sag broke",
    }


def test_an_agent_run_cancelled_in_arun_is_recorded_cancelled(
    catalog: Path, tmp_path: Path, fake_scripts: None, monkeypatch: pytest.MonkeyPatch
):
    # Cancelled between its calls, the agent's next call is refused and it stops. Before: its run showed as ok (its
    # one call succeeded), with no word of the cancellation.
    from magsag_mcp.bridge import AgentRun

    started, gate, run_cancelled = threading.Event(), threading.Event(), threading.Event()
    real_cancel = AgentRun.cancel

    def cancel(run: AgentRun) -> None:
        real_cancel(run)
        run_cancelled.set()

    monkeypatch.setattr(AgentRun, "cancel", cancel)
    write_agent(
        catalog,
        "stuck-sag",
        "def run(payload, *, skills=None, **deps):\n"
        "    skills.invoke('skill.analysis', {'data': 'first'})\n"
        "    payload['started']()\n"
        "    payload['gate'](60)\n"
        "    skills.invoke('skill.analysis', {'data': 'second'})\n",
    )

    async def main(mg: Magsag) -> None:
        payload = {"started": started.set, "gate": gate.wait}
        task = asyncio.create_task(mg.runner.arun("stuck-sag", payload, run_id="stuck-1"))
        assert await asyncio.to_thread(started.wait, 60)  # (a hang guard: cancelled before its first call, no run)
        task.cancel()
        # arun has cancelled the agent's run (waited for, not slept on: a loaded machine took longer than a sleep)
        assert await asyncio.to_thread(run_cancelled.wait, 60)  # (a hang guard)
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    with Magsag(catalog=catalog, db=tmp_path / "l.db", env=ENV) as mg:
        asyncio.run(main(mg))
        run = _runs(mg, run_id="stuck-1")["stuck-1"]
    assert run["status"] == "cancelled" and run["error"] is None
    assert run["calls"] == 1 and Decimal(run["cost_usd"]) > 0


def test_an_agent_interrupted_before_any_call_leaves_a_cancelled_run(catalog: Path, tmp_path: Path, fake_scripts: None):
    # Ctrl-C in a sync run_agent: the run is cancelled, as a call interrupted so is, and the interrupt goes on
    write_agent(catalog, "interrupted-sag", "def run(payload, **deps):\n    raise KeyboardInterrupt\n")
    with Magsag(catalog=catalog, db=tmp_path / "l.db", env=ENV) as mg:
        with pytest.raises(KeyboardInterrupt):
            mg.runner.run_agent("interrupted-sag", {}, run_id="ctrl-c-1")
        run = _runs(mg)["ctrl-c-1"]
    assert run["status"] == "cancelled" and run["error"] is None and run["calls"] == 0


def test_a_succeeding_agent_run_costs_no_extra_ledger_write(
    catalog: Path, tmp_path: Path, fake_scripts: None, monkeypatch: pytest.MonkeyPatch
):
    with Magsag(catalog=catalog, db=tmp_path / "l.db", env=ENV) as mg:
        writes: list[str] = []
        record_call = mg.service.ledger.record_call

        async def counted(run, attempts, **kw):
            writes.append(run.run_id)
            return await record_call(run, attempts, **kw)

        monkeypatch.setattr(mg.service.ledger, "record_call", counted)
        out = mg.runner.run_agent("my-mag", {"data": "x", "preferred_model": "fake:sag-model"}, run_id="ok-1")
        runs = _runs(mg)
    assert out["model"] == "sag-model"
    assert len(writes) == 2  # its two calls' records, nothing more
    assert sorted(writes) == sorted(runs) and "ok-1" in runs  # one each: the MAG's summary, its SAG's analysis
    assert {r["status"] for r in runs.values()} == {"ok"}
