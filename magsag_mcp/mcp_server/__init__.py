"""The magsag MCP server: ``build_server()`` and the ``magsag-mcp`` command (``__main__.main``).

Tools are thin over :class:`magsag_mcp.service.Service`; see :mod:`.tools`, :mod:`.resources`,
:mod:`.http` (streamable HTTP with Host/Origin checks and a bearer token) and :mod:`.__main__`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import build_server

__all__ = ["build_server"]


if not TYPE_CHECKING:  # seen by a type checker, it would make every name of the package exist (as Any)

    def __getattr__(name: str) -> Any:
        if name == "build_server":
            from .server import build_server

            return build_server
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:  # the lazy name too: what a REPL's or a notebook's completion offers
    return sorted({*globals(), *__all__})
