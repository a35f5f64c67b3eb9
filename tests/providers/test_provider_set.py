"""ProviderSet.describe: what ``magsag doctor`` reports per provider, readiness included."""

from __future__ import annotations

from magsag_mcp.providers import ProviderSet, provider_names
from magsag_mcp.transport import Transport


def test_describe_says_why_each_provider_cannot_be_called():
    env = {"OPENAI_API_KEY": "sk-test-0123456789", "AZURE_OPENAI_API_KEY": "azure-test-key-0123456789"}
    report = ProviderSet(env, Transport()).describe()
    assert sorted(report) == provider_names()
    assert report["openai"]["unavailable"] is None and report["openai"]["key_set"] is True
    assert "ANTHROPIC_API_KEY" in report["anthropic"]["unavailable"]
    assert "AZURE_OPENAI_ENDPOINT" in report["azure"]["unavailable"]  # a key but no endpoint is not ready
    assert report["fake"]["unavailable"] is None
    assert all("unavailable" in info for info in report.values())
    assert "sk-test-0123456789" not in str(report)
