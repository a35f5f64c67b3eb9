"""Progress said while nothing of an attempt is in flight, and what the attempt has been billed by then.

A caller's progress callback may raise, or the caller cancel, while the callback runs. Mid-stream that cuts a request
in flight, which the vendor may bill for tokens nobody reported: the attempt is recorded at its worst case. Told at
rest (the answer has come whole; a refused request, which is not billed, is about to be sent again), the attempt's
cost is known: :func:`tell_at_rest` hands it to the cascade with what stopped the call (see :func:`stopped_at_rest`).
"""

from __future__ import annotations

from typing import Any

from ..types import Usage

#: the attribute of the exception that stopped a call at rest: (the attempt's usage so far, when it stopped)
_AT_REST = "magsag_at_rest"


async def tell_at_rest(progress: Any, event: str, data: dict[str, Any], spent: Usage, when: str) -> None:
    """``progress(event, data)``, awaited if it is a coroutine, at a moment when the attempt has been billed ``spent``
    and has nothing in flight; ``when`` says that moment ("after its answer had come whole")."""
    try:
        maybe = progress(event, data)
        if maybe is not None:
            await maybe
    except BaseException as exc:  # the callback's failure, or the caller's cancellation while it ran
        try:
            setattr(exc, _AT_REST, (spent, when))
        except AttributeError:  # (an exception that takes no attributes: counted as cut in flight)
            pass
        raise


def stopped_at_rest(exc: BaseException) -> tuple[Usage, str] | None:
    """What :func:`tell_at_rest` attached to ``exc``: the attempt's usage, and when it stopped; None mid-request."""
    return getattr(exc, _AT_REST, None)


#: the attribute of the exception that stopped a call mid-stream: the prompt's tokens the vendor had counted by then
_PROMPT_COUNTED = "magsag_prompt_counted"


def tell_prompt_counted(exc: BaseException, prompt: Usage | None) -> None:
    """``exc`` (the caller's cancellation, or its progress callback's failure) stopped a stream in flight whose vendor
    had counted the prompt (``prompt``: see ``StreamAccumulator.prompt_counted``): kept on it for the cascade, which
    records it and bounds the attempt's unknown cost by it, as a dropped stream's (see :func:`stopped_prompt`)."""
    if prompt is not None:
        try:
            setattr(exc, _PROMPT_COUNTED, prompt)
        except AttributeError:  # (an exception that takes no attributes: bounded by its reservation alone)
            pass


def stopped_prompt(exc: BaseException) -> Usage | None:
    """What :func:`tell_prompt_counted` attached to ``exc``: the prompt the vendor had counted; None if none."""
    return getattr(exc, _PROMPT_COUNTED, None)
