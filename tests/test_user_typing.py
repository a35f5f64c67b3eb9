"""A user's program on the documented Python API, checked by ``mypy --strict`` as a user's editor and CI check it:
what our annotations hand to their code (an Any where a result's field has a type, a missing ``py.typed``) shows
there as their errors. The package itself is checked by ``mypy magsag_mcp`` in CI; this checks what it exports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from magsag_mcp import Magsag
from magsag_mcp.result_dicts import AttemptDict, InvokeResultDict, ToolCallDict, UsageDict

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"

# The README's "Using it from Python", each result's fields read as a user's typed code reads them.
USER_PROGRAM = '''
from __future__ import annotations

from decimal import Decimal

from magsag_mcp import InvokeResultDict, Magsag, MagsagError, RateLimitError, Service


def cost_of(mg: Magsag) -> str | None:
    result = mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "gpt-4o"}})
    print(result["output"], result["model"])
    return result["cost_usd"]


def model_of(result: InvokeResultDict) -> str:
    return result["model"]


def tokens(mg: Magsag) -> int:
    result = mg.skills.invoke("skill.analysis", {"data": "x"})
    first = result["attempts"][0]
    calls = [call["name"] for call in result["tool_calls"]]
    print(calls, first["outcome"], first["cost_usd"])
    return result["usage"]["input_tokens"] + first["output_tokens"]


def finish(mg: Magsag) -> str:
    return mg.skills.invoke("skill.analysis", {"data": "x"})["finish_reason"]


async def acost(mg: Magsag) -> Decimal:
    try:
        result = await mg.skills.ainvoke("skill.analysis", {"data": "x"})
    except RateLimitError as exc:
        return exc.cost_usd or Decimal(0)
    except MagsagError:
        raise
    return Decimal(result["cost_usd"] or 0)


async def service_cost() -> Decimal | None:
    async with Service.open() as service:
        result = await service.invoke_skill("skill.analysis", {"data": "x"})
        return result.cost_usd
'''

# A misspelt field is the type checker's error, not a KeyError in production.
MISSPELT = '''
from magsag_mcp import Magsag


def cost_of(mg: Magsag) -> object:
    return mg.skills.invoke("skill.analysis", {"data": "x"})["cost_usdd"]
'''


def mypy_strict(tmp_path: Path, source: str, **settings: str) -> subprocess.CompletedProcess[str]:
    program = tmp_path / "user_program.py"
    program.write_text(textwrap.dedent(source))
    # on the path as an installed package is (its py.typed read, its own errors not the user's)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYPY")} | settings | {"PYTHONPATH": str(ROOT)}
    # --strict and nothing else: with no --config-file, mypy reads the first mypy.ini, pyproject.toml or setup.cfg in
    # the folders above the program's (the repository's own, where TMPDIR is inside the clone) and else the machine
    # user's ~/.mypy.ini or ~/.config/mypy/config, whose settings (disallow_any_expr, a plugin) failed the program
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    command = [
        sys.executable, "-m", "mypy", "--config-file", str(config), "--strict", "--no-incremental",
        "--cache-dir", os.devnull, str(program),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)


@pytest.mark.slow
def test_the_documented_api_type_checks_strictly_in_a_users_program(tmp_path: Path):
    # Before: skills.invoke returned dict[str, Any], so `return result["cost_usd"]` from a function returning
    # `str | None` was mypy --strict's "Returning Any from function declared to return ..." in the user's code, and
    # `result["cost_usdd"]` passed the check. Now the result is a TypedDict (InvokeResultDict).
    # (a machine user's own mypy settings, here one that no program using any library passes, are not the check's)
    user_config = tmp_path / "user-config" / "mypy" / "config"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("[mypy]\ndisallow_any_expr = True\n")
    checked = mypy_strict(tmp_path, USER_PROGRAM, XDG_CONFIG_HOME=str(user_config.parent.parent))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    misspelt = mypy_strict(tmp_path, MISSPELT)
    assert misspelt.returncode == 1, misspelt.stdout + misspelt.stderr
    assert '"cost_usdd"' in misspelt.stdout and "InvokeResultDict" in misspelt.stdout


def test_the_result_dicts_name_every_key_a_call_returns(tmp_path: Path, fake_scripts: None):
    # The TypedDicts are what a type checker believes of a result: a key to_dict() adds or drops without them
    # would be a key the user's checker refuses, or one it promises that a call does not return.
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        result = mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
    assert set(result) == set(InvokeResultDict.__annotations__)
    assert set(result["usage"]) == set(UsageDict.__annotations__)
    assert [set(a) for a in result["attempts"]] == [set(AttemptDict.__annotations__)]
    assert ToolCallDict.__required_keys__ == {"id", "name", "arguments"}
    assert ToolCallDict.__optional_keys__ == {"signature"}


def test_every_error_the_readme_says_to_catch_is_exported():
    # "What to catch" (docs/python.md) names the classes a caller's `except` needs: each one importable from the package
    # itself (from magsag_mcp import PolicyDenied), and an error of the package's tree.
    import re

    import magsag_mcp

    readme = (ROOT / "docs" / "python.md").read_text()
    said = readme.split("What to catch, all importable from `magsag_mcp`", 1)[1].split("\n\n", 1)[0]
    names = set(re.findall(r"`([A-Z][A-Za-z]+(?:Error|Denied|Exceeded|Failed))`", said))
    assert {"InputError", "PolicyDenied", "BudgetExceeded", "AllTargetsFailed", "RateLimitError"} <= names
    for name in names:
        assert name in magsag_mcp.__all__, name
        assert issubclass(getattr(magsag_mcp, name), magsag_mcp.MagsagError), name
