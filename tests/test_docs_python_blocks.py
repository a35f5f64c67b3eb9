"""Every Python example of README.md and docs/*.md is run by a test, as written: docs/configuration.md's circuit-breaker
example (``explain`` of the route's targets, each one's ``resting``) was run by none, while the others were (README's
and docs/python.md's first call and tracing in tests/test_docs.py, the answer cache's in tests/test_answer_cache.py).
A Python block added to a page is told here to get a test that runs it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs_helpers import DOCS_DIR, README, doc
from tests.test_docs import offline_upstream

#: how many ```python blocks each page holds, each run by the test named
RUN = {
    "README.md": 1,  # test_docs.test_the_readmes_first_call_runs_as_written
    # test_docs.test_docs_pythons_example_runs_as_written, ..._json_example_..., ..._tracing_example_runs_as_written;
    # test_paused_turn_continued_by_caller's runs of "A turn Claude left paused" (async, then sync by paused_id)
    "docs/python.md": 5,
    # test_answer_cache's run of "The answer cache" example; below, "Would this call be allowed, and fit?"
    "docs/money-records-budgets.md": 2,
    "docs/configuration.md": 1,  # below
}


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_every_pages_python_blocks_are_the_ones_tests_run():
    pages = {"README.md": README} | {f"docs/{p.name}": doc(p.name) for p in sorted(DOCS_DIR.glob("*.md"))}
    found = {name: n for name, text in pages.items() if (n := len(_python_blocks(text)))}
    assert found == RUN, "a page's Python example is run by no test: add one that runs it, and count it in RUN"


def test_the_configuration_pages_breaker_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    # "Circuit breaker": a Magsag with the breaker's settings explains the route; a new one has every target closed
    from magsag_mcp import Magsag

    (code,) = _python_blocks(doc("configuration.md"))
    with offline_upstream(monkeypatch, tmp_path):
        exec(compile(code, "docs/configuration.md", "exec"), {})
        with Magsag(env={"MAGSAG_DB": str(tmp_path / "other.db")}) as mg:
            routed = [t["label"] for t in mg.skills.explain("skill.analysis", {"data": "..."})["targets"]]
    printed = capsys.readouterr().out.splitlines()
    assert len(routed) >= 2 and printed == [f"{label} not resting" for label in routed]
    assert (tmp_path / "ledger.db").is_file()  # MAGSAG_DB as the example sets it: in the working folder


def test_the_budget_pages_would_this_call_fit_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    # check_budget with a call's context: the target the router picks, the policies' verdict, what it says it prints
    text = doc("money-records-budgets.md")
    section = text[text.index("### Would this call be allowed, and fit?\n") : text.index("## The answer cache\n")]
    (code,) = _python_blocks(section)
    with offline_upstream(monkeypatch, tmp_path):
        exec(compile(code, "docs/money-records-budgets.md", "exec"), {})
    # (a refusal names the policy file it reads, the shipped catalog's, which the page writes as CATALOG)
    catalog = str(Path(__file__).resolve().parent.parent / "catalog")
    printed = capsys.readouterr().out.replace(catalog, "CATALOG").splitlines()
    said = re.search(r"prints `(.*?)` and `(.*?)`\.", section, re.S)
    assert said is not None and [" ".join(s.split()) for s in said.groups()] == printed, printed
