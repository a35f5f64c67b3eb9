"""What the pricing audits (tests/test_pricing_audit_*.py) share: genai-prices' own rates for a model, read from its
data; a catalog without the shipped policies; one call through the service with its ledger row and summary (the loopback
vendors are served by tests/conftest.py's ``serve``)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from genai_prices import data_snapshot
from genai_prices.types import TieredPrices

from magsag_mcp.service import Service

M = D(1_000_000)
CATALOG = Path(__file__).resolve().parents[1] / "catalog"


def list_rates(provider_id: str, model: str, prompt_tokens: int, context: dict[str, str] | None = None) -> dict:
    """genai-prices' rates (USD per million tokens) for ``model`` today, at the tier a prompt of ``prompt_tokens``
    input tokens (cache reads and writes included) is billed at: every token at a tier's rate once the prompt is past
    its start. Read from its data, the way its docs describe them; None where it lists no rate."""
    _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    price = info.get_prices(datetime.now(UTC), context) if context else info.get_prices(datetime.now(UTC))
    rates = {}
    for key in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok"):
        rate = getattr(price, key, None)
        if isinstance(rate, TieredPrices):
            past = [tier.price for tier in rate.tiers if prompt_tokens > tier.start]
            rate = past[-1] if past else rate.base
        rates[key.removesuffix("_mtok")] = None if rate is None else D(rate)
    return rates


def catalog_without_policies(tmp_path: Path, prices: str | None = None) -> Path:
    """The shipped catalog, without its policies (which allow few of the models audited here), and with
    ``prices`` as its prices.yaml when given."""
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(catalog / "policies")
    if prices is not None:
        (catalog / "prices.yaml").write_text(prices)
    return catalog


async def one_call(tmp_path: Path, env: dict[str, str], config: dict[str, Any], catalog: Path | None = None) -> tuple:
    """One call of ``skill.analysis`` on ``config``: its result, its attempt's ledger row and the run's summary."""
    catalog = catalog or catalog_without_policies(tmp_path)
    run_id = f"r-{config['provider']}-{len(list(tmp_path.iterdir()))}"
    async with await Service.open(catalog=catalog, db=tmp_path / "audit.db", env=env) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config}, run_id=run_id)
        [run] = await svc.query_runs({"run_id": run_id})
        summary = await svc.summarize({"run_id": run_id})
    [row] = run["attempts"]
    return result, row, summary
