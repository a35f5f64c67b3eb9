"""Shared fixtures: the anyio backend, loopback vendor servers, a transport, an MCP client (with its ledger file and
the output schemas its tools published), and the ledger the `magsag data|flow summarize|budget` tests
(tests/test_cli_data*.py) read."""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.loopback import LoopbackUpstream
from magsag_mcp.providers import local_reach
from magsag_mcp.providers.fake import clear_scripts
from magsag_mcp.transport import Transport
from tests.agent_helpers import forget_loaded_agents

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"

#: what of the machine's environment the product (and the HTTP clients the tests drive it with) would read: a proxy,
#: a CA bundle, a vendor's key or base URL, a MAGSAG_ setting. A CI host or a developer's shell that has one set (an
#: HTTPS_PROXY, an OPENAI_API_KEY) sent the tests' loopback requests to the proxy, probed a provider no test
#: configured, and had ``doctor`` read its own proxy instead of the test's (a lower-case ``https_proxy`` comes first).
#: Each test sets what it means to (``monkeypatch.setenv``, an ``env=`` of its own) on an environment without them
_MACHINE_SETTINGS = re.compile(
    r"(?i:(?:https?|all|no)_proxy|ssl_cert_(?:file|dir)|requests_ca_bundle|curl_ca_bundle)$"
    r"|(?:OPENAI|ANTHROPIC|GEMINI|GOOGLE|AZURE|OLLAMA|MAGSAG)_"
)
#: the tests' own settings (where the vendors' specs are, and their parsed cache: tests/fakes/spec.py), kept
_TEST_SETTINGS = frozenset({"MAGSAG_SPECS_DIR", "MAGSAG_SPEC_CACHE"})
_machine_settings: dict[str, str] = {}
#: hypothesis' home folder for the run (:func:`pytest_configure`), removed when the run ends
_hypothesis_home: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    """The machine's settings (:data:`_MACHINE_SETTINGS`) out of the environment before any test module is imported,
    and back in it once the run ends."""
    for name in [n for n in os.environ if _MACHINE_SETTINGS.match(n) and n not in _TEST_SETTINGS]:
        _machine_settings[name] = os.environ.pop(name)
    # hypothesis keeps a cache of the constants it finds in the code under test, and its Unicode tables, in its home
    # folder even for a property with database=None: by default .hypothesis in the working directory, which left one
    # in the repository after every run (tests/test_hypothesis_storage.py). A folder of the run's own, in the temporary
    # directory and removed once the run ends, holds them instead
    from hypothesis import HealthCheck, settings
    from hypothesis.configuration import set_hypothesis_home_dir

    _hypothesis_home.append(Path(tempfile.mkdtemp(prefix="magsag-mcp-hypothesis-")))
    set_hypothesis_home_dir(_hypothesis_home[-1])
    # every property (tests/test_properties_*.py) is checked on the same examples on every run (derandomize), with no
    # deadline (a loaded CI machine must not fail a property for being slow) and no example database written; the
    # examples are modest in number (each file says how many), some of them opening a ledger with a test's fixtures
    settings.register_profile(
        "magsag",
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    settings.load_profile("magsag")


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.update(_machine_settings)
    _machine_settings.clear()
    while _hypothesis_home:
        shutil.rmtree(_hypothesis_home.pop(), ignore_errors=True)


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """The smallest catalog (test_catalog*.py): one skill and the route to it (tests/catalog_helpers.py)."""
    from tests.catalog_helpers import mini_catalog

    return mini_catalog(tmp_path)


@pytest.fixture
def provider_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """The providers' registry, a copy of the shipped one that a test may register providers in, restored after the
    test (with the parsed targets that read it)."""
    from magsag_mcp import providers
    from magsag_mcp.targets import forget_parsed_targets

    kept = dict(providers._REGISTRY)
    monkeypatch.setattr(providers, "_REGISTRY", kept)
    yield kept
    forget_parsed_targets()


@pytest.fixture
def clock_at_noon(monkeypatch: pytest.MonkeyPatch) -> float:
    """``time.time`` ticking on from noon UTC of the day the test runs (returned): a test that makes calls and then
    reads a day's spend (a day limit, an agent's day) reads them on their own day. On the real clock a midnight (UTC's,
    or a policy zone's: Berlin's at 23:00 UTC, Tokyo's at 15:00) could fall between the calls and the read, which
    then counts none of them. Noon UTC is hours from a midnight in every zone the tests use."""
    real = time.time
    started = real()
    noon = started // 86400 * 86400 + 43200
    monkeypatch.setattr(time, "time", lambda: noon + (real() - started))
    return noon


@pytest.fixture(autouse=True)
def local_servers_unasked() -> Iterator[None]:
    """What local servers said of where they run a model is the process's (asked once per server and name): each
    test starts knowing nothing, so that a loopback port another test's server had is asked again."""
    local_reach.forget()
    yield


#: the signals whose handlers a test may change in this process: the CLI's main (``sigterm_as_interrupt``) makes
#: SIGTERM and SIGHUP raise KeyboardInterrupt, the servers' signal capture and a test's own handler set others
_HANDLED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@pytest.fixture(autouse=True)
def signal_handlers_restored() -> Iterator[None]:
    """Each test ends with the signal handlers (and what :mod:`magsag_mcp.signals` noted of a signal) it began with.
    A test that ran ``magsag``'s main in-process left ``_interrupt`` handling SIGTERM and SIGHUP for the rest of the
    session: a later test's SIGTERM raised KeyboardInterrupt, which pytest takes for the user's and ends the whole
    run, and a test of ``sigterm_interrupts`` (which installs its handler only over SIGTERM's default) ran another
    path than it would alone."""
    from magsag_mcp import signals

    handlers = {sig: signal.getsignal(sig) for sig in _HANDLED}
    noted = (signals.received, signals.output_given_up)
    yield
    for sig, handler in handlers.items():
        if handler is not None and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)
    signals.received, signals.output_given_up = noted


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
async def transport() -> AsyncIterator[Transport]:
    """One transport with the default settings per test, closed after it (so no aiohttp session outlives
    its test). A module that needs other settings (short timeouts, a body limit) defines its own."""
    t = Transport()
    yield t
    await t.aclose()


@pytest.fixture
async def client(tmp_path: Path):
    """An MCP client (the SDK's, in memory) of a server on the shipped catalog, every call answered by the
    fake provider, its ledger in ``tmp_path``. The test_mcp_tools modules define their own, with quick retries."""
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})) as c:
        yield c


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The ledger file of a test's server: the test_mcp_tools modules' own ``client`` (quick retries: it cannot take
    the name of the one above) opens it, and their tests read it."""
    return tmp_path / "ledger.db"


@pytest.fixture
async def schemas(client):
    """The output schemas the ``client``'s server published, to check each tool's result against."""
    from tests.mcp_tools_helpers import Schemas

    return Schemas((await client.list_tools()).tools)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's environment for test_cli_core*: no provider key or override, a ledger in ``tmp_path``, the
    shipped catalog, quick retries. test_agents defines its own."""
    for name in ("MAGSAG_PROVIDER", "MAGSAG_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    monkeypatch.setenv("MAGSAG_RETRY_BASE_DELAY", "0.001")
    return tmp_path


@pytest.fixture
def echoing_agent_run(cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``magsag run`` of an agent of the given code whose call's answer echoes the credential it gave itself (see
    tests.key_echo_helpers.run_echoing_agent): test_call_key_in_agent_failure and _error_of_tree's one set-up."""
    from tests.key_echo_helpers import run_echoing_agent

    async def run(agent_code: str):
        return await run_echoing_agent(cli_env, monkeypatch, capsys, agent_code)

    return run


@pytest.fixture
def restored_secrets() -> Iterator[None]:
    """The keys :func:`~magsag_mcp.redaction.redact` knows process-wide as they were once the test ends, none known
    during it but those it registers (itself, or a service or a provider it opens as it reads its key): a key left
    registered is removed from every later test's texts, and a name holding it refused, so test order mattered. (Set
    back by hand, not by ``monkeypatch``, which a test may undo itself before it is done with the keys.) The texts and
    names found clean are forgotten too: found so by an earlier test with no key known either (the same empty tuple),
    they were not looked at again, and a test counting the look-ups made in one counted none"""
    from magsag_mcp import redaction

    kept = redaction._KNOWN_SECRETS, redaction._LONGEST_FIRST, redaction._NOT_IN_ANSWERS
    redaction._KNOWN_SECRETS, redaction._LONGEST_FIRST, redaction._NOT_IN_ANSWERS = set(), (), frozenset()
    redaction._CLEAN.clear()
    redaction._UNCHANGED.clear()
    # a call's own keys too: one registered outside any call's scope by an earlier test stayed in this thread's context,
    # and the texts judged with it were never kept as found clean (a count of look-ups then counted each again)
    call_keys = redaction._CALL_SECRETS.set(())
    try:
        yield
    finally:
        redaction._CALL_SECRETS.reset(call_keys)
        redaction._KNOWN_SECRETS, redaction._LONGEST_FIRST, redaction._NOT_IN_ANSWERS = kept
        redaction._CLEAN.clear()
        redaction._UNCHANGED.clear()


@pytest.fixture
def no_collector_pause() -> Iterator[None]:
    """Python's cyclic garbage collector off while the test runs (on again after it, where it collects what the
    test left). A collection of the suite's whole heap stops the process for a tenth of a second and more (86 to 177 ms
    measured over tests/providers alone, more on the whole suite's heap): one that fell between a request and its
    answer, with the loopback fake served on the test's own event loop, let a read timeout of 0.2 s expire before the
    answer was read, and the answer "timed out". For the modules whose loopback servers must answer within such a
    timeout; a pause of the whole process by the machine (preemption that long) is not prevented."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses every connection, and that nothing else can take, for the whole test.

    A port found free and closed at once (bound to port 0, read, closed) was free only for that moment: a server
    another process started meanwhile (a test run beside this one, a service of the CI host) could be given it, and the
    connection the test meant to be refused was answered. Held bound without listening, the port refuses connections
    (Linux answers one with a reset: ECONNREFUSED, at once) and no other socket can bind it until the test ends."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def fake_scripts():
    """No scripted fake-provider replies (``magsag_mcp.providers.fake.script``) before or after the test."""
    clear_scripts()
    yield
    clear_scripts()


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped catalog that a test may edit."""
    dest = tmp_path / "catalog"
    shutil.copytree(CATALOG, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture
def agent_catalog(catalog_copy: Path) -> Iterator[Path]:
    """:func:`catalog_copy` for tests that write and run agents: the agent modules it loaded are forgotten after."""
    yield catalog_copy
    forget_loaded_agents()


def drop_provider_defaults(root: Path) -> Path:
    """``root``'s routing without its ``provider_defaults``: a catalog of an earlier release, under which
    ``MAGSAG_PROVIDER`` alone has no model for a task whose route and default chain name none of its own."""
    path = root / "routing" / "default.yaml"
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index("provider_defaults:\n")
    end = start + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    path.write_text("".join(lines[:start] + lines[end:]))
    return root


@pytest.fixture
def unmapped_catalog(catalog_copy: Path) -> Path:
    """A private copy of the shipped catalog whose routing names no ``provider_defaults``."""
    return drop_provider_defaults(catalog_copy)


@pytest.fixture
async def fake_openai():
    """A spec-checking loopback OpenAI/Azure/compat/local server (``tests/fakes/openai_server.py``).

    ``fake_openai.url`` is ``http://127.0.0.1:PORT``; OpenAI-style targets use ``fake_openai.url + "/v1"``.
    The test fails if any request the code under test sent broke the spec.
    """
    from tests.fakes.openai_server import FakeOpenAI

    async with FakeOpenAI().running() as fake:
        yield fake
    assert not fake.violations, "requests broke the OpenAI spec:\n" + "\n".join(fake.violations)


@pytest.fixture
async def serve():
    """A loopback server for a vendor's fake (``tests/providers/fakes.py``, ``fake.app()``): ``await serve(fake)`` is
    its base URL; every server started is closed after the test. Modules serving other things define their own."""
    from aiohttp.test_utils import TestServer

    servers: list[TestServer] = []

    async def start(fake) -> str:
        server = TestServer(fake.app())
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def serve_posts():
    """A loopback server answering every POST, whatever its path, with one handler: ``await serve_posts(handler)`` is
    its base URL; every server started is closed after the test. (Apart from :func:`serve`, which a module may
    override with a fixture of its own name.)"""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    servers: list[TestServer] = []

    async def start(handler) -> str:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
def ledger_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ledger at MAGSAG_DB (MAGSAG_CATALOG the repository's) holding three runs: r-priced (alice, an overloaded try
    on openai:gpt-4o, then its answer at $0.0035), r-unpriced (bob, compat:mystery-7b, of no known price) and r-old
    (alice, fake:echo, 120 days old)."""
    # imported here, not at the top: every test would otherwise load the ledger for this conftest
    from magsag_mcp.ledger import Ledger
    from magsag_mcp.records import AttemptRecord, RunRecord

    for name in ("MAGSAG_PROVIDER", "MAGSAG_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "cli.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    now = time.time()
    old = now - 120 * 86400

    async def record(ledger: Ledger, run: RunRecord, *attempts: tuple[float, str, str, int, dict]) -> None:
        """One run with its attempts, each given as (time, provider:model, outcome, try number, fields)."""
        rows = [
            AttemptRecord(run.run_id, at, *target.split(":"), run.skill, run.agent, outcome, 0, n, **fields)
            for at, target, outcome, n, fields in attempts
        ]
        await ledger.record_call(run, rows)

    async def fill() -> None:
        async with Ledger(db) as ledger:
            overloaded = {
                "error_class": "server_error",
                "error_message": "upstream said: overloaded shard 7",
                "cost_usd": Decimal(0),  # rejected by status: not billed
            }
            priced = {"input_tokens": 1000, "output_tokens": 100, "cost_usd": Decimal("0.0035")}
            await record(
                ledger,
                RunRecord("r-priced", "alice", "skill.analysis", now - 10),
                (now - 10, "openai:gpt-4o", "error", 1, overloaded),
                (now - 9, "openai:gpt-4o", "ok", 2, priced),
            )
            unpriced = {"input_tokens": 10, "output_tokens": 10, "cost_usd": None}
            await record(
                ledger,
                RunRecord("r-unpriced", "bob", "skill.coding", now - 5),
                (now - 5, "compat:mystery-7b", "ok", 1, unpriced),
            )
            await record(
                ledger,
                RunRecord("r-old", "alice", "skill.analysis", old),
                (old, "fake:echo", "ok", 1, {"cost_usd": Decimal(0)}),
            )

    anyio.run(fill)
    return db


def main_json(args: list[str], capsys) -> object:
    """`magsag ARGS`, which must exit 0, and its stdout read as JSON."""
    from magsag_mcp.cli import main

    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """The shipped catalog, copied, its model policies emptied so that they allow the models a test calls (the shipped
    ones name older models alone). A module's own fixture of this name wins."""
    import shutil

    copied = tmp_path / "catalog"
    shutil.copytree(Path(__file__).resolve().parent.parent / "catalog", copied)
    (copied / "policies" / "model_governance.yaml").write_text("policies: []\n")
    return copied
