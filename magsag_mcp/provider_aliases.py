"""The other names the providers answer to (``gemini`` is ``google``), one table for the provider registry
(:mod:`magsag_mcp.providers`) and the MCP server's argument models (:mod:`magsag_mcp.mcp_server.provider_names`).
A module of its own, importing nothing, so that building the server's schemas imports no provider (the HTTP client)."""

from __future__ import annotations

#: the provider registry's built-in names (a test keeps them in step with :mod:`magsag_mcp.providers`' registry)
BUILT_IN_PROVIDERS = ("anthropic", "azure", "compat", "fake", "google", "local", "openai")

PROVIDER_ALIASES = {
    "gemini": "google",
    "ollama": "local",
    "vllm": "local",
    "lmstudio": "local",
    "azure_openai": "azure",
    "azure-openai": "azure",
    "claude": "anthropic",
}
