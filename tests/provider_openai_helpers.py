"""What the OpenAI provider tests (test_provider_openai*.py) share: the key, the two APIs, a tool, a target on
the loopback server in either API, and the body of a request it was sent. Each module has its own ``provider``
fixture (a fixture imported from here would be shadowed by the tests' parameter of its name)."""

from __future__ import annotations

from typing import Any

from magsag_mcp.types import Target, ToolSpec
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

ENV = {"OPENAI_API_KEY": DEFAULT_KEY}

APIS = ["chat", "responses"]

WEATHER = ToolSpec(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def target(fake: FakeOpenAI, api: str, model: str = "gpt-4o") -> Target:
    params = (("api", "responses"),) if api == "responses" else ()
    return Target("openai", model, base_url=fake.url + "/v1", params=params)


def sent(fake: FakeOpenAI, n: int = -1) -> dict[str, Any]:
    return fake.requests[n].body
