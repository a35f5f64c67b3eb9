"""What a server echoes of what it was sent stays redacted: the path with a token in it, a credential
param, a key in an answer's content filter results; a routing target's credentials, settings that are no secrets,
and a key given to the CLI as a cursor, a mode or a path is not echoed cut past redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.errors import redact, register_secret
from magsag_mcp.ledger import Ledger
from magsag_mcp.service import Service
from magsag_mcp.types import Target
from tests.redaction_helpers import AZURE_KEY, _stored, pieces

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]


@pytest.mark.parametrize(
    ("status", "content_type", "said"),
    [
        (404, "text/plain", "Cannot POST {path}"),  # a web framework's default answer for a route it lacks
        (404, "application/json", '{{"error": {{"message": "No route for {path}", "type": "invalid_request_error"}}}}'),
        (502, "text/html", "<html><head><title>502 Bad Gateway: {path}</title></head></html>"),
    ],
    ids=["text", "json", "html-title"],
)
@pytest.mark.parametrize("provider", ["compat", "azure"])
async def test_a_server_echoing_the_path_asked_does_not_show_the_token_in_the_base_urls_path(
    transport, status: int, content_type: str, said: str, provider: str
):
    # The URL the 404's fix names had its token masked, and yet the same message quoted the server's own words,
    # "Cannot POST /<token>/v1/chat/completions", whole: in the error, the ledger's record and the trace.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import MagsagError
    from magsag_mcp.providers.openai import AzureProvider, CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    token = f"Echo{status}{content_type.split('/')[1]}{provider}Tok9x8Y7z6"

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=status, content_type=content_type, text=said.format(path=request.path))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        if provider == "compat":
            env = {"MAGSAG_COMPAT_BASE_URL": str(server.make_url(f"/gw/{token}/v1"))}
            called = CompatProvider(env, transport)
        else:  # an API Management gateway in front of the resource, its token in the path
            env = {"AZURE_OPENAI_ENDPOINT": str(server.make_url(f"/gw/{token}/")), "AZURE_OPENAI_API_KEY": AZURE_KEY}
            called = AzureProvider(env, transport)
        with pytest.raises(MagsagError) as caught:
            await called.complete(LLMRequest(messages=[Message("user", "hi")]), Target(provider, "gw-model"))
    finally:
        await server.close()
    assert provider == "azure" or "/gw/[REDACTED]/v1/chat/completions" in caught.value.message, caught.value.message
    assert token not in str(caught.value.to_dict()) and token not in str(caught.value)


def test_a_routing_target_without_a_model_is_refused_without_showing_its_credentials(catalog_copy: Path):
    # The refusal quoted the target as written: a gateway's user:password@ and a credential param went to
    # `catalog validate`, `doctor`, and every MCP client of a server that could not open its catalog.
    from magsag_mcp.catalog import validate_catalog

    routing = catalog_copy / "routing" / "default.yaml"
    target = (
        "{provider: compat, model: '', base_url: 'https://team:GwPassw0rd-xyz@gw.corp/v1?sig=GwSig0987',"
        " params: {gateway_auth: '${GW_AUTH_VALUE}', temperature: 0}}"
    )
    text = routing.read_text()
    routing.write_text(text.replace("chain: [openai:o1-preview, openai:gpt-4o]", f"chain: [{target}]", 1))
    problems = validate_catalog(catalog_copy, env={"GW_AUTH_VALUE": "gw-auth-value-7788"})
    said = [p for p in problems if "a target needs a model" in p]
    assert len(said) == 1, problems
    for secret in ("GwPassw0rd-xyz", "GwSig0987", "gw-auth-value-7788"):
        assert secret not in said[0], said[0]
    assert "https://[REDACTED]@gw.corp/v1?[REDACTED]" in said[0] and "'temperature': 0" in said[0]


async def test_a_credential_param_echoed_by_the_server_never_reaches_the_error_or_the_ledger(
    catalog_copy: Path, tmp_path: Path
):
    # The trace showed the param as [REDACTED], and yet a server that quotes what it refused (vLLM's pydantic
    # "Extra inputs are not permitted ... 'input': '<value>'") brought the value back whole: in the error,
    # the ledger's record and the trace's attempts.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    secret = "gw-header-value-55aa77"

    async def refuse(request: web.Request) -> web.Response:
        body = await request.json()
        problems = [
            {"type": "extra_forbidden", "loc": ["body", k], "msg": "Extra inputs are not permitted", "input": v}
            for k, v in body.items()
            if k == "gateway_auth"
        ]
        said = f"1 validation error for ChatCompletionRequest: {problems!r}"
        return web.json_response(
            {"object": "error", "message": said, "type": "BadRequestError", "code": 400}, status=400
        )

    routing = catalog_copy / "routing" / "default.yaml"
    target = "{provider: local, model: 'llama3.1:70b', params: {gateway_auth: '${GW_HEADER_VALUE}', seed: 7}}"
    text = routing.read_text()
    routing.write_text(
        text.replace(
            "chain: [openai:gpt-4o, anthropic:claude-3-5-sonnet-20241022, google:gemini-1.5-pro]", f"chain: [{target}]"
        )
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        env = {"MAGSAG_LOCAL_LLM_BASE_URL": str(server.make_url("/v1")), "GW_HEADER_VALUE": secret}
        svc = await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env)
        try:
            with pytest.raises(E.MagsagError) as info:
                await svc.invoke_skill("skill.analysis", {"data": "x"})
        finally:
            await svc.aclose()
    finally:
        await server.close()
    said = json.dumps(info.value.to_dict())
    assert "Extra inputs are not permitted" in said and secret not in said
    assert secret not in _stored(tmp_path / "l.db")


@pytest.mark.parametrize("setting", ["default", "bearer", "oauth2"])
def test_a_credential_params_setting_is_no_secret_that_removes_a_word_everywhere(setting: str):
    from magsag_mcp.targets import parse_target

    parse_target({"provider": "compat", "model": "m", "params": {"auth_mode": setting}})
    assert redact(f"the {setting} route") == f"the {setting} route"


@pytest.mark.parametrize("where", ["run_id", "agent"])
def test_magsag_refuses_a_key_of_its_environment_given_as_its_run_id_or_agent(
    tmp_path: Path, where: str, capsys, monkeypatch
):
    # The names were checked before the service had read its environment's keys: one shaped like no known key (an
    # Azure key's 32 hex digits) passed, and `magsag run AGENT --run-id <it>` printed it whole in the error's
    # run_id (the first call refused it, too late for the error that quoted it).
    from magsag_mcp.api import Magsag
    from magsag_mcp.cli import main
    from tests.conftest import CATALOG

    key = "7d1e9b3c5a2f48e6b0c4d8a1f3e5b7c" + ("9" if where == "run_id" else "8")
    env = {"MAGSAG_PROVIDER": "fake", "AZURE_OPENAI_API_KEY": key}
    with pytest.raises(E.InputError, match="holds what looks like an API key"):
        Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, **{where: key})
    assert not (tmp_path / "l.db").exists()
    if where == "run_id":
        key = key[:-1] + "7"  # one this process has not been told of
        for name, value in {**env, "AZURE_OPENAI_API_KEY": key}.items():
            monkeypatch.setenv(name, value)
        argv = ["run", "my-mag", "--catalog", str(CATALOG), "--db", str(tmp_path / "c.db"), "--run-id", key]
        code = main([*argv, "--payload", "{}"])
        out = capsys.readouterr()
        assert code == 2 and key not in out.out + out.err and "holds what looks like an API key" in out.err


def test_an_azure_target_uris_deployment_cut_from_the_url_sent_is_not_taken_for_a_token():
    # Only what is sent is known to redact(): the Target URI's deployment (token-shaped, 16+ characters mixing
    # digits and letters) is cut off, and a message naming that deployment keeps its name.
    from magsag_mcp.providers.openai import AzureEndpoint

    uri = "https://res.openai.azure.com/openai/deployments/gpt4o-prod-2024-11-20b/chat/completions"
    AzureEndpoint({"AZURE_OPENAI_API_KEY": AZURE_KEY}).resource_root(Target("azure", "gpt-4o", uri))
    assert redact("deployment gpt4o-prod-2024-11-20b") == "deployment gpt4o-prod-2024-11-20b"


async def test_a_base_urls_path_naming_the_models_own_name_does_not_hide_the_model(transport):
    # A Hugging Face style endpoint names the model in its path (/models/<org>/<Name>/v1), and the target's model is
    # "<org>/<Name>". The segment "<Name>" is shaped like a token (mixed case, digits), so it was made known to
    # redact(): from then on the model's own name vanished from every message of the process ("<org>/[REDACTED]"),
    # this call's and every other's. A segment that is a part of the model's name is the caller's, and shown.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.errors import MagsagError
    from magsag_mcp.providers.openai import CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    model = "acme-labs/Orca-Mini-3B-Instruct-v2"

    async def refuse(request: web.Request) -> web.Response:
        body = {"error": {"message": f"The model `{model}` is loading", "type": "server_error"}}
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        env = {"MAGSAG_COMPAT_BASE_URL": str(server.make_url(f"/models/{model}/v1"))}
        with pytest.raises(MagsagError) as caught:
            await CompatProvider(env, transport).complete(
                LLMRequest(messages=[Message("user", "hi")]), Target("compat", model)
            )
    finally:
        await server.close()
    assert f"The model `{model}` is loading" in caught.value.message, caught.value.message
    assert E.redact(f"routed to compat:{model}") == f"routed to compat:{model}"


def test_a_prompt_cache_key_is_no_credential_and_does_not_vanish_or_refuse_a_name():
    # OpenAI's prompt_cache_key (a tenant's or a user's id, "prompt-cache-key-1234" in the spec) ends in "_key", so a
    # target's value of it was taken for a credential and made known to redact(): it vanished from every message of
    # the process, and an agent or run_id of the same words was refused as "holds what looks like an API key".
    from magsag_mcp.targets import parse_target
    from magsag_mcp.text import check_name

    value = "support-desk-tenant-42"
    target = parse_target({"provider": "openai", "model": "gpt-4o", "params": {"prompt_cache_key": value}})
    assert target.to_dict()["params"] == {"prompt_cache_key": value}
    assert redact(f"agent {value} failed") == f"agent {value} failed"
    check_name(value, "agent")  # not refused


@pytest.mark.parametrize(
    "token", ["Gw5Tok9x8Y7z6Ab%2bCd", "Gw5Tok9x8Y7z6Ab|Cd"], ids=["lower-case-escape", "escaped-on-the-wire"]
)
async def test_a_server_echoing_the_path_as_sent_does_not_show_the_token_written_otherwise(transport, token: str):
    # Known as written and percent-decoded, a token went out as the HTTP client writes it ("%2B" for "%2b", "%7C" for
    # "|"), and a server quoting the path it was sent ("Cannot POST /gw/<token>/v1/...") showed it in neither form
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from magsag_mcp.providers.openai import CompatProvider
    from magsag_mcp.types import LLMRequest, Message

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=404, text=f"Cannot POST {request.raw_path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        env = {"MAGSAG_COMPAT_BASE_URL": f"http://127.0.0.1:{server.port}/gw/{token}/v1"}
        with pytest.raises(E.MagsagError) as caught:
            await CompatProvider(env, transport).complete(
                LLMRequest(messages=[Message("user", "hi")]), Target("compat", "gw-model")
            )
    finally:
        await server.close()
    said = json.dumps(caught.value.to_dict())
    assert "Cannot POST /gw/[REDACTED]/v1/chat/completions" in said
    assert not pieces(token.replace("%2b", "+"), said.replace("%2B", "+").replace("%7C", "|")), said


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_key_echoed_in_an_answers_content_filter_results_stays_out_of_its_warnings_and_the_ledger(
    tmp_path: Path, stream: bool
):
    # The answer's warnings quoted what the vendor said of its filters (Azure's content_filter_results: each
    # category's name and severity) as it came, into the result and the attempt's row: a gateway that writes the
    # request's headers into that object brought the key back whole in both, where errors and the answer's model and
    # tier had it removed. (An answer the filter stopped part way is now the content_filtered error, not a result with
    # a warning: its message quotes the filters, and is checked the same way.)
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def answer(request: web.Request) -> web.StreamResponse:
        key = request.headers["api-key"]
        filters = {
            "hate": {"filtered": True, "severity": "medium"},
            f"gateway {key}": {"filtered": True, "severity": f"api-key {key}"},
        }
        usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        head = {"id": "chatcmpl-1", "created": 1, "model": "gpt-4o"}
        if not (await request.json()).get("stream"):
            message = {"role": "assistant", "content": "part of an answer"}
            choice = {"index": 0, "message": message, "finish_reason": "content_filter"}
            choice["content_filter_results"] = filters
            return web.json_response({**head, "object": "chat.completion", "choices": [choice], "usage": usage})
        chunks = [
            {"index": 0, "delta": {"role": "assistant", "content": "part of an answer"}, "finish_reason": None},
            {"index": 0, "delta": {}, "finish_reason": "content_filter", "content_filter_results": filters},
        ]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for data in ({**head, "object": "chat.completion.chunk", "choices": [c]} for c in chunks):
            await resp.write(f"data: {json.dumps(data)}\n\n".encode())
        last = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        await resp.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    env = {"AZURE_OPENAI_ENDPOINT": str(server.make_url("")), "AZURE_OPENAI_API_KEY": AZURE_KEY}
    progress = (lambda event, data: None) if stream else None  # (a call with a progress callback is streamed)
    try:
        async with await Service.open(db=tmp_path / "l.db", env=env) as svc:
            payload = {"data": "x", "model_config": {"model": "azure:gpt-4o"}}
            with pytest.raises(E.ContentFilteredError) as caught:
                await svc.invoke_skill("skill.analysis", payload, progress=progress)
    finally:
        await server.close()
    shown = json.dumps(caught.value.to_dict())
    assert "hate (medium)" in shown and "the part of the answer that came before it is not returned" in shown
    assert AZURE_KEY not in shown and AZURE_KEY not in repr(caught.value)
    assert "hate (medium)" in _stored(tmp_path / "l.db") and AZURE_KEY not in _stored(tmp_path / "l.db")


#: Azure's keys of today (Azure AI Foundry's): 84 letters and digits, no prefix to match
AZURE_LONG_KEY = "7Qx2AbCd9Ef3Gh5Jk8Lm1Np4Rs6Tu0Vw3Xy6Za9Bc2De5Fg8Hj1Kl4Mn7Pq0St3Uv6Wx9Yz2AAAACOGaB3c"


@pytest.mark.parametrize("command", [["data", "query"], ["data", "search", "timeout"]], ids=["query", "search"])
def test_a_key_passed_as_a_cursor_is_not_echoed_cut_past_redaction(
    tmp_path: Path, monkeypatch, capsys, command: list[str]
):
    # The refusal of a cursor that is none quoted its first 80 characters, cut before anything was redacted: a key
    # longer than that (Azure's 84-character keys), passed as --cursor or a tool's cursor (the wrong variable),
    # was no longer the whole key redact() removes, and 80 of its 84 characters went to stderr and the CI log.
    import anyio

    from magsag_mcp.cli import main

    db = tmp_path / "l.db"

    async def fill() -> None:
        async with Ledger(db) as ledger:
            await ledger.log_event(None, None, "opened", {})

    anyio.run(fill)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_LONG_KEY)
    assert main([*command, "--cursor", AZURE_LONG_KEY]) == 2
    err = capsys.readouterr().err
    assert "is not one" in err and "gave" in err
    assert pieces(AZURE_LONG_KEY, err) == []


def test_a_key_set_as_the_call_base_urls_mode_is_not_echoed_cut_past_redaction():
    # The same cut, of MAGSAG_CALL_BASE_URLS's value at 40 characters, in the refusal doctor and every opening print
    from magsag_mcp.settings import MODE_ENV, only_configured

    register_secret(AZURE_LONG_KEY)
    with pytest.raises(E.ConfigError) as info:
        only_configured({MODE_ENV: AZURE_LONG_KEY})
    assert "is not a mode" in info.value.message and pieces(AZURE_LONG_KEY, info.value.message) == []


@pytest.mark.parametrize("variable", ["MAGSAG_DB", "SSL_CERT_FILE"])
def test_doctor_does_not_print_a_key_set_as_a_path(tmp_path: Path, capsys, monkeypatch, variable: str):
    # The same swap, of a key into a variable that names a file: doctor, which never prints a key, printed
    # "ledger  : /folder/<the key>", a note quoting "MAGSAG_DB=<the key>" and "ca      : SSL_CERT_FILE=<the key>"
    # as they were, in its text and its JSON alike.
    from magsag_mcp.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "l.db"))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv(variable, AZURE_KEY)
    main(["doctor", "--json"])
    out, err = capsys.readouterr()
    json.loads(out)
    main(["doctor"])
    text, err2 = capsys.readouterr()
    assert variable in text and "[REDACTED]" in text
    assert pieces(AZURE_KEY, out + err + text + err2) == []


@pytest.mark.parametrize("command", [["data", "query"], ["budget"], ["flow", "summarize"]])
def test_the_no_ledger_note_does_not_print_a_key_set_as_magsag_db(tmp_path: Path, capsys, monkeypatch, command):
    # The note of the reading commands that found no ledger quoted MAGSAG_DB and the path it names as they were:
    # a key swapped into MAGSAG_DB went to stderr and the CI log that keeps it, as it did in doctor's report.
    from magsag_mcp.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv("MAGSAG_DB", AZURE_KEY)
    main(command)
    out, err = capsys.readouterr()
    assert "no ledger at" in err and "MAGSAG_DB=[REDACTED]" in err
    assert pieces(AZURE_KEY, out + err) == []
