"""How a known key is written escaped, for :func:`~magsag_mcp.redaction.redact` to find it so: a key holding ``/``,
``+`` or ``=`` (a base64 key: an Azure resource's, a gateway's) as JSON writes it, or a URL does
(:func:`escaped_forms`, each known to redact() as the key is).
"""

from __future__ import annotations


def escaped_forms(secret: str) -> tuple[str, ...]:
    """``secret`` as it is echoed escaped, when it holds ``/``, ``+`` or ``=`` (a base64 key: an Azure resource's, a
    gateway's): in JSON with ``\\/`` (PHP's and some Java encoders write every ``/`` so), in a URL with ``%2F``,
    ``%2B``, ``%3D`` (a query or a form a gateway quotes; hex in either case), or with ``/`` kept and only ``+`` and
    ``=`` escaped (Python's ``quote()``, whose default keeps ``/``: a Python gateway quoting the URL it was asked).
    Each is known to redact() as the key is, its start and pieces too: looked for as it is only, such a key
    escaped stayed whole in the text; and one holding ``/`` and ``+`` or ``=``, written with ``/`` kept and cut by a
    line break before its 12th character, kept it all (no piece of any other form on either side)."""
    if not any(c in secret for c in "/+="):
        return ()
    forms = [secret.replace("/", "\\/")] if "/" in secret else []
    slash_kept = secret.replace("+", "%2B").replace("=", "%3D")
    for url in (slash_kept.replace("/", "%2F"), *((slash_kept,) if "/" in secret and slash_kept != secret else ())):
        forms += (url, url.replace("%2F", "%2f").replace("%2B", "%2b").replace("%3D", "%3d"))
    return tuple(forms)
