"""Governance before spend: allowed models, data residency, atomic budgets, status and the gate."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli import main
from magsag_mcp.governance import load_policies
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio


def policy(catalog: Path, text: str) -> None:
    (catalog / "policies" / "model_governance.yaml").write_text(text)


def prices(catalog: Path, text: str) -> None:
    (catalog / "prices.yaml").write_text(text)


async def open_service(catalog: Path, tmp_path: Path, upstream, **env) -> Service:
    base = {**upstream.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002", **env}
    return await Service.open(catalog=catalog, db=tmp_path / "gov.db", env=base)


async def test_200_concurrent_calls_never_overspend_a_run_limit(catalog_copy: Path, tmp_path: Path, upstream):
    # compat:metered costs $1 per million tokens in and out. A call reserves its worst case
    # (estimated input + max_tokens 100 at the output price); the limit allows about 50 calls.
    prices(catalog_copy, '"compat:metered": {input: 1.0, output: 1.0}\n')
    policy(catalog_copy, "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 0.0075}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    ok, refused = [], []

    async def one(i: int) -> None:
        payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
        try:
            ok.append(await svc.invoke_skill("skill.analysis", payload, run_id="shared-run", agent="a"))
        except E.BudgetExceeded as exc:
            refused.append(exc)

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(one, i)
    spent, _ = await svc.run_cost("shared-run")
    status = await svc.check_budget(run_id="shared-run")
    await svc.aclose()

    assert len(ok) + len(refused) == 200
    assert 20 <= len(ok) <= 60, len(ok)  # "about 50": the worst case reserved is above the real cost
    assert spent <= Decimal("0.0075")
    assert spent == sum(Decimal(r.cost_usd) for r in ok)
    assert upstream.calls["metered"] == len(ok)  # a refused call never reached the provider
    assert refused[0].policy == "run_cap" and "run_cap: run limit $0.0075" in refused[0].message
    assert all(e.kind == "budget_exceeded" for e in refused)
    conn = sqlite3.connect(tmp_path / "gov.db")
    outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM attempts GROUP BY outcome").fetchall())
    assert outcomes == {"ok": len(ok), "budget_exceeded": len(refused)}
    assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0  # all settled
    run_limit = next(lim for lim in status["limits"] if lim["limit"] == "run")
    assert Decimal(run_limit["spent_usd"]) == spent and run_limit["reserved_usd"] == "0"


async def test_budget_stops_an_expensive_fallback_at_the_hop(catalog_copy: Path, tmp_path: Path, upstream):
    prices(catalog_copy, '"compat:cheap": {input: 0.1, output: 0.1}\n"compat:pricey": {input: 500, output: 500}\n')
    policy(catalog_copy, "policies:\n  - name: per_call\n    thresholds: {max_cost_per_call_usd: 0.05}\n")
    upstream.plan("cheap", 500, 500, 500)
    svc = await open_service(catalog_copy, tmp_path, upstream)
    mc = {
        "provider": "compat",
        "model": "cheap",
        "fallbacks": [{"provider": "compat", "model": "pricey"}],
        "max_tokens": 200,
    }
    with pytest.raises(E.BudgetExceeded) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="hop")
    runs = await svc.query_runs(UsageFilters(run_id="hop"))
    await svc.aclose()
    err = info.value
    assert err.kind == "budget_exceeded" and err.policy == "per_call"
    assert "call limit $0.05 would be exceeded: compat:pricey may cost up to" in err.message
    assert upstream.calls["pricey"] == 0
    assert [a["outcome"] for a in runs[0]["attempts"]] == ["error", "error", "error", "budget_exceeded"]
    assert runs[0]["status"] == "budget_exceeded"


async def test_pii_skill_reaches_only_the_local_model_even_with_magsag_model(catalog_copy, tmp_path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_MODEL="gpt-4o")
    result = await svc.invoke_skill("skill.pii-redaction", {"text": "Call Ann at 555-0100"})
    await svc.aclose()
    assert (result.result.provider, result.result.model) == ("local", "llama3.1:70b")
    assert upstream.calls["gpt-4o"] == 0
    skipped = result.trace["skipped"][0]
    assert skipped["target"] == "openai:gpt-4o" and skipped["policy"] == "data_residency"


async def test_explicit_override_to_a_forbidden_model_fails_with_the_policy(catalog_copy, tmp_path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream)
    with pytest.raises(E.PolicyDenied) as info:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "gpt-3.5-turbo"}})
    # per-call override on a pii skill to a cloud model: fails too, it does not silently reroute
    with pytest.raises(E.PolicyDenied) as pii:
        await svc.invoke_skill("skill.pii-redaction", {"text": "x", "model_config": {"model": "gpt-4o"}})
    runs = await svc.query_runs(UsageFilters(status="policy_denied"))
    await svc.aclose()
    assert info.value.kind == "policy_denied" and info.value.policy == "production_models"
    assert "policy 'production_models' forbids openai:gpt-3.5-turbo (chosen by an explicit override)" in str(info.value)
    assert pii.value.policy == "data_residency"
    assert upstream.calls["gpt-3.5-turbo"] == 0 and upstream.calls["gpt-4o"] == 0
    assert len(runs) == 2


async def test_env_override_to_a_forbidden_model_fails(catalog_copy, tmp_path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream, MAGSAG_MODEL="gpt-3.5-turbo")
    with pytest.raises(E.PolicyDenied, match="production_models"):
        await svc.invoke_skill("skill.analysis", {"data": "x"})
    await svc.aclose()


async def test_routed_target_outside_policy_is_skipped(catalog_copy, tmp_path, upstream):
    policy(catalog_copy, "policies:\n  - name: claude_only\n    allowed_models: ['claude-*']\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    result = await svc.invoke_skill("skill.analysis", {"data": "x"})
    plan = svc.explain("skill.analysis", {"data": "x"})
    await svc.aclose()
    assert result.result.model == "claude-3-5-sonnet-20241022"
    assert result.trace["skipped"] == [
        {
            "target": "openai:gpt-4o",
            "reason": "policy 'claude_only' forbids openai:gpt-4o (chosen by routing): "
            "openai:gpt-4o is not in claude_only.allowed_models",
            "policy": "claude_only",
        }
    ]
    assert [t["policy"]["allowed"] for t in plan["targets"]] == [False, True, False]


async def test_unknown_price_under_a_cost_limit(catalog_copy, tmp_path, upstream):
    prices(catalog_copy, "{}\n")
    policy(catalog_copy, "policies:\n  - name: capped\n    thresholds: {max_cost_per_run_usd: 1}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    with pytest.raises(E.BudgetExceeded, match="has no known price.*catalog/prices.yaml.*allow_unpriced"):
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"provider": "compat", "model": "m"}})
    await svc.aclose()
    policy(
        catalog_copy,
        "policies:\n  - name: capped\n    allow_unpriced: true\n    thresholds: {max_cost_per_run_usd: 1}\n",
    )
    svc = await open_service(catalog_copy, tmp_path, upstream)
    result = await svc.invoke_skill(
        "skill.analysis", {"data": "x", "model_config": {"provider": "compat", "model": "m"}}
    )
    summary = await svc.summarize()
    await svc.aclose()
    assert result.cost_usd is None and any("no price known" in w for w in result.warnings)
    assert summary["model_stats"]["m"]["unpriced_calls"] == 1


async def test_check_budget_statuses_and_agent_day(catalog_copy, tmp_path, upstream):
    prices(catalog_copy, '"compat:metered": {input: 1000, output: 1000}\n')
    policy(
        catalog_copy,
        "policies:\n  - name: daily\n    timezone: Asia/Tokyo\n    thresholds: {max_cost_per_agent_daily_usd: 1.0}\n",
    )
    svc = await open_service(catalog_copy, tmp_path, upstream)
    status = await svc.check_budget(agent="ag")
    assert status["status"] == "ok" and status["limits"][0]["window"]["timezone"] == "Asia/Tokyo"
    mc = {"provider": "compat", "model": "metered", "max_tokens": 50}
    seen = []
    for _ in range(40):
        try:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, agent="ag")
        except E.BudgetExceeded:
            break
        seen.append((await svc.check_budget(agent="ag"))["status"])
    final = await svc.check_budget(agent="ag")
    other = await svc.check_budget(agent="someone-else")
    await svc.aclose()
    assert "ok" in seen and "near" in seen
    lim = final["limits"][0]
    assert Decimal(lim["spent_usd"]) <= Decimal("1.0") and Decimal(lim["remaining_usd"]) >= 0
    assert other["status"] == "ok" and other["limits"][0]["spent_usd"] == "0"


async def test_expired_reservations_are_ignored(catalog_copy, tmp_path, upstream):
    prices(catalog_copy, '"compat:metered": {input: 1, output: 1}\n')
    policy(catalog_copy, "policies:\n  - name: cap\n    thresholds: {max_cost_per_run_usd: 0.001}\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    # a process that died holding a reservation for the whole budget
    await svc.ledger.submit(
        lambda c: c.execute(
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state)"
            " VALUES ('r', NULL, 0, 1, 1000000000, 'held')"
        )
    )
    result = await svc.invoke_skill(
        "skill.analysis",
        {"data": "x", "model_config": {"provider": "compat", "model": "metered", "max_tokens": 10}},
        run_id="r",
    )
    await svc.aclose()
    assert result.result.text


def test_malformed_policy_names_file_and_field(catalog_copy):
    policy(catalog_copy, "policies:\n  - name: x\n    thresholds: {max_cost_per_run: 5}\n    timezone: Mars/Base\n")
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    text = str(info.value)
    assert "model_governance.yaml: policies.0.thresholds.max_cost_per_run: Extra inputs are not permitted" in text
    assert "unknown time zone 'Mars/Base'" in text


def test_gate_exit_codes(tmp_path: Path, capsys):
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        "policies:\n  - name: prod\n    allowed_models: [gpt-4o, 'claude-*']\n"
        "  - name: limits\n    thresholds: {max_cost_per_run_usd: 5.0}\n"
    )
    good = {
        "model_stats": {
            "gpt-4o": {
                "calls": 15,
                "errors": 0,
                "input_tokens": 45230,
                "output_tokens": 8940,
                "total_tokens": 54170,
                "cost_usd": 1.45,
            }
        }
    }
    bad = {
        "model_stats": {
            **good["model_stats"],
            "o1-preview": {
                "calls": 2,
                "errors": 0,
                "input_tokens": 1,
                "output_tokens": 1,
                "total_tokens": 2,
                "cost_usd": 4.0,
            },
        }
    }
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "shape.json").write_text('{"stats": {}}')
    assert main(["flow", "gate", str(tmp_path / "good.json"), "--policy", str(pol)]) == 0
    assert main(["flow", "gate", str(tmp_path / "bad.json"), "--policy", str(pol)]) == 1
    out = capsys.readouterr().out
    assert "prod: model 'o1-preview' is not in allowed_models" in out
    assert "limits: total cost $5.45 exceeds max_cost_per_run_usd $5.0" in out
    assert main(["flow", "gate", str(tmp_path / "junk.json"), "--policy", str(pol)]) == 2
    assert main(["flow", "gate", str(tmp_path / "shape.json"), "--policy", str(pol)]) == 2
    assert main(["flow", "gate", str(tmp_path / "missing.json"), "--policy", str(pol)]) == 2
    assert main(["flow", "gate", str(tmp_path / "good.json"), "--policy", str(tmp_path / "nope.yaml")]) == 2


def test_summarize_then_gate_end_to_end(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "e2e.db"))
    monkeypatch.delenv("MAGSAG_PROVIDER", raising=False)
    monkeypatch.delenv("MAGSAG_MODEL", raising=False)
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "x", "model_config": {"model": "fake:m"}}']) == 0
    out = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--output", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["model_stats"]["m"]["calls"] == 1
    shipped = Path(__file__).resolve().parent.parent / "catalog" / "policies" / "model_governance.yaml"
    capsys.readouterr()
    assert main(["flow", "gate", str(out), "--policy", str(shipped)]) == 0  # fake:* is allowed by the shipped policy
    strict = tmp_path / "strict.yaml"
    strict.write_text("policies:\n  - name: prod\n    allowed_models: [gpt-4o]\n")
    capsys.readouterr()
    assert main(["flow", "gate", str(out), "--policy", str(strict)]) == 1
    assert "prod: model 'm' (via fake) is not in allowed_models" in capsys.readouterr().out
