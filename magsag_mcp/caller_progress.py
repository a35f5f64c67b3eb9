"""The caller's progress callback, as the cascade runs it: in a Decimal context of its own, and with what
it raises kept apart from a provider's failures."""

from __future__ import annotations

from decimal import localcontext
from inspect import isawaitable
from typing import Any

from .providers.base import ProgressCallback

__all__ = ["CallbackFailed", "emit", "guarded", "raised_by_caller"]

#: the attribute that marks an exception as the caller's callback's (see :func:`raised_by_caller`)
_CALLERS = "magsag_raised_by_caller"


class CallbackFailed(Exception):
    """The caller's progress callback raised while a provider was streaming: carried past the
    provider's own error handling, so that it is never taken for a provider's failure (which would
    move on to the next target and pay again) and reaches the caller as the callback raised it."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def guarded(progress: ProgressCallback | None) -> ProgressCallback | None:
    """``progress`` for a provider to call: what it raises comes out as :class:`CallbackFailed`."""
    if progress is None:
        return None

    async def call(event: str, data: dict[str, Any]) -> None:
        try:
            await emit(progress, event, data)
        except Exception as exc:
            raise CallbackFailed(exc) from exc

    return call


async def emit(progress: ProgressCallback | None, event: str, data: dict[str, Any]) -> None:
    if progress is None:
        return
    # The caller's code, run mid-call in a Decimal context of its own: one that sets the precision for its own
    # figures (getcontext().prec = 6) set it for the rest of the call, whose cost was then rounded.
    try:
        with localcontext():
            maybe = progress(event, data)
            # an async callback's coroutine is awaited; what a sync one returns (a file's write gives the count it
            # wrote) is its own, not an awaitable to fail the call with a TypeError
            if maybe is not None and isawaitable(maybe):
                await maybe
    except Exception as exc:
        try:
            setattr(exc, _CALLERS, True)
        except AttributeError:  # (an exception that takes no attributes: taken for a bug of ours)
            pass
        raise


def raised_by_caller(exc: BaseException) -> bool:
    """Whether the caller's progress callback raised ``exc``: the caller's own, which reaches it as raised, not a bug of
    magsag-mcp's to report."""
    return getattr(exc, _CALLERS, False)
