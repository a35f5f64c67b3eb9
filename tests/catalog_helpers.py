"""What the catalog tests (test_catalog*.py) share: a catalog file written under a root, and (conftest's ``mini``) the
smallest catalog, one skill and the route to it."""

from __future__ import annotations

from pathlib import Path


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def mini_catalog(root: Path) -> Path:
    """One skill, skill.echo, and a routing file sending every task to fake:echo, under ``root``."""
    write(root, "skills/echo.yaml", "id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{text}'\n")
    write(root, "routing/r.yaml", "default: [fake:echo]\n")
    return root
