"""What the agent tests (test_agents.py, test_agent_run_failures.py) share: an agent written into a catalog's agents
folder, and forgetting the agent modules a test loaded (cached under ``magsag_agents.*``: the next test's catalog is a
new copy whose files must be imported afresh). conftest's ``agent_catalog`` is a catalog copy that does so after its
test."""

from __future__ import annotations

import sys
from pathlib import Path


def write_agent(cat: Path, agent_id: str, source: str, *, kind: str = "sag", extra_yaml: str = "") -> None:
    """Agent ``agent_id`` of ``kind`` in catalog ``cat``: its YAML (``extra_yaml`` appended) and its module,
    ``source``, whose ``run`` is the entrypoint."""
    module = agent_id.replace("-", "_")
    (cat / "agents" / f"{agent_id}.yaml").write_text(
        f"id: {agent_id}\nkind: {kind}\ndescription: test agent\nentrypoint: {module}:run\n{extra_yaml}"
    )
    (cat / "agents" / f"{module}.py").write_text(source)


def forget_loaded_agents() -> None:
    for name in [n for n in sys.modules if n.startswith("magsag_agents.")]:
        del sys.modules[name]
