"""Routing's ``request_caps`` (request_caps.py, cascade_caps.py): a capped target never has more requests in flight at
its server than its ``max_concurrent``, nor more sent in a minute than its ``requests_per_minute``; at its cap a call
takes the next target when one is left, else waits within the retry cap and its deadline; a call cancelled while it
waits takes and gives back nothing; the catalog's entries are checked with clear problems."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.catalog import load_catalog, validate_catalog
from magsag_mcp.service import Service
from tests.cascade_helpers import Clock
from tests.catalog_helpers import write
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

SKILL = "id: skill.echo\ndescription: d\ntask_type: echo\nprompt:\n  user: '{text}'\nmax_tokens: 16\n"


class CountingOpenAI(FakeOpenAI):
    """The spec-checking OpenAI that counts the requests in flight at it (and the most at once), each held until
    :attr:`gate` is set when a test holds them, and until as many are in flight at once as :attr:`fill` and
    :attr:`fills` say (a cap a test checks is reached whatever the machine's load, not by the calls' timing)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.peak = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.models: list[str] = []
        #: the most requests of each model held at once
        self.peaks: dict[str, int] = {}
        #: requests are held until this many were in flight at once (of any model), and of a model until
        #: ``fills[model]`` were: once reached, those held and all after them go on
        self.fill = 0
        self.fills: dict[str, int] = {}
        self._at_once: dict[str, int] = {}
        self._counted = asyncio.Condition()

    def _filled(self, model: str) -> bool:
        return self.peak >= self.fill and self.peaks[model] >= self.fills.get(model, 0)

    async def _chat(self, request):  # type: ignore[no-untyped-def]
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        model = (await request.json())["model"]
        self._at_once[model] = self._at_once.get(model, 0) + 1
        self.peaks[model] = max(self.peaks.get(model, 0), self._at_once[model])
        try:
            self.models.append(model)
            async with self._counted:
                self._counted.notify_all()
                await self._counted.wait_for(lambda: self._filled(model))
            # (held a while more, so that a request past a broken cap would arrive while these are in flight: no
            # pass waits on it)
            await asyncio.sleep(0.01)
            await self.gate.wait()
            return await super()._chat(request)
        finally:
            self.in_flight -= 1
            self._at_once[model] -= 1


@pytest.fixture
async def fake():
    server = CountingOpenAI()
    async with server.running():
        yield server
    assert not server.violations, server.violations


def catalog(root: Path, caps: str, chain: str = "[openai:gpt-4o-mini]") -> Path:
    write(root, "skills/echo.yaml", SKILL)
    write(root, "routing/r.yaml", f"default: {chain}\nrequest_caps:\n{caps}")
    return root


async def service(root: Path, fake: CountingOpenAI, tmp_path: Path, **settings: str) -> Service:
    env = {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY, **settings}
    return await Service.open(catalog=root, db=tmp_path / "ledger.db", env=env)


async def until(condition) -> None:
    """Until ``condition()`` holds: what a test waits for (a request at the server, calls queued for a slot). Given
    up after 60s, a failure, not a hang, where a change broke what it waits for (a hang guard, not a speed: it holds
    within milliseconds)."""
    async with asyncio.timeout(60):
        while not condition():
            await asyncio.sleep(0.001)


def queued(pool) -> int:
    """The calls waiting for a slot of ``pool``: the one whose turn it is, and those queued behind it."""
    return pool.waiting


async def test_max_concurrent_is_never_passed_at_the_server(fake, tmp_path):
    root = catalog(tmp_path / "cat", "  openai:gpt-4o-mini: {max_concurrent: 3}\n")
    svc = await service(root, fake, tmp_path)
    fake.fill = 3
    try:
        results = await asyncio.gather(*(svc.invoke_skill("skill.echo", {"text": f"hi {i}"}) for i in range(12)))
    finally:
        await svc.aclose()
    assert len(fake.requests) == 12 and all(r.output == "ok" for r in results)
    assert fake.peak == 3  # (12 calls at once: the cap, reached and never passed)
    pool = next(iter(svc.cascade.caps.pools.values()))
    assert pool.in_flight == 0
    waited = [w for r in results for w in r.warnings if "for a slot under its request cap" in w]
    assert waited and all("max_concurrent 3" in w for w in waited)


async def test_a_glob_caps_every_model_it_matches_together(fake, tmp_path):
    """``openai:*``: one pool for the provider's models (a box serving them all), as the key says."""
    root = catalog(tmp_path / "cat", "  'openai:*': {max_concurrent: 2}\n")
    svc = await service(root, fake, tmp_path)
    fake.fill = 2
    try:
        calls = [
            svc.invoke_skill("skill.echo", {"text": "x", "model_config": {"model": m}})
            for m in ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini") * 3
        ]
        await asyncio.gather(*calls)
    finally:
        await svc.aclose()
    assert len(fake.requests) == 9 and fake.peak == 2


async def test_at_its_cap_the_next_target_is_taken_rather_than_wait(fake, tmp_path):
    root = catalog(
        tmp_path / "cat", "  openai:gpt-4o-mini: {max_concurrent: 1}\n", "[openai:gpt-4o-mini, openai:gpt-4o]"
    )
    svc = await service(root, fake, tmp_path)
    try:
        fake.gate.clear()
        first = asyncio.create_task(svc.invoke_skill("skill.echo", {"text": "one"}, run_id="first"))
        await until(lambda: fake.in_flight >= 1)
        second = asyncio.create_task(svc.invoke_skill("skill.echo", {"text": "two"}, run_id="second"))
        await until(lambda: fake.in_flight >= 2)  # the second at the fallback, not queued behind the first
        fake.gate.set()
        one, two = await asyncio.gather(first, second)
    finally:
        await svc.aclose()
    assert one.model == "gpt-4o-mini" and two.model == "gpt-4o"
    assert fake.models == ["gpt-4o-mini", "gpt-4o"]
    skipped, answered = two.attempts
    assert skipped.outcome == "skipped" and skipped.model == "gpt-4o-mini" and skipped.cost_usd == 0
    assert "at its request cap (1 request in flight of max_concurrent 1" in skipped.error_message
    assert "the next target was tried rather than wait" in skipped.error_message
    assert answered.outcome == "ok"
    with sqlite3.connect(tmp_path / "ledger.db") as conn:  # the skip is in the ledger, at no cost, with its reason
        rows = conn.execute(
            "SELECT outcome, cost_pusd, error_message FROM attempts WHERE run_id = 'second' ORDER BY rowid"
        ).fetchall()
    assert rows[0][0] == "skipped" and rows[0][1] == 0 and "request cap" in rows[0][2]


async def test_requests_per_minute_waits_for_the_window_on_the_last_target(fake, tmp_path):
    root = catalog(tmp_path / "cat", "  openai:gpt-4o-mini: {requests_per_minute: 2}\n")
    svc = await service(root, fake, tmp_path, MAGSAG_RETRY_MAX_DELAY="90")
    clock = Clock(1000.0)
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    events: list[tuple[str, dict]] = []

    async def progress(event, data):
        events.append((event, data))

    try:
        for _ in range(2):
            await svc.invoke_skill("skill.echo", {"text": "x"})
        clock.now += 15.0
        third = await svc.invoke_skill("skill.echo", {"text": "x"}, progress=progress)
    finally:
        await svc.aclose()
    assert len(fake.requests) == 3
    assert clock.sleeps == [45.0]  # the minute of the first request, then the third is sent
    assert any("waited 45s for a slot under its request cap (requests_per_minute 2" in w for w in third.warnings)
    capped = [d for e, d in events if e == "capped"]
    assert capped and "2 sent in the last minute of requests_per_minute 2, the next free in 45s" in capped[0]["cap"]
    assert capped[0]["wait_s"] == 90.0  # the most it would wait: the retry cap, within the deadline
    from magsag_mcp.mcp_server.progress import EVENTS

    level, said = EVENTS["capped"]
    assert level == "notice" and said(capped[0]).startswith(
        "waiting up to 90s for a slot of openai:gpt-4o-mini, the last target left: at its request cap (2 sent"
    )


async def test_a_window_past_the_retry_cap_fails_the_call_unsent_and_recorded(fake, tmp_path):
    root = catalog(tmp_path / "cat", "  openai:gpt-4o-mini: {requests_per_minute: 1}\n")
    svc = await service(root, fake, tmp_path, MAGSAG_RETRY_MAX_DELAY="20")
    clock = Clock(1000.0)
    svc.cascade.clock, svc.cascade.sleep = clock, clock.sleep
    try:
        await svc.invoke_skill("skill.echo", {"text": "x"})
        with pytest.raises(E.AllTargetsFailed) as failed:
            await svc.invoke_skill("skill.echo", {"text": "x"}, run_id="late")
    finally:
        await svc.aclose()
    assert len(fake.requests) == 1 and clock.sleeps == []  # no wait that could not end in a slot
    message = failed.value.message
    assert isinstance(failed.value, E.RateLimitError) and failed.value.retry_after == 60.0  # (the guide's except)
    assert "no slot came free within the retry cap of 20s (MAGSAG_RETRY_MAX_DELAY)" in message
    assert "; call again in 60s, raise the cap where the account allows more (" in message
    assert "r.yaml: request_caps.openai:gpt-4o-mini), or add a fallback target" in message
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        rows = conn.execute("SELECT outcome, cost_pusd FROM attempts WHERE run_id = 'late'").fetchall()
    assert rows == [("skipped", 0)]


async def test_the_wait_for_a_slot_ends_at_the_calls_deadline(fake, tmp_path):
    root = catalog(tmp_path / "cat", "  openai:gpt-4o-mini: {max_concurrent: 1}\n")
    svc = await service(root, fake, tmp_path)
    try:
        fake.gate.clear()
        first = asyncio.create_task(svc.invoke_skill("skill.echo", {"text": "one"}))
        await until(lambda: fake.in_flight >= 1)
        # the next call's deadline, short: the first keeps its own (taken when it began), and its slot with it
        svc.cascade.retry = dataclasses.replace(svc.cascade.retry, deadline=0.3)
        with pytest.raises(E.AllTargetsFailed) as failed:
            await svc.invoke_skill("skill.echo", {"text": "two"})
        fake.gate.set()
        await first
    finally:
        await svc.aclose()
    assert len(fake.requests) == 1
    assert "no slot came free within the" in failed.value.message
    assert "left of the call's deadline (MAGSAG_CALL_DEADLINE); send fewer calls at once" in failed.value.message
    assert failed.value.retry_after is None  # (a request in flight says no time)


async def test_a_call_cancelled_while_it_waits_takes_and_gives_back_nothing(fake, tmp_path):
    root = catalog(tmp_path / "cat", "  openai:gpt-4o-mini: {max_concurrent: 1}\n")
    svc = await service(root, fake, tmp_path)
    pool = next(iter(svc.cascade.caps.pools.values()))
    try:
        fake.gate.clear()
        first = asyncio.create_task(svc.invoke_skill("skill.echo", {"text": "one"}))
        await until(lambda: fake.in_flight >= 1)
        waiting = [asyncio.create_task(svc.invoke_skill("skill.echo", {"text": f"w{i}"})) for i in range(3)]
        await until(lambda: queued(pool) == 3)
        waiting[0].cancel()  # the one whose turn it is
        waiting[2].cancel()  # one queued behind it
        await asyncio.gather(waiting[0], waiting[2], return_exceptions=True)
        assert pool.in_flight == 1  # the first's slot, still held: nothing given back that the cancelled took
        assert fake.in_flight == 1
        fake.gate.set()
        await first
        survivor = await waiting[1]  # the turn passed on to the call after them
    finally:
        await svc.aclose()
    assert survivor.output == "ok" and len(fake.requests) == 2 and fake.peak == 1
    assert pool.in_flight == 0 and pool.waiting == 0 and pool.free(0.0)


async def test_a_try_refused_by_its_budget_gives_its_slot_back_unsent(fake, tmp_path):
    root = catalog(tmp_path / "cat", "  openai:gpt-4o-mini: {max_concurrent: 1, requests_per_minute: 5}\n")
    write(
        root,
        "policies/model_governance.yaml",
        "policies:\n  - name: tiny\n    thresholds:\n      max_cost_per_call_usd: 0.0000001\n",
    )
    svc = await service(root, fake, tmp_path)
    pool = next(iter(svc.cascade.caps.pools.values()))
    try:
        with pytest.raises(E.MagsagError):
            await svc.invoke_skill("skill.echo", {"text": "x"})
    finally:
        await svc.aclose()
    assert fake.requests == [] and pool.in_flight == 0 and len(pool.sent) == 0


async def test_explain_shows_each_targets_cap_and_its_use(fake, tmp_path):
    root = catalog(
        tmp_path / "cat",
        "  openai:gpt-4o-mini: {max_concurrent: 1, requests_per_minute: 50}\n",
        "[openai:gpt-4o-mini, openai:gpt-4o]",
    )
    svc = await service(root, fake, tmp_path)
    try:
        fake.gate.clear()
        first = asyncio.create_task(svc.invoke_skill("skill.echo", {"text": "one"}))
        await until(lambda: fake.in_flight >= 1)
        explained = svc.explain("skill.echo", {"text": "x"})
        fake.gate.set()
        await first
    finally:
        await svc.aclose()
    capped, free = explained["targets"]
    assert capped["request_cap"] == {
        "key": "openai:gpt-4o-mini",
        "max_concurrent": 1,
        "in_flight": 1,
        "requests_per_minute": 50,
        "sent_last_minute": 1,
        "free_now": False,
    }
    assert "request_cap" not in free


async def test_no_caps_declared_asks_one_attribute(tmp_path):
    """Zero cost without an entry: the cascade's ``caps`` is None, the only thing a try asks."""
    root = catalog(tmp_path / "cat", "")
    (root / "routing/r.yaml").write_text("default: [openai:gpt-4o-mini]\n")
    svc = await Service.open(catalog=root, db=tmp_path / "l.db", env={})
    try:
        assert svc.cascade.caps is None
    finally:
        await svc.aclose()


# --- the catalog's entries ---------------------------------------------------------------------


def test_entries_load_with_their_provider_and_caps(tmp_path):
    root = catalog(
        tmp_path,
        "  'claude:claude-sonnet-4-5': {requests_per_minute: 50}\n  'local:*': {max_concurrent: '4'}\n",
    )
    caps = load_catalog(root, env={}).request_caps
    assert [(c.key, c.max_concurrent, c.requests_per_minute) for c in caps] == [
        ("anthropic:claude-sonnet-4-5", None, 50),
        ("local:*", 4, None),
    ]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("  openai:gpt-4o: {tpm: 30000}\n", "request_caps.openai:gpt-4o: tpm: there is no token cap"),
        ("  openai:gpt-4o: {rpm: 50}\n", "rpm: write requests_per_minute"),
        ("  openai:gpt-4o: {max_parallel_requests: 4}\n", "max_parallel_requests: write max_concurrent"),
        ("  openai:gpt-4o: {max_concurent: 4}\n", "unknown key 'max_concurent' (did you mean 'max_concurrent'?)"),
        ("  openai:gpt-4o: {max_concurrent: 0}\n", "max_concurrent: 0 would send no request at all"),
        ("  openai:gpt-4o: {max_concurrent: true}\n", "max_concurrent: a whole number from 1 to 10,000"),
        ("  openai:gpt-4o: {requests_per_minute: 2.5}\n", "requests_per_minute: a whole number from 1 to 1,000,000"),
        ("  openai:gpt-4o: {requests_per_minute: 5000000}\n", "is above the most it takes, 1,000,000"),
        ("  openai:gpt-4o:\n", "is written with nothing after it"),
        ("  openai:gpt-4o: {}\n", "is empty, which caps nothing"),
        ("  gpt-4o: {max_concurrent: 4}\n", "names no provider: write 'provider:model' (e.g. 'openai:gpt-4o'"),
        ("  opnai:gpt-4o: {max_concurrent: 4}\n", "'opnai' is no provider"),
        ("", "request_caps is written with nothing after it"),
    ],
)
def test_a_wrong_entry_is_a_problem_naming_its_key(tmp_path, entry, problem):
    root = catalog(tmp_path, entry)
    problems = validate_catalog(root, env={})
    assert any(problem in p and "routing/r.yaml" in p for p in problems), problems


def test_a_target_capped_in_two_files_is_a_problem(tmp_path):
    root = catalog(tmp_path, "  openai:gpt-4o: {max_concurrent: 4}\n")
    write(root, "routing/s.yaml", "request_caps:\n  openai:gpt-4o: {max_concurrent: 8}\n")
    problems = validate_catalog(root, env={})
    assert any("s.yaml: request_caps.openai:gpt-4o: openai:gpt-4o is also capped in" in p for p in problems), problems


def test_the_docs_example_loads_as_written(catalog_copy):
    """docs/catalog.md's ``request_caps``, written as it says into a routing file of the shipped catalog."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "catalog.md").read_text()
    section = text[text.index("## Request caps") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    assert example.startswith("# routing/caps.yaml")
    (catalog_copy / "routing" / "caps.yaml").write_text(example)
    assert validate_catalog(catalog_copy, env={}) == []
    caps = {c.key: (c.max_concurrent, c.requests_per_minute) for c in load_catalog(catalog_copy, env={}).request_caps}
    assert caps == {
        "anthropic:claude-3-5-sonnet-20241022": (None, 50),
        "openai:gpt-4o": (8, 500),
        "local:*": (4, None),
    }


async def test_explain_route_over_mcp_shows_the_cap_in_its_published_schema(catalog_copy, tmp_path, fake_scripts):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server
    from tests.mcp_tools_helpers import ENV, Schemas

    (catalog_copy / "routing" / "caps.yaml").write_text("request_caps:\n  'fake:*': {max_concurrent: 2}\n")
    async with Client(build_server(catalog=catalog_copy, db=tmp_path / "l.db", env=ENV)) as client:
        schemas = Schemas((await client.list_tools()).tools)
        args = {"skill_id": "skill.analysis", "payload": {"data": "x"}}
        plan = schemas.check("explain_route", await client.call_tool("explain_route", args))
    shown = {k: v for k, v in plan["targets"][0]["request_cap"].items() if v is not None}
    assert shown == {
        "key": "fake:*",
        "max_concurrent": 2,
        "in_flight": 0,
        "free_now": True,
    }


async def test_a_slot_given_back_goes_to_the_call_waiting_not_to_one_arriving():
    from magsag_mcp.cascade_caps import CapPool
    from magsag_mcp.request_caps import RequestCap

    pool = CapPool(RequestCap("local:*", "local", "*", 1, None, "routing/r.yaml: request_caps.local:*"))
    clock = Clock()
    held = pool.take(clock())
    waiter = asyncio.create_task(pool.acquire(5.0, clock, clock.sleep))
    await until(lambda: pool.waiting == 1)
    assert held.release() is None  # (taken at once: no wait to say)
    assert not pool.free(clock())  # the slot is the waiting call's, though it has not run yet
    slot = await waiter
    assert slot is not None and pool.in_flight == 1 and pool.waiting == 0
    clock.now += 2.5
    slot.waited = 2.5
    said = slot.release()
    assert said == "local:*: waited 2.5s for a slot under its request cap (max_concurrent 1, in this process)"
    assert slot.release() is None and pool.in_flight == 0  # given back once


async def test_the_heartbeat_of_a_call_waiting_for_a_slot_says_what_it_waits_on(monkeypatch):
    import anyio

    from magsag_mcp.mcp_server import progress as progress_module
    from tests.test_mcp_tools_updates import StubContext

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ctx = StubContext(until=4)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    cap = "at its request cap (4 requests in flight of max_concurrent 4; request_caps 'local:*', in this process)"
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        async with bridge.beating():
            await bridge("fallback", {"to": "local:llama3.1", "position": 1, "of": 2})
            await bridge("capped", {"target": "local:llama3.1", "cap": cap, "wait_s": 20.0})
            await ctx.heard.wait()
    said = f"waiting up to 20s for a slot of local:llama3.1, the last target left: {cap}"
    assert ctx.said[0] == "starting" and ctx.said[2] == said  # ("starting" said at once, as any call says it)
    assert ctx.said[3].startswith("still waiting after ") and ctx.said[3].endswith(f": {said}")


async def test_retries_and_fallbacks_of_many_calls_stay_under_the_cap_and_give_every_slot_back(fake, tmp_path):
    """20 calls at once over a chain of two capped models, a third of the first answers a 500 or a 429 (retried,
    or moved on from): the server never holds more of a model's requests than its cap."""
    from tests.fakes import openai_replies as R

    root = catalog(
        tmp_path / "cat",
        "  openai:gpt-4o-mini: {max_concurrent: 2}\n  openai:gpt-4o: {max_concurrent: 1}\n",
        "[openai:gpt-4o-mini, openai:gpt-4o]",
    )
    fake.queue(*[R.server_error(), R.reply("ok"), R.rate_limited(retry_after="0")] * 8)
    svc = await service(root, fake, tmp_path, MAGSAG_RETRY_BASE_DELAY="0.001", MAGSAG_RETRY_MAX_DELAY="30")
    fake.fills = {"gpt-4o-mini": 2}
    try:
        results = await asyncio.gather(
            *(svc.invoke_skill("skill.echo", {"text": f"{i}"}) for i in range(20)), return_exceptions=True
        )
    finally:
        await svc.aclose()
    assert fake.peaks == {"gpt-4o-mini": 2, "gpt-4o": 1}
    assert all(isinstance(r, E.MagsagError) or r.output == "ok" for r in results), results
    assert len(fake.requests) > 20  # (retries and fallbacks among them)
    assert all(p.in_flight == 0 and p.waiting == 0 for p in svc.cascade.caps.pools.values())
