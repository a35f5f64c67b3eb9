"""A command's start-up, lighter: what ``magsag-mcp`` does before the MCP SDK's import.

Importing the SDK is most of the server's start-up (``BENCHMARKS.md``: about 380 of 440 ms; the rounds named below
are in ``benchmarks/ROUNDS.md``), and most of that is work the server never needs or needs later:

- :func:`collector_paused`: the SDK builds a few thousand pydantic models (two protocol revisions'
  types and the server's), tens of thousands of container objects, none of them garbage, which the
  cyclic collector walks again and again while they are made (twelfth round: 450 -> 390 ms).
- :func:`models_built_on_first_use`: each of those models builds its validator and serializer when it
  is defined, although a server validates a few dozen of them (the requests and results of the methods
  its clients call) and most, such as the other protocol revision's, never. Deferred, each is built the
  first time it is used; so is each module-level ``TypeAdapter`` of the SDK's, of which a server uses one, and
  each model the SDK (or pydantic, parametrizing a generic) asks to rebuild ahead of use.
- :func:`package_init_deferred`: ``import mcp.server...`` runs ``mcp/__init__.py`` first, which imports
  the SDK's client side (sessions, session groups, the stdio client) to re-export it; a server uses
  none of it. The package's ``__init__`` runs when one of its own names is asked for, if ever. The
  same for ``httpx2``, the SDK's HTTP client, which its server imports for resources read over HTTP.
- :func:`annotations_compiled_once`: pydantic reads the annotations its models' modules write as text through
  ``typing.ForwardRef``, which compiled the same text again for every field it annotates (2,643 compiles at a
  start, 608 different texts); in the block each text is compiled once.
- :func:`imports_refused`: ``sse_starlette`` (imported by the SDK's HTTP transports) imports uvicorn,
  if it can, to hook its shutdown; over stdio no uvicorn runs, and the stdio command refuses it.

Sixteenth round, counted with callgrind (a start, ``initialize``, the exit; bytecode compiled): 2,858 ->
2,654 million instructions (-7.1%): uvicorn with what only it imports 3.2%, httpx2 3.0%, and the catalog's
import moved into the blocks (pydantic's import and our models made with the collector paused) 1.4%.

Fourteenth round: together 526 -> 462 ms of CPU from process start to the answer to ``tools/list``
(interleaved, 12 starts each). The commands use them; the library never does, since an application's
collector, its pydantic models and its imports are its own.
"""

from __future__ import annotations

import functools
import gc
import importlib.util
import inspect
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeAlias


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off; then freeze what it made and turn the collector back on.

    What start-up makes (modules, classes, schemas, the server) lives as long as the process, so it is
    frozen (``gc.freeze``: kept out of every later collection, which then walks only what serving made).
    Reference counting still frees what it can at once. The cycles that start-up leaves as garbage stay
    in the frozen generation for good: for ``magsag-mcp``, about 3,000 objects (under 1 MB) that a
    collection before freezing would free in 70 ms, most of what the pause saves. That trade is why the
    block holds start-up only. A collector already off (the caller's choice) is left off, nothing frozen.
    As it ends, the young generation's threshold is raised for serving (see ``SERVING_YOUNG_THRESHOLD``), where it
    is still the interpreter's default.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        young, *older = gc.get_threshold()
        if young == DEFAULT_YOUNG_THRESHOLD:  # (the interpreter's default; a threshold set before is kept)
            gc.set_threshold(SERVING_YOUNG_THRESHOLD, *older)
        gc.enable()


#: CPython's threshold of the young generation: a collection each time tracked objects made outnumber those freed by it
DEFAULT_YOUNG_THRESHOLD = 700
#: the young generation's threshold while a command serves (perf81). With 200 calls in flight every call's objects are
#: alive when a young collection comes, so each collection walks them, promotes them and a middle one walks them again:
#: the collector was 16-17% of a call's CPU at 200 callers (benchmarks/ROUNDS.md, round 53), and none sequentially. At
#: 7,000, 2,000 calls at 200 callers walk 40 objects a call in 6 young collections (no middle or full one), against
#: 257 in 128 young, 11 middle and 1 full at 700; cyclic garbage waits for ten times as many objects made (a few MB at
#: most). The library never sets it: an application's collector is its own
SERVING_YOUNG_THRESHOLD = 7000


@contextmanager
def models_built_on_first_use() -> Iterator[None]:
    """Define pydantic models in the block with ``defer_build``: each builds its validator when first used.
    The same for each ``TypeAdapter`` made in the block.

    pydantic has no process-wide default; a model takes its configuration from its bases when it is
    defined, so the block sets ``defer_build`` on ``BaseModel``'s own configuration and takes it off again
    after. Models defined in the block keep it (and pass it to their subclasses); that changes when their
    validators are built, not what they do. A model that sets ``defer_build`` itself keeps its own choice.

    A ``TypeAdapter`` reads ``defer_build`` from its ``config`` argument, or its type's own, when it is made:
    the SDK's module-level adapters (a union of every request, result or notification of a side, six of them;
    the prompts', the elicitation's, the OAuth token request's) gave none, so each built its validator as the SDK
    was imported, some 30 ms of a start (``server_result_adapter`` alone 12 ms), though a server validates only
    ``jsonrpc_message_adapter``'s and the others serve a client or an HTTP route. In the block, the adapter's
    answer to "deferred?" is yes (pydantic's own mocks then stand for its validator, serializer and core schema, and
    build them on first use, as for an adapter configured with ``defer_build``); after it, pydantic's as before.
    (pydantic's first use looks five frames up its stack for names to resolve, and raises ValueError from the top
    level of a ``python -c`` script, where there are fewer: never so in the server, whose uses run in its tasks.)

    Three of these lean on pydantic's internals (the adapter's private ``_defer_build`` property, ``model_rebuild``'s
    private ``_parent_namespace_depth``, which arguments its stand-in validator asks to be built with), which a
    pydantic newer than this code may lack or change. So each is checked once as the block starts (what it replaces
    is there, of the shape it expects) and then tried on a model or adapter of one field: one that is absent,
    different or fails its trial is not used, and the block goes on without it, models and adapters built as without
    the block (slower, never wrong). The trials cost about 1 ms once pydantic has built a schema; as the first
    schemas a start builds they also load pydantic's schema machinery (50-100 ms here), which the first ``initialize``
    loaded before: the CPU from start to its answer is the same (medians 355 and 358 ms, 7 interleaved starts each).
    """
    from pydantic import BaseModel, TypeAdapter

    with ExitStack() as undo:
        if undo.enter_context(_models_deferred(BaseModel)):
            undo.enter_context(_rebuilds_left_to_first_use(BaseModel))
        undo.enter_context(_adapters_deferred(TypeAdapter))
        yield


@contextmanager
def _models_deferred(base: Any) -> Iterator[bool]:
    """``defer_build`` on ``BaseModel``'s own configuration in the block; yields whether it is."""
    config = vars(base).get("model_config")
    if not isinstance(config, dict):  # (a configuration pydantic no longer keeps as a dict of its own)
        yield False
        return
    had, before = "defer_build" in config, config.get("defer_build")
    config["defer_build"] = True
    try:
        yield True
    finally:
        if had:
            config["defer_build"] = before
        else:
            config.pop("defer_build", None)


@contextmanager
def _adapters_deferred(adapter_class: Any) -> Iterator[bool]:
    """``TypeAdapter``'s private ``_defer_build`` property answering yes in the block; yields whether it does."""
    adapters_defer = vars(adapter_class).get("_defer_build")
    if not isinstance(adapters_defer, property):
        yield False
        return
    adapter_class._defer_build = property(lambda adapter: True)
    try:
        if not _tried(_an_adapter_waits_then_builds, adapter_class):
            adapter_class._defer_build = adapters_defer
            yield False
            return
        yield True
    finally:
        adapter_class._defer_build = adapters_defer


@contextmanager
def _rebuilds_left_to_first_use(base: Any) -> Iterator[bool]:
    """``BaseModel.model_rebuild`` as :func:`_left_to_first_use` in the block; yields whether it is."""
    rebuild = vars(base).get("model_rebuild")
    default_depth = _default_depth_of(rebuild.__func__) if isinstance(rebuild, classmethod) else None
    if default_depth is None:
        yield False
        return
    base.model_rebuild = classmethod(_left_to_first_use(rebuild.__func__, default_depth))
    try:
        if not _tried(_a_rebuild_waits_for_first_use, base) or not _tried(_an_eager_rebuild_reads_its_callers, base):
            base.model_rebuild = rebuild
            yield False
            return
        yield True
    finally:
        base.model_rebuild = rebuild


def _default_depth_of(rebuild: Any) -> int | None:
    """The frames pydantic's ``model_rebuild`` counts up by default for the names to resolve, if it takes what the
    wrapper passes it (``force``, ``raise_errors``, the private ``_parent_namespace_depth``); None if not."""
    try:
        parameters = inspect.signature(rebuild).parameters
    except (TypeError, ValueError):
        return None
    depth = parameters.get("_parent_namespace_depth")
    if not {"force", "raise_errors"} <= parameters.keys() or depth is None or type(depth.default) is not int:
        return None
    return depth.default


def _tried(trial: Any, subject: Any) -> bool:
    """Whether the trial of a trick passed: any error in it (of a pydantic that works otherwise) is a no."""
    try:
        return trial(subject) is True
    except Exception:
        return False


def _an_adapter_waits_then_builds(adapter_class: Any) -> bool:
    adapter = adapter_class(int)
    if getattr(adapter, "pydantic_complete", True) is not False:
        return False
    return adapter.validate_python("3") == 3 and adapter.pydantic_complete is True


def _a_rebuild_waits_for_first_use(base: Any) -> bool:
    class Trial(base):
        n: int

    if Trial.__pydantic_complete__ or Trial.model_rebuild() is not None or Trial.__pydantic_complete__:
        return False
    # the first use asks pydantic's stand-in validator to build, which must get through the wrapper
    return Trial.model_validate({"n": "1"}).n == 1 and Trial.__pydantic_complete__ is True


def _an_eager_rebuild_reads_its_callers(base: Any) -> bool:
    """Whether a rebuild through the wrapper still resolves names in its caller's frame (the frames it counts)."""

    class Trial(base, defer_build=False):  # type: ignore[call-arg]  # (pydantic's class keyword: base is a BaseModel)
        n: _TrialType

    _TrialType: TypeAlias = int  # a name of this frame alone, defined after the class: its rebuild must read it here
    Trial.model_rebuild()
    return Trial.__pydantic_complete__ is True and Trial(n="2").n == 2


@contextmanager
def annotations_compiled_once() -> Iterator[None]:
    """Run the block with each annotation written as text compiled once, however many fields it annotates.

    pydantic reads a model's field annotations written as text (a module with ``from __future__ import
    annotations``: the SDK's types, ours) through ``typing.ForwardRef``, which compiles the text for each field it is
    made for: ``magsag-mcp``'s start compiled 2,643 of them, 608 different (``str`` 338 times, ``str | None`` 219).
    In the block, ``typing``'s ``compile`` (the builtin, looked up in its module's names first) is a cache by the
    call's arguments: the same text gives the same code object, which is immutable and evaluated anew each time, so
    a ForwardRef made of it is the one it was. A text that fails to compile raises each time, as before. After the
    block, ``typing`` compiles as before.

    That ``ForwardRef`` compiles in its constructor, looking ``compile`` up in ``typing``'s names, is how Python 3.11
    to 3.13 write it, not a promise (3.14's ``ForwardRef`` is ``annotationlib``'s, which compiles elsewhere). So the
    block first checks that the constructor is ``typing``'s and names ``compile``, then that two ForwardRefs of one
    text share its code; if not, ``typing`` is left untouched and compiles as it does.
    """
    import typing

    if "compile" in vars(typing) or not _forward_refs_compile_in_typing(typing):  # someone else's hook: left alone
        yield
        return
    cached = functools.lru_cache(maxsize=None)(compile)
    typing.compile = cached  # type: ignore[attr-defined]
    try:
        if not _tried(_a_text_compiles_once, typing):
            del typing.compile  # type: ignore[attr-defined]
        else:
            cached.cache_clear()  # the trial's text is no annotation of the block's
        yield
    finally:
        if vars(typing).get("compile") is cached:
            del typing.compile  # type: ignore[attr-defined]


def _forward_refs_compile_in_typing(typing: Any) -> bool:
    forward_ref = getattr(typing, "ForwardRef", None)
    code = getattr(getattr(forward_ref, "__init__", None), "__code__", None)
    return getattr(forward_ref, "__module__", None) == "typing" and code is not None and "compile" in code.co_names


def _a_text_compiles_once(typing: Any) -> bool:
    first, again = typing.ForwardRef("int | None"), typing.ForwardRef("int | None")
    return first.__forward_code__ is again.__forward_code__


def _left_to_first_use(rebuild: Any, default_depth: int) -> Any:
    """``BaseModel.model_rebuild``, which leaves a model that waits for its first use (``defer_build``) waiting when
    it is asked to build ahead of use.

    Two callers asked so while the SDK was imported, each building a validator no ``initialize`` uses: the SDK's
    types, of four models whose fields name a type defined further down their module (``CallToolRequestParams``...),
    and pydantic itself, of a generic model the first time it is parametrized (``Request[...]``). Built on first
    use instead, each resolves those names in its own module, as those calls did (its module's names, or the ones
    where it was parametrized: the same module). The first use's own rebuild (pydantic's stand-in validator asks
    with ``raise_errors=False``) and any forced rebuild go through as before."""

    def model_rebuild(cls: Any, *, force: bool = False, raise_errors: bool = True, **kwargs: Any) -> Any:
        if raise_errors and not force and not cls.__pydantic_complete__ and cls.model_config.get("defer_build"):
            return None  # as for a model complete already: nothing was built
        # the names to resolve are taken from a frame counted up from pydantic's model_rebuild: one more, this one
        depth = kwargs.get("_parent_namespace_depth", default_depth)
        kwargs["_parent_namespace_depth"] = depth + 1 if depth > 0 else depth
        return rebuild(cls, force=force, raise_errors=raise_errors, **kwargs)

    return model_rebuild


#: held while a deferred package's ``__init__`` runs: another thread asking it for a name waits for the run to end
_RUNNING_INIT = threading.RLock()
#: the deferred packages whose ``__init__`` is running (a name asked of one by its own run is one it lacks yet)
_running: set[str] = set()


class _DeferredInit(types.ModuleType):
    """A package whose ``__init__`` has not run yet: asking it for a name it lacks runs it, once. A thread asking while
    another's run is under way waits for it to end (it was told the package had no such name: targets' first look at
    the provider registry from two threads at once raised AttributeError for ``hosts_other_models``)."""

    def __getattr__(self, name: str) -> Any:
        # Submodules are found through __path__ and bound on the package as they are imported, so
        # `import mcp.server` never gets here; `from mcp import Client` (a name the __init__ makes) does.
        # (a name that could be a submodule's alone: find_spec of "a.b" imports "a" to search it, and raised
        # ModuleNotFoundError out of a hasattr that a plain package answers False)
        submodule = name.isidentifier() and not name.startswith("__")
        if submodule and importlib.util.find_spec(f"{self.__name__}.{name}") is not None:
            # `from . import stream_end` in a module of the package, a submodule not imported yet: the import system
            # imports it when the package lacks the name. Running the __init__ here ran it from inside that module's
            # import, and the __init__ importing that module again failed, half made (providers.base, imported by
            # the service before the registry: "cannot import name 'Endpoint' from partially initialized module")
            raise AttributeError(name)
        spec = self.__spec__
        assert spec is not None and spec.loader is not None  # (package_init_deferred gave it both)
        with _RUNNING_INIT:
            if type(self) is _DeferredInit:  # (else another thread's run ended while this one waited)
                if self.__name__ in _running:  # its own run asks for a name not made yet, as of a half-run module
                    raise AttributeError(f"partially initialized module {self.__name__!r} has no attribute {name!r}")
                _running.add(self.__name__)
                try:
                    spec.loader.exec_module(self)
                finally:
                    _running.discard(self.__name__)
                    # a plain module again: no second run (no longer the class it is typed as: the point)
                    self.__class__ = types.ModuleType  # type: ignore[assignment]
        return getattr(self, name)


def package_init_deferred(name: str) -> None:
    """Make ``import name.sub`` work without running ``name/__init__.py`` until a name of its is asked for.

    Nothing is done if the package is imported already (its ``__init__`` has run) or is not a package.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None or spec.loader is None:
        return
    package = _DeferredInit(name)
    package.__spec__ = spec
    package.__loader__ = spec.loader
    package.__file__ = spec.origin
    package.__path__ = list(spec.submodule_search_locations)
    package.__package__ = name
    sys.modules[name] = package


@contextmanager
def imports_refused(*names: str) -> Iterator[None]:
    """Run the block with ``import name`` raising ImportError, as if the packages were not installed.

    For an optional import the SDK makes and a stdio server has no use for: ``sse_starlette`` imports
    ``uvicorn`` (if it can) to drain its event streams when uvicorn is told to stop; over stdio no uvicorn
    runs. Only a package not imported yet is refused, and after the block it imports as usual.
    """
    refused = [name for name in names if name not in sys.modules]
    for name in refused:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not importable"
    try:
        yield
    finally:
        for name in refused:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
