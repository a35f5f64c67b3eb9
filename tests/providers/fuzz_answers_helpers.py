"""What the answer fuzzers (test_fuzz_answers.py) share: each API's valid answers as the spec-checking fakes send
them, the seeded mutations made of them, the loopback server that sends a mutated answer byte for byte, and the
invariant every call must keep whatever came back.

The seeds are captured, not written by hand: a provider's call is made against its fake (so the request is the one
the provider sends), and the same request is posted again to the fake, whose answer's bytes are kept. A mutation is
one of a few structural changes to the JSON (a field dropped, retyped, nested or duplicated; NUL, a lone surrogate, a
huge or negative number put in) or to the bytes (cut short, a byte put in, an SSE event dropped, duplicated or
reordered), sent in chunks split at random places, under the right or a wrong content type.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, LLMResult, Message, Target, ToolSpec
from tests.fakes.request_check import read_checked

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

#: the key every fuzzed provider is given: it must be in no result and no error
KEY = "sk-fz63-q7Rm2Kx9Vb4Nw8Lc3Hp6Jt"

#: cases per API and mode in CI; FUZZ_CASES=5000 runs the long mode
CASES = int(os.environ.get("FUZZ_CASES", "120"))

#: what the seeds are made of (the same cases every run); FUZZ_SEED=anything-else draws others
SEED = os.environ.get("FUZZ_SEED", "63")

WEATHER = ToolSpec(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)

#: the steps each fake answers for a seed: a text answer and a tool call
STEPS: list[dict[str, Any]] = [
    {"text": "Paris is the capital."},
    {"tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
]

APIS = ("chat", "responses", "anthropic", "gemini")


def provider_for(api: str, base: str, transport: Transport) -> tuple[Any, Target]:
    """The provider and target that call ``base`` (a server's root URL) in ``api``'s format."""
    if api == "anthropic":
        env = {"ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": KEY}
        return AnthropicProvider(env, transport), Target("anthropic", "claude-sonnet-4-5")
    if api == "gemini":
        env = {"GEMINI_BASE_URL": base, "GEMINI_API_KEY": KEY}
        return GeminiProvider(env, transport), Target("google", "gemini-2.5-flash")
    env = {"OPENAI_BASE_URL": base + "/v1", "OPENAI_API_KEY": KEY}
    return OpenAIProvider(env, transport), Target("openai", "gpt-4o", params=(("api", api),))


def fake_for(api: str) -> Any:
    if api == "anthropic":
        return FakeAnthropic(KEY)
    if api == "gemini":
        return FakeGemini(KEY)
    return FakeOpenAI(KEY)


def request(stream: bool) -> LLMRequest:
    return LLMRequest([Message("user", "Weather in Oslo?")], tools=[WEATHER], max_tokens=200, stream=stream)


@dataclass
class Seed:
    """One valid answer: its bytes and media type."""

    body: bytes
    content_type: str


async def capture_seeds(api: str, stream: bool, transport: Transport) -> list[Seed]:
    """The fake's answers to the provider's own request, one per step, as bytes."""
    fake = fake_for(api)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    seeds = []
    try:
        base = str(server.make_url("")).rstrip("/")
        provider, target = provider_for(api, base, transport)
        for step in STEPS:
            fake.queue(step, step)
            await provider.complete(request(stream), target)
            sent = fake.requests[-1]
            headers = {k: v for k, v in sent["headers"].items() if k.lower() not in ("host", "content-length")}
            async with (
                aiohttp.ClientSession(auto_decompress=False) as session,
                session.post(base + sent["path"], params=sent["query"], json=sent["body"], headers=headers) as resp,
            ):
                assert resp.status == 200, await resp.text()
                seeds.append(Seed(await resp.read(), resp.headers["Content-Type"].split(";")[0]))
        assert not fake.violations, fake.violations
    finally:
        await server.close()
    return seeds


#: values a field is replaced with: every JSON type, the empty ones, and the hostile ones
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    -(10**30),
    10**30,
    10**400,
    1.5,
    -0.0,
    1e308,
    "",
    "\x00",
    "\ud800",
    "a\x00b",
    "x" * 3000,
    "-5",
    "1e999",
    [],
    {},
    [None],
    {"": None},
    [[[[[[[[[[]]]]]]]]]],
]


def _paths(value: Any, here: tuple = ()) -> Iterator[tuple]:
    yield here
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*here, i))


def _get(value: Any, path: tuple) -> Any:
    for p in path:
        value = value[p]
    return value


def mutate_json(value: Any, rng: random.Random) -> Any:
    """``value`` with one field dropped, retyped, nested or duplicated (a deep copy: the seed is kept)."""
    value = json.loads(json.dumps(value))
    paths = [p for p in _paths(value) if p]
    if not paths:
        return rng.choice(ODD_VALUES)
    path = rng.choice(paths)
    parent, last = _get(value, path[:-1]), path[-1]
    how = rng.randrange(5)
    if how == 0:  # drop
        del parent[last]
    elif how == 1:  # retype
        parent[last] = rng.choice(ODD_VALUES)
    elif how == 2:  # nest
        parent[last] = rng.choice([[parent[last]], {"value": parent[last]}])
    elif how == 3 and isinstance(parent, list):  # duplicate an element
        parent.insert(last, json.loads(json.dumps(parent[last])))
    elif how == 3:  # an unknown field beside it
        parent[f"x_{rng.randrange(99)}"] = rng.choice(ODD_VALUES)
    else:  # swap in another field's value
        other = rng.choice(paths)
        try:
            parent[last] = json.loads(json.dumps(_get(value, other)))
        except (KeyError, IndexError, TypeError):
            parent[last] = None
    return value


def dumps(value: Any, rng: random.Random) -> bytes:
    """``value``'s JSON: lone surrogates as escapes (as a server writing ASCII would), or raw where that is
    chosen (a server writing broken UTF-8)."""
    if rng.random() < 0.8:
        return json.dumps(value).encode()
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def mutate_bytes(body: bytes, rng: random.Random) -> bytes:
    how = rng.randrange(4)
    at = rng.randrange(len(body) + 1)
    if how == 0:  # cut short
        return body[:at]
    if how == 1:  # a byte put in
        return body[:at] + bytes([rng.choice([0, 0xFF, 0xC3, ord("{"), ord("\n"), ord('"'), ord("\\")])]) + body[at:]
    if how == 2:  # a byte changed
        return body[:at] + bytes([rng.randrange(256)]) + body[at + 1 :]
    return body[:at] + body[at:][::-1][:8] + body[at:]  # a few bytes repeated backwards


def sse_events(body: bytes) -> list[bytes]:
    return [e for e in body.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]


def mutate_event(event: bytes, rng: random.Random) -> bytes:
    """One SSE event with its data's JSON mutated (or its bytes, where it holds no JSON)."""
    lines = event.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"data:"):
            try:
                data = json.loads(line[5:])
            except ValueError:
                break
            lines[i] = b"data: " + dumps(mutate_json(data, rng), rng)
            return b"\n".join(lines)
    return mutate_bytes(event, rng)


def mutate_stream(body: bytes, rng: random.Random) -> bytes:
    events = sse_events(body)
    for _ in range(rng.randrange(1, 3)):
        how = rng.randrange(6)
        i = rng.randrange(len(events)) if events else 0
        if not events:
            break
        if how in (0, 1):
            events[i] = mutate_event(events[i], rng)
        elif how == 2:
            del events[i]
        elif how == 3:
            events.insert(i, events[i])
        elif how == 4:
            j = rng.randrange(len(events))
            events[i], events[j] = events[j], events[i]
        else:
            return mutate_bytes(b"\n\n".join(events) + b"\n\n", rng)
    return b"\n\n".join(events) + b"\n\n"


def json_array_of(body: bytes) -> bytes:
    """A Gemini stream's events as the one JSON array streamGenerateContent sends without ``alt=sse``."""
    items = []
    for e in sse_events(body):
        for line in e.split(b"\n"):
            if line.startswith(b"data:"):
                items.append(line[5:].strip())
    return b"[" + b",\r\n".join(items) + b"]"


@dataclass
class Answer:
    """What the mutation server sends next."""

    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: where the body is cut into the chunks it is written in
    splits: list[int] = field(default_factory=list)


def mutated_answer(seed: Seed, stream: bool, api: str, rng: random.Random) -> Answer:
    """One mutation of ``seed``: its content, then how it is sent."""
    body = seed.body
    content_type = seed.content_type
    if stream:
        if api == "gemini" and rng.random() < 0.25:  # Gemini's stream as one JSON array
            body, content_type = json_array_of(body), "application/json"
            body = mutate_bytes(body, rng) if rng.random() < 0.5 else body
        else:
            body = mutate_stream(body, rng)
    elif rng.random() < 0.7:
        body = dumps(mutate_json(json.loads(body), rng), rng)
    else:
        body = mutate_bytes(body, rng)
    headers = {}
    label = rng.random()
    if label < 0.06:
        content_type = rng.choice(["text/html", "text/plain", "application/octet-stream", "application/x-ndjson"])
    elif label < 0.1:
        content_type = "application/json" if stream else "text/event-stream"
    elif label < 0.13:
        headers["Content-Encoding"] = rng.choice(["gzip", "deflate", "br"])
    if rng.random() < 0.05:  # split at every byte
        splits = list(range(1, len(body)))
    else:
        splits = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randrange(0, 6)))) if body else []
    return Answer(body, content_type, headers, splits)


class MutationServer:
    """A loopback server that answers every POST with :attr:`answer`, written in its chunks; what it was sent that is
    not a valid request by its vendor's spec is kept in :attr:`violations` (:mod:`tests.fakes.request_check`)."""

    def __init__(self) -> None:
        self.answer = Answer()
        self.server: TestServer | None = None
        self.violations: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await read_checked(request, self.violations)
        answer = self.answer
        resp = web.StreamResponse(headers={"Content-Type": answer.content_type, **answer.headers})
        await resp.prepare(request)
        start = 0
        for end in [*answer.splits, len(answer.body)]:
            await resp.write(answer.body[start:end])
            start = end
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()


#: words a message of the caller's or the vendor's fault must not hold: they say the fault is ours
BUG_WORDS = ("a bug", "bug in", "internal error", "traceback")


def check_outcome(outcome: Any, answer: Answer) -> str | None:
    """What is wrong with what one call ended in (a result or the exception it raised), or None: a result whose
    fields are of their types, counts whole and not negative; an error of errors.py's tree, not InternalError, with
    a message; the key in neither."""
    shown = f"{answer.content_type} {answer.headers} {answer.body[:600]!r}"
    if isinstance(outcome, BaseException):
        if not isinstance(outcome, E.MagsagError):
            return f"escaped as {type(outcome).__name__}: {outcome!r} for {shown}"
        if isinstance(outcome, E.InternalError):
            return f"an InternalError (our bug): {outcome.message} for {shown}"
        message = outcome.message
        if not message or not message.strip():
            return f"{type(outcome).__name__} with no message for {shown}"
        if any(w in message.lower() for w in BUG_WORDS):
            return f"worded as a bug: {message} for {shown}"
        if KEY in message or KEY in repr(outcome.to_dict()):
            return f"the key in the error: {message}"
        return None
    if not isinstance(outcome, LLMResult):
        return f"not an LLMResult: {outcome!r} for {shown}"
    if not isinstance(outcome.text, str) or not isinstance(outcome.model, str):
        return f"text or model not a str: {outcome!r} for {shown}"
    usage = outcome.usage
    counts = usage.counts()
    if any(type(count) is not int for count in counts):
        return f"a count of no int in {usage!r} for {shown}"
    if min(counts) < 0:
        # (a negative count is no count: the usage is not reported, so no negative reaches the ledger's sums)
        return f"a negative count kept: {usage!r} for {shown}"
    if outcome.response_id is not None and not isinstance(outcome.response_id, str):
        # (the MCP tool's result takes a string or null: anything else failed it after the answer was paid for)
        return f"response_id of the wrong type: {outcome.response_id!r} for {shown}"
    if not isinstance(outcome.finish_reason, str):
        return f"finish_reason of the wrong type: {outcome!r} for {shown}"
    if usage.billed_usd is not None and (not isinstance(usage.billed_usd, Decimal) or usage.billed_usd < 0):
        return f"usage.billed_usd is {usage.billed_usd!r} for {shown}"
    for call in outcome.tool_calls:
        if not isinstance(call.arguments, dict) or not isinstance(call.name, str) or not isinstance(call.id, str):
            return f"a tool call of the wrong types: {call!r} for {shown}"
    if any(not isinstance(w, str) for w in outcome.warnings):
        return f"a warning not a str: {outcome.warnings!r}"
    if KEY in repr(outcome):
        return "the key in the result"
    return None
