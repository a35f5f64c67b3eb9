"""A start with MAGSAG_PROVIDER set to a built-in provider (or its alias) checks it without importing the provider
registry: govern84's check of the name imported routing, the registry and aiohttp (322 modules) before the answer to
`initialize`, some 190 ms of every start whose client configuration set MAGSAG_PROVIDER (553-580 ms to the answer
against 360-370 without it, this machine). A misspelt name is still refused with the fix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from magsag_mcp.provider_aliases import BUILT_IN_PROVIDERS

SCRIPT = """
import json, sys
import magsag_mcp.mcp_server.__main__ as main
from magsag_mcp.mcp_server.server_settings import start_checks
args = main.build_parser().parse_args([])
checks = start_checks(args, {"MAGSAG_PROVIDER": sys.argv[1]})
heavy = sorted(m for m in ("aiohttp", "magsag_mcp.routing", "magsag_mcp.env_routing", "magsag_mcp.transport")
               if m in sys.modules)
print(json.dumps({"refused": checks.refused, "warnings": checks.warnings, "heavy": heavy}))
"""


def checked(provider: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, provider], capture_output=True, text=True, timeout=120, check=True
    )  # (a hang guard, not a timing assertion)
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize("provider", ["openai", "  Anthropic ", "claude", "ollama", "gemini", "fake"])
def test_a_built_in_provider_is_checked_without_importing_the_registry(provider: str):
    seen = checked(provider)
    assert seen == {"refused": [], "warnings": [], "heavy": []}, seen


def test_a_misspelt_provider_is_still_refused_with_the_name_it_means():
    seen = checked("opnai")
    assert len(seen["refused"]) == 1 and "MAGSAG_PROVIDER='opnai'" in seen["refused"][0], seen
    assert "did you mean 'openai'?" in seen["refused"][0], seen


def test_the_built_in_names_are_the_registrys():
    from magsag_mcp.providers import provider_names

    assert set(BUILT_IN_PROVIDERS) == set(provider_names())
