"""A token file re-read when it changes under a running HTTP server: rotation without a restart.

``MAGSAG_MCP_TOKENS_FILE``, ``MAGSAG_MCP_TOKEN_FILE`` and the scrape token's ``MAGSAG_MCP_METRICS_TOKEN_FILE`` were
read at the start only, so rotating a leaked token meant
a restart, which cancels every call in flight (each recorded as cancelled). Kubernetes updates a mounted secret's file
in place (it swaps the ``..data`` link the file's path goes through), Docker's a bind-mounted file's content, and an
operator edits the file: each is seen here, and the new tokens apply to the requests that come after it. A request
already let through (a call in flight, an open event stream) runs on.

How it is seen, cheaply: a request checks at most once every :data:`CHECK_SECONDS` (monotonic), by a ``stat`` of the
path as given, following links, and the file is read only when its version (modification and change times, size,
inode, device) is not the one last read. A version modified under :data:`SETTLE_SECONDS` ago is left to a later look:
a file being written (``cat new > file`` truncates it, then writes) is not read half-written, and a later write in the
same timestamp tick cannot hide behind a version already read. The stat runs in a daemon thread of its own, and so do
the read and its checks: a request waits on no file, only the one that found the change waits for its read.
The stat ran on the event loop: a secret's mount that hung (NFS, a FUSE driver) held every client's request. Now a look
waits for it at most :data:`LOOK_SECONDS`, then leaves it to its thread (one at a time: no look starts another while it
hangs; a daemon, which the process's exit does not wait for) and the server keeps the tokens it has, said once in the
log and by the health probes until a stat answers again. So too a read that hangs (a mount that hung after its stat
answered); a read that ends after its look stopped waiting is taken by the next look, for the version it was of (made
again, a read slower than the wait never ended in time); a FIFO or a device at the path is refused at once, not read
(:func:`.secret_files.read_secret_file`).

A new version is held to every check the start makes (:func:`.gate_settings.gate_settings`'s: the lines, the
length beyond loopback, not the scrape token); refused, the server keeps the tokens it has and logs one ERROR naming
the file, what is wrong (its line) and the fix, never a token, once per version. A file gone (deleted, its mount
gone) keeps them too, said once. ``MAGSAG_MCP_TOKEN`` set in the environment cannot change in a running process.
A file refused or gone is also said by the health probes, as a warning (:attr:`ReloadedTokens.warning`), until it is
put right: a monitor sees it, and the server stays ready (its tokens serve).

The MCP tokens and the scrape token are each checked against the other as it is now (the scrape token may not be an
MCP token): :func:`reloaded_token_files` makes the two, each told of the other. A version refused as the other's
token is judged again once the other's tokens change (it rotated on), though the file itself did not: no bad file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import anyio

from ..errors import ConfigError, redacting_logger, register_secret
from ..redaction import excerpt
from .client_tokens import TOKENS_FILE_ENV, ClientToken, read_client_tokens

if TYPE_CHECKING:
    from .metrics_endpoint import MetricsSetting

logger = redacting_logger("magsag_mcp.mcp")

#: the least time between two looks at the file (each a stat): a server answering thousands of requests a second
#: makes one a second
CHECK_SECONDS = 1.0
#: how long a file must have been left unchanged to be read (see the module's docstring)
SETTLE_SECONDS = 1.0
#: the longest a look waits for the file's stat (a hung mount): past it the tokens in force are kept
LOOK_SECONDS = 5.0

_T = TypeVar("_T")


@dataclass(frozen=True)
class TokenFile:
    """The file tokens came from: the variable that names it (:data:`.client_tokens.TOKENS_FILE_ENV`,
    ``MAGSAG_MCP_TOKEN_FILE`` or the scrape token's ``MAGSAG_MCP_METRICS_TOKEN_FILE``) and its value, the path as
    given."""

    variable: str
    named: str

    @property
    def per_client(self) -> bool:
        return self.variable == TOKENS_FILE_ENV

    @property
    def scrape(self) -> bool:
        """Whether it holds the scrape token (/metrics'), not the MCP tokens."""
        from .metrics_endpoint import METRICS_TOKEN_FILE_ENV

        return self.variable == METRICS_TOKEN_FILE_ENV

    @property
    def in_place_of(self) -> str:
        """The variable a one-token file stands in for (``MAGSAG_MCP_TOKEN`` for ``MAGSAG_MCP_TOKEN_FILE``: each
        ``*_FILE`` variable is its variable's, the convention of database images)."""
        return self.variable.removesuffix("_FILE")

    def said(self) -> str:
        """How a log line names it: the variable and the path (a path read at the start: no token set by mistake)."""
        return f"{self.variable}={excerpt(self.named, 200)!r}"


@dataclass(frozen=True)
class Tokens:
    """The MCP tokens a request is checked against: the one token, or a token per client."""

    token: str | None = field(repr=False)
    clients: tuple[ClientToken, ...] = ()

    def secrets(self) -> tuple[str, ...]:
        return tuple(filter(None, (self.token, *(client.token for client in self.clients))))


#: a file's version: modification and change times (ns), size, inode, device
_Version = tuple[int, int, int, int, int]
#: a read's key: the file's version and the other tokens it is checked against
_LateKey = tuple[_Version, Tokens | None]


class ReloadedTokens:
    """The tokens read from ``source`` at the start (``tokens``), then again whenever it changes (:meth:`fresh`). A new
    version is held to the start's checks for a server on ``host`` with ``pinned`` (``--agent``) and ``metrics``.
    ``beside``: the other tokens as they are now (for the MCP tokens' file, the scrape token's ``Tokens``; for the
    scrape token's, the MCP tokens), which a new version is checked against; None: the start's (``metrics``' scrape
    token), or none (a scrape token's file alone)."""

    def __init__(
        self,
        source: TokenFile,
        tokens: Tokens,
        host: str,
        pinned: str | None,
        metrics: MetricsSetting,
        beside: Callable[[], Tokens] | None = None,
    ) -> None:
        self.source = source
        self.current = tokens
        self._host, self._pinned, self._metrics = host, pinned, metrics
        self._beside = beside
        #: the version last read (None: none yet: the first look reads it, as the start's read may be of an older one)
        self._read: _Version | None = None
        self._looked_at = time.monotonic()
        self._looking = False
        #: a stat or read under way in its thread, which a look stopped waiting for (a hung mount): no other is started
        self._stat_pending = False
        #: the last read's outcome, with the version and other tokens it was of: one that ended after its look stopped
        #: waiting for it is taken by the next look that finds that version (see :meth:`_read_version`)
        self._late: tuple[_LateKey, tuple[Tokens | None, Exception | None]] | None = None
        #: whether the last look's stat did not answer within LOOK_SECONDS (said once, until one answers)
        self._stalled = False
        self._gone = False
        #: whether the version last read was refused, or the file was gone (the next one read is said, taken or not)
        self._complained = False
        #: whether the version last read was refused (what the health probes warn of, with ``_gone``)
        self._refused = False
        #: the other tokens the version last read was judged against: a version refused as the other file's token is
        #: judged again once they change (the other file rotated on), though the file itself did not
        self._judged_beside: Tokens | None = None

    @property
    def warning(self) -> str | None:
        """What the health probes say while the file's version is refused or the file is gone (None: neither): the
        variable alone, no path or line (the probes answer anyone; the server's log names them), and never a token."""
        if self._stalled:
            return (
                f"the file {self.source.variable} names did not answer a look in {LOOK_SECONDS:g} s (a hung mount): "
                "the server keeps the tokens it has; the server's log says more"
            )
        if self._gone:
            return (
                f"the file {self.source.variable} names cannot be found now: the server keeps the tokens it has; the "
                "server's log says more"
            )
        if self._refused:
            return (
                f"the file {self.source.variable} names changed and its new version is refused: the server keeps the "
                "tokens it has until the file is fixed; the server's log says what is wrong"
            )
        return None

    async def fresh(self) -> Tokens:
        """The tokens, the file looked at first if :data:`CHECK_SECONDS` have passed since the last look (by this
        request alone: another meanwhile takes the tokens as they are)."""
        now = time.monotonic()
        if self._looking or now - self._looked_at < CHECK_SECONDS:
            return self.current
        self._looked_at = now
        self._looking = True
        try:
            await self._look()
        finally:
            self._looking = False
        return self.current

    async def _stat(self) -> os.stat_result | None:
        """The file's status (following links: a Kubernetes secret's ..data swap is a new inode), from a thread of its
        own waited for at most :data:`LOOK_SECONDS` (see :meth:`_off_loop`); raises OSError as ``os.stat`` does."""
        named = self.source.named
        return await self._off_loop(lambda: os.stat(named), "a stat")

    async def _off_loop(self, work: Callable[[], _T], what: str, late: _LateKey | None = None) -> _T | None:
        """``work()`` (a stat, or the read of a new version: :meth:`_load`) from a thread of its own waited for at most
        :data:`LOOK_SECONDS`; None when it did not answer in time, or one that did not is still under way (its thread
        left to end when the mount answers: one at a time, so looks do not pile threads on a hung mount). Raises what
        ``work`` raises. The read was a worker's, waited for without end: a FIFO at the path, or a mount that hung
        after its stat answered, held the request that found the change, and every look after it, for ever. ``late``:
        the key its outcome is kept under (:attr:`_late`), for a look after this one should this one stop waiting.

        Not anyio's worker pool: a stat handed to it but cut before a worker began it (the look's request cancelled at
        the hand-over, LOOK_SECONDS spent waiting for a free worker) never ran, and the mark of one under way stayed,
        so no look began one again; and its workers are not daemon threads, so a stat hung on its mount held the
        interpreter's exit (Ctrl-C's) as long as the mount hung. This thread is begun before the look can be cut, and
        is a daemon."""
        if self._stat_pending:
            return None
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[_T] = loop.create_future()

        def run() -> None:
            outcome: tuple[_T | None, Exception | None]
            try:
                try:
                    outcome = (work(), None)
                except Exception as exc:  # (OSError, ConfigError: for the look to say)
                    outcome = (None, exc)
                if late is not None:  # (kept before the mark is cleared: the look that next starts one finds it)
                    self._late = (late, outcome)  # type: ignore[assignment]
            finally:
                self._stat_pending = False  # (a bool set in one thread, read on the loop: no lock needed)
            with contextlib.suppress(RuntimeError):  # the loop closed while the work hung: no one waits for it
                loop.call_soon_threadsafe(_settle, answer, *outcome)

        self._stat_pending = True
        try:
            threading.Thread(target=run, name="magsag-token-file-stat", daemon=True).start()
        except BaseException:  # (no thread could be started: no work is under way)
            self._stat_pending = False
            raise
        with anyio.move_on_after(LOOK_SECONDS):
            seen = await answer
            if late is not None:  # (taken here: not again by the next look)
                self._late = None
            if self._stalled:
                self._stalled = False
                logger.info("%s answers a look again", self.source.said())
            return seen
        if not self._stalled:
            self._stalled = True
            logger.warning(
                "%s did not answer a look (%s) in %gs: its mount may hang (NFS, a FUSE driver). The server keeps "
                "the tokens it has and looks again once that returns",
                self.source.said(),
                what,
                LOOK_SECONDS,
            )
        return None

    async def _look(self) -> None:
        try:
            seen = await self._stat()
            if seen is None:
                return
        except OSError as exc:
            if not self._gone:
                self._gone = self._complained = True
                logger.error(
                    "%s cannot be found now (%s): the server keeps the tokens it has; write the file back (to revoke "
                    "a token, leave its line out)",
                    self.source.said(),
                    exc.strerror or type(exc).__name__,
                )
            self._read = None
            self._refused = False
            return
        self._gone = False
        # (its change time too, which no tool sets back: `cp -p` of a token of the same length keeps the rest)
        version = (seen.st_mtime_ns, seen.st_ctime_ns, seen.st_size, seen.st_ino, seen.st_dev)
        beside = None if self._beside is None else self._beside()
        if version == self._read and not (self._refused and beside != self._judged_beside):
            return
        if 0 <= time.time_ns() - seen.st_mtime_ns < SETTLE_SECONDS * 1e9:
            return  # still being written, perhaps: read at a later look
        try:
            tokens = await self._read_version(version, beside)
            if tokens is None:
                return  # (the version left unread: the next look reads it, once the read under way returns)
        except ConfigError as exc:
            self._read, self._judged_beside = version, beside  # (said once: not read again until either changes)
            self._complained = self._refused = True
            logger.error(
                "%s changed, and its new version is refused: %s. The server keeps the tokens it has until the file "
                "is fixed",
                self.source.said(),
                exc.message,
            )
            return
        # (set once read and judged: a look cancelled meanwhile, its request gone, leaves the version to the next)
        self._read = version
        self._refused = False
        complained, self._complained = self._complained, False
        if tokens == self.current:
            if complained:
                logger.info("%s changed: it holds the tokens the server has again", self.source.said())
            return
        for secret in tokens.secrets():
            register_secret(secret)
        before, self.current = self.current, tokens
        if self.source.per_client:
            logger.info(
                "%s changed: %d client tokens now (%d before), for the requests from now on",
                self.source.said(),
                len(tokens.clients),
                len(before.clients),
            )
        else:
            logger.info("%s changed: its new token is taken, for the requests from now on", self.source.said())

    async def _read_version(self, version: _Version, beside: Tokens | None) -> Tokens | None:
        """The tokens of the file's ``version``, checked against ``beside``, read off the loop (:meth:`_off_loop`); None
        while a read is under way past its look's wait. A read that ended after its look stopped waiting is taken for
        the version and other tokens it was of, not made again: each read of a mount slower than LOOK_SECONDS was
        dropped and made again, as slowly, so a token left out of the file (revoked) went on working for ever. Raises
        what the read raised."""
        late, self._late = self._late, None
        if late is not None and late[0] == (version, beside):
            tokens, error = late[1]
            if error is not None:
                raise error
            return tokens
        return await self._off_loop(partial(self._load, beside), "its read", (version, beside))

    def _load(self, beside: Tokens | None) -> Tokens:
        """The file's tokens, each check made against ``beside`` (the other tokens now) (in a worker thread)."""
        from .token_setting import token_in_file

        if self.source.per_client:
            tokens = Tokens(None, read_client_tokens(self.source.named))
        else:
            tokens = Tokens(token_in_file(self.source.variable, self.source.named, self.source.in_place_of))
        self._check(tokens, beside)
        return tokens

    def _check(self, tokens: Tokens, beside: Tokens | None) -> None:
        """The start's checks (:func:`.gate_settings.gate_settings`'s) of the tokens against the host and ``--agent``,
        which do not change, and the other tokens as they are now (``beside``); raises ConfigError with what to fix."""
        from .http import TOKEN_ENV, check_gate
        from .metrics_endpoint import check_metrics_token
        from .token_setting import from_the_file

        if self.source.scrape:
            mcp = beside or Tokens(None)
            scrape = replace(self._metrics, token=tokens.token)
            check_metrics_token(self._host, scrape, mcp.token, [client.token for client in mcp.clients])
            return
        setting = TOKEN_ENV if self.source.per_client else from_the_file(self.source.variable)
        check_gate(self._host, tokens.token, tokens.clients, self._pinned, setting)
        metrics = self._metrics if beside is None else replace(self._metrics, token=beside.token)
        check_metrics_token(self._host, metrics, tokens.token, [client.token for client in tokens.clients])


def reloaded_token_files(
    mcp_file: TokenFile | None, tokens: Tokens, host: str, pinned: str | None, metrics: MetricsSetting
) -> tuple[ReloadedTokens | None, ReloadedTokens | None]:
    """The MCP tokens' file (``mcp_file``, read as ``tokens``) and the scrape token's (``metrics``'), each re-read as it
    changes and checked against the other as it is then (None: that token is not from a file)."""
    mcp: ReloadedTokens | None = None
    scrape: ReloadedTokens | None = None

    def mcp_now() -> Tokens:
        return tokens if mcp is None else mcp.current

    def scrape_now() -> Tokens:
        return Tokens(metrics.token) if scrape is None else scrape.current

    if mcp_file is not None:
        mcp = ReloadedTokens(mcp_file, tokens, host, pinned, metrics, scrape_now)
    if metrics.token_file is not None:
        scrape = ReloadedTokens(metrics.token_file, Tokens(metrics.token), host, pinned, metrics, mcp_now)
    return mcp, scrape


def _settle(answer: asyncio.Future[_T], done: _T | None, error: Exception | None) -> None:
    """A stat's or read's outcome handed to the look awaiting it (on the loop), unless the look was cut meanwhile."""
    if answer.done():
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(done)  # type: ignore[arg-type]
