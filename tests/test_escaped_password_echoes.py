"""A known credential holding what JSON, HTML or a URL write escaped besides ``/``, ``+`` and ``=`` (a ``"`` or a
``\\``, an ``&``, ``<``, ``@``, a letter past ASCII: a proxy's password, a gateway's ``gateway_auth``) echoed so: a
server quoting the request body it refused in its JSON error (``"input": "p@ss\\"w..."``), an HTML error page, a
query. It was looked for only as it is, and stayed whole in the error, the ledger and the logs."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from magsag_mcp.redaction import holds_secret, redact, register_secret

pytestmark = pytest.mark.usefixtures("restored_secrets")

SECRETS = [
    'p@ss"w&rd<9>x',
    "sv\\Hx4Tq9Lw\\t0ken",
    "C:\\svc\\t0ken-Hx4T",
    "s\u00e9nha-Pr0xy-\u00fcber!",
    "gw tok&en=Hx4Tq9Lw2Z",
]


def _written(secret: str) -> dict[str, str]:
    return {
        "json": json.dumps({"input": secret}),
        "json-utf8": json.dumps({"input": secret}, ensure_ascii=False),
        "html": f"<p>{html.escape(secret)}</p>",
        "html-text": f"<p>{html.escape(secret, quote=False)}</p>",
        "url": "https://gw.example/v1?x=" + quote(secret, safe=""),
        "url-lower": "https://gw.example/v1?x="
        + re.sub("%[0-9A-F]{2}", lambda hex_: hex_[0].lower(), quote(secret, "")),
        "form": "a=1&x=" + quote_plus(secret),
    }


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("how", sorted(_written("x")))
def test_a_credential_escaped_as_json_html_or_a_url_writes_it_is_removed(secret: str, how: str):
    register_secret(secret)
    text = _written(secret)[how]
    said = redact(f"upstream said: {text} (refused)")
    assert "[REDACTED]" in said, said
    shown = {form[len(secret) // 3 : len(secret) // 3 + 4] for form in (secret, *_written(secret).values())}
    assert all(part not in said for part in shown if part.isalnum()), said
    assert holds_secret(f"run-{text}")
