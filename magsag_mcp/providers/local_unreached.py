"""What the ``local`` provider asks its server before a call (where it runs the model, and, found down a while ago,
whether it is back: :mod:`.local_reach`, :mod:`.local_down`) and says of a server it could not reach: the errors of
the calls the cascade skips for it, and what ``explain`` shows. A mixin of :class:`~.local.LocalProvider`, apart
from the calls' own path (the APIs it speaks, their fallbacks), which is :mod:`.local`'s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..caller_progress import emit
from ..errors import ProviderConnectionError, ProviderError
from ..transport import Transport
from ..types import Target
from .call_errors import _name_the_source
from .local_down import DOWN_FOR_S, reprobe, reprobe_due
from .local_reach import Unreached, UnreachedSlowly, down, learn, unsure
from .local_reach import known as reach_known

if TYPE_CHECKING:
    from .base import ProgressCallback
    from .local_endpoint import LocalEndpoint


class ServerReach:
    name: str
    endpoint: LocalEndpoint
    transport: Transport

    if TYPE_CHECKING:

        def unavailable_error(self, target: Target) -> ProviderError | None: ...

    async def learn_where_it_runs(self, target: Target, progress: ProgressCallback | None = None) -> None:
        """Ask the server once per name in this process where it runs ``target``'s model (see :mod:`.local_reach`):
        the cascade asks before governance judges the attempt, and the answer is kept for the policies and pricer.
        ``progress``: told ``asking`` (its ``target``) before the server is asked, which may take the connect timeout
        of a server not answering; a call that reported nothing until its attempt said only "starting" meanwhile."""
        try:
            base = self.endpoint.base_url(target)
            headers = self.endpoint.headers(target.model)
        except Exception:  # (a base URL or key that cannot be read: the call says so, where it is sent)
            return
        # a target the call cannot send is asked nothing: a base URL with a user:password@ sent it to /api/show as a
        # Basic credential (the call refuses the URL so as not to send it), one with a ?token= sent the token in a
        # path that is none (/v1?token=<token>/api/show), and the answer judged the target by where it runs
        connect = self.endpoint.timeouts.connect
        # found down a while ago (local_down.REPROBE_AFTER_S): asked again cheaply, so that a server back within
        # DOWN_FOR_S is used by this call, not 10 s late
        again = reprobe_due(base) and down(base, connect) is not None
        if (again or not reach_known(base, target.model)) and self.unavailable_error(target) is None:
            await emit(progress, "asking", {"target": target.label})
            if again:
                await reprobe(self.transport, base, headers)
            if not reach_known(base, target.model):
                await learn(self.transport, base, target.model, headers, connect)

    def unreached_error(self, target: Target, why: str, *, asked_for_glob: bool = True) -> ProviderConnectionError:
        """The error of a call to ``target`` whose server could not be reached when asked where it runs the model
        (``why``, the transport's words: refused, most often a server not started), nothing sent: its fix names the
        setting the base URL came from, as a call's own connection error does. ``asked_for_glob``: the policies
        needed the answer (a glob admits the target); else the call is not sent to be refused a second time."""
        then = (
            "where its server runs the model (POST /api/show), which a glob of the policies needs to admit it, is "
            "asked again at the next call"
            if asked_for_glob
            else "not sent to be refused again (the next target is tried); the server is asked again at the next call"
        )
        error = ProviderConnectionError(
            f"{target.label}: {why}; {then}",
            provider=self.name,
            model=target.model,
        )
        error.reached = False
        _name_the_source(error, self.endpoint, target)
        return error

    def unreached(self, target: Target) -> Unreached | None:
        """Why ``target``'s server could not be reached when last asked where it runs the model (this call's ask, or
        one within :data:`~.local_down.DOWN_FOR_S` that found it down slowly), or None."""
        try:
            base = self.endpoint.base_url(target)
        except Exception:  # (a base URL that cannot be read: the call says so)
            return None
        found_down = down(base, self.endpoint.timeouts.connect)
        if found_down is not None:
            return found_down
        why = unsure(base, target.model)
        # (one found down after a wait is so for as long as the memory says, and for callers connecting within as
        # long: its name's ask, kept, says only what the memory said then)
        return why if isinstance(why, Unreached) and not isinstance(why, UnreachedSlowly) else None

    def down_error(self, target: Target, why: UnreachedSlowly) -> ProviderConnectionError:
        """The error of a call to ``target`` whose server was found down lately, after a wait (``why``: the
        transport's words), nothing sent: said with how long it is taken as down, not paid again by every call."""
        error = ProviderConnectionError(
            f"{target.label}: {why.server_words}; not tried again for {DOWN_FOR_S:g}s after that (each call would "
            "wait as long to find it again); any answer from the server ends that",
            provider=self.name,
            model=target.model,
        )
        error.reached = False
        error.retryable = False  # type: ignore[misc]  # this one error's, over its class's
        _name_the_source(error, self.endpoint, target)
        return error
