"""Which certificate authorities a TLS connection to a provider trusts: the system's, plus the bundle in
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when the service's environment names one.

Behind a proxy or gateway that inspects TLS, every vendor's certificate is signed by the organisation's
own CA, and the usual fix is ``SSL_CERT_FILE=/path/to/corp-ca.pem``. OpenSSL reads that variable only
from the process's environment, and only once: aiohttp builds its TLS context when it is imported, so a
variable set later (in a notebook, or in the ``env`` given to :meth:`Service.open`) was never seen, and a
path that does not exist was skipped silently, leaving every vendor "untrusted" with nothing saying why.
Here the named bundle is loaded explicitly and added to the system's CAs (a bundle of the corporate CA
alone then still reaches hosts outside the proxy). One that cannot be read is skipped as before, so that
a stale variable does not fail calls the system's CAs serve, but it is remembered: an untrusted
certificate's error and ``magsag doctor`` name it.
"""

from __future__ import annotations

import errno
import os
import ssl
from collections.abc import Mapping

__all__ = ["CA_FILE_ENV", "CA_DIR_ENV", "CABundles"]

CA_FILE_ENV = "SSL_CERT_FILE"
CA_DIR_ENV = "SSL_CERT_DIR"


class CABundles:
    """The environment's CA bundle settings; read from disk by :meth:`context`, on the first request."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.named = {name: env[name].strip() for name in (CA_FILE_ENV, CA_DIR_ENV) if (env.get(name) or "").strip()}
        #: per variable, why its bundle could not be loaded
        self.problems: dict[str, str] = {}
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext | bool:
        """A verifying context that also trusts the named bundles, or True (aiohttp's default) when none is
        named or none could be loaded."""
        if self._context is None and self.named and not self.problems:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])  # as aiohttp's own context: it speaks HTTP/1.1 only
            loaded = False
            for name, value in self.named.items():
                try:
                    if name == CA_DIR_ENV and not os.path.isdir(value):  # OpenSSL would skip it without a word
                        raise FileNotFoundError(errno.ENOENT, "not a directory")
                    context.load_verify_locations(**{"cafile" if name == CA_FILE_ENV else "capath": value})
                    loaded = True
                except (OSError, ssl.SSLError) as exc:
                    self.problems[name] = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if loaded:
                self._context = context
        return self._context or True

    def unloaded(self) -> str:
        """The bundles that could not be loaded, for an untrusted certificate's message ('' when none)."""
        return "; ".join(
            f"{name}={self.named[name]!r} could not be loaded ({why}): set it to "
            f"{'a readable PEM file' if name == CA_FILE_ENV else 'a directory of hashed PEM certificates'} "
            "holding your organisation's CA"
            for name, why in self.problems.items()
        )

    def describe(self) -> dict[str, str]:
        """What ``magsag doctor`` shows: each named bundle, and why it could not be loaded."""
        self.context()
        return {
            name: value + (f" (cannot be loaded: {self.problems[name]})" if name in self.problems else "")
            for name, value in self.named.items()
        }
