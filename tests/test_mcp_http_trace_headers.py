"""A call over streamable HTTP joins the trace its request's headers name (W3C ``traceparent``, ``tracestate``) when
its ``_meta`` names none (magsag_mcp/mcp_server/trace_headers.py): served by uvicorn on loopback, called by the MCP
SDK's client through an HTTP client sending the headers, as an instrumented HTTP client or a gateway does.

The spans go to a tracer of the test's own provider (``otel_spans._tracer``), as in test_otel_spans.py."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from magsag_mcp import otel_spans
from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.http import http_app
from magsag_mcp.mcp_server.trace_headers import TraceHeadersMiddleware, join_header_traces
from tests.mcp_http_helpers import HEADERS, INIT
from tests.test_mcp_http import held_port, serving

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_MAX_RETRIES": "1"}
ARGS = {"skill_id": "skill.analysis", "payload": {"data": "x"}}
#: the W3C Trace Context spec's example: a gateway's trace, and a trace the client's _meta names
HEADER_TRACE, HEADER_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
META_TRACE, META_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
CALL = "magsag skill.analysis"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(otel_spans, "_tracer", provider.get_tracer("magsag_mcp"))
    return spans


async def _call_over_http(tmp_path: Path, headers: dict[str, str], meta: dict[str, str] | None = None) -> None:
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        async with httpx2.AsyncClient(headers=headers) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                result = await client.call_tool("invoke_skill", ARGS, meta=meta)
    assert not result.is_error, result.content


def _call_span(exporter: InMemorySpanExporter):
    (call,) = [s for s in exporter.get_finished_spans() if s.name == CALL]
    return call


async def test_a_call_over_http_joins_the_trace_its_traceparent_header_names(tmp_path, exporter):
    headers = {"traceparent": f"00-{HEADER_TRACE}-{HEADER_SPAN}-01", "tracestate": "gateway=t61rcWkgMzE,other=x"}
    await _call_over_http(tmp_path, headers)
    call = _call_span(exporter)
    assert format(call.context.trace_id, "032x") == HEADER_TRACE
    # (the SDK's span of the request is between them where a provider is set globally: here its no-op passes the
    # header's span through as the current one)
    assert format(call.parent.span_id, "016x") == HEADER_SPAN and call.parent.is_remote
    assert call.context.trace_state.get("gateway") == "t61rcWkgMzE"  # tracestate goes on with the trace
    assert call.context.trace_state.get("other") == "x"


async def test_a_2025_session_call_from_a_plain_http_client_joins_it_under_the_sdks_span_of_the_request(
    tmp_path, exporter, monkeypatch
):
    """A client that is no MCP SDK's (initialize, initialized, tools/call posted by aiohttp, the 2025-06-18 session
    path of the SDK's transport) sending the header alone. The header's trace is made current outside the SDK's
    OpenTelemetry middleware: the SDK's SERVER span of the tools/call (its tracer pointed at the test's provider, as a
    global provider would) is the header span's child, and the call's span is its child."""
    from mcp.shared import _otel as sdk_otel

    monkeypatch.setattr(sdk_otel, "_tracer", otel_spans._tracer)
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)
    traced = {"traceparent": f"00-{HEADER_TRACE}-{HEADER_SPAN}-01", "tracestate": "gateway=t61rcWkgMzE"}
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            async with http.post(url, json=INIT) as resp:
                assert resp.status == 200, await resp.text()
                session = {"Mcp-Session-Id": resp.headers["Mcp-Session-Id"], "Mcp-Protocol-Version": "2025-06-18"}
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            async with http.post(url, json=initialized, headers=session) as resp:
                assert resp.status == 202, await resp.text()
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "invoke_skill", "arguments": ARGS},
            }
            async with http.post(url, json=call, headers={**session, **traced}) as resp:
                said = await resp.text()
                assert resp.status == 200 and '"isError":true' not in said.replace(" ", ""), said
    (request,) = [s for s in exporter.get_finished_spans() if s.name == "tools/call invoke_skill"]
    assert request.kind == SpanKind.SERVER
    assert format(request.context.trace_id, "032x") == HEADER_TRACE
    assert format(request.parent.span_id, "016x") == HEADER_SPAN and request.parent.is_remote
    call_span = _call_span(exporter)
    assert call_span.parent.span_id == request.context.span_id
    assert call_span.context.trace_state.get("gateway") == "t61rcWkgMzE"
    # the initialize before it named no trace: a trace of its own
    (initialize,) = [s for s in exporter.get_finished_spans() if s.name == "initialize"]
    assert format(initialize.context.trace_id, "032x") != HEADER_TRACE


async def test_the_meta_traceparent_wins_over_the_headers(tmp_path, exporter):
    headers = {"traceparent": f"00-{HEADER_TRACE}-{HEADER_SPAN}-01"}
    await _call_over_http(tmp_path, headers, meta={"traceparent": f"00-{META_TRACE}-{META_SPAN}-01"})
    call = _call_span(exporter)
    assert format(call.context.trace_id, "032x") == META_TRACE
    assert format(call.parent.span_id, "016x") == META_SPAN


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"traceparent": "00-not-a-trace-01"},
        {"traceparent": f"00-{'0' * 32}-{HEADER_SPAN}-01"},  # (the all-zero trace id the spec calls invalid)
        {"tracestate": "gateway=t61rcWkgMzE"},  # a tracestate alone names no trace
    ],
    ids=["none", "malformed", "zero-trace", "tracestate-alone"],
)
async def test_headers_that_name_no_trace_leave_the_call_a_trace_of_its_own(tmp_path, exporter, headers):
    await _call_over_http(tmp_path, headers)
    assert _call_span(exporter).parent is None


async def test_in_memory_and_over_stdio_there_is_no_http_request_and_meta_alone_is_read(tmp_path, exporter):
    """The middleware is HTTP's (http_app installs it), harmless where the transport attaches no HTTP request."""
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)
    join_header_traces(server)
    join_header_traces(server)  # (once, however often asked)
    assert [type(m) for m in server.middleware].count(TraceHeadersMiddleware) == 1
    assert isinstance(server.middleware[0], TraceHeadersMiddleware)  # outside the SDK's OpenTelemetry middleware
    async with Client(server) as client:
        assert not (await client.call_tool("invoke_skill", ARGS)).is_error
        meta = {"traceparent": f"00-{META_TRACE}-{META_SPAN}-01"}
        assert not (await client.call_tool("invoke_skill", ARGS, meta=meta)).is_error
    untraced, joined = [s for s in exporter.get_finished_spans() if s.name == CALL]
    assert untraced.parent is None
    assert format(joined.context.trace_id, "032x") == META_TRACE
