"""Serving on stdio, and stopping on SIGINT or SIGTERM without losing the calls in flight.

An MCP client stops a stdio server by closing its stdin, then, if it has not exited, with SIGTERM;
Ctrl-C in a terminal sends SIGINT. Neither ends the SDK's stdio loop by itself: the SDK reads stdin
on a worker thread that no cancellation can interrupt, so the loop waits until stdin closes (and
Python's default for SIGTERM kills the process at once, losing a call that was already sent and
perhaps billed). So a signal here closes the service first, which cancels the calls in flight and
waits while each records what it spent and releases its budget reservation, and then ends the
process: everything worth keeping is committed to the ledger by then. Where the event loop takes no
signal handlers (Windows), the server runs until stdin closes, as the SDK's loop does.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from contextlib import ExitStack
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from ..errors import redacting_logger
from .server import server_state

logger = redacting_logger("magsag_mcp.mcp")


async def serve_stdio(server: MCPServer[Any]) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(_stop_on_signal, server)
        await server.run_stdio_async()
        tg.cancel_scope.cancel()


async def _stop_on_signal(server: MCPServer[Any]) -> None:
    with ExitStack() as stack:
        try:
            signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM))
        except NotImplementedError:
            # Windows' event loops take no signal handlers: serve on, until the client closes stdin (the
            # lifespan then closes the service, recording the calls in flight) or Ctrl-C interrupts.
            logger.debug("no signal handlers on this platform: the server stops when stdin closes")
            return
        async for signum in signals:
            logger.info("%s: stopping; calls in flight are cancelled and recorded", signal.Signals(signum).name)
            await server_state(server).close()
            logging.shutdown()
            sys.stderr.flush()
            os._exit(128 + signum)
