"""What the Anthropic Messages tests (test_anthropic_*.py) share: test_wire.py's Anthropic and Google cases,
a thinking budget, a JSON schema of one item, and a model that takes no forced tool."""

from __future__ import annotations

from .test_wire import CASES

[ANTHROPIC] = [c for c in CASES if c.name == "anthropic"]

[GOOGLE] = [c for c in CASES if c.name == "google"]

THINK = {"thinking": {"type": "enabled", "budget_tokens": 2048}}

ITEM = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

FABLE = "claude-fable-5-1"
