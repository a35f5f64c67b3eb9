"""A fix that says where to add a price names the price file of the catalog in use, not ``catalog/prices.yaml``
(right only when run from a clone whose catalog is ./catalog): a catalog at a path of its own, the source tree's
bundled one, and the copy installed with the package (whose fix is a copy of it, not an edit of site-packages)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import catalog_edits
from magsag_mcp import errors as E
from magsag_mcp.catalog_edits import UNKNOWN_PRICES_FILE, prices_file_named
from magsag_mcp.pricing import Pricer
from magsag_mcp.types import Usage
from tests.conftest import CATALOG
from tests.governance_helpers import open_service, policy

pytestmark = pytest.mark.anyio

#: a call to a model no price is known for (the loopback's compat server)
UNPRICED = {"data": "x", "model_config": {"provider": "compat", "model": "m7q-unpriced"}}
CAPPED = "policies:\n  - name: capped\n    thresholds: {max_cost_per_run_usd: 1}\n"
#: the same limit letting calls of unknown price through: the call is made, its warning says where the price goes
LETTING = "policies:\n  - name: capped\n    allow_unpriced: true\n    thresholds: {max_cost_per_run_usd: 1}\n"


def own_catalog(tmp_path: Path) -> Path:
    """A copy of the shipped catalog at a path of its own, as MAGSAG_CATALOG=/srv/cat names one: no ./catalog."""
    root = tmp_path / "srv" / "cat"
    shutil.copytree(CATALOG, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


async def _unpriced_call(root: Path, tmp_path: Path, upstream: Any) -> tuple[str, Any]:
    """A call of a model of no known price under a policy that lets it through: its price warning, and its result."""
    policy(root, LETTING)
    svc = await open_service(root, tmp_path, upstream)
    try:
        result = await svc.invoke_skill("skill.analysis", UNPRICED)
    finally:
        await svc.aclose()
    [warning] = [w for w in result.warnings if "no price known" in w]
    return warning, result


async def _unpriced_refusal(root: Path, tmp_path: Path, upstream: Any) -> E.BudgetExceeded:
    """The same call under a cost limit that refuses a model of no known price: the refusal."""
    policy(root, CAPPED)
    svc = await open_service(root, tmp_path, upstream)
    try:
        with pytest.raises(E.BudgetExceeded) as refused:
            await svc.invoke_skill("skill.analysis", UNPRICED)
    finally:
        await svc.aclose()
    return refused.value


async def test_a_warning_and_a_refusal_name_the_prices_file_of_a_catalog_at_its_own_path(tmp_path, upstream):
    root = own_catalog(tmp_path)
    warning, result = await _unpriced_call(root, tmp_path, upstream)
    assert result.cost_usd is None
    assert f"Add it to {root / 'prices.yaml'}, e.g. " in warning, warning
    assert "catalog/prices.yaml" not in warning

    refused = await _unpriced_refusal(root, tmp_path, upstream)
    assert f"cannot be guaranteed; add its price to {root / 'prices.yaml'} (" in refused.message


def test_a_catalog_whose_price_file_is_prices_yml_is_told_of_that_file(tmp_path):
    root = own_catalog(tmp_path)
    (root / "prices.yaml").rename(root / "prices.yml")
    warning = Pricer.from_catalog(root).price("compat", "m7q-unpriced", Usage(10, 10)).warning
    assert f"Add it to {root / 'prices.yml'}, e.g. " in warning, warning


def test_the_source_trees_bundled_catalog_is_named_by_its_path():
    # a clone's catalog is edited in place: named by its full path, whatever folder magsag runs in
    warning = Pricer.from_catalog(CATALOG).price("compat", "m7q-unpriced", Usage(10, 10)).warning
    assert f"Add it to {CATALOG / 'prices.yaml'}, e.g. " in warning, warning


async def test_the_installed_catalog_is_to_be_copied_not_edited(tmp_path, upstream, monkeypatch):
    # the copy a wheel installs in site-packages, stood in for by one at a path of its own
    installed = own_catalog(tmp_path)
    monkeypatch.setattr(catalog_edits, "installed_catalog", lambda: installed)
    warning, _ = await _unpriced_call(installed, tmp_path, upstream)
    copy = f"cp -r {installed} ./catalog"
    assert f"Add it to the prices.yaml of a copy of the catalog installed with the package, not of {installed}" in (
        warning
    ), warning
    assert copy in warning and "MAGSAG_CATALOG" in warning
    assert f"{installed / 'prices.yaml'}" not in warning  # (not offered as the file to edit)

    refused = await _unpriced_refusal(installed, tmp_path, upstream)
    said = refused.message
    assert "add its price to the prices.yaml of a copy of the catalog installed with the package" in said, said
    assert copy in said and "or set allow_unpriced: true on capped" in said


def test_a_pricer_of_no_catalog_says_where_to_find_it():
    assert prices_file_named(None) == UNKNOWN_PRICES_FILE
    warning = Pricer().price("compat", "m7q-unpriced", Usage(10, 10)).warning
    assert f"Add it to {UNKNOWN_PRICES_FILE}, e.g. " in warning and "catalog/prices.yaml" not in warning


async def test_a_doctor_problem_of_an_unpriced_model_the_environment_names_names_the_prices_file(tmp_path, upstream):
    root = own_catalog(tmp_path)
    policy(root, CAPPED)
    svc = await open_service(root, tmp_path, upstream, MAGSAG_MODEL="compat:m7q-unpriced")
    try:
        problems = svc.override_problems()
    finally:
        await svc.aclose()
    [problem] = [p for p in problems if "has no known price" in p]
    assert (
        "compat:m7q-unpriced has no known price, which a cost limit without allow_unpriced refuses; add its price to "
        f"{root / 'prices.yaml'}, or set allow_unpriced: true on capped"
    ) in problem, problem


def test_obs_warning_of_an_attempt_of_no_price_names_the_prices_file(tmp_path):
    from magsag_mcp import Magsag, UnknownCostWarning
    from magsag_mcp.records import AttemptRecord, RunRecord

    root = own_catalog(tmp_path)
    with Magsag(catalog=root, db=tmp_path / "l.db", env={}) as mg:
        record = AttemptRecord(
            run_id=mg.run_id, started_at=0.0, provider="openai", model="no-such-model-q7", skill=None,
            agent=None, outcome="ok", fallback_position=0, attempt_number=1, cost_usd=None,
        )  # fmt: skip
        run = RunRecord(run_id=mg.run_id, agent=None, skill=None, started_at=0.0, status="ok")
        mg.bridge.run(lambda: mg.service.ledger.record_call(run, [record]))
        with pytest.warns(UnknownCostWarning, match="used a model with no known price") as seen:
            mg.obs.get_current_cost()
    [warned] = seen
    assert str(warned.message).endswith(f"add its price to {root / 'prices.yaml'}"), warned.message


def test_a_catalog_given_by_a_relative_path_is_named_by_its_full_path(tmp_path, monkeypatch):
    # MAGSAG_CATALOG=srv/cat: the fix is read by an MCP client's user, who does not know the server's folder
    root = own_catalog(tmp_path)
    monkeypatch.chdir(tmp_path)
    warning = Pricer.from_catalog("srv/cat").price("compat", "m7q-unpriced", Usage(10, 10)).warning
    assert f"Add it to {root / 'prices.yaml'}, e.g. " in warning, warning
