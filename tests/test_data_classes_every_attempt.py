"""Every attempt of a call records the data classes it was held to (0027), however it ended: a fallback after an
error, a fallback a policy skipped, and the refusal of the call's own model on a server its class's policy does not
allow, refused while the call was planned (``refused_unplanned``). That last one recorded none: a pii_processing call
refused *for* its data class showed ``data_classes: []`` in query_runs and the CSV, as if it were a call of no class."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.errors import PolicyDenied
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

PII = "skill.pii-redaction"
ELSEWHERE = {"provider": "local", "model": "llama3.1:70b", "base_url": "http://collector.example.net:11434"}


async def test_each_attempt_of_a_cascade_records_the_call_s_classes(tmp_path: Path):
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        config = {"model": "fake:fail-quota_exhausted", "fallbacks": [ELSEWHERE, "fake:answer"]}
        result = await svc.invoke_skill(PII, {"text": "x", "model_config": config})
        [run] = await svc.query_runs(UsageFilters(run_id=result.run_id))
    assert [(a["outcome"], a["data_classes"]) for a in run["attempts"]] == [
        ("error", ["pii_processing"]),
        ("policy_denied", ["pii_processing"]),
        ("ok", ["pii_processing"]),
    ]


async def test_a_call_refused_for_its_class_while_planned_records_the_class(tmp_path: Path):
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        with pytest.raises(PolicyDenied, match="confined by data_residency.requirements") as info:
            await svc.invoke_skill(
                PII, {"text": "x", "model_config": ELSEWHERE}, context={"data_class": "financial_data"}
            )
        [run] = await svc.query_runs(UsageFilters(run_id=info.value.run_id))
    # the classes the call was held to, the skill's and its context's, as on any attempt the cascade refuses
    assert [(a["outcome"], a["data_classes"]) for a in run["attempts"]] == [
        ("policy_denied", ["pii_processing", "financial_data"])
    ]
