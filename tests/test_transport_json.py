"""An answer's JSON as the transport reads it: as json.loads reads it, faster, and malformed (not a bug of ours) where
it is nested past the interpreter's depth or misses a value (split from test_transport.py)."""

from __future__ import annotations

import json

import pytest

from magsag_mcp import errors as E
from magsag_mcp.transport import SSEEvent

pytestmark = pytest.mark.anyio


def test_an_answers_json_is_read_as_json_loads_reads_it_without_sniffing_a_utf8_objects_encoding(monkeypatch):
    from magsag_mcp.transport import HttpResponse

    bodies = [
        b'{"id": "chatcmpl-1", "choices": [{"message": {"content": "caf\xc3\xa9 \xf0\x9f\x98\x80"}}]}',
        b'{"text": "\xed\xa0\xbd"}',  # an encoded half of a surrogate pair: json.loads lets it through
        b"{}",
        b"{",
        '{"a": "é"}'.encode("utf-16-le"),  # a zero byte second: UTF-16, as json.loads finds it
        '{"a": 1}'.encode("utf-32-le"),
        b'\xef\xbb\xbf{"a": 1}',  # a BOM
        b' {"a": 1}',
        b'[{"a": 1}]',
        b'{"a": "\xff"}',  # no UTF-8
        b'{"a": 1}\n',
        b'{"a": 1} \t\r\n',
        b'{"a": 1}\x0b',  # not JSON's whitespace: extra data
        b'{"a": 1}\xc2\xa0',  # a no-break space, which str.isspace() takes and JSON does not
        b"{} {}",
        b'{"a": [1, 2}',
    ]
    for body in bodies:
        try:
            expected = json.loads(body)
        except ValueError:
            with pytest.raises(E.MalformedResponseError):
                HttpResponse(200, {}, body).json()
        else:
            assert HttpResponse(200, {}, body).json() == expected, body
    sniffed: list[bytes] = []
    detect = json.detect_encoding
    monkeypatch.setattr(json, "detect_encoding", lambda b: sniffed.append(b) or detect(b))
    assert HttpResponse(200, {}, b'{"choices": []}').json() == {"choices": []}
    assert sniffed == []  # (every answer's body was sniffed, in Python)
    assert HttpResponse(200, {}, b'[{"a": 1}]').json() == [{"a": 1}] and sniffed == [b'[{"a": 1}]']


#: an answer nested past the interpreter's depth (a gateway's, or a hostile server's): JSON, but none Python reads
NESTED = b'{"id": "chatcmpl-1", "choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize("body", [NESTED, NESTED[NESTED.index(b"[") :]], ids=["object", "array"])
def test_an_answer_nested_past_the_interpreters_depth_is_malformed_not_our_bug(body: bytes):
    # json raised RecursionError, no ValueError: out of the transport it was "a bug in magsag-mcp, not the
    # provider's" (an internal error: no other target tried), the answer the server's own doing
    from magsag_mcp.transport import HttpResponse

    with pytest.raises(E.MalformedResponseError, match=r"expected a JSON body \(HTTP 200\), got: '[{\[]"):
        HttpResponse(200, {}, body).json()
    with pytest.raises(E.MalformedResponseError, match="stream event is not JSON"):
        SSEEvent(None, body.decode()).json()


@pytest.mark.parametrize("vendor", ["anthropic", "gemini", "openai"])
def test_an_error_body_nested_past_the_interpreters_depth_is_the_vendors_error_as_said(vendor: str):
    # an error body is read for its type and message: nested past the depth, it raised RecursionError out of the
    # conversion (Anthropic's, Gemini's) instead of the status's error, with the body's words as they are
    from magsag_mcp.providers.anthropic import anthropic_error
    from magsag_mcp.providers.gemini import gemini_error
    from magsag_mcp.providers.openai_chat import openai_error
    from magsag_mcp.transport import HttpResponse

    headers = {"Content-Type": "application/json"}
    if vendor == "openai":
        error = openai_error(HttpResponse(503, headers, NESTED), provider="openai", model="gpt-4o")
    else:
        convert = anthropic_error if vendor == "anthropic" else gemini_error
        error = convert(503, NESTED, headers, provider=vendor, model="m")
    assert isinstance(error, E.ServerError) and error.retryable, error
    assert '{"id": "chatcmpl-1", "choices": [[[' in error.message


def test_an_answers_json_object_is_read_by_the_decoders_scanner_alone(monkeypatch):
    # JSONDecoder.decode runs the scanner between two regular-expression matches of the whitespace around the value,
    # in Python: some 5,000 instructions on every answer and every error body. An object that begins the body is
    # scanned at once; the whitespace after it is checked as decode() checks it (see the test above).
    from magsag_mcp.transport import HttpResponse

    body = b'{"error": {"message": "planned failure", "type": "server_error", "param": null, "code": null}}\n'
    expected = json.loads(body)
    decoded: list[str] = []
    decode = json.JSONDecoder.decode
    monkeypatch.setattr(json.JSONDecoder, "decode", lambda self, s, *a: decoded.append(s) or decode(self, s, *a))
    assert HttpResponse(500, {}, body).json() == expected
    assert HttpResponse(200, {}, b'{"choices": []}').json() == {"choices": []}
    assert decoded == []
    with pytest.raises(E.MalformedResponseError, match="expected a JSON body"):
        HttpResponse(200, {}, b'{"a": 1} trailing').json()
    assert decoded == ['{"a": 1} trailing']  # what follows the object is refused by decode(), as it was


@pytest.mark.parametrize(
    "body",
    [b'{"id": "chatcmpl-1", "choices": [', b'{"a":', b'{"a": }', b'{"a": x}', b'{"a": [1, ]}', b'{"a": {"b": nul}}'],
)
def test_an_object_whose_value_is_missing_is_malformed_as_json_loads_says(body: bytes):
    # the decoder's scanner raises StopIteration where a value is missing inside the object (decode() turns it into
    # "Expecting value"): out of the fast path it escaped the transport, and out of a coroutine it became
    # "RuntimeError: coroutine raised StopIteration", a bug in magsag-mcp with no other target tried
    from magsag_mcp.transport import HttpResponse

    with pytest.raises(ValueError) as expected:
        json.loads(body)
    with pytest.raises(E.MalformedResponseError, match=r"expected a JSON body \(HTTP 200\)") as info:
        HttpResponse(200, {}, body).json()
    assert type(info.value.__cause__) is type(expected.value) and str(info.value.__cause__) == str(expected.value)
