"""Run the guide's examples offline: vendor APIs answered by a loopback server, a throwaway ledger.

Every example imports :func:`offline` and gets a ready :class:`magsag_mcp.Magsag` on the shipped catalog
whose providers point at :class:`magsag_mcp.loopback.LoopbackUpstream`. Real HTTP, real wire formats, no
network; none of this machine's settings (``MAGSAG_*``, the vendors' keys and URLs) apply.
To run an example against the real vendors instead, export your API keys and use ``Magsag()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    from magsag_mcp import Magsag
    from magsag_mcp.loopback import LoopbackUpstream
except ModuleNotFoundError as missing:  # run by a Python magsag is not installed in, such as the system's python3
    script = Path(sys.argv[0]).name
    sys.exit(
        f"{script}: {missing.name!r} is not installed for {sys.executable}; run the example with the Python of the "
        f"venv README.md's setup makes, from the clone: .venv/bin/python examples/{script}"
    )

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@contextlib.contextmanager
def offline(plans: dict | None = None, *, agent: str = "examples") -> Iterator[tuple[Magsag, LoopbackUpstream]]:
    upstream = LoopbackUpstream(plans=plans)
    with upstream.running(), tempfile.TemporaryDirectory() as tmp:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI_", "GEMINI_", "OLLAMA_"))
        }
        env.update(upstream.env())
        env.update(MAGSAG_DB=str(Path(tmp) / "ledger.db"), MAGSAG_RETRY_BASE_DELAY="0.01")
        # the shipped catalog, whatever MAGSAG_CATALOG says: the examples call its skills, and check what its
        # routing and policies make of them
        with Magsag(catalog=CATALOG, env=env, agent=agent) as mg:
            yield mg, upstream


def show(title: str, value: object) -> None:
    print(f"== {title}")
    if isinstance(value, dict) and "output" in value:
        keys = ("provider", "model", "output", "tool_calls", "cost_usd", "warnings")
        value = {k: value[k] for k in keys if k in value and (k != "tool_calls" or value[k])}
    print(json.dumps(value, indent=2, default=str))
