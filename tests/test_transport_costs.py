"""What every request costs in the transport: no import statement, no generator context manager, and one aiohttp
timeout object per setting (split from test_transport.py)."""

from __future__ import annotations

import aiohttp
import pytest

from magsag_mcp.transport import Timeouts, Transport
from tests.fakes.openai_server import FakeOpenAI
from tests.test_transport import AUTH, CHAT

pytestmark = pytest.mark.anyio


def test_aiohttp_timeouts_are_built_once_per_setting_and_say_the_same():
    """Every request passes its timeouts to aiohttp; they are frozen, so one object serves each setting."""
    a, b = Timeouts(connect=3.0, read=40.0), Timeouts(connect=3.0, read=40.0, from_settings=False)
    assert a.to_aiohttp() is b.to_aiohttp()
    assert a.to_aiohttp() == aiohttp.ClientTimeout(total=None, sock_connect=3.0, sock_read=40.0)
    assert Timeouts(connect=3.0, read=41.0, total=90.0).to_aiohttp() == aiohttp.ClientTimeout(
        total=90.0, sock_connect=3.0, sock_read=41.0
    )


async def test_a_request_runs_no_import_statement(fake_openai: FakeOpenAI, transport: Transport, monkeypatch):
    """Every call sends one: an import statement in its path costs thousands of instructions each time
    (``from urllib.parse import urlsplit`` looks up the module's ``__path__``, which its ``__getattr__``
    refuses by raising AttributeError)."""
    import builtins

    url = fake_openai.url + "/v1/chat/completions"
    await transport.post_json(url, CHAT, headers=AUTH)  # first use may import
    imported: list[str] = []
    real_import = builtins.__import__

    def watching(name, globals=None, locals=None, fromlist=(), level=0):
        imported.append(name)
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", watching)
    resp = await transport.post_json(url, CHAT, headers=AUTH)
    monkeypatch.undo()
    assert resp.status == 200
    assert imported == []


async def test_a_request_enters_no_generator_context_manager(fake_openai: FakeOpenAI, transport: Transport):
    """aiohttp's failures are converted by an exception handler, which costs nothing until one comes: a
    @contextmanager around every request cost some 2,000 instructions (its object, a generator, and the
    StopIteration that ends it)."""
    import sys

    url = fake_openai.url + "/v1/chat/completions"
    await transport.post_json(url, CHAT, headers=AUTH)  # first use may import
    entered: list[str] = []

    def watch(frame, event, _arg):
        if event == "call" and frame.f_code.co_filename.endswith("contextlib.py"):
            entered.append(f"{frame.f_code.co_name} from {frame.f_back.f_code.co_filename}:{frame.f_back.f_lineno}")

    sys.setprofile(watch)
    try:
        resp = await transport.post_json(url, CHAT, headers=AUTH)
    finally:
        sys.setprofile(None)
    assert resp.status == 200
    assert entered == []
