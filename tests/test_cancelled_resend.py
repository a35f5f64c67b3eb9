"""A call stopped while a target that refused a setting is being sent it again (a progress 'resend' event).

The refusal (a 400 naming the setting) is not billed, and the call has not been sent again yet: nothing is in flight.
Before, the attempt was recorded as cut in flight, at its worst case ("the provider may still bill it"), which run,
agent and day limits then counted as spent for good, and the run's budget said its cost was not known.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from magsag_mcp.service import Service
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

#: gpt-6, served as gpt-5 is: it refuses the skill's temperature 0.2 with a 400 naming it
PAYLOAD = {"task": "a parser", "model_config": {"provider": "openai", "model": "gpt-6", "max_tokens": 500}}


def _catalog(catalog_copy: Path) -> Path:
    (catalog_copy / "prices.yaml").write_text('"openai:gpt-6": {input: 1.0, output: 10.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: caps\n    thresholds:\n      max_cost_per_run_usd: 1\n"
    )
    return catalog_copy


def _attempts(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT outcome, error_class, cost_pusd, cost_bound_pusd FROM attempts").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["cancelled", "callback raised"])
async def test_a_call_stopped_as_a_refused_setting_is_sent_again_is_recorded_at_no_cost(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path, how: str
):
    fake_openai.deployments["gpt-6"] = "gpt-5"
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    db = tmp_path / "l.db"
    async with Service.open(catalog=_catalog(catalog_copy), db=db, env=env) as svc:
        seen: list[str] = []

        async def progress(event: str, data: dict) -> None:
            seen.append(event)
            if event == "resend":
                if how == "cancelled":
                    scope.cancel()
                    await anyio.sleep(0)  # (the cancellation lands here)
                raise RuntimeError("a progress callback that fails")

        with anyio.CancelScope() as scope:
            try:
                await svc.invoke_skill("skill.coding", PAYLOAD, run_id="r", progress=progress)
            except RuntimeError:
                assert how == "callback raised"
        assert "resend" in seen and len(fake_openai.requests) == 1  # the refused request only
        budget = await svc.check_budget(run_id="r")
    (limit,) = budget["limits"]
    assert _attempts(db) == [("error", "cancelled", 0, None)]
    assert (limit["spent_usd"], limit["unknown_cost_bound_usd"], limit["reserved_usd"]) == ("0", "0", "0")
    assert budget["cost_complete"] is True


@pytest.mark.parametrize("how", ["cancelled", "callback raised"])
async def test_a_call_stopped_as_its_whole_answer_is_told_to_progress_is_recorded_at_its_cost(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path, how: str
):
    # An answer that came all at once (here o3 for an organization OpenAI does not stream it to) reaches progress as one
    # delta, its tokens known. Stopped there, it was recorded as cut in flight, at its worst case and cost unknown.
    (catalog_copy / "prices.yaml").write_text('"openai:o3": {input: 1.0, output: 10.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: caps\n    thresholds:\n      max_cost_per_run_usd: 1\n"
    )
    fake_openai.verified = False
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    db = tmp_path / "l.db"
    payload = {"task": "a parser", "model_config": {"provider": "openai", "model": "o3", "max_tokens": 500}}
    async with Service.open(catalog=catalog_copy, db=db, env=env) as svc:

        async def progress(event: str, data: dict) -> None:
            if event == "delta":
                if how == "cancelled":
                    scope.cancel()
                    await anyio.sleep(0)
                raise RuntimeError("a progress callback that fails")

        with anyio.CancelScope() as scope:
            try:
                await svc.invoke_skill("skill.coding", payload, run_id="r", progress=progress)
            except RuntimeError:
                assert how == "callback raised"
        budget = await svc.check_budget(run_id="r")
    ((outcome, error_class, cost, bound),) = _attempts(db)
    assert (outcome, error_class, bound) == ("error", "cancelled", None) and cost > 0
    (limit,) = budget["limits"]
    assert limit["unknown_cost_bound_usd"] == "0" and budget["cost_complete"] is True


async def test_a_call_stopped_as_a_refused_setting_is_sent_again_costs_nothing_at_no_known_price(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path
):
    # A refused request is not billed, whatever the model's price: as price_failure records a refusal at $0, so is the
    # attempt stopped before the call went again. At no known price it was counted at its worst case, the run's cost
    # said unknown, for a request nobody billed.
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: caps\n    thresholds:\n      max_cost_per_run_usd: 1\n    allow_unpriced: true\n"
    )
    fake_openai.deployments["gpt-6"] = "gpt-5"
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    db = tmp_path / "l.db"
    async with Service.open(catalog=catalog_copy, db=db, env=env) as svc:

        async def progress(event: str, data: dict) -> None:
            if event == "resend":
                raise RuntimeError("a progress callback that fails")

        with pytest.raises(RuntimeError):
            await svc.invoke_skill("skill.coding", PAYLOAD, run_id="r", progress=progress)
        assert len(fake_openai.requests) == 1  # the refused request only
        budget = await svc.check_budget(run_id="r")
    assert _attempts(db) == [("error", "cancelled", 0, None)]
    (limit,) = budget["limits"]
    assert (limit["spent_usd"], limit["unknown_cost_bound_usd"]) == ("0", "0") and budget["cost_complete"] is True
