"""Requests a stdio client may send malformed, answered over the real server's stdio (``python -m magsag_mcp``) with
what was wrong and the fix, never with silence or the SDK's bare "Invalid request parameters"."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from test_mcp_stdio import CATALOG, clean_env

HELLO = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}


class StdioServer:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._unread = b""  # what was read from stdout past the last answer's line

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        # read from the pipe itself, not through the file's buffer: two answers written at once (a batch's) were read
        # into it by one readline, and select, which sees the pipe alone, then waited for the second in vain
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._unread:
            ready, _, _ = select.select([fd], [], [], 60)  # a hang guard, not a timing assertion
            assert ready, "no answer"
            chunk = os.read(fd, 1 << 16)
            assert chunk, "the server closed stdout"
            self._unread += chunk
        line, _, self._unread = self._unread.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def initialize(self) -> None:
        assert "result" in self.ask(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": HELLO}))
        self.send('{"jsonrpc":"2.0","method":"notifications/initialized"}')

    def ask(self, line: str) -> dict[str, Any]:
        self.send(line)
        return self.answer()


@contextmanager
def stdio_server(tmp_path: Path, initialize: bool = True) -> Iterator[StdioServer]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "magsag_mcp", "--catalog", str(CATALOG), "--db", str(tmp_path / "l.db")],
        env=clean_env(MAGSAG_PROVIDER="fake"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    server = StdioServer(proc)
    try:
        if initialize:
            server.initialize()
        yield server
    finally:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.close()
        proc.wait(60)
        proc.stdout.close()
        proc.stderr.close()


def _call(request_id: int, params: str) -> str:
    return f'{{"jsonrpc":"2.0","id":{request_id},"method":"tools/call","params":{params}}}'


def test_a_tool_call_whose_name_is_no_string_is_told_so_and_the_tools_there_are(tmp_path: Path):
    # The SDK answered a name that is a number, null, an object (or none) with "Invalid request parameters" and
    # nothing more: not which parameter, nor what it takes, nor the tools there are.
    with stdio_server(tmp_path) as server:
        for request_id, (name, said) in enumerate(
            [("5", "it was a number"), ("null", "it was null"), ('{"tool":"list_skills"}', "it was an object")], 1
        ):
            answer = server.ask(_call(request_id, f'{{"name":{name},"arguments":{{}}}}'))
            assert answer["id"] == request_id and answer["error"]["code"] == -32602, answer
            message = answer["error"]["message"]
            assert "params.name must be the name of the tool to call, as a string" in message, message
            assert said in message and "the tools are: list_skills, invoke_skill, explain_route" in message
            assert "tools/list" in message
        answer = server.ask(_call(9, '{"arguments":{}}'))
        assert answer["id"] == 9 and "no name was sent" in answer["error"]["message"], answer
        # and a call named as a string is served as ever
        answer = server.ask(_call(10, '{"name":"list_skills","arguments":{}}'))
        assert answer["id"] == 10 and "result" in answer


def test_a_batch_is_answered_with_an_error_for_each_request_not_dropped(tmp_path: Path):
    # MCP's 2025-06-18 revision removed JSON-RPC batching. The SDK's reader refuses an array and the server dropped
    # it with a log line: a client that batched waited for answers that never came.
    with stdio_server(tmp_path) as server:
        server.send(
            '[{"jsonrpc":"2.0","id":5,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/progress"},'
            '{"jsonrpc":"2.0","id":"six","method":"ping"}]'
        )
        answers = [server.answer(), server.answer()]
        assert [a["id"] for a in answers] == [5, "six"], answers
        for answer in answers:
            assert answer["error"]["code"] == -32600
            message = answer["error"]["message"]
            assert "a JSON-RPC batch (an array of 3 messages), which MCP does not take" in message, message
            assert "send each request as a JSON object of its own" in message
        # an empty batch, or one with no request to answer by id: one Invalid Request error, id null (JSON-RPC 2.0)
        answer = server.ask("[]")
        assert answer["id"] is None and "an empty array" in answer["error"]["message"], answer
        answer = server.ask("[1, 2]")
        assert answer["id"] is None and answer["error"]["code"] == -32600, answer
        # a batch of notifications alone is answered with nothing (JSON-RPC 2.0): the next answer is the next request's
        server.send('[{"jsonrpc":"2.0","method":"notifications/initialized"}]')
        answer = server.ask('{"jsonrpc":"2.0","id":7,"method":"ping"}')
        assert answer["id"] == 7 and "result" in answer, answer


def test_a_request_whose_params_is_an_array_is_answered_under_its_id_not_as_a_batch(tmp_path: Path):
    # JSON-RPC 2.0 allows params by position (an array), which MCP does not take. The SDK's error for it carries the
    # array as its input, which the batch check took for a batch line: the request was answered id null, "a JSON-RPC
    # batch (an array of 2 messages)", and its client waited for the answer under its id.
    with stdio_server(tmp_path) as server:
        answer = server.ask(_call(11, '["list_skills", {}]'))
        assert answer["id"] == 11 and answer["error"]["code"] == -32600, answer
        message = answer["error"]["message"]
        assert "batch" not in message and "not a JSON-RPC 2.0 request" in message, message


def test_a_line_that_is_no_json_is_answered_with_a_parse_error_not_dropped(tmp_path: Path):
    # A batch with one element that is no JSON (or an array, or a request, cut short) was dropped with a warning: the
    # client waited for answers that never came. JSON-RPC 2.0 answers it with a parse error for the whole line, id
    # null (no id can be read from it); a blank line is still nothing asked.
    with stdio_server(tmp_path) as server:
        for line in (
            '[{"jsonrpc":"2.0","id":1,"method":"ping"}, {bad}]',
            '[{"jsonrpc":"2.0","id":2,"method":"ping"},',
            '{"jsonrpc":"2.0","id":3,"method":',
        ):
            answer = server.ask(line)
            assert answer["id"] is None and answer["error"]["code"] == -32700, (line, answer)
            message = answer["error"]["message"]
            assert message.startswith("Parse error: Invalid JSON: ") and "one a line" in message, message
        server.send("   ")
        answer = server.ask('{"jsonrpc":"2.0","id":4,"method":"ping"}')
        assert answer["id"] == 4 and "result" in answer, answer


def test_a_progress_token_of_the_wrong_type_is_told_so_not_a_bare_invalid_params(tmp_path: Path):
    # A progressToken that is no string or integer got the SDK's bare "Invalid request parameters", naming neither the
    # field nor what it takes (a ping's too); a boolean one was taken and no progress sent under it, unsaid.
    with stdio_server(tmp_path) as server:
        for request_id, (token, said) in enumerate(
            [("1.5", "a number that is no integer"), ("true", "a boolean"), ("null", "null"), ('{"a":1}', "an object")],
            20,
        ):
            meta = f'"_meta":{{"progressToken":{token}}}'
            answer = server.ask(_call(request_id, f'{{"name":"list_skills","arguments":{{}},{meta}}}'))
            assert answer["id"] == request_id and answer["error"]["code"] == -32602, answer
            message = answer["error"]["message"]
            assert "params._meta.progressToken must be a string or an integer" in message, message
            assert f"(it was {said})" in message and "leave progressToken out" in message, message
        answer = server.ask('{"jsonrpc":"2.0","id":30,"method":"ping","params":{"_meta":{"progressToken":[1]}}}')
        assert answer["id"] == 30 and "ping's params._meta.progressToken" in answer["error"]["message"], answer
        answer = server.ask('{"jsonrpc":"2.0","id":31,"method":"tools/list","params":{"_meta":5}}')
        assert "params._meta must be an object (it was an integer)" in answer["error"]["message"], answer
        # a token of either type, a _meta of null, an unknown notification and a cancel of no request: served as ever
        server.send('{"jsonrpc":"2.0","method":"notifications/whatever"}')
        server.send('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":12345}}')
        for request_id, meta in ((32, '{"progressToken":-3}'), (33, '{"progressToken":""}'), (34, "null")):
            answer = server.ask(f'{{"jsonrpc":"2.0","id":{request_id},"method":"ping","params":{{"_meta":{meta}}}}}')
            assert answer == {"jsonrpc": "2.0", "id": request_id, "result": {}}, answer


def test_a_line_with_a_byte_order_mark_is_answered_under_its_id_naming_the_mark(tmp_path: Path):
    # A client writing UTF-8 with a byte order mark (PowerShell's default) began its first line with U+FEFF: the line
    # was answered with a parse error, id null, saying "expected value at line 1 column 1" of a line that reads well;
    # its initialize, under id 1, waited for an answer under its id that never came, and the mark went unnamed.
    with stdio_server(tmp_path) as server:
        answer = server.ask('\ufeff{"jsonrpc":"2.0","id":1,"method":"ping"}')
        assert answer["id"] == 1 and answer["error"]["code"] == -32700, answer
        message = answer["error"]["message"]
        assert "byte order mark (U+FEFF)" in message and "without a byte order mark" in message, message
        # no id to read past the mark: id null, the mark still named
        answer = server.ask('\ufeff{"jsonrpc":"2.0","id":2,"method":')
        assert answer["id"] is None and "byte order mark (U+FEFF)" in answer["error"]["message"], answer
        # a line of what Python but not JSON takes for spaces (a form feed, a no-break space) is no JSON: answered
        for line in ("\x0c", "\u00a0"):
            answer = server.ask(line)
            assert answer["id"] is None and answer["error"]["code"] == -32700, (line, answer)
        answer = server.ask('{"jsonrpc":"2.0","id":3,"method":"ping"}')
        assert answer == {"jsonrpc": "2.0", "id": 3, "result": {}}, answer


def test_a_request_before_initialize_is_told_to_send_initialize_first(tmp_path: Path):
    # The SDK answered it with a bare -32602 "Invalid request parameters": a client that skipped the handshake (or sent
    # its first call before initialize's answer came) was told its params were wrong, which they were not.
    with stdio_server(tmp_path, initialize=False) as server:
        for request_id, method in enumerate(("tools/list", "tools/call"), 40):
            params = '{"name":"list_skills","arguments":{}}' if method == "tools/call" else "{}"
            answer = server.ask(f'{{"jsonrpc":"2.0","id":{request_id},"method":"{method}","params":{params}}}')
            assert answer["id"] == request_id and answer["error"]["code"] == -32602, answer
            message = answer["error"]["message"]
            assert f"{method} was sent before initialize" in message and "send initialize first" in message, message
        # a ping is answered before it, a method the server has not is not found, as ever
        assert server.ask('{"jsonrpc":"2.0","id":42,"method":"ping"}') == {"jsonrpc": "2.0", "id": 42, "result": {}}
        answer = server.ask('{"jsonrpc":"2.0","id":43,"method":"no/such"}')
        assert answer["error"]["code"] == -32601, answer
        server.initialize()
        answer = server.ask('{"jsonrpc":"2.0","id":44,"method":"tools/list"}')
        assert answer["id"] == 44 and "result" in answer, answer
