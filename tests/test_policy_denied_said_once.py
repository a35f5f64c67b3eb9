"""A call whose every target a policy forbade: its error named each target with the whole refusal, the same policy,
file and key repeated (3 KB for nine targets), in one line. It says a line per target and the shared refusal once,
naming the file, the key and each model a fix needs, with "and N more" past a few; the trace keeps them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import Magsag
from magsag_mcp import errors as E

CHAIN = (
    "openai:gpt-4o, anthropic:claude-3-5-sonnet-20241022, google:gemini-1.5-pro, openai:gpt-4o-mini, "
    "anthropic:claude-3-haiku-20240307, openai:o1-preview, google:gemini-1.5-flash, openai:gpt-4.1, openai:gpt-4.1-mini"
)
POLICY = """\
policies:
  - name: production_models
    allowed_models: [gpt-4o-mini-2024-07-18, claude-3-5-haiku-20241022, gemini-2.0-flash]
"""


def _refused(catalog_copy: Path, tmp_path: Path) -> E.MagsagError:
    (catalog_copy / "policies" / "model_governance.yaml").write_text(POLICY)
    routing = catalog_copy / "routing" / "default.yaml"
    analysis = "chain: [openai:gpt-4o, anthropic:claude-3-5-sonnet-20241022, google:gemini-1.5-pro]"
    assert analysis in routing.read_text()
    routing.write_text(routing.read_text().replace(analysis, f"chain: [{CHAIN}]"))
    with Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env={}) as mg, pytest.raises(E.PolicyDenied) as refused:
        mg.skills.invoke("skill.analysis", {"data": "Q3"})
    return refused.value


def test_a_policys_refusal_of_many_targets_is_said_once_beneath_a_line_per_target(catalog_copy: Path, tmp_path: Path):
    error = _refused(catalog_copy, tmp_path)
    message = error.message
    policy_file = str(catalog_copy / "policies" / "model_governance.yaml")
    lines = message.splitlines()
    assert lines[0] == "skill.analysis: every target failed:", message
    named = ["openai:gpt-4o", "anthropic:claude-3-5-sonnet-20241022", "google:gemini-1.5-pro"]
    named += ["anthropic:claude-3-haiku-20240307", "openai:o1-preview", "google:gemini-1.5-flash"]
    assert lines[1:7] == [f"- {target} skipped" for target in named], message
    assert lines[7] == "- and 2 more skipped the same way (the error's trace names them)", message
    # the shared refusal, once: the policy, the file and the key, the target said as "it"
    assert lines[8] == (
        "  each: policy 'production_models' forbids it (chosen by routing): it is not in "
        f"production_models.allowed_models, at {policy_file}: policies.0.allowed_models"
    ), message
    # a refusal of its own (a near name offered) is said whole, on its target's line
    own = "- openai:gpt-4o-mini skipped (policy 'production_models' forbids openai:gpt-4o-mini"
    assert lines[9].startswith(own), message
    assert "(did you mean 'gpt-4o-mini-2024-07-18'?)" in lines[9] and policy_file in lines[9], message
    fix = "the policies forbid every target routing gives skill.analysis: add one of them"
    assert lines[10].startswith(fix), message
    assert len(lines) == 11 and message.count(policy_file) == 2 and len(message) < 1400, message
    # every target and its whole refusal stay in the trace
    skipped = error.details["trace"]["skipped"]
    assert [s["target"] for s in skipped] == CHAIN.split(", ")
    assert all(s["reason"].startswith(f"policy 'production_models' forbids {s['target']} ") for s in skipped)


def test_one_target_refused_is_said_as_before(catalog_copy: Path, tmp_path: Path):
    """A refusal no other target shares keeps its one line (the pii route's one local model)."""
    from tests.governance_helpers import GUIDE_POLICY

    (catalog_copy / "policies" / "model_governance.yaml").write_text(GUIDE_POLICY)
    with Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env={}) as mg, pytest.raises(E.PolicyDenied) as refused:
        mg.skills.invoke("skill.pii-redaction", {"text": "John Smith, 555-0100"})
    message = refused.value.message
    assert "\n" not in message and message.startswith(
        "skill.pii-redaction: every target failed: local:llama3.1:70b skipped (policy 'production_models' forbids"
    ), message


def test_a_shared_price_refusal_does_not_tell_the_prices_file_an_entry_named_it(catalog_copy: Path, tmp_path: Path):
    """The guide's `MAGSAG_PROVIDER=compat` with no price for compat's models: every target of the route is refused by
    the call limit, sharing a refusal whose fix is a prices.yaml entry of the target's name. Said once, it told the
    reader to write ("it": {input: ..., output: ...}), an entry for a model named "it"."""
    env = {"MAGSAG_PROVIDER": "compat", "MAGSAG_COMPAT_BASE_URL": "http://127.0.0.1:9/v1"}
    with Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env=env) as mg, pytest.raises(E.BudgetExceeded) as refused:
        mg.skills.invoke("skill.analysis", {"data": "Q3"})
    message = refused.value.message
    lines = message.splitlines()
    chain = ["compat:gpt-4o", "compat:claude-3-5-sonnet-20241022", "compat:gemini-1.5-pro"]
    assert lines[1:4] == [f"- {target} skipped" for target in chain], message
    assert '"it"' not in message, message
    prices = str(catalog_copy / "prices.yaml")
    assert lines[4].startswith(
        f"  each: cost_limits: it has no known price, so a call limit of $1.0 cannot be guaranteed; add its price to "
        f'{prices} ("<each target>": {{input: ..., output: ...}}) or set allow_unpriced: true on cost_limits'
    ), message
