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
