"""A user's program on the documented Python API, checked by ``mypy --strict`` as a user's editor and CI check it:
what our annotations hand to their code (an Any where a result's field has a type, a missing ``py.typed``) shows
there as their errors. The package itself is checked by ``mypy magsag_mcp`` in CI; this checks what it exports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from magsag_mcp import Magsag, MagsagError
from magsag_mcp.budget_dicts import BudgetStatusDict, RunCostDict
from magsag_mcp.errors import ServerError
from magsag_mcp.providers.fake import script
from magsag_mcp.result_dicts import (
    AttemptDict,
    InvokeResultDict,
    RouteExplanationDict,
    SkillDict,
    ToolCallDict,
    UsageDict,
)
from magsag_mcp.usage_dicts import DailyUsageDict, RunsPageDict, SearchPageDict, UsageSummaryDict

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"

# docs/python.md, "Using it from Python", each result's fields read as a user's typed code reads them.
USER_PROGRAM = '''
from __future__ import annotations

from decimal import Decimal

from magsag_mcp import (
    BudgetLimitDict,
    BudgetStatusDict,
    InvokeResultDict,
    Magsag,
    MagsagError,
    RateLimitError,
    RouteExplanationDict,
    RunCostDict,
    RunDict,
    RunsPageDict,
    SearchPageDict,
    Service,
    SkillDict,
    UsageSummaryDict,
)


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


# The ledger's reads, the budgets and the plan: each result's fields at the types the calls return.
def spend(mg: Magsag) -> tuple[float | None, str | None, str, int]:
    usage: UsageSummaryDict = mg.summarize(agent="my-mag", since="7d")
    totals = usage["totals"]
    stats = usage["model_stats"]["gpt-4o"]
    largest_call = stats["largest_call"]
    largest_run = usage["largest_run"]
    day = usage["by_agent"]["my-mag"].get("largest_day")
    print(stats["providers"], usage["period"]["from"], usage["notes"], totals.get("unsent_calls", 0))
    print(largest_call["at_most_usd"] if largest_call else None, largest_run["delegated_runs"] if largest_run else 0)
    print(day["date"] if day is not None else None, usage["by_provider"]["openai"]["attempt_errors"])
    return totals["cost_usd"], totals["cost_usd_exact"], totals["known_cost_usd"], totals["calls"]


def runs(mg: Magsag) -> list[tuple[str, str | None, int, str | None]]:
    page: RunsPageDict = mg.query_runs(since="24h", limit=20)
    cursor: str | None = page["next_cursor"]
    first: RunDict = page["runs"][0]
    error = first["error"]
    print(cursor, page["has_more"], first.get("attempts_omitted", 0), error["message"] if error else None)
    return [(a["time"], a["cost_usd"], a["input_tokens"], a["skill"]) for run in page["runs"] for a in run["attempts"]]


def errors(mg: Magsag) -> list[str | None]:
    page: SearchPageDict = mg.search("rate.?limit", since="7d")
    found: list[str | None] = []
    for hit in page["hits"]:
        if hit["kind"] == "attempt":
            found.append(hit["error_message"])
        elif hit["kind"] == "run":
            found.append(hit["error"]["message"])
        else:
            found.append(hit["event"])
    return found


def left(mg: Magsag) -> list[tuple[str, str, bool]]:
    status: BudgetStatusDict = mg.check_budget(skill="skill.analysis")
    call = status.get("call")
    fits: bool = call["fits"] if call is not None else True
    window = status["limits"][0].get("window")
    start: float = window["start"] if window is not None else 0.0
    print(start, status.get("run_recorded"), [t["reservation_usd"] for t in call["targets"]] if call else [])
    limit: BudgetLimitDict = status["limits"][0]
    return [(limit["remaining_usd"], status["status"], fits)]


def plan(mg: Magsag) -> list[tuple[str, str | None, bool]]:
    explained: RouteExplanationDict = mg.skills.explain("skill.analysis", {"data": "x"})
    skills: list[SkillDict] = mg.skills.list()
    print(explained["max_output_tokens"], [s["payload_fields"] for s in skills], skills[0]["id"])
    return [(t["label"], t["estimated_max_cost_usd"], t["policy"]["allowed"]) for t in explained["targets"]]


async def acost_detail(mg: Magsag) -> tuple[str, int]:
    detail: RunCostDict = await mg.obs.acost_detail()
    usage = await mg.asummarize()
    page = await mg.aquery_runs()
    found = await mg.asearch("error")
    status = await mg.acheck_budget()
    explained: RouteExplanationDict = await mg.skills.aexplain("skill.analysis", {"data": "x"})
    print(usage["totals"]["calls"], page["has_more"], found["next_cursor"], status["cost_complete"])
    print(explained["targets"][0]["policy"]["allowed"])
    return detail["at_most_usd"], mg.obs.cost_detail()["unbounded_attempts"]
'''

# A misspelt field is the type checker's error, not a KeyError in production.
MISSPELT = '''
from magsag_mcp import Magsag


def cost_of(mg: Magsag) -> object:
    return mg.skills.invoke("skill.analysis", {"data": "x"})["cost_usdd"]


def spent(mg: Magsag) -> object:
    return mg.summarize()["totals"]["cost_usd_exactt"]


def remaining(mg: Magsag) -> object:
    return mg.check_budget()["limits"][0]["remaining"]


def first_run(mg: Magsag) -> object:
    return mg.query_runs()["runs"][0]["cost"]
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
    # the reads' results too (before: dict[str, Any], which took any key)
    assert '"UsageTotalsDict" has no key "cost_usd_exactt"' in misspelt.stdout, misspelt.stdout
    assert '"BudgetLimitDict" has no key "remaining"' in misspelt.stdout, misspelt.stdout
    assert '"RunDict" has no key "cost"' in misspelt.stdout, misspelt.stdout


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


def test_every_error_the_docs_say_to_catch_is_exported():
    # "What to catch" (docs/python.md) names the classes a caller's `except` needs: each one importable from the package
    # itself (from magsag_mcp import PolicyDenied), and an error of the package's tree.
    import re

    import magsag_mcp

    page = (ROOT / "docs" / "python.md").read_text()
    said = page.split("What to catch, all importable from `magsag_mcp`", 1)[1].split("\n\n", 1)[0]
    names = set(re.findall(r"`([A-Z][A-Za-z]+(?:Error|Denied|Exceeded|Failed))`", said))
    assert {"InputError", "PolicyDenied", "BudgetExceeded", "AllTargetsFailed", "RateLimitError"} <= names
    for name in names:
        assert name in magsag_mcp.__all__, name
        assert issubclass(getattr(magsag_mcp, name), magsag_mcp.MagsagError), name


def matches_hint(value: Any, hint: Any, where: str) -> None:
    """``value`` is what ``hint`` (a TypedDict, or a type one of its fields names) says: every required key there and
    no key it does not name, at any depth, and each value of its type (a bool is no int, an int no float)."""
    origin = get_origin(hint)
    if is_typeddict(hint):
        assert isinstance(value, dict), f"{where}: {value!r} is no dict"
        keys, required, optional = set(value), set(hint.__required_keys__), set(hint.__optional_keys__)
        assert required <= keys, f"{where} ({hint.__name__}): missing {sorted(required - keys)}"
        assert keys <= required | optional, f"{where} ({hint.__name__}): unnamed {sorted(keys - required - optional)}"
        fields = get_type_hints(hint)
        for key, item in value.items():
            matches_hint(item, fields[key], f"{where}.{key}")
    elif hint is Any:
        pass
    elif origin in (Union, types.UnionType):
        failures = []
        for option in get_args(hint):
            try:
                matches_hint(value, option, where)
                return
            except AssertionError as exc:
                failures.append(str(exc))
        raise AssertionError(f"{where}: {value!r} is none of {hint}: {failures}")
    elif origin is Literal:
        assert value in get_args(hint), f"{where}: {value!r} is not one of {get_args(hint)}"
    elif origin is list:
        assert isinstance(value, list), f"{where}: {value!r} is no list"
        for i, item in enumerate(value):
            matches_hint(item, get_args(hint)[0], f"{where}[{i}]")
    elif origin is dict:
        assert isinstance(value, dict), f"{where}: {value!r} is no dict"
        for key, item in value.items():
            assert isinstance(key, str), f"{where}: key {key!r} is no str"
            matches_hint(item, get_args(hint)[1], f"{where}[{key!r}]")
    elif hint is type(None):
        assert value is None, f"{where}: {value!r} is not None"
    elif hint in (bool, int, float, str):
        assert type(value) is hint, f"{where}: {value!r} is a {type(value).__name__}, not a {hint.__name__}"
    else:
        raise AssertionError(f"{where}: no check for {hint!r}")


def test_the_reads_dicts_name_every_key_and_type_they_return(tmp_path: Path, fake_scripts: None, clock_at_noon: float):
    # Before: summarize, query_runs, search, check_budget, explain, skills.list and obs.cost_detail returned
    # dict[str, Any] to a type checker. Their TypedDicts are what it now believes: each result of real calls on a real
    # ledger is checked against them, key by key and value by value, at every depth, and keys that are there only
    # sometimes are made to be there (a failed attempt and its retry, a call no request was sent for, a payload refused
    # before any attempt, an event, a page of runs with attempts left out, a call's fit).
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="bot") as mg:
        script("flaky", ServerError("upstream hiccup", provider="fake", model="flaky", status=503))
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:flaky"}})
        unsent = {"data": "x", "model_config": {"model": "gpt-4o", "provider": "openai"}}
        with pytest.raises(MagsagError):  # no OPENAI_API_KEY: a call that sends no request
            mg.skills.invoke("skill.analysis", unsent, agent="nokey", run_id="run-nokey7c")
        with pytest.raises(MagsagError):  # refused before any attempt: the run's own error
            mg.skills.invoke("skill.analysis", {"dta": "x"}, run_id="run-badpay3d")
        mg.obs.log("checkpoint", {"step": 1})

        summary = mg.summarize()
        matches_hint(summary, UsageSummaryDict, "summarize()")
        assert summary["totals"].get("skipped_attempts") and "largest_day" in summary["by_agent"]["bot"]
        unsent_summary = mg.summarize(agent="nokey")
        matches_hint(unsent_summary, UsageSummaryDict, "summarize(agent='nokey')")
        assert unsent_summary["totals"].get("unsent_calls") == 1
        matches_hint(mg.summarize(agent="nobody"), UsageSummaryDict, "summarize(agent='nobody')")
        cut = mg.summarize(top=1)  # the summarize_usage tool's top: a map cut to its costliest entry, the rest counted
        matches_hint(cut, UsageSummaryDict, "summarize(top=1)")
        assert all(len(cut[key]) <= 1 for key in ("model_stats", "by_agent")) and "omitted" in cut
        daily = mg.daily(limit=1)
        matches_hint(daily, DailyUsageDict, "daily(limit=1)")
        assert daily["has_more"] and daily["days"][0]["agent"] == "bot"
        matches_hint(mg.daily(agent="nokey"), DailyUsageDict, "daily(agent='nokey')")

        for per_run in (1, None):
            page = mg.query_runs(attempts_per_run=per_run)
            matches_hint(page, RunsPageDict, f"query_runs(attempts_per_run={per_run})")
            assert len(page["runs"]) == 3
        assert [run.get("attempts_omitted") for run in mg.query_runs(attempts_per_run=1)["runs"]].count(1) == 1

        hits = mg.search("checkpoint|hiccup|dta|openai")
        matches_hint(hits, SearchPageDict, "search()")
        assert {hit["kind"] for hit in hits["hits"]} == {"attempt", "event", "run"}

        for budget in (mg.check_budget(), mg.check_budget(skill="skill.analysis"), mg.check_budget(agent="")):
            matches_hint(budget, BudgetStatusDict, "check_budget()")
        assert "call" in mg.check_budget(skill="skill.analysis")

        matches_hint(mg.skills.explain("skill.analysis", unsent), RouteExplanationDict, "explain()")
        for skill in mg.skills.list():
            matches_hint(skill, SkillDict, f"skills.list()[{skill['id']!r}]")
        matches_hint(mg.obs.cost_detail(), RunCostDict, "obs.cost_detail()")


@pytest.mark.anyio
async def test_the_async_reads_return_the_same_shapes(tmp_path: Path, fake_scripts: None, clock_at_noon: float):
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    async with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        await mg.skills.ainvoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
        matches_hint(await mg.asummarize(), UsageSummaryDict, "asummarize()")
        matches_hint(await mg.aquery_runs(), RunsPageDict, "aquery_runs()")
        matches_hint(await mg.skills.aexplain("skill.analysis", {"data": "x"}), RouteExplanationDict, "aexplain()")
        matches_hint(await mg.asearch("echo"), SearchPageDict, "asearch()")
        matches_hint(await mg.acheck_budget(skill="skill.analysis"), BudgetStatusDict, "acheck_budget()")
        matches_hint(await mg.obs.acost_detail(), RunCostDict, "obs.acost_detail()")


def test_the_shape_check_refuses_a_key_or_a_type_its_dict_does_not_name():
    # (the checks above are worth what this one shows the check refuses)
    detail = {"known_usd": "0", "unknown_cost_bound_usd": "0", "at_most_usd": "0", "unknown_attempts": 0,
              "unbounded_attempts": 0, "cost_complete": True}  # fmt: skip
    matches_hint(detail, RunCostDict, "detail")
    for wrong in ({**detail, "extra": 1}, {**detail, "known_usd": 0.0}, {**detail, "unknown_attempts": False}):
        with pytest.raises(AssertionError):
            matches_hint(wrong, RunCostDict, "detail")
    with pytest.raises(AssertionError, match="missing"):
        matches_hint({k: v for k, v in detail.items() if k != "cost_complete"}, RunCostDict, "detail")


def test_every_result_dict_the_docs_name_is_exported():
    # docs/python.md names the TypedDict each method returns, for a caller's annotations: each importable from the
    # package itself (from magsag_mcp import UsageSummaryDict), and a TypedDict (SearchHitDict a union of them)
    import re

    import magsag_mcp

    said = (ROOT / "docs" / "python.md").read_text().split("The package ships its type information", 1)[1]
    spans = re.findall(r"`([^`]+)`", said.split("\n\n", 1)[0])  # (`list[SkillDict]`, `magsag_mcp.InvokeResultDict`)
    names = {name for span in spans for name in re.findall(r"\b([A-Z][A-Za-z]+Dict)\b", span)} - {"TypedDict"}
    assert {"InvokeResultDict", "UsageSummaryDict", "RunsPageDict", "SearchPageDict", "BudgetStatusDict"} <= names
    assert {"RouteExplanationDict", "SkillDict", "RunCostDict", "RunDict", "BudgetLimitDict", "SearchHitDict"} <= names
    for name in names:
        assert name in magsag_mcp.__all__, name
        exported = getattr(magsag_mcp, name)
        assert is_typeddict(exported) or all(is_typeddict(option) for option in get_args(exported)), name


@pytest.mark.slow
def test_docs_pythons_example_type_checks_strictly(tmp_path: Path):
    # docs/python.md's example read every search hit's "error_message", a key only an attempt's hit has: an event
    # logged as "rate_limit" (obs.log) or a run's own error matched by the same pattern raised KeyError, and mypy
    # said so of the example ('"EventHitDict" has no key "error_message"'), a user's first typed program failing
    import re

    # (the first block: the tour; the second, "Tracing with OpenTelemetry", is OpenTelemetry's API more than ours)
    code = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "python.md").read_text(encoding="utf-8"), re.S)[0]
    checked = mypy_strict(tmp_path, code)
    assert checked.returncode == 0, checked.stdout + checked.stderr
