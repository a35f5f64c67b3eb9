"""The trace an HTTP request's headers name (W3C ``traceparent`` and ``tracestate``), joined by its MCP request.

The MCP SDK reads a request's trace from its ``_meta`` (what the SDK's own clients send), and only there. A client
behind an instrumented gateway, or any HTTP client instrumented by an ``opentelemetry-instrumentation-*`` package,
sends it as HTTP headers instead, and its calls began traces of their own. :class:`TraceHeadersMiddleware` reads the
headers with OpenTelemetry's own propagator (``opentelemetry.propagate.extract``: whichever propagators the process
configured, ``OTEL_PROPAGATORS``, W3C trace context and baggage by default) and makes that trace current around the
rest of the request, where the SDK's span of the request (and the call's beneath it) is made. A ``_meta`` naming a
trace still wins: the SDK gives its context to that span explicitly, over the current one.

It sits at the server's request context (``ServerRequestContext.request``, the HTTP request the transport attached;
none over stdio or in memory), outside the SDK's OpenTelemetry middleware, and sets nothing process-wide: the context
is attached for this request's task and detached as it ends.

OpenTelemetry's API is imported only once something has imported it (as :mod:`..otel_spans` reads it): a process
that never imported ``opentelemetry.trace`` has no tracer provider and nothing to join a trace to.
"""

from __future__ import annotations

import sys
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer


class TraceHeadersMiddleware:
    """Server middleware (the SDK's ``ServerMiddleware``): a request whose HTTP headers name a trace runs in it."""

    #: opentelemetry.propagate, opentelemetry.context and opentelemetry.trace, once seen imported (read from here: an
    #: import statement costs thousands of instructions each time it runs)
    _propagate: Any = None
    _context: Any = None
    _trace: Any = None

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        headers = getattr(ctx.request, "headers", None)  # (the HTTP request: Starlette's, its headers' names any case)
        if headers is None or not self._api_imported():
            return await call_next(ctx)
        carried = self._propagate.extract(headers)
        if not self._trace.get_current_span(carried).get_span_context().is_valid:
            return await call_next(ctx)  # no trace named (or a malformed one, which the propagator drops)
        token = self._context.attach(carried)
        try:
            return await call_next(ctx)
        finally:
            self._context.detach(token)

    @classmethod
    def _api_imported(cls) -> bool:
        if cls._propagate is None:
            if sys.modules.get("opentelemetry.trace") is None:  # (None too where its import was blocked)
                return False
            from opentelemetry import context, propagate, trace

            cls._context, cls._trace, cls._propagate = context, trace, propagate
        return True


def join_header_traces(server: MCPServer[Any]) -> None:
    """Put :class:`TraceHeadersMiddleware` outside every middleware of ``server`` (the SDK's OpenTelemetry one
    first among them), once."""
    chain = server.middleware
    if not any(isinstance(m, TraceHeadersMiddleware) for m in chain):
        chain.insert(0, TraceHeadersMiddleware())
