"""A token in a target's base URL path (shaped like no known key) never reaches a target's output,
a not found answer's URL or a message naming the model, and the segment naming the model is still shown."""

from __future__ import annotations

import pytest

from magsag_mcp.types import Target

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


#: a gateway's token in the path, shaped like no known key (redact() alone leaves it)
PATH_TOKEN = "gw7Qx2secretTOKEN9876"


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        (f"https://gw.example/v1/{PATH_TOKEN}/openai", "https://gw.example/v1/[REDACTED]/openai"),
        (f"https://gw.example/%{ord(PATH_TOKEN[0]):X}{PATH_TOKEN[1:]}/v1", "https://gw.example/[REDACTED]/v1"),
        (  # an account's id, as Cloudflare's AI Gateway takes it
            "https://gateway.ai.cloudflare.com/v1/0123456789abcdef0123456789abcdef/my-gw/openai",
            "https://gateway.ai.cloudflare.com/v1/[REDACTED]/my-gw/openai",
        ),
        # words and API names stay, so that the trace still says where the call went
        ("https://apim.corp/my-team-gateway/openai/v1", "https://apim.corp/my-team-gateway/openai/v1"),
        ("https://generativelanguage.googleapis.com/v1beta", "https://generativelanguage.googleapis.com/v1beta"),
    ],
)
def test_a_token_in_a_targets_url_path_never_reaches_its_output(base_url: str, shown: str):
    # Before: the path was shown as it is, and a token that redact() does not know the shape of went to
    # every trace, explain_route and ledger record that named the target.
    assert Target("compat", "gw-model", base_url).to_dict()["base_url"] == shown


def test_an_azure_target_uri_shows_its_deployment():
    uri = "https://res.openai.azure.com/openai/deployments/gpt-4o-mini-2024-07-18/chat/completions"
    assert Target("azure", "gpt-4o-mini-2024-07-18", uri).to_dict()["base_url"] == uri


async def test_a_not_found_answer_does_not_show_a_token_in_the_base_urls_path(transport):
    # The 404 message names the URL asked (check the model, check the base URL): its path held the token.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import MagsagError
    from magsag_mcp.providers.openai import CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    async def not_found(request: web.Request) -> web.Response:
        return web.json_response({"error": "no route"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        target = Target("compat", "gw-model", str(server.make_url(f"/{PATH_TOKEN}/v1")))
        request = LLMRequest(messages=[Message("user", "hi")])
        with pytest.raises(MagsagError) as caught:
            await CompatProvider({}, transport).complete(request, target)
    finally:
        await server.close()
    assert "/[REDACTED]/v1/chat/completions" in caught.value.message and PATH_TOKEN not in str(caught.value.to_dict())


async def test_a_not_found_answer_still_names_the_model_in_the_url_it_shows(transport):
    # A model or deployment name is often 16+ characters mixing digits and letters: the 404's message, whose
    # point is "check the model name", shows it (only the token in the base URL's path is hidden).
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import ModelNotFoundError
    from magsag_mcp.providers.gemini import GeminiProvider
    from magsag_mcp.types import LLMRequest, Message

    app = web.Application()  # nothing at any path: aiohttp's plain 404
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        target = Target("google", "gemini-2.0-flash-001", str(server.make_url(f"/{PATH_TOKEN}")))
        request = LLMRequest(messages=[Message("user", "hi")])
        with pytest.raises(ModelNotFoundError) as caught:
            await GeminiProvider({"GEMINI_API_KEY": "gm-test-key-0123456789"}, transport).complete(request, target)
    finally:
        await server.close()
    message = caught.value.message
    assert "/[REDACTED]/v1beta/models/gemini-2.0-flash-001:generateContent was not found" in message, message
    assert PATH_TOKEN not in message


@pytest.mark.parametrize("model", ["e", "T", "7", "secret", "o3"])
async def test_a_model_named_by_the_caller_does_not_unmask_a_token_in_the_base_urls_path(transport, model: str):
    # A segment holding the model was kept (an Azure deployment, Gemini's models/NAME:generateContent): held
    # anywhere in it, so a caller naming model "e" (or a real model such as "o3" a token happens to contain) had
    # the operator's gateway token shown whole in the 404's message and in the target's base_url.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import MagsagError
    from magsag_mcp.providers.openai import CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    token = PATH_TOKEN.replace("secret", "secret-o3-")
    assert Target("compat", model, f"https://gw.example/v1/{token}/openai").to_dict()["base_url"] == (
        "https://gw.example/v1/[REDACTED]/openai"
    )

    async def not_found(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "model not found", "code": "model_not_found"}}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        env = {"MAGSAG_COMPAT_BASE_URL": str(server.make_url(f"/{token}/v1"))}
        with pytest.raises(MagsagError) as caught:
            await CompatProvider(env, transport).complete(
                LLMRequest(messages=[Message("user", "hi")]), Target("compat", model)
            )
    finally:
        await server.close()
    assert "/[REDACTED]/v1/chat/completions" in caught.value.message, caught.value.message
    assert token not in str(caught.value.to_dict())


@pytest.mark.parametrize(
    ("model", "segment"),
    [
        ("gemini-2.0-flash-001", "gemini-2.0-flash-001:generateContent"),
        ("models/gemini-2.0-flash-001", "gemini-2.0-flash-001:generateContent"),
        ("my-deployment/2024-07-18", "my-deployment%2F2024-07-18"),
    ],
)
def test_the_segment_naming_the_model_is_still_shown(model: str, segment: str):
    from magsag_mcp.types import masked_path

    assert masked_path(f"/{PATH_TOKEN}/v1beta/models/{segment}", model) == f"/[REDACTED]/v1beta/models/{segment}"


#: keys a gateway may take in its path that mix no two of digits, lower and upper case: a numeric token, a token of a
#: lower case alphabet (base32 without its digits, a passphrase run together)
ONE_KIND_TOKENS = ["4839201948571029384756", "qwmnzxkjrtplvbhgfdsaeyuc", "CORRECTHORSEBATTERYSTAPLEX"]


@pytest.mark.parametrize("token", ONE_KIND_TOKENS)
def test_a_token_of_one_kind_of_character_in_a_path_is_masked_in_the_repr_the_output_and_the_endpoint(token: str):
    from magsag_mcp.errors import redact
    from magsag_mcp.providers.base_urls import register_path_tokens
    from magsag_mcp.served_models import endpoint_host

    base_url = f"https://gw.example/v1/{token}/chat"
    target = Target("compat", "gw-model", base_url)
    assert token not in repr(target) and "/v1/[REDACTED]/chat" in repr(target)
    assert target.to_dict()["base_url"] == "https://gw.example/v1/[REDACTED]/chat"
    endpoint = endpoint_host(base_url)  # the ledger's attempts.endpoint
    assert token not in endpoint and endpoint.startswith("gw.example/v1/~") and endpoint.endswith("/chat")
    register_path_tokens(base_url)  # a server quoting the path it was asked
    assert token not in redact(f"Cannot POST /v1/{token}/chat")


@pytest.mark.parametrize(
    "base_url",
    [
        "https://dbc-1.cloud.databricks.com/serving-endpoints/v1",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "https://gw.example/generativelanguage/v1beta/openai",
        "https://gw.example/openai/deployments/chat/completions",
        "https://gw.example/2024/v1",  # a short number: a version, a year
    ],
)
def test_api_words_and_short_numbers_in_a_path_are_still_shown(base_url: str):
    assert Target("compat", "gw-model", base_url).to_dict()["base_url"] == base_url


@pytest.mark.parametrize("by_call", [False, True])
@pytest.mark.parametrize(
    ("token", "answer"),
    [
        ("mycompanyinternalgateway", "Send it through mycompanyinternalgateway, the team's mycompanyinternal proxy."),
        ("4839201948571029384756", "Vertex endpoint 4839201948571029384756 serves it (id 48392019485710)."),
    ],
)
def test_a_path_segment_of_one_kind_is_hidden_in_messages_but_not_taken_from_answers(
    token: str, answer: str, by_call: bool
):
    # A segment of one kind of character is taken for a token by its length alone: a gateway's name run together, a
    # Vertex endpoint's id. Hidden in a URL shown and in a server's echo of the path, it was registered as a key, and
    # every model's answer naming the gateway (or any 12 of its characters) lost the name
    from magsag_mcp.answer_keys import answer_holds_key, answer_without_known_keys, without_known_keys
    from magsag_mcp.errors import redact
    from magsag_mcp.providers.base_urls import register_path_tokens
    from magsag_mcp.redaction import call_scoped

    base_url = f"https://gw.example/{token}/v1"

    @call_scoped
    def judged() -> None:
        register_path_tokens(base_url, by_call=by_call)
        assert token not in redact(f"Cannot POST /{token}/v1/chat/completions")  # an error's text: still hidden
        assert without_known_keys(answer) == answer
        assert redact(answer, answer=True) == answer
        assert not answer_holds_key(answer)
        assert answer_without_known_keys({"answer": answer}) == {"answer": answer}

    judged()
    assert Target("compat", "gw-model", base_url).to_dict()["base_url"] == "https://gw.example/[REDACTED]/v1"


def test_a_path_segment_of_one_kind_that_is_also_a_key_is_still_taken_from_answers():
    # (the same text given as a credential too is a key wherever it appears, whichever was read first)
    from magsag_mcp.answer_keys import answer_holds_key
    from magsag_mcp.providers.base_urls import register_path_tokens
    from magsag_mcp.redaction import redact, register_secret

    token = "qwmnzxkjrtplvbhgfdsaeyuc"
    register_path_tokens(f"https://gw.example/{token}/v1")
    register_secret(token)
    assert answer_holds_key(f"key: {token}") and token not in redact(f"key: {token}", answer=True)
    other = "zyxwvutsrqponmlkjihgfedcba"
    register_secret(other)
    register_path_tokens(f"https://gw.example/{other}/v1")
    assert answer_holds_key(f"key: {other}") and other not in redact(f"key: {other}", answer=True)


def test_a_calls_credential_does_not_make_the_processs_path_segment_a_key_in_other_callers_answers():
    # Before: a call's credential (its target's api_key) that was the text of the configured base URL's segment took
    # that segment out of the process's texts left in answers, for good: every later caller's answer naming the
    # gateway lost the name, the process's state changed by one call's parameter
    from magsag_mcp.providers.base_urls import register_path_tokens
    from magsag_mcp.redaction import call_scoped, redact, register_call_secret

    token = "mycompanyinternalgateway"
    answer = f"Send it through {token}."
    register_path_tokens(f"https://gw.example/{token}/v1")

    @call_scoped
    def a_call_giving_it_as_its_key() -> None:
        register_call_secret(token)
        assert token not in redact(answer, answer=True)  # (in its own call it is a key)

    a_call_giving_it_as_its_key()
    assert redact(answer, answer=True) == answer


def test_a_calls_path_segment_does_not_leave_another_calls_key_in_its_answers():
    # Before: the texts a call's base URL's segments leave in answers were the process's: a call whose base URL held
    # another call's key (the same gateway's token, one call giving it in the path, one as its api_key) left that
    # key in the other call's answers while both ran
    import contextvars

    from magsag_mcp.answer_keys import answer_holds_key
    from magsag_mcp.providers.base_urls import register_path_tokens
    from magsag_mcp.redaction import redact, register_call_secret

    key = "qwmnzxkjrtplvbhgfdsaeyuc"
    giving_it = contextvars.copy_context()
    giving_it.run(register_call_secret, key)
    contextvars.copy_context().run(register_path_tokens, f"https://gw.example/{key}/v1", by_call=True)
    assert giving_it.run(redact, f"it echoed {key}", answer=True) == "it echoed [REDACTED]"
    assert giving_it.run(answer_holds_key, f"it echoed {key}")


def test_the_texts_calls_path_segments_leave_in_answers_are_not_kept_past_the_call():
    # Before: each call's base URL segment taken for a token by its length alone joined a set of the process's for
    # good: a caller naming a new gateway in each call grew it without end (a new copy of it each time)
    from magsag_mcp import redaction
    from magsag_mcp.providers.base_urls import register_path_tokens
    from magsag_mcp.redaction import call_scoped, redact

    @call_scoped
    def a_call(n: int) -> None:
        gateway = "".join(chr(ord("a") + int(d)) for d in f"{n:024d}") + "xyz"
        register_path_tokens(f"https://gw.example/{gateway}/v1", by_call=True)
        assert gateway not in redact(f"Cannot POST /{gateway}/v1")
        assert redact(f"via {gateway}", answer=True) == f"via {gateway}"

    for n in range(50):
        a_call(n)
    assert redaction._NOT_IN_ANSWERS == frozenset()
