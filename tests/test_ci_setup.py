"""What CI runs (.ci/run) is what the test setup installs: a clean machine gets each tool from the test extra."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _distribution(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_every_tool_ci_runs_is_installed_by_the_test_extra():
    """.ci/run installs '.[test]' on a clean machine and then runs .venv/bin/ruff, mypy and pytest: a tool the extra
    does not name is not there ('No such file or directory', CI red before any check), though it works in a venv
    where it was installed by hand."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {_distribution(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    script = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in script
    tools = set(re.findall(r"^\.venv/bin/([\w-]+) ", script, flags=re.MULTILINE)) - {"python", "pip"}
    assert {"ruff", "mypy", "pytest"} <= tools
    assert sorted(tools - installed) == []
