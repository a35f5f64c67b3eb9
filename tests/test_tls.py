"""TLS behind an inspecting proxy: a CA bundle named by SSL_CERT_FILE / SSL_CERT_DIR is trusted, one that
cannot be read is named when a certificate is not trusted, and an untrusted certificate says how to fix it.
The server is on loopback, its certificate signed by a test CA (tests/fakes/tls, valid until 2126, for
127.0.0.1 and localhost only)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.tls import CABundles
from magsag_mcp.transport import Timeouts, Transport

pytestmark = pytest.mark.anyio

TLS = Path(__file__).parent / "fakes" / "tls"
CA = TLS / "ca.pem"
SHORT = Timeouts(connect=2.0, read=5.0, from_settings=False)


@pytest.fixture
async def https_url() -> AsyncIterator[str]:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "server.pem", TLS / "server.key")
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=context)
    yield f"https://127.0.0.1:{server.port}/v1"
    await server.close()


async def post(transport: Transport, url: str) -> int:
    try:
        return (await transport.post_json(url + "/chat/completions", {}, headers={})).status
    finally:
        await transport.aclose()


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="c_rehash needs the openssl command")


def put_ca_as_c_rehash_would(directory: Path) -> None:
    """The test CA in ``directory`` under its subject hash (``HASH.0``), as OpenSSL looks it up in a CA dir."""
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(CA)], capture_output=True, text=True, check=True
    ).stdout.strip()
    shutil.copy(CA, directory / f"{subject_hash}.0")


async def test_the_bundle_in_ssl_cert_file_is_trusted(https_url: str):
    assert await post(Transport(env={"SSL_CERT_FILE": str(CA)}, timeouts=SHORT), https_url) == 200


@needs_openssl
async def test_the_directory_in_ssl_cert_dir_is_trusted(https_url: str, tmp_path: Path):
    put_ca_as_c_rehash_would(tmp_path)
    assert await post(Transport(env={"SSL_CERT_DIR": str(tmp_path)}, timeouts=SHORT), https_url) == 200


async def test_an_untrusted_certificate_says_how_to_trust_it(https_url: str):
    with pytest.raises(E.ProviderConnectionError) as info:
        await post(Transport(env={}, timeouts=SHORT), https_url)
    message = info.value.message
    assert "TLS certificate is not trusted" in message and "SSL_CERT_FILE" in message
    assert "certificate" in message.split("(", 1)[1]  # OpenSSL's reason, e.g. self-signed certificate in chain
    assert not info.value.maybe_billed  # the handshake failed: nothing was sent


@pytest.mark.parametrize("name", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
async def test_a_bundle_that_cannot_be_read_is_named_by_the_certificate_error(
    https_url: str, tmp_path: Path, name: str
):
    missing = str(tmp_path / "corp-ca.pem")
    with pytest.raises(E.ProviderConnectionError) as info:
        await post(Transport(env={name: missing}, timeouts=SHORT), https_url)
    message = info.value.message
    assert "TLS certificate is not trusted" in message
    assert f"{name}={missing!r} could not be loaded (" in message and "organisation's CA" in message


@needs_openssl
async def test_a_stale_bundle_variable_does_not_fail_what_the_other_one_serves(https_url: str, tmp_path: Path):
    # a variable left pointing at a file that is gone was skipped by OpenSSL: calls the system's CAs (here
    # the directory's) served kept working, and still do
    put_ca_as_c_rehash_would(tmp_path)
    env = {"SSL_CERT_FILE": str(tmp_path / "gone.pem"), "SSL_CERT_DIR": str(tmp_path)}
    assert await post(Transport(env=env, timeouts=SHORT), https_url) == 200


def test_doctor_sees_which_bundle_is_in_use_and_which_cannot_be_loaded(tmp_path: Path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    cas = CABundles({"SSL_CERT_FILE": str(bad), "SSL_CERT_DIR": str(TLS)})
    described = cas.describe()
    assert described["SSL_CERT_DIR"] == str(TLS)
    assert described["SSL_CERT_FILE"].startswith(f"{bad} (cannot be loaded: ")
    assert CABundles({}).context() is True and CABundles({"SSL_CERT_FILE": " "}).named == {}


def test_the_context_offers_http_1_1_as_aiohttps_own_does(monkeypatch):
    offered: list[list[str]] = []
    monkeypatch.setattr(ssl.SSLContext, "set_alpn_protocols", lambda self, protocols: offered.append(protocols))
    assert CABundles({"SSL_CERT_FILE": str(CA)}).context() is not True
    assert offered == [["http/1.1"]]


async def test_an_untrusted_certificate_moves_on_without_being_retried(https_url: str, tmp_path: Path):
    # The certificate is refused the same way on every try until SSL_CERT_FILE is set: each target was tried
    # three times, with the backoff slept between, before the call moved on (or failed), and the trace and the
    # ledger held three identical failures per target.
    from magsag_mcp.service import Service

    env = {"OPENAI_BASE_URL": https_url, "OPENAI_API_KEY": "sk-test-0123456789", "MAGSAG_MAX_RETRIES": "2"}
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with Service.open(db=tmp_path / "l.db", env=env) as svc:
        svc.cascade.sleep = sleep
        mc = {"model": "gpt-4o", "fallbacks": ["gpt-4o-mini"]}
        with pytest.raises(E.ProviderConnectionError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    tried = [(a.model, a.attempt_number, a.error_class) for a in info.value.attempts]
    assert tried == [("gpt-4o", 1, "connection_error"), ("gpt-4o-mini", 1, "connection_error")] and waits == []
    assert "SSL_CERT_FILE" in info.value.message  # the fix, which no retry stands in for
