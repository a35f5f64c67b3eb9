"""Many callers at once against one run's, agent's and day's limits: what is spent and held never passes them."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

TARGETS = (("compat", "m1"), ("compat", "m2"), ("anthropic", "a1"), ("google", "g1"), ("openai", "o1"))
PICO = Decimal(10) ** 12


#: each limit's scope: (its attempts, its reservations)
SCOPES = {
    "run shared": ("run_id = 'shared' OR run_id LIKE 'child-%'", "run_id = 'shared'"),
    "run other": ("run_id = 'other'", "run_id = 'other'"),
    "agent a": ("agent = 'a'", "agent = 'a'"),
}


def _ledger_sums(db: Path) -> dict[str, dict[str, Decimal]]:
    """Each scope's spend, bound on unknown costs and open reservations, read in one snapshot."""
    conn = sqlite3.connect(db)
    out = {}
    try:
        conn.execute("BEGIN")
        for name, (attempts, held) in SCOPES.items():
            spent, bound = conn.execute(
                "SELECT coalesce(SUM(cost_pusd), 0),"
                " coalesce(SUM(CASE WHEN cost_pusd IS NULL THEN cost_bound_pusd END), 0)"
                f" FROM attempts WHERE {attempts}"
            ).fetchone()
            (reserved,) = conn.execute(
                f"SELECT coalesce(SUM(amount_pusd), 0) FROM budget_reservations WHERE {held}"
            ).fetchone()
            out[name] = {"spent": Decimal(spent) / PICO, "bound": Decimal(bound) / PICO}
            out[name]["held"] = Decimal(reserved) / PICO
        conn.execute("COMMIT")
    finally:
        conn.close()
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_200_calls_of_every_kind_at_once_never_pass_a_run_or_agent_limit(catalog_copy, tmp_path, upstream, seed):
    """A property, over random mixes: retries (429, 5xx, dropped connections), fallbacks across providers, streams,
    callers cancelling at any point, progress callbacks that raise, and runs delegated from the limited run, all at
    once. What the ledger holds spent (with the bound on unknown costs) and reserved never passes a limit, whenever
    it is read; at the end nothing is held, and every answer the vendor billed is counted."""
    rng = random.Random(seed)
    (catalog_copy / "prices.yaml").write_text("".join(f'"{p}:{m}": {{input: 1.0, output: 1.0}}\n' for p, m in TARGETS))
    limit = Decimal("0.012")
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: caps\n    thresholds:\n"
        f"      max_cost_per_run_usd: {limit}\n      max_cost_per_agent_daily_usd: {limit * 2}\n"
    )
    for _, m in TARGETS:
        upstream.plan(m, *rng.choices([200, 200, 200, 503, 500, 429, "drop"], k=150))
    upstream.latency = 0.002
    env = {**upstream.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    db = tmp_path / "mix.db"
    svc = await Service.open(catalog=catalog_copy, db=db, env=env)
    outcomes: dict[str, int] = {}
    peaks: list[tuple[str, Decimal, dict[str, Decimal]]] = []
    limits = {"run shared": limit, "run other": limit, "agent a": limit * 2}

    async def one(i: int) -> None:
        (provider, first), *rest = rng.sample(TARGETS, k=rng.randint(1, 3))
        mc = {
            "provider": provider,
            "model": first,
            "fallbacks": [{"provider": p, "model": m} for p, m in rest],
            "max_tokens": rng.choice([40, 80, 120]),
            "stream": rng.random() < 0.5,
        }
        cancel_after = rng.choice([None, None, None, 0.0005, 0.002, 0.005])
        progress = None
        if rng.random() < 0.1:

            async def progress(event, data):
                if event == "delta":
                    raise RuntimeError("a progress callback that fails")

        run, parent = rng.choice([("shared", None), ("shared", None), (f"child-{i % 7}", "shared"), ("other", None)])
        kind = "ok"
        try:
            with anyio.fail_after(cancel_after) if cancel_after else contextlib.nullcontext():
                await svc.invoke_skill(
                    "skill.analysis",
                    {"data": "d" * 40, "model_config": mc},
                    run_id=run,
                    agent="a",
                    parent_run_id=parent,
                    progress=progress,
                )
        except TimeoutError:
            kind = "cancelled"
        except E.MagsagError as exc:
            kind = exc.kind
        except RuntimeError:
            kind = "callback"
        outcomes[kind] = outcomes.get(kind, 0) + 1

    async def watch() -> None:
        while True:
            for name, s in _ledger_sums(db).items():
                used = s["spent"] + s["bound"] + s["held"]
                if used > limits[name]:
                    peaks.append((name, used, s))
            await anyio.sleep(0.003)

    async with anyio.create_task_group() as outer:
        outer.start_soon(watch)
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
        outer.cancel_scope.cancel()
    await svc.aclose()
    sums = _ledger_sums(db)
    billed = sum(Decimal(n_in + n_out) for _, n_in, n_out in upstream.log) / 1_000_000
    assert not peaks, peaks[:3]  # never, while the calls ran
    for name, s in sums.items():
        assert s["held"] == 0, (name, s)
        assert s["spent"] + s["bound"] <= limits[name], (name, s, outcomes)
    # every answer the upstream billed is counted: at its cost, or at a bound above it
    assert billed <= sums["agent a"]["spent"] + sums["agent a"]["bound"], (billed, sums, outcomes)
    assert outcomes.get("ok", 0) > 0, outcomes
