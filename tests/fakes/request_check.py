"""What a request's body gets wrong by its vendor's spec, judged by the path it was sent to: for the loopback servers
that answer every POST alike (a raw stream, a mutated answer, a compatible vendor's refusal), which would otherwise
take any body, and so hide a request built wrong behind a test of how the answer is read.

    problems = request_problems(request.path, body)  # [] when it is a valid request, or one of no known API

A path of no API these know (a test's own ``/v1/sse``) is judged by nothing: [].
"""

from __future__ import annotations

import re
from typing import Any

from .spec import spec_validator

#: the end of a request's path, the spec it is one of, and its request schema there
_ROUTES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"/chat/completions$"), "openai", "CreateChatCompletionRequest"),
    (re.compile(r"/responses$"), "openai", "CreateResponse"),
    (re.compile(r"/v1/messages$"), "anthropic", "CreateMessageParams"),
    (re.compile(r":(?:stream)?[gG]enerateContent$"), "gemini", "GenerateContentRequest"),
)


def request_problems(path: str, body: Any) -> list[str]:
    """Each way ``body``, POSTed to ``path``, is not a valid request of the API the path names, with the path."""
    for route, spec, schema in _ROUTES:
        if route.search(path):
            return [f"{path}: {problem}" for problem in spec_validator(spec).errors(schema, body)]
    return []


async def read_checked(request: Any, violations: list[str]) -> None:
    """Read an aiohttp request's body, adding to ``violations`` what :func:`request_problems` finds in it (a body
    that is no JSON is one)."""
    import json

    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError:
        violations.append(f"{request.path}: the body is not JSON")
        return
    violations.extend(request_problems(request.path, body))
