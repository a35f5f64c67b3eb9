"""Shared fixtures: the anyio backend, a loopback vendor server, and a Service wired to it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from magsag_mcp.loopback import LoopbackUpstream

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def upstream():
    up = LoopbackUpstream()
    await up.start()
    yield up
    await up.stop()


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped catalog that a test may edit."""
    dest = tmp_path / "catalog"
    shutil.copytree(CATALOG, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest
