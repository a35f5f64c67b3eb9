"""The transport's SSE parser, which follows the WHATWG spec: events over a real connection, however the bytes are
split, and the raw JSON error objects some vendors send between them (split from test_transport.py)."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.transport import SSEEvent, SSEParser, Transport
from tests import test_transport
from tests.test_transport import RawSSE, read_stream

pytestmark = pytest.mark.anyio

#: the loopback server writing a test's bytes as given (a fixture), as test_transport.py's tests have it
raw = test_transport.raw


# --- the SSE parser over a real connection --------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        pytest.param([b"data: line one\ndata: line two\n\n"], [(None, "line one\nline two")], id="multi-line-data"),
        pytest.param(
            [b": keep-alive\n\n", b"data: a\n:comment between lines\ndata: b\n\n", b":\n\n"],
            [(None, "a\nb")],
            id="comments",
        ),
        pytest.param([b"event: delta\r\ndata: x\r\n\r\ndata: y\r\n\r\n"], [("delta", "x"), (None, "y")], id="crlf"),
        pytest.param([b"data: x\r", b"\ndata: y\r", b"\n\r", b"\n"], [(None, "x\ny")], id="crlf-split-across-reads"),
        pytest.param([b"data: x\rdata: y\r\r"], [(None, "x\ny")], id="bare-cr"),
        pytest.param([b"data:no-space\ndata:  two-spaces\n\n"], [(None, "no-space\n two-spaces")], id="space-rule"),
        pytest.param([b"event: only-a-name\n\ndata: z\n\n"], [(None, "z")], id="no-data-no-event"),
        pytest.param([b"data\n\n"], [(None, "")], id="field-without-colon"),
        pytest.param([b"id: 7\nretry: 1000\nfoo: bar\ndata: kept\n\n"], [(None, "kept")], id="other-fields-ignored"),
        pytest.param(
            [b'error: {"code":400}\n\ndata: [DONE]\n\n'],
            [("error", '{"code":400}'), (None, "[DONE]")],
            id="llama-cpp-error-field",
        ),
        pytest.param(
            [b'data: {"a": 1}\r\n\r\n{\n  "error": {\n', b'    "code": 429\n  }\n}'],
            [(None, '{"a": 1}'), ("error", '{\n  "error": {\n    "code": 429\n  }\n}')],
            id="raw-json-error-after-the-events",
        ),
        pytest.param([b'{not json\n\n{"k": 1}\ndata: x\n\n'], [(None, "x")], id="raw-json-without-error-ignored"),
        pytest.param([b"da", b"ta: hel", b"lo\n", b"\n"], [(None, "hello")], id="line-split-across-reads"),
        pytest.param([b"data: caf\xc3", b"\xa9\n\n"], [(None, "caf\u00e9")], id="utf8-split-across-reads"),
        pytest.param([b"data: bad \xff byte\n\n"], [(None, "bad \ufffd byte")], id="invalid-utf8-replaced"),
        pytest.param([b"\xef\xbb\xbfdata: after-bom\n\n"], [(None, "after-bom")], id="bom"),
        pytest.param([b"data: complete\n"], [(None, "complete")], id="last-blank-line-missing"),
        pytest.param([b'data: one\n\ndata: {"cut'], [(None, "one")], id="unterminated-last-line-dropped"),
    ],
)
async def test_sse_edge_cases(raw: tuple[RawSSE, str], transport: Transport, chunks, expected):
    server, url = raw
    server.chunks = chunks
    events = await read_stream(transport, url + "/sse")
    assert [(e.event, e.data) for e in events] == expected


async def test_a_very_long_event_line(raw: tuple[RawSSE, str], transport: Transport):
    # one Responses event carries the whole answer: far beyond aiohttp's 512 KiB readline limit
    text = "x" * (3 * 1024 * 1024)
    server, url = raw
    payload = json.dumps({"type": "response.output_text.done", "text": text}).encode()
    server.chunks = [b"event: response.output_text.done\ndata: " + payload[:100_000], payload[100_000:] + b"\n\n"]
    (event,) = await read_stream(transport, url + "/sse")
    assert event.event == "response.output_text.done" and event.json()["text"] == text


def test_the_parser_is_independent_of_how_bytes_are_split():
    stream = (
        '\ufeffevent: a\r\ndata: {"k": "caf\u00e9"}\r\n\r\n: ping\n\ndata: 1\ndata: 2\n\nevent: b\rdata: \u20ac\r\r'
    ).encode()
    whole = SSEParser()
    reference = whole.feed(stream) + whole.close()
    assert [(e.event, e.data) for e in reference] == [("a", '{"k": "caf\u00e9"}'), (None, "1\n2"), ("b", "\u20ac")]
    for cut in range(1, len(stream)):
        parser = SSEParser()
        events = parser.feed(stream[:cut]) + parser.feed(stream[cut:]) + parser.close()
        assert events == reference, f"split at byte {cut}"


def test_an_event_json_that_is_not_json_is_malformed():
    with pytest.raises(E.MalformedResponseError, match="not JSON"):
        SSEEvent(None, "{truncated").json()


def test_lines_of_no_field_nested_past_the_interpreters_depth_are_ignored_as_any_other_non_json():
    # A line of no field that starts a JSON object is read as a raw error object (Gemini's aborted stream): one
    # nested past the interpreter's depth raised a RecursionError out of the parser, not a provider's error, and the
    # stream's events after it were lost.
    parser = SSEParser()
    assert parser.feed(b'{"error": ' + b"[" * 5000 + b"\n") == []
    assert parser.feed(b'data: {"a": 1}\n\n') == [SSEEvent(None, '{"a": 1}')]


def test_a_raw_json_object_in_a_stream_is_read_once_whole_not_again_with_each_line(monkeypatch):
    # Lines of no field after one beginning a JSON object were joined and parsed whole again with each line, until the
    # object was whole or 64 KB were kept: a "{" then 130 KB of short lines took 20 s of the event loop (a server's, or
    # whatever stands between, stream of a few hundred KB held every other call for minutes). Read once now, on the
    # line it may be whole on.
    import magsag_mcp.sse as sse

    parses: list[int] = []
    loads = json.loads
    monkeypatch.setattr(sse.json, "loads", lambda text, **kw: parses.append(len(text)) or loads(text, **kw))
    lines = 5_000  # (55 KB: within the most kept)
    body = b'{"error": {"code": 503, "details": [\n' + b'"x}{[\\"",\n' * lines + b'1]}}\n\ndata: after\n\n'
    parser = SSEParser()
    events = parser.feed(body)
    assert [e.event for e in events] == ["error", None] and loads(events[0].data)["error"]["code"] == 503
    assert len(parses) == 1, len(parses)
    parses.clear()
    assert SSEParser().feed(b"{\n" + b"x\n" * 65_536 + b"\ndata: after\n\n") == [SSEEvent(None, "after")]
    assert len(parses) == 1  # (once, past the most kept: as much as it read before)


class _EveryLineParser(SSEParser):
    """The parser as it read raw lines before: the text kept, joined and parsed whole again with each line."""

    def _raw_error(self, line: str) -> SSEEvent | None:
        if not self._raw and not line.lstrip().startswith("{"):
            return None
        self._raw.append(line)
        self._raw_len += len(line)
        text = "\n".join(self._raw)
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            if self._raw_len > self.MAX_RAW_CHARS:
                self._raw, self._raw_len = [], 0
            return None
        self._raw, self._raw_len = [], 0
        return SSEEvent("error", text) if isinstance(value, dict) and "error" in value else None


def test_raw_json_lines_give_the_events_they_gave_when_each_line_was_parsed():
    import random

    pieces = [
        "{", "}", "[", "]", '"error"', ": ", ", ", '"a}"', '"b{["', '"\\""', '"\\\\"', '"\\u0022{"', "1", "null", " ",
        "\t", '"', "\\", "x", '{"error": 1}', '"error": {"code": 5}', "\u3000", "data: d", "", ":c", "event: e", "}}",
    ]  # fmt: skip
    rng = random.Random(20261203)
    for _ in range(3000):
        lines = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.5:
            lines.insert(0, "{" + rng.choice(["", '"error": ', '"error": {', " "]))
        body = "\n".join(lines) + rng.choice(["", "\n", "\n\n"])
        cut = rng.randint(0, len(body))
        got, before = SSEParser(), _EveryLineParser()
        chunks = [body[:cut].encode(), body[cut:].encode()]
        new = [e for c in chunks for e in got.feed(c)] + got.close()
        old = [e for c in chunks for e in before.feed(c)] + before.close()
        assert new == old, body
