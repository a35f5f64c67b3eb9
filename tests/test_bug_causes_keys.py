"""A bug of ours whose text quotes a key (the vendor's answer echoing the request's key, looked up in a dict): the error
it becomes is raised from it (its traceback kept for the report the message asks for), and its message was redacted,
but the bug's own text, printed in every traceback of the error (an application's logger with ``exc_info``, which no
filter of magsag's redacts), and its ``args``, gave the key away whole."""

from __future__ import annotations

import io
import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cascade import Cascade, RetryPolicy
from magsag_mcp.catalog import load_catalog
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers import HTTPProvider
from magsag_mcp.providers.openai import OpenAIEndpoint
from magsag_mcp.providers.openai_chat import ChatCompletionsFormat
from magsag_mcp.routing import plan_call
from magsag_mcp.service import Service
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMResult
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.test_our_bugs import CATALOG, Providers

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


class QuotingChat(ChatCompletionsFormat):
    """The Chat Completions format with a bug of ours in its parse step that quotes the answer's text: a KeyError."""

    def parse_response(self, data: Any, *, provider: str, model: str) -> LLMResult:
        result = super().parse_response(data, provider=provider, model=model)
        return {}[result.text]  # type: ignore[no-any-return]


def _printed(err: BaseException) -> str:
    """What an application's own logger (no filter of magsag's) writes of ``err`` with ``exc_info``, with the chain's
    every exception's args (as an error reporter reads them)."""
    logged = io.StringIO()
    app = logging.getLogger("an_application_of_its_own")
    handler = logging.StreamHandler(logged)
    app.addHandler(handler)
    try:
        app.error("the call failed", exc_info=err)
    finally:
        app.removeHandler(handler)
    said = logged.getvalue() + "".join(traceback.format_exception(err))
    link: BaseException | None = err
    while link is not None:
        said += repr(link.args)
        link = link.__cause__ or link.__context__ or getattr(link, "last_error", None)
    return said


async def test_a_bug_quoting_the_answers_key_leaves_it_out_of_the_errors_traceback(
    fake_openai: FakeOpenAI, transport: Transport
):
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply(f"the gateway saw the key {DEFAULT_KEY}", usage=R.tokens(100, 10)))
    providers = Providers(env, transport, HTTPProvider(QuotingChat(), OpenAIEndpoint(env), transport))
    cascade = Cascade(providers, Pricer.from_catalog(CATALOG), None, RetryPolicy(tries_per_target=1, deadline=60.0))
    payload = {"data": "x", "model_config": {"model": "openai:gpt-4o"}}
    plan = plan_call(load_catalog(CATALOG, env={}), "skill.analysis", payload, context=None, env=env)
    with pytest.raises(E.InternalError) as info:
        await cascade.run(plan, run_id="r", agent=None)
    err = info.value
    bug = err.__cause__ or err.last_error.__cause__  # type: ignore[attr-defined]
    assert isinstance(bug, KeyError) and bug.__traceback__ is not None  # the bug and its traceback, kept
    printed = _printed(err)
    assert DEFAULT_KEY not in printed and "the gateway saw the key [REDACTED]" in printed, printed


async def test_a_bug_outside_an_attempt_quoting_a_key_leaves_it_out_of_the_errors_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    key = "sk-proj-Wq8Lm3Nx7Rt2Vb9Kc4Hd6Gf1Js5Ay0Ez"

    def broken_result(*args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"cannot build the result: its answer holds {key}")

    monkeypatch.setattr(Service, "_result", broken_result)
    env = {"MAGSAG_PROVIDER": "fake", "OPENAI_API_KEY": key}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:fine"}}, run_id="r")
    err = info.value
    assert isinstance(err.__cause__, ValueError) and err.__cause__.__traceback__ is not None
    printed = _printed(err)
    assert key not in printed and "its answer holds [REDACTED]" in printed, printed


_KEY = "sk-proj-Wq8Lm3Nx7Rt2Vb9Kc4Hd6Gf1Js5Ay0Ez"


def _in_a_task_group(text: str) -> None:
    """A bug of ours raised in a task of a task group (anyio's, asyncio's): it reaches the service in an exception
    group holding it, raised once the task ended (the group's context is not the bug)."""

    def task() -> ValueError:
        try:
            raise ValueError(text)
        except ValueError as bug:
            return bug

    raise ExceptionGroup("unhandled errors in a TaskGroup", [task()])


async def _bug_error_of(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bug: Any) -> E.MagsagError:
    """The error of a call whose result's building raised ``bug`` (an exception, or a function raising)."""

    def broken_result(*args: Any, **kwargs: Any) -> Any:
        if callable(bug):
            bug()
        raise bug

    monkeypatch.setattr(Service, "_result", broken_result)
    env = {"MAGSAG_PROVIDER": "fake", "OPENAI_API_KEY": _KEY}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:fine"}}, run_id="r")
    return info.value


async def test_a_bug_in_a_task_group_quoting_a_key_leaves_it_out_of_the_errors_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # the exception group's traceback prints every exception it holds: only the group's own args were redacted
    err = await _bug_error_of(monkeypatch, tmp_path, lambda: _in_a_task_group(f"its answer holds {_KEY}"))
    group = err.__cause__
    assert isinstance(group, BaseExceptionGroup) and isinstance(group.exceptions[0], ValueError), repr(group)
    assert group.__context__ is None and group.exceptions[0].__traceback__ is not None
    printed = _printed(err)
    assert _KEY not in printed and "its answer holds [REDACTED]" in printed, printed


async def test_a_bug_quoting_a_key_in_an_argument_that_is_no_text_leaves_it_out_of_the_errors_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # a dict looked up with a tuple (or bytes) holding the answer's text: its repr is what a traceback prints
    err = await _bug_error_of(monkeypatch, tmp_path, KeyError(("answer", f"the gateway saw {_KEY}".encode())))
    assert isinstance(err.__cause__, KeyError) and err.__cause__.__traceback__ is not None
    printed = _printed(err)
    assert _KEY not in printed and "the gateway saw [REDACTED]" in printed, printed


async def test_the_exception_the_caller_was_handling_as_it_called_is_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # the bug's __context__ is the caller's own exception, which it still holds: not ours to rewrite
    own = "sk-ant-api03-Cq7Xv2Lp9Wm4Tn8Rb3Kf6Hd1Gs5Jz0Ya"
    mine = RuntimeError(f"my own note of {own}", {"key": own})
    try:
        raise mine
    except RuntimeError:
        err = await _bug_error_of(monkeypatch, tmp_path, ValueError(f"its answer holds {_KEY}"))
    assert err.__cause__.__context__ is mine  # type: ignore[union-attr]
    assert mine.args == (f"my own note of {own}", {"key": own})
    assert _KEY not in repr(err.__cause__.args)  # type: ignore[union-attr]
