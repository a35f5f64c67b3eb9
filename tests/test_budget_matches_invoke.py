"""check_budget given a call's skill, context and model_config answers what invoke_skill with the same arguments then
does: the route's rule and data classes, whether the policies allow it a target, and the target it reserves on (the
first that fits) is the one the call is sent to. Compared over every skill of the shipped catalog x data classes x cost
tiers x what the call names (a model the policies allow, one a class forbids, one no policy allows, a preferred model),
and under MAGSAG_PROVIDER / MAGSAG_MODEL, against the loopback upstream. check_budget itself writes nothing,
and its answer holds no key."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

CLASSES = (None, "pii_processing", "financial_data")
TIERS = (None, "economy", "premium")
#: (model_config, context) the call adds: nothing, an allowed model, one financial_data forbids, one no policy allows,
#: a preferred model
NAMED: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = (
    ({}, {}),
    ({"model": "gpt-4o-mini"}, {}),
    ({"model": "claude-3-haiku-20240307"}, {}),
    ({"model": "gpt-3.5-turbo"}, {}),
    ({}, {"preferred_model": "gpt-4o"}),
)
#: the environment's own choice of provider and model, on top of the loopback's keys
ENVS = ({}, {"MAGSAG_PROVIDER": "anthropic"}, {"MAGSAG_PROVIDER": "openai", "MAGSAG_MODEL": "gpt-4o-mini"})


def _rows(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def _label(attempt: Any) -> str:
    return f"{attempt.provider}:{attempt.model}"


@pytest.mark.parametrize("extra_env", ENVS, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()) or "no-env")
async def test_check_budget_answers_what_invoke_skill_then_does(tmp_path: Path, upstream, extra_env):
    db = tmp_path / "l.db"
    mismatches: list[str] = []
    compared = 0
    seen = {"sent": 0, "refused": 0}  # (each kind of answer met: the matrix is not all one)
    keys = [v for k, v in upstream.env().items() if k.endswith("_KEY")]
    async with await Service.open(db=db, env={**upstream.env(), **extra_env}) as svc:
        skills = sorted(svc.catalog.skills)
        for skill_id, cls, tier, (mc, ctx) in itertools.product(skills, CLASSES, TIERS, NAMED):
            context = {**ctx, **({"data_class": cls} if cls else {}), **({"tier": tier} if tier else {})}
            case = f"{skill_id} context={context} model_config={mc}"
            before = _rows(db)
            try:
                status = await svc.check_budget(agent="ops", skill=skill_id, context=context, model_config=mc)
            except E.MagsagError as exc:
                checked: Any = exc
            else:
                checked = status["call"]
                said = json.dumps(status, default=str)
                assert not [k for k in keys if k in said], f"{case}: an API key in check_budget's answer"
            assert _rows(db) == before, f"{case}: check_budget wrote to the ledger"
            fields = svc.catalog.skill(skill_id).call_parts.field_names
            payload = {**dict.fromkeys(fields, "x"), **({"model_config": mc} if mc else {})}
            try:
                done = await svc.invoke_skill(skill_id, payload, agent="ops", context=context)
            except E.MagsagError as exc:
                seen["refused"] += 1
                if isinstance(checked, BaseException):
                    if type(checked) is not type(exc):
                        mismatches.append(f"{case}: check_budget raised {checked!r}, invoke_skill {exc!r}")
                elif checked["allowed"] and checked["fits"]:
                    mismatches.append(f"{case}: check_budget allowed {checked['target']}, invoke_skill raised {exc!r}")
                compared += 1
                continue
            compared += 1
            seen["sent"] += 1
            if isinstance(checked, BaseException):
                mismatches.append(f"{case}: check_budget raised {checked!r}, invoke_skill sent {done.attempts}")
                continue
            sent = [a for a in done.attempts if a.outcome not in ("policy_denied", "skipped")]
            if not checked["allowed"]:
                mismatches.append(f"{case}: check_budget refused ({checked['reason']}), invoke_skill sent {sent}")
                continue
            if not checked["fits"]:
                mismatches.append(f"{case}: check_budget said it does not fit ({checked['reason']}), invoke_skill sent")
            if checked["rule"] != done.trace["rule"]:
                mismatches.append(f"{case}: rule {checked['rule']!r} != {done.trace['rule']!r}")
            assert sent, f"{case}: invoke_skill answered without an attempt sent"
            if checked["target"] != _label(sent[0]):
                mismatches.append(f"{case}: check_budget's target {checked['target']}, sent to {_label(sent[0])}")
            if tuple(checked["data_classes"]) != sent[0].data_classes:
                mismatches.append(f"{case}: classes {checked['data_classes']} != recorded {sent[0].data_classes}")
    assert compared == len(skills) * len(CLASSES) * len(TIERS) * len(NAMED)
    assert mismatches == [], "\n".join(mismatches)
    assert all(seen.values()), seen
