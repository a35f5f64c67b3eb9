"""Which certificate authorities a TLS connection to a provider trusts: the system's, plus the bundle in
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when the service's environment names one.

Behind a proxy or gateway that inspects TLS, every vendor's certificate is signed by the organisation's
own CA, and the usual fix is ``SSL_CERT_FILE=/path/to/corp-ca.pem``. OpenSSL reads that variable only
from the process's environment, and only once: aiohttp builds its TLS context when it is imported, so a
variable set later (in a notebook, or in the ``env`` given to :meth:`Service.open`) was never seen, and a
path that does not exist was skipped silently, leaving every vendor "untrusted" with nothing saying why.
Here the named bundle is loaded explicitly, added to the system's CAs (a bundle of the corporate CA
alone then still reaches hosts outside the proxy), and one that cannot be read is a configuration error
naming its variable.
"""

from __future__ import annotations

import errno
import os
import ssl
from collections.abc import Mapping

from .errors import ConfigError

__all__ = ["CA_FILE_ENV", "CA_DIR_ENV", "ssl_context"]

CA_FILE_ENV = "SSL_CERT_FILE"
CA_DIR_ENV = "SSL_CERT_DIR"


def ssl_context(env: Mapping[str, str]) -> ssl.SSLContext | None:
    """A verifying context that also trusts the environment's bundle, or None (aiohttp's default) when
    the environment names none. Reads the bundle from disk: call it when the first request is made."""
    cafile = (env.get(CA_FILE_ENV) or "").strip() or None
    capath = (env.get(CA_DIR_ENV) or "").strip() or None
    if cafile is None and capath is None:
        return None
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])  # as aiohttp's own context: it speaks HTTP/1.1 only
    for name, value, kind in ((CA_FILE_ENV, cafile, "cafile"), (CA_DIR_ENV, capath, "capath")):
        if value is None:
            continue
        try:
            if kind == "capath" and not os.path.isdir(value):  # OpenSSL would skip it without a word
                raise FileNotFoundError(errno.ENOENT, "not a directory")
            context.load_verify_locations(**{kind: value})
        except (OSError, ssl.SSLError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(
                f"{name}={value!r} cannot be loaded as certificate authorities ({why}); set {name} to "
                f"{'a readable PEM file' if kind == 'cafile' else 'a directory of hashed PEM certificates'} "
                "holding your organisation's CA, or unset it"
            ) from None
    return context
