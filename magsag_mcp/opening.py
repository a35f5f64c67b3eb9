"""What :meth:`~magsag_mcp.service.Service.open` returns: awaitable, and an async context manager."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar


class _Closable(Protocol):
    def aclose(self) -> Awaitable[None]: ...


T = TypeVar("T", bound=_Closable)


_AWAIT_IT = (
    "Service.open() opens the service asynchronously; in async code write `service = await Service.open(...)` "
    "or `async with Service.open(...) as service:`, and from sync code use Magsag()"
)


class Opening(Coroutine[Any, Any, T]):
    """Awaited (or run as the coroutine it is, by ``asyncio.run`` or ``create_task``): the open object.
    Used in ``async with``: the object, closed (``aclose``) when the block is left. Nothing is opened
    until one of them happens, so an opening never used leaves no never-awaited coroutine behind."""

    def __init__(self, opener: Callable[[], Coroutine[Any, Any, T]]) -> None:
        self._opener = opener
        self._opening: Coroutine[Any, Any, T] | None = None
        self._opened: T | None = None

    def _started(self) -> Coroutine[Any, Any, T]:
        if self._opening is None:
            self._opening = self._opener()
        return self._opening

    def __await__(self) -> Generator[Any, None, T]:
        return self._started().__await__()

    def send(self, value: Any) -> Any:
        return self._started().send(value)

    def throw(self, *exc: Any) -> Any:
        return self._started().throw(*exc)

    def close(self) -> None:
        if self._opening is not None:
            self._opening.close()

    if not TYPE_CHECKING:  # at run time only: a type checker already says `with` and a service's method do
        # not apply to an opening, and would take these for saying they do

        def __enter__(self) -> NoReturn:
            from .errors import ConfigError

            raise ConfigError(f"`with` cannot open it: {_AWAIT_IT}")

        def __exit__(self, *exc: object) -> None:  # never reached (__enter__ raises); `with` needs both
            return None

        def __getattr__(self, name: str) -> NoReturn:
            # only for a name the opening lacks: the service's (invoke_skill, summarize, ...), used unopened
            if name.startswith(("_", "cr_", "gi_", "ag_")):
                raise AttributeError(name)
            raise AttributeError(f"{name!r} is the opened object's, and it has not been opened: {_AWAIT_IT}")

    async def __aenter__(self) -> T:
        self._opened = await self._started()
        return self._opened

    async def __aexit__(self, *exc: object) -> None:
        if self._opened is not None:
            # as the object's own ``async with`` leaves: a Service's keeps the block's error (a paid answer the ledger
            # refused) with the close's in it, where a bare aclose() raised the close's error in its place
            leave = getattr(self._opened, "__aexit__", None)
            if leave is not None:
                await leave(*exc)
            else:
                await self._opened.aclose()
