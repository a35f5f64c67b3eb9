"""The data classes of an agent's run (``run_classes``, which the Python API's runner passes for the calls made in
it) apply beside the skill's and the call's own: the route of a call naming nothing, which a service keeps by skill,
is not the route of the same call made in a classed run."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.errors import PayloadError
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio


async def test_a_run_s_class_confines_a_call_whose_route_was_kept_unconfined(tmp_path: Path):
    env = {"MAGSAG_PROVIDER": "fake"}
    async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
        free = await svc.invoke_skill("skill.analysis", {"data": "x"})
        assert free.attempts[-1].provider == "fake"
        # the same call, naming nothing, in a run of pii_processing: routed afresh, to the class's models
        explained = svc.explain("skill.analysis", {"data": "x"}, run_classes=("pii_processing",))
        assert explained["data_classes"] == ["pii_processing"]
        confined = await svc.invoke_skill("skill.analysis", {"data": "x"}, run_classes=("pii_processing",))
        allowed = [t["label"] for t in explained["targets"] if t["policy"]["allowed"]]
        assert allowed and all(label.startswith(("fake:", "local:llama3.1:70b")) for label in allowed)
        assert f"{confined.attempts[-1].provider}:{confined.attempts[-1].model}" in allowed
        # and the route kept for calls naming nothing is still the unconfined one
        again = svc.explain("skill.analysis", {"data": "x"})
        assert again["data_classes"] == []


async def test_a_run_s_unknown_class_is_refused_as_a_call_s_is(tmp_path: Path):
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        with pytest.raises(PayloadError, match="the agent run's context.data_class: data class 'pii_procesing'"):
            svc.explain("skill.analysis", {"data": "x"}, run_classes=("pii_procesing",))


async def test_a_run_s_class_and_a_call_s_sharing_no_model_are_refused_in_one_sentence(tmp_path: Path):
    """A pii_processing run's call declaring financial_data: the two classes share no target of the route (local only;
    gpt-4o only), and the refusal says so once, naming both classes, where each comes from and what to do, in place of
    each target refused by one class or the other. The failed call is still recorded; explain says the same."""
    from magsag_mcp.errors import AllTargetsFailed

    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        context = {"data_class": "financial_data"}
        with pytest.raises(AllTargetsFailed) as refused:
            await svc.invoke_skill("skill.analysis", {"data": "x"}, context=context, run_classes=("pii_processing",))
        said = refused.value.message
        assert said == (
            "skill.analysis: data classes 'pii_processing' (the agent run's: local:llama3.1:70b, fake:* only) and "
            "'financial_data' (the call's context.data_class: gpt-4o only) allow no model in common under "
            "data_residency.requirements, so every target is refused: leave context.data_class out, make the call "
            "outside the agent run given 'pii_processing', or have the policies' owner add a model both allow to "
            "each class's requirements"
        )
        runs = await svc.ledger.query_runs(None)
        assert [r["status"] for r in runs] == ["policy_denied"] and runs[0]["attempts"]
        assert said.removeprefix("skill.analysis: ") in str(runs[0])  # (the run's error, as the caller was told it)
        assert {a["outcome"] for a in runs[0]["attempts"]} == {"policy_denied"}
        explained = svc.explain("skill.analysis", {"data": "x"}, context=context, run_classes=("pii_processing",))
        assert explained["warnings"] == [f"the call fails: {said.removeprefix('skill.analysis: ')}"]
        # each class alone has a model: no such sentence (the call goes to the class's models)
        alone = svc.explain("skill.analysis", {"data": "x"}, run_classes=("pii_processing",))
        assert not any("in common" in w for w in alone["warnings"])
