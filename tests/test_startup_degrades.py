"""The start-up's tricks on pydantic's and typing's internals (magsag_mcp/startup.py) against a pydantic or a Python
whose internals are absent or different: each is then left out, and the server starts and serves as without it.
And a library user importing magsag_mcp sees pydantic and typing as they were.

Each case runs in a fresh interpreter: the internals are changed there, before magsag_mcp is imported, as a newer
pydantic or Python would have them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: the state start-up must leave as it found it, and what it was while the SDK was imported
STATE = """
import gc, typing
import pydantic
from pydantic import BaseModel, TypeAdapter

def state():
    return {
        "defer_build": dict(BaseModel.model_config).get("defer_build"),
        "model_rebuild": id(vars(BaseModel)["model_rebuild"]),
        "adapter_defer": id(vars(TypeAdapter).get("_defer_build")),
        "typing_compile": "compile" in vars(typing),
    }
"""

#: a pydantic whose TypeAdapter answers "deferred?" with no property (a plain attribute, computed once)
ADAPTER_DEFER_NO_PROPERTY = """
import functools
from pydantic import TypeAdapter
TypeAdapter._defer_build = functools.cached_property(vars(TypeAdapter)["_defer_build"].fget)
TypeAdapter._defer_build.__set_name__(TypeAdapter, "_defer_build")
"""

#: a pydantic whose model_rebuild no longer takes the private _parent_namespace_depth by name
REBUILD_WITHOUT_DEPTH = """
from pydantic import BaseModel
pydantic_rebuild = vars(BaseModel)["model_rebuild"].__func__
def model_rebuild(cls, *, force=False, raise_errors=True, **options):
    depth = options.pop("_parent_namespace_depth", 2)
    return pydantic_rebuild(cls, force=force, raise_errors=raise_errors, _parent_namespace_depth=depth + 1, **options)
BaseModel.model_rebuild = classmethod(model_rebuild)
"""

#: a pydantic that keeps BaseModel's configuration as a read-only mapping
CONFIG_READ_ONLY = """
import types
from pydantic import BaseModel
BaseModel.model_config = types.MappingProxyType(dict(BaseModel.model_config))
"""

#: Python 3.14's ForwardRef (annotationlib's): its constructor compiles nothing, typing's names are not read
FORWARD_REF_COMPILES_NOTHING = """
import typing
constructor = typing.ForwardRef.__init__
def __init__(self, *args, **kwargs):
    constructor(self, *args, **kwargs)
typing.ForwardRef.__init__ = __init__
"""

#: a ForwardRef that names compile but compiles with the builtin itself: the trial finds its texts compiled anew
FORWARD_REF_COMPILES_ELSEWHERE = """
import builtins, typing
constructor = typing.ForwardRef.__init__
def __init__(self, arg, *args, **kwargs):
    constructor(self, arg, *args, **kwargs)
    self.__forward_code__ = builtins.compile(arg, "<string>", "eval")
typing.ForwardRef.__init__ = __init__
"""

SERVE = """
import json, sys
from magsag_mcp.mcp_server import server
before = state()
during = {}
real_build = server.build_server
def build_server(**kwargs):  # called in the start-up block, once the SDK's models are made
    during.update(state())
    return real_build(**kwargs)
server.build_server = build_server
from magsag_mcp.mcp_server import stdio
real_serve = stdio.serve_stdio
async def serve_stdio(*args, **kwargs):  # the start-up block has ended: what serving sees
    print(json.dumps({"before": before, "during": during, "serving": state()}), file=sys.stderr, flush=True)
    return await real_serve(*args, **kwargs)
stdio.serve_stdio = serve_stdio
from magsag_mcp.mcp_server.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def serve_and_talk(patch: str, tmp_path: Path) -> tuple[list[dict], dict]:
    """Start the stdio server with the internals changed by ``patch``; initialize, list the tools, call one with
    arguments the SDK's models validate and one the SDK refuses; return the answers and the states it recorded."""
    code = textwrap.dedent(patch) + STATE + SERVE
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAGSAG", "OPENAI", "ANTHROPIC"))}
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--db", str(tmp_path / "ledger.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "list_skills", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"arguments": {}}},  # no name: refused
    ]  # fmt: skip
    answers = []
    try:
        for request in requests:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            if "id" in request:
                line = process.stdout.readline()  # ends at the server's exit if it fails: no wait on a clock
                assert line, process.stderr.read()
                answers.append(json.loads(line))
        _, stderr = process.communicate(timeout=120)  # closes stdin: the server exits on its end
    finally:
        process.kill()
    states = [json.loads(line) for line in stderr.splitlines() if line.startswith('{"before"')]
    assert len(states) == 1, stderr
    return answers, states[0]


def assert_served(answers: list[dict]) -> None:
    initialize, tools, called, refused = answers
    assert "serverInfo" in initialize["result"], initialize
    assert "list_skills" in {tool["name"] for tool in tools["result"]["tools"]}
    assert called["result"]["isError"] is False, called
    assert refused["error"]["code"] == -32602, refused  # the SDK's models validated the params


@pytest.mark.parametrize(
    ("patch", "left_out"),
    [
        (ADAPTER_DEFER_NO_PROPERTY, {"adapter_defer"}),
        (REBUILD_WITHOUT_DEPTH, {"model_rebuild"}),
        (CONFIG_READ_ONLY, {"defer_build", "model_rebuild"}),  # the rebuild's deferral needs the models'
        (FORWARD_REF_COMPILES_NOTHING, {"typing_compile"}),
        (FORWARD_REF_COMPILES_ELSEWHERE, {"typing_compile"}),  # passes the check, fails the trial
    ],
    ids=[
        "adapter-defer-no-property",
        "rebuild-without-depth",
        "config-read-only",
        "forward-ref-314",
        "forward-ref-elsewhere",
    ],
)
def test_a_trick_whose_internal_is_absent_or_different_is_left_out_and_the_server_serves(patch, left_out, tmp_path):
    answers, states = serve_and_talk(patch, tmp_path)
    assert_served(answers)
    before, during = states["before"], states["during"]
    assert states["serving"] == before  # nothing of the block outlives it
    for name in ("defer_build", "model_rebuild", "adapter_defer", "typing_compile"):
        # a trick left out leaves its internal as it was while the SDK is imported; the others still change theirs
        assert (during[name] == before[name]) is (name in left_out), (name, before, during)


def test_with_every_internal_as_expected_each_trick_is_used_and_undone(tmp_path):
    answers, states = serve_and_talk("", tmp_path)
    assert_served(answers)
    before, during = states["before"], states["during"]
    assert states["serving"] == before
    assert during["defer_build"] is True and during["typing_compile"] is True
    assert during["model_rebuild"] != before["model_rebuild"] and during["adapter_defer"] != before["adapter_defer"]


def test_importing_every_module_of_the_library_leaves_pydantic_typing_and_the_collector_as_they_were():
    code = STATE + textwrap.dedent(
        """
        import importlib, json, pkgutil
        before = {**state(), "gc": [gc.isenabled(), gc.get_freeze_count()]}
        import magsag_mcp
        # (magsag_mcp.__main__ is `python -m magsag_mcp`: importing it runs the server; the server's module is imported)
        names = [info.name for info in pkgutil.walk_packages(magsag_mcp.__path__, "magsag_mcp.")]
        names.remove("magsag_mcp.__main__")
        for name in names:
            importlib.import_module(name)
        class Mine(BaseModel):
            n: int
        print(json.dumps({
            "modules": len(names), "before": before,
            "after": {**state(), "gc": [gc.isenabled(), gc.get_freeze_count()]},
            "mine_built": Mine.__pydantic_complete__, "adapter_built": TypeAdapter(list[int]).pydantic_complete,
        }))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["modules"] > 20
    assert seen["after"] == seen["before"]
    assert (seen["mine_built"], seen["adapter_built"]) == (True, True)


def test_a_rebuild_counting_its_frames_from_another_default_still_reads_its_callers_names():
    # a pydantic whose model_rebuild reaches the frame walk through one more frame of its own, counted in its default:
    # the wrapper adds its own frame to that default, not to pydantic 2.12-2.14's 2, or it reads its own frame's names
    code = STATE + textwrap.dedent(
        """
        import json
        pydantic_rebuild = vars(BaseModel)["model_rebuild"].__func__
        def model_rebuild(cls, *, force=False, raise_errors=True, _parent_namespace_depth=3, _types_namespace=None):
            return pydantic_rebuild(
                cls, force=force, raise_errors=raise_errors, _parent_namespace_depth=_parent_namespace_depth,
                _types_namespace=_types_namespace,
            )
        BaseModel.model_rebuild = classmethod(model_rebuild)
        from magsag_mcp.startup import models_built_on_first_use
        before = state()
        def in_a_function():
            class Eager(BaseModel, defer_build=False):
                x: "defined_after"
            defined_after = int  # a name of this frame alone, once the class is made: its rebuild reads it here
            Eager.model_rebuild()
            return Eager(x="5").x
        with models_built_on_first_use():
            during = state()
            eager = in_a_function()
        print(json.dumps({"eager": eager, "wrapped": during["model_rebuild"] != before["model_rebuild"]}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"eager": 5, "wrapped": True}
