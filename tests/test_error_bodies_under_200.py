"""An error body under HTTP 200 that names no code and no type (a gateway answering 200 ``{"error": {"message":
"upstream timed out"}}``) is read as the same error said in a stream is: a failure on the server's side (500), sent
again after a wait and then left for the next target; only LM Studio's answer for a route it lacks stays a 200 of no
known kind (a route is not there on a second try either). Served by loopback servers answering as gateways do."""

from __future__ import annotations

from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target
from tests.llm_requests import ask
from tests.test_local_servers import CHUNK, answer, compat, serve, sse

pytestmark = pytest.mark.anyio
__all__ = ["serve"]  # (the fixture, used by name)


@pytest.mark.parametrize(
    "error",
    [{"message": "upstream timed out"}, "upstream connect error or disconnect/reset before headers"],
    ids=["message-alone", "text-alone"],
)
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_error_body_under_200_without_code_is_read_as_the_same_error_in_a_stream(
    serve, transport: Transport, error: Any, api: str
):
    # Streamed, the error is a server error (500): retried on its target after a wait. Unstreamed, the same error
    # stayed a 200 of no known kind (UnexpectedStatusError): never retried, its target left at once
    first = {**CHUNK, "choices": [{"index": 0, "delta": {"content": "a"}}]}
    streamed = await serve({"/v1/chat/completions": sse(first, {"error": error})})
    with pytest.raises(E.ProviderError) as in_stream:
        await compat(streamed, transport).complete(ask(stream=True), Target("compat", "m"))
    whole = await serve(
        {"/v1/chat/completions": answer(200, {"error": error}), "/v1/responses": answer(200, {"error": error})}
    )
    with pytest.raises(E.ProviderError) as in_body:
        await compat(whole, transport).complete(ask(), Target("compat", "m", params=(("api", api),)))
    said = error if isinstance(error, str) else error["message"]
    assert type(in_stream.value) is E.ServerError and in_stream.value.status == 500
    assert type(in_body.value) is E.ServerError, type(in_body.value)
    assert in_body.value.status == 500 and in_body.value.retryable and in_body.value.moves_on
    assert said in in_body.value.message and in_body.value.maybe_billed
    # both came with HTTP 200: their messages said "HTTP 500", which no server sent; they say where the error was
    assert f"compat:m: an error in the answer's stream: {said}" in in_stream.value.message
    assert f"compat:m: an error body under HTTP 200: {said}" in in_body.value.message
    assert "HTTP 500" not in in_stream.value.message + in_body.value.message


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_lm_studios_200_for_a_route_it_lacks_is_still_no_server_error(serve, transport: Transport, api: str):
    # the control: no retry lets a missing route answer
    said = {"error": "Unexpected endpoint or method. (POST /v1/chat/completions)"}
    server = await serve({"/v1/chat/completions": answer(200, said), "/v1/responses": answer(200, said)})
    with pytest.raises(E.ProviderError) as info:
        await compat(server, transport).complete(ask(), Target("compat", "m", params=(("api", api),)))
    assert type(info.value) is E.UnexpectedStatusError and info.value.status == 200 and not info.value.retryable


def test_the_servers_words_are_read_after_where_the_error_was_said():
    # local.py quotes what a server said when it refused JSON mode as a schema: after "HTTP 400: ", and now after
    # the words an error said inside a 200 has in place of a status (with or without the answer's request id)
    from magsag_mcp.providers.http_errors import IN_STREAM, UNDER_200, server_words

    def error(message: str, status: int = 400) -> E.ProviderError:
        return E.BadRequestError(message, provider="compat", model="m", status=status)

    said = server_words(error("compat:m: HTTP 400 (request id r7): json_schema is not supported"))
    assert said == "json_schema is not supported"
    assert server_words(error("compat:m: HTTP 400: json_schema is not supported")) == "json_schema is not supported"
    assert server_words(error(f"compat:m{IN_STREAM} (request id r7): bad format")) == "bad format"
    assert server_words(error(f"compat:m{UNDER_200}: bad format")) == "bad format"
    assert server_words(error("something else entirely")) == "something else entirely"
