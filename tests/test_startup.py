"""The commands' lighter start-up (magsag_mcp/startup.py): the cyclic collector paused, pydantic models
built on first use, the SDK package's ``__init__`` deferred.

Each check runs in a fresh interpreter: freezing, pydantic's configuration and sys.modules are
process-wide, and the test process's are its own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_collector_is_off_in_the_block_then_on_with_start_up_frozen():
    seen = run(
        """
        import gc, json
        from magsag_mcp.startup import collector_paused
        before = gc.get_freeze_count()
        with collector_paused():
            inside = gc.isenabled()
            made = [[i] for i in range(1000)]
        print(json.dumps({"inside": inside, "after": gc.isenabled(), "frozen": gc.get_freeze_count() - before}))
        """
    )
    assert seen["inside"] is False
    assert seen["after"] is True
    assert seen["frozen"] >= 1000  # what the block made is out of later collections


def test_an_error_in_the_block_still_turns_the_collector_back_on():
    seen = run(
        """
        import gc, json
        from magsag_mcp.startup import collector_paused
        try:
            with collector_paused():
                raise ValueError("a bad --catalog")
        except ValueError:
            pass
        print(json.dumps({"after": gc.isenabled()}))
        """
    )
    assert seen["after"] is True


def test_a_collector_the_caller_turned_off_stays_off_and_nothing_is_frozen():
    seen = run(
        """
        import gc, json
        from magsag_mcp.startup import collector_paused
        gc.disable()
        frozen_before = gc.get_freeze_count()  # (Python 3.12.1 starts with 375 objects frozen: not the block's)
        with collector_paused():
            pass
        print(json.dumps({"after": gc.isenabled(), "frozen": gc.get_freeze_count() - frozen_before}))
        """
    )
    assert seen == {"after": False, "frozen": 0}


def test_the_server_command_builds_with_the_collector_paused_and_serves_with_it_on():
    # build_server is replaced by one that records the collector's state at build time and what it is
    # when the command goes on to serve (serving itself is replaced: anyio.run returns at once).
    seen = run(
        """
        import gc, json, anyio
        import magsag_mcp.mcp_server.server as server
        states = {}
        real = server.build_server
        def build_server(**kw):
            states["building"] = gc.isenabled()
            return real(**kw)
        server.build_server = build_server
        anyio.run = lambda *a, **k: states.setdefault("serving", gc.isenabled())
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        print(json.dumps({**states, "code": code, "frozen": gc.get_freeze_count() > 0}))
        """
    )
    assert seen == {"building": False, "serving": True, "code": 0, "frozen": True}


def test_the_server_command_serves_with_the_young_generations_threshold_raised():
    # perf81: at 200 callers every young collection walked the calls in flight, 16-17% of a call's CPU at 700
    seen = run(
        """
        import gc, json, anyio
        states = {"before": gc.get_threshold()}
        anyio.run = lambda *a, **k: states.setdefault("serving", gc.get_threshold())
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        print(json.dumps({**states, "code": code}))
        """
    )
    assert seen == {"before": [700, 10, 10], "serving": [7000, 10, 10], "code": 0}


def test_a_threshold_set_before_the_block_is_kept_and_the_library_sets_none():
    seen = run(
        """
        import gc, json
        import magsag_mcp, magsag_mcp.service  # (an application's import: its collector is its own)
        library = gc.get_threshold()
        from magsag_mcp.startup import collector_paused
        gc.set_threshold(1500, 20, 5)
        with collector_paused():
            pass
        print(json.dumps({"library": library, "kept": gc.get_threshold()}))
        """
    )
    assert seen == {"library": [700, 10, 10], "kept": [1500, 20, 5]}


def test_models_defined_in_the_block_are_built_when_first_used_and_validate_the_same():
    seen = run(
        """
        import json
        from pydantic import BaseModel, ConfigDict, ValidationError
        from magsag_mcp.startup import models_built_on_first_use
        with models_built_on_first_use():
            class Inner(BaseModel):
                n: int
            class Outer(BaseModel):
                inner: Inner
                names: list[str] = []
            class Eager(BaseModel):  # its own choice is kept
                model_config = ConfigDict(defer_build=False)
                x: int
        class After(BaseModel):
            y: int
        deferred = [Outer.__pydantic_complete__, Eager.__pydantic_complete__, After.__pydantic_complete__]
        ok = Outer.model_validate({"inner": {"n": "3"}, "names": ["a"]}).model_dump()
        try:
            Outer.model_validate({"inner": {"n": "x"}})
            error = None
        except ValidationError as exc:
            error = exc.errors()[0]["loc"]
        print(json.dumps({
            "complete_before_use": deferred, "complete_after_use": Outer.__pydantic_complete__, "ok": ok,
            "error_at": error, "schema": sorted(Outer.model_json_schema()["properties"]),
            "base_config": "defer_build" in BaseModel.model_config,
        }))
        """
    )
    assert seen["complete_before_use"] == [False, True, True]  # only the block's own models wait
    assert seen["complete_after_use"] is True
    assert seen["ok"] == {"inner": {"n": 3}, "names": ["a"]}
    assert seen["error_at"] == ["inner", "n"]
    assert seen["schema"] == ["inner", "names"]
    assert seen["base_config"] is False  # BaseModel's configuration is as it was


def test_a_defer_build_setting_of_base_model_is_restored_as_it_was_even_after_an_error():
    seen = run(
        """
        import json
        from pydantic import BaseModel
        from magsag_mcp.startup import models_built_on_first_use
        BaseModel.model_config["defer_build"] = False
        try:
            with models_built_on_first_use():
                raise ValueError("a bad --catalog")
        except ValueError:
            pass
        print(json.dumps({"after": BaseModel.model_config.get("defer_build", "unset")}))
        """
    )
    assert seen["after"] is False


def test_the_sdk_is_imported_without_its_client_side_until_a_name_of_the_package_is_asked_for():
    seen = run(
        """
        import json, sys
        from magsag_mcp.startup import package_init_deferred
        package_init_deferred("mcp")
        from mcp.server.mcpserver import MCPServer
        import mcp.types as types
        client_side = sorted(m for m in sys.modules if m.startswith("mcp.client"))
        from mcp import ClientSession, stdio_client  # names the package's __init__ makes: it runs now
        import mcp
        print(json.dumps({
            "client_side_before": client_side, "tool_type": types.Tool.__name__,
            "client": ClientSession.__module__, "after": "mcp.client.session" in sys.modules,
            "plain_module_again": type(mcp).__name__, "all": "Client" in mcp.__all__,
        }))
        """
    )
    assert seen["client_side_before"] == []
    assert seen["tool_type"] == "Tool"
    assert seen["client"] == "mcp.client.session"
    assert seen["after"] is True
    assert seen["plain_module_again"] == "module"
    assert seen["all"] is True


def test_a_package_imported_already_or_missing_is_left_as_it_is():
    seen = run(
        """
        import json, sys
        import mcp
        from magsag_mcp.startup import package_init_deferred
        before = sys.modules["mcp"]
        package_init_deferred("mcp")
        package_init_deferred("no_such_package_here")
        package_init_deferred("json")  # a package whose __init__ has run: it is in sys.modules
        print(json.dumps({"same": sys.modules["mcp"] is before, "missing": "no_such_package_here" in sys.modules}))
        """
    )
    assert seen == {"same": True, "missing": False}


def test_the_server_command_leaves_the_sdks_client_side_and_unused_models_unbuilt():
    seen = run(
        """
        import json, sys, anyio
        anyio.run = lambda *a, **k: None  # serving replaced: what start-up made is what is looked at
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        import mcp_types
        from pydantic import BaseModel
        print(json.dumps({
            "code": code,
            "client_side": sorted(m for m in sys.modules if m.startswith("mcp.client")),
            "sampling_request_built": mcp_types.CreateMessageRequest.__pydantic_complete__,
            "base_config": "defer_build" in BaseModel.model_config,
        }))
        """
    )
    assert seen == {"code": 0, "client_side": [], "sampling_request_built": False, "base_config": False}


def test_an_import_refused_in_the_block_is_an_import_error_there_and_works_after():
    seen = run(
        """
        import json, sys
        from magsag_mcp.startup import imports_refused
        import email  # imported before the block: left as it is
        with imports_refused("uvicorn", "email"):
            try:
                import uvicorn
                inside = "imported"
            except ImportError:
                inside = "refused"
            import email.utils
        import uvicorn
        print(json.dumps({"inside": inside, "after": uvicorn.__name__, "email": email.utils.__name__}))
        """
    )
    assert seen == {"inside": "refused", "after": "uvicorn", "email": "email.utils"}


def test_the_stdio_command_imports_neither_uvicorn_nor_the_sdks_http_client_and_http_keeps_both():
    # Over stdio, sse_starlette's optional hook into uvicorn's shutdown (~5% of start-up's instructions with
    # what uvicorn imports) and the SDK's HTTP client for resources read over HTTP (~5%) serve nothing. Over
    # http uvicorn serves, and the hook that drains event streams when it stops is installed as before.
    code = """
        import json, sys, anyio
        anyio.run = lambda *a, **k: None
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:", "--transport", TRANSPORT, "--port", "1"])
        from sse_starlette.sse import AppStatus
        httpx2_deferred = type(sys.modules["httpx2"]).__name__ == "_DeferredInit"
        import httpx2
        print(json.dumps({
            "code": code, "uvicorn": "uvicorn" in sys.modules, "hooked": AppStatus.original_handler is not None,
            "httpx2_deferred": httpx2_deferred, "httpx2_works": httpx2.AsyncClient.__name__,
        }))
        """
    stdio = run(code.replace("TRANSPORT", '"stdio"').replace(', "--port", "1"', ""))
    assert stdio == {
        "code": 0, "uvicorn": False, "hooked": False, "httpx2_deferred": True, "httpx2_works": "AsyncClient"
    }
    http = run(code.replace("TRANSPORT", '"http"').replace('"1"', '"0"'))  # a port the system chooses: none taken
    assert (http["code"], http["uvicorn"], http["hooked"]) == (0, True, True)


def test_the_server_command_starts_without_the_providers_or_aiohttp_and_both_load_when_asked_for():
    # aiohttp's import (some 120 ms of a 630 ms start on a 2-CPU VM) came through the catalog's skills reading
    # providers.at_rest, which ran the providers' registry and its transport; no `initialize` needs them. The first
    # call opens the service, which asks the package for its names: the registry and aiohttp load then.
    seen = run(
        """
        import json, sys, anyio
        anyio.run = lambda *a, **k: None  # serving replaced: what start-up made is what is looked at
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        started = {
            "aiohttp": "aiohttp" in sys.modules,
            "providers": type(sys.modules["magsag_mcp.providers"]).__name__,
            "at_rest": "magsag_mcp.providers.at_rest" in sys.modules,
        }
        # a module of the package (at_rest, which the catalog's skills read: the start no longer reads the catalog,
        # perf48) imports without the registry
        import magsag_mcp.providers.at_rest
        at_rest_alone = {
            "aiohttp": "aiohttp" in sys.modules, "providers": type(sys.modules["magsag_mcp.providers"]).__name__,
        }
        from magsag_mcp.providers import ProviderSet, provider_names
        print(json.dumps({
            "code": code, "started": started, "at_rest_alone": at_rest_alone, "registry": ProviderSet.__name__,
            "openai": "openai" in provider_names(), "aiohttp_after": "aiohttp" in sys.modules,
        }))
        """
    )
    assert seen == {
        "code": 0,
        "started": {"aiohttp": False, "providers": "_DeferredInit", "at_rest": False},
        "at_rest_alone": {"aiohttp": False, "providers": "_DeferredInit"},
        "registry": "ProviderSet",
        "openai": True,
        "aiohttp_after": True,
    }


def test_type_adapters_made_in_the_block_build_when_first_used_and_validate_the_same():
    seen = run(
        """
        import json
        from typing import Annotated, Literal, Union
        from pydantic import BaseModel, Field, TypeAdapter, ValidationError
        from magsag_mcp.startup import models_built_on_first_use
        with models_built_on_first_use():
            class Ping(BaseModel):
                kind: Literal["ping"]
            class Call(BaseModel):
                kind: Literal["call"]
                n: int
            Either = Annotated[Union[Ping, Call], Field(discriminator="kind")]
            inside = TypeAdapter(Either)
        after = TypeAdapter(list[int])
        complete_before_use = [inside.pydantic_complete, after.pydantic_complete]
        def first_use():  # (from a function, as every use in the server is: see models_built_on_first_use)
            return inside.validate_json('{"kind": "call", "n": "3"}').model_dump()
        ok = first_use()
        try:
            inside.validate_python({"kind": "nope"})
            error = None
        except ValidationError as exc:
            error = exc.errors()[0]["type"]
        print(json.dumps({
            "complete_before_use": complete_before_use, "complete_after_use": inside.pydantic_complete, "ok": ok,
            "error": error, "dumped": inside.dump_python(Ping(kind="ping")), "schema": sorted(inside.json_schema()),
        }))
        """
    )
    assert seen["complete_before_use"] == [False, True]  # only the block's adapters wait
    assert seen["complete_after_use"] is True
    assert seen["ok"] == {"kind": "call", "n": 3}
    assert seen["error"] == "union_tag_invalid"
    assert seen["dumped"] == {"kind": "ping"}
    assert "oneOf" in seen["schema"] or "anyOf" in seen["schema"]


def test_the_server_command_leaves_the_sdks_unused_type_adapters_unbuilt_and_each_builds_when_used():
    # The SDK's module-level adapters (every request/result/notification of a side, the prompts', the elicitation's,
    # the OAuth token request's) built their validators at import, some 30 ms of a start; a server uses none of them
    # but the JSON-RPC message's, and that one builds on its first message. Each still builds, and validates, when used.
    seen = run(
        """
        import json, sys, anyio
        import pydantic
        made = []
        real_init = pydantic.TypeAdapter.__init__
        def recording_init(self, *args, **kwargs):
            real_init(self, *args, **kwargs)
            made.append(self)
        pydantic.TypeAdapter.__init__ = recording_init
        anyio.run = lambda *a, **k: None  # serving replaced: what start-up made is what is looked at
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        pydantic.TypeAdapter.__init__ = real_init
        import mcp_types
        # (start-up's own trial of the deferral, TypeAdapter(int), is built by design: it is no adapter of the SDK's)
        made = [adapter for adapter in made if repr(adapter) != "TypeAdapter(int)"]
        built_at_start = [repr(adapter) for adapter in made if adapter.pydantic_complete]
        unbuilt = len(made) - len(built_at_start)
        def first_uses():  # (from a function, as every use in the server is: see models_built_on_first_use)
            for adapter in made:
                adapter.validator.validate_python  # the first use: builds it
            message = mcp_types.jsonrpc_message_adapter.validate_json('{"jsonrpc": "2.0", "id": 1, "method": "ping"}')
            return message, mcp_types.server_result_adapter.validate_python({})
        message, result = first_uses()
        print(json.dumps({
            "code": code, "built_at_start": built_at_start, "unbuilt": unbuilt,
            "all_built_after_use": all(adapter.pydantic_complete for adapter in made),
            "message": type(message).__name__, "result": type(result).__name__,
            "adapters_defer_again": pydantic.TypeAdapter(list[int]).pydantic_complete,
        }))
        """
    )
    assert seen["code"] == 0
    assert seen["built_at_start"] == []
    assert seen["unbuilt"] >= 9  # the six of mcp_types, the JSON-RPC message's, the prompts', the elicitation's...
    assert seen["all_built_after_use"] is True
    assert (seen["message"], seen["result"]) == ("JSONRPCRequest", "EmptyResult")
    assert seen["adapters_defer_again"] is True  # after start-up, an adapter builds when made, as pydantic's do


def test_annotations_written_as_text_are_compiled_once_in_the_block_and_mean_the_same():
    seen = run(
        """
        import json, typing
        from typing import ForwardRef
        from magsag_mcp.startup import annotations_compiled_once
        with annotations_compiled_once():
            first, again = ForwardRef("dict[str, int] | None"), ForwardRef("dict[str, int] | None")
            errors = []
            for _ in range(2):  # a text that is no expression is refused each time, not once
                try:
                    ForwardRef("not an expression")
                except SyntaxError as exc:
                    errors.append(type(exc).__name__)
            hits = typing.compile.cache_info().hits
        after = ForwardRef("dict[str, int] | None")
        print(json.dumps({
            "shared": first.__forward_code__ is again.__forward_code__, "hits": hits, "errors": errors,
            "evaluated": repr(typing.get_type_hints(type("M", (), {"__annotations__": {"x": again}}))["x"]),
            "equal": first == again == after, "typing_after": "compile" in vars(typing),
            "after_shared": after.__forward_code__ is first.__forward_code__,
        }))
        """
    )
    assert seen["shared"] is True and seen["hits"] == 1
    assert seen["errors"] == ["SyntaxError", "SyntaxError"]
    assert seen["evaluated"] == "dict[str, int] | None"
    assert seen["equal"] is True
    assert seen["typing_after"] is False  # typing compiles as before once the block ends
    assert seen["after_shared"] is False


def test_the_server_command_compiles_each_annotation_text_once_while_it_starts():
    seen = run(
        """
        import json, typing, anyio
        import magsag_mcp.mcp_server.__main__ as command
        import magsag_mcp.mcp_server.server_settings as start
        states = {}
        real = start.refused_as_it_opens
        # asked in the block once the SDK and the server's module are imported (the server no longer imports the
        # catalog's models at its start, perf48: what the block makes is the SDK's and the server's)
        def refused_as_it_opens(args, env):
            info = typing.compile.cache_info()
            states["while_building"] = {"hits_over_misses": info.hits > info.misses}
            return real(args, env)
        start.refused_as_it_opens = refused_as_it_opens  # (asked by start_checks, in the block)
        anyio.run = lambda *a, **k: None
        code = command.main(["--db", ":memory:"])
        print(json.dumps({**states, "code": code, "typing_after": "compile" in vars(typing)}))
        """
    )
    # 2,643 texts compiled at a start before, 608 different: most are found in the cache
    assert seen == {"while_building": {"hits_over_misses": True}, "code": 0, "typing_after": False}


def test_the_server_command_starts_without_pyyaml_and_the_catalog_reads_as_strictly_after():
    # no `initialize` reads a YAML file: PyYAML (some 10 ms of a start) is imported by the first read, whose loader
    # still refuses a key written twice and YAML 1.1's octal
    seen = run(
        """
        import json, sys, tempfile, pathlib, anyio
        anyio.run = lambda *a, **k: None
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        started_with_yaml = "yaml" in sys.modules
        from magsag_mcp.catalog_yaml import read_yaml
        folder = pathlib.Path(tempfile.mkdtemp())
        problems = []
        (folder / "twice.yaml").write_text("limit: 1\\nlimit: 2\\n")
        (folder / "octal.yaml").write_text("limit: 0500\\n")
        (folder / "fine.yaml").write_text("limit: 1_000\\nname: ${WHO:-ops}\\n")
        read = [read_yaml(folder / name, {}, problems) for name in ("twice.yaml", "octal.yaml", "fine.yaml")]
        print(json.dumps({
            "code": code, "started_with_yaml": started_with_yaml, "read": read,
            "problems": [problem.split(": ", 1)[1] for problem in problems],
        }))
        """
    )
    assert (seen["code"], seen["started_with_yaml"]) == (0, False)
    assert seen["read"] == [None, None, {"limit": 1000, "name": "ops"}]
    assert "key 'limit' appears twice in one mapping" in seen["problems"][0]
    assert "0500 is not a plain decimal number: YAML reads it as 320" in seen["problems"][1]


def test_a_rebuild_asked_ahead_of_use_in_the_block_waits_for_the_first_use_and_resolves_the_same_names():
    seen = run(
        """
        import json
        from typing import Generic, TypeVar
        from pydantic import BaseModel, ConfigDict
        from magsag_mcp.startup import models_built_on_first_use
        T = TypeVar("T")
        with models_built_on_first_use():
            class Params(BaseModel):
                later: "Later | None" = None  # a type defined further down, as the SDK's types have
            Params.model_rebuild()  # the SDK's call: built ahead of use before
            class Later(BaseModel):
                n: int
            class Box(BaseModel, Generic[T]):
                item: T
            IntBox = Box[int]  # pydantic rebuilds the generic origin here
            waited = [Params.__pydantic_complete__, Box.__pydantic_complete__]
            def in_a_function():
                class Eager(BaseModel):
                    model_config = ConfigDict(defer_build=False)
                    x: "defined_after"
                defined_after = int  # a name of this frame alone, once the class is made: its rebuild reads it here
                Eager.model_rebuild()
                return Eager.__pydantic_complete__, Eager(x="5").x
            eager = in_a_function()
        def first_use():
            return Params.model_validate({"later": {"n": "2"}}).later.n, IntBox(item="7").item
        used = first_use()
        print(json.dumps({
            "waited": waited, "used": used, "eager": eager,
            "complete_after_use": [Params.__pydantic_complete__, IntBox.__pydantic_complete__],
            "restored": BaseModel.model_rebuild.__func__.__module__,
        }))
        """
    )
    assert seen["waited"] == [False, False]
    assert seen["used"] == [2, 7]
    assert seen["eager"] == [True, 5]
    assert seen["complete_after_use"] == [True, True]
    assert seen["restored"] == "pydantic.main"


def test_the_server_command_leaves_the_sdks_models_it_rebuilt_at_import_unbuilt():
    seen = run(
        """
        import json, anyio
        anyio.run = lambda *a, **k: None
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        import mcp_types
        names = ["CallToolRequestParams", "GetPromptRequestParams", "ReadResourceRequestParams", "Request"]
        before = {name: getattr(mcp_types, name).__pydantic_complete__ for name in names}
        def first_use():  # a tools/call's params, as a client sends them
            return mcp_types.CallToolRequestParams.model_validate({"name": "list_skills", "arguments": {}}).name
        print(json.dumps({"code": code, "before": before, "used": first_use()}))
        """
    )
    assert seen == {
        "code": 0,
        "before": {
            "CallToolRequestParams": False, "GetPromptRequestParams": False, "ReadResourceRequestParams": False,
            "Request": False,
        },
        "used": "list_skills",
    }


def test_the_server_command_starts_without_the_price_files_reader_or_the_ledgers_result_dicts():
    # perf48: the catalog imported catalog_edits, which imported the price file's reader (its pydantic models) and
    # the rates (genai-prices' lookups) at the top, for a fix that names a price file; and the tools imported the
    # ledger's result dicts for annotations alone: some 19 million instructions of a start (0.9%) that no
    # `initialize` runs. A fix still names the catalog's price file, and the dicts import as before.
    seen = run(
        """
        import json, sys, tempfile, pathlib, anyio
        anyio.run = lambda *a, **k: None
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        started = {name: f"magsag_mcp.{name}" in sys.modules for name in ("price_files", "rates", "usage_dicts")}
        from magsag_mcp.catalog_edits import prices_file_named
        folder = pathlib.Path(tempfile.mkdtemp())
        (folder / "prices.yml").write_text("prices: []\\n")
        named = prices_file_named(folder)
        from magsag_mcp.usage_dicts import RunsPageDict
        print(json.dumps({
            "code": code, "started": started, "named": named == str((folder / "prices.yml").absolute()),
            "dict": RunsPageDict.__name__,
        }))
        """
    )
    assert seen == {
        "code": 0,
        "started": {"price_files": False, "rates": False, "usage_dicts": False},
        "named": True,
        "dict": "RunsPageDict",
    }


def test_the_server_command_finds_the_catalog_without_importing_its_readers_and_refuses_a_missing_one_still():
    # perf48: the start imported the catalog module (its readers, the skills', routing's and targets' models, some
    # 38 million instructions of a start, 1.8%) to ask where the catalog is; it asks catalog_location, and the first
    # call reads the catalog. A catalog that is not there is still refused before serving.
    seen = run(
        """
        import contextlib, io, json, os, sys, anyio
        anyio.run = lambda *a, **k: None
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", ":memory:"])
        started_with_catalog = "magsag_mcp.catalog" in sys.modules
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            refused = main(["--db", ":memory:", "--catalog", "/nonexistent/perf48-catalog"])
        import magsag_mcp.catalog, magsag_mcp.catalog_location
        print(json.dumps({
            "code": code, "started_with_catalog": started_with_catalog, "refused": refused,
            "said": "/nonexistent/perf48-catalog" in err.getvalue() and "not a directory" in err.getvalue(),
            "same": magsag_mcp.catalog.find_catalog is magsag_mcp.catalog_location.find_catalog,
        }))
        """
    )
    assert seen == {"code": 0, "started_with_catalog": False, "refused": 2, "said": True, "same": True}


def test_the_stdio_start_checks_its_ledger_and_variables_without_importing_the_ledger_or_sqlite(tmp_path):
    # the start's checks (a ledger no call can write, misspelt MAGSAG_* variables) are os's and the settings' alone:
    # a start whose ledger can be written opens no SQLite before the first call, misspelt variable or not
    code = f"""
        import json, os, sys, anyio
        anyio.run = lambda *a, **k: None
        os.environ["MAGSAG_DB_PATH"] = "misspelt"
        from magsag_mcp.mcp_server.__main__ import main
        code = main(["--db", {str(tmp_path / "new" / "ledger.db")!r}, "--transport", "stdio"])
        print(json.dumps({{
            "code": code,
            "loaded": sorted(
                m for m in sys.modules if m in ("sqlite3", "aiosqlite") or m.startswith("magsag_mcp.ledger")
            ),
        }}))
        """
    assert run(code) == {"code": 0, "loaded": []}


def test_the_server_is_built_without_its_tools_models_and_lists_the_same_tools_when_first_asked():
    # start78: the tools (their argument and result models, some sixty pydantic classes, and the stored schemas) were
    # made as the server was built, which `initialize` needs none of; they are made on the first request that asks
    # for a tool. What tools/list then answers is what the tools made eagerly say, schemas and the pinned agent
    # included, and a tool named by the first request of all (tools/call) is found as before.
    seen = run(
        """
        import json, sys, anyio
        from magsag_mcp.mcp_server.server import build_server, server_state
        names = ("tools", "models", "ledger_models", "summary_models", "call_models", "budget_results", "tool_making")
        server, pinned = build_server(db=":memory:"), build_server(db=":memory:", agent="ops")
        started = sorted(n for n in names if f"magsag_mcp.mcp_server.{n}" in sys.modules)
        from magsag_mcp.mcp_server.tools import MagsagTools

        def listed(s):
            return [t.model_dump(mode="json", by_alias=True) for t in anyio.run(s.list_tools)]

        def eager(s):
            made = MagsagTools(server_state(s)).tools()
            return [
                {"name": t.name, "description": t.description, "input": t.parameters, "output": t.output_schema}
                for t in made
            ]

        def shown(listed_tools):
            return [
                {"name": t["name"], "description": t["description"], "input": t["inputSchema"],
                 "output": t["outputSchema"]}
                for t in listed_tools
            ]

        third = build_server(db=":memory:")
        print(json.dumps({
            "started": started,
            "same": shown(listed(server)) == eager(server),
            "pinned_same": shown(listed(pinned)) == eager(pinned),
            "pinned_differs": listed(pinned) != listed(server),
            "count": len(listed(server)),
            "first_request_finds": third._tool_manager.get_tool("invoke_skill") is not None,
        }))
        """
    )
    assert seen == {
        "started": [],
        "same": True,
        "pinned_same": True,
        "pinned_differs": True,
        "count": 9,
        "first_request_finds": True,
    }


def test_a_module_of_a_deferred_package_importing_a_sibling_imports_without_the_packages_init():
    # the service imports providers.base (caller_progress) before the registry: base's `from . import stream_end`
    # asked the deferred package for the name, which ran its __init__ from inside base's import, and the __init__'s
    # `from .base import Endpoint` met base half made (an ImportError at the first call). The sibling is imported as
    # a submodule; the __init__ runs when a name of its is asked for, and finds base whole.
    seen = run(
        """
        import json, sys
        from magsag_mcp.startup import package_init_deferred
        package_init_deferred("magsag_mcp.providers")
        import magsag_mcp.providers.base
        deferred = type(sys.modules["magsag_mcp.providers"]).__name__
        from magsag_mcp.providers import Endpoint, provider_names
        print(json.dumps({
            "deferred": deferred, "sibling": "magsag_mcp.providers.stream_end" in sys.modules,
            "same": Endpoint is sys.modules["magsag_mcp.providers.base"].Endpoint,
            "openai": "openai" in provider_names(),
        }))
        """
    )
    assert seen == {"deferred": "_DeferredInit", "sibling": True, "same": True, "openai": True}


def test_the_stdio_server_reads_batches_without_importing_the_http_servers_gate():
    # perf85: stdio imported batches (a batch line's answer), which imported the HTTP server's refusals at its top,
    # and with them the bearer gate, the client token files and their reloading, and the catalog's YAML reader: some
    # 15 million instructions of a stdio start (0.8%) that only HTTP's batch refusal runs. Over HTTP it still
    # answers a batch (test_mcp_batches.py's HTTP tests) and the stdio answer is the same.
    seen = run(
        """
        import json, sys
        from magsag_mcp.mcp_server import stdio
        from magsag_mcp.mcp_server.batches import batch_errors
        gate = ("refusals", "bearer", "client_tokens", "token_reload", "secret_files")
        started = sorted(name for name in gate if f"magsag_mcp.mcp_server.{name}" in sys.modules)
        yaml_reader = "magsag_mcp.catalog_yaml" in sys.modules
        answers = batch_errors([{"jsonrpc": "2.0", "id": 7, "method": "tools/list"}])
        from magsag_mcp.mcp_server.batches import BatchRefusal
        from magsag_mcp.mcp_server.refusals import send_refusal
        print(json.dumps({
            "started": started, "yaml_reader": yaml_reader,
            "answered": [a.id for a in answers], "http": BatchRefusal.__name__, "refusal": send_refusal.__name__,
        }))
        """
    )
    assert seen == {
        "started": [],
        "yaml_reader": False,
        "answered": [7],
        "http": "BatchRefusal",
        "refusal": "send_refusal",
    }


def test_a_deferred_package_asked_for_a_dotted_name_answers_as_a_plain_package_does():
    # getattr(package, "a.b") on the deferred package looked "magsag_mcp.providers.a.b" up as a submodule, which
    # imports "magsag_mcp.providers.a" to search it: ModuleNotFoundError out of hasattr, where a plain package (and the
    # deferred one before submodules were looked up) says False
    seen = run(
        """
        import json, sys
        from magsag_mcp.startup import package_init_deferred
        package_init_deferred("magsag_mcp.providers")
        package = sys.modules["magsag_mcp.providers"]
        answers = []
        for name in ("a.b", "base.Endpoint"):
            try:
                answers.append(hasattr(package, name))
            except Exception as exc:
                answers.append(type(exc).__name__)
        print(json.dumps(answers))
        """
    )
    assert seen == [False, False]
