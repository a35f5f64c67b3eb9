"""The cascade's :class:`~magsag_mcp.cascade_guard.Guard` names every check the cascade asks of it: the policies'
verdict on a target (``allowed``), their refusal of a local target whose server was not reached
(``policies.unreached_refusal``) and a cost limit's whatever was spent (``spend_verdict``). They were read with
``getattr`` and the protocol lacked them: a guard without one had that check skipped, unsaid."""

from __future__ import annotations

import pytest

from magsag_mcp.cascade_guard import Guard
from magsag_mcp.governance import Governance
from magsag_mcp.governance.policy import PolicySet
from magsag_mcp.pricing import Pricer
from tests.cascade_helpers import NoPolicies, RefusesModel


class AdmitsOnly:
    """A guard of admissions alone: no policy check, no cost check, no policies."""

    async def admit(self, ctx):
        return object()

    async def settle(self, admission, actual_cost, bound=None) -> None: ...

    async def release(self, admission) -> None: ...

    def waiting(self, admission) -> None: ...


def test_a_guard_without_the_policy_and_cost_checks_is_no_guard():
    assert not isinstance(AdmitsOnly(), Guard)


CHECKS = ("allowed", "spend_verdict", "policies")


@pytest.mark.parametrize("missing", CHECKS)
def test_a_guard_lacking_any_one_check_is_no_guard(missing: str):
    checks = {name: vars(NoPolicies)[name] for name in CHECKS}
    assert isinstance(type("Whole", (AdmitsOnly,), checks)(), Guard)
    del checks[missing]
    assert not isinstance(type("Lacking", (AdmitsOnly,), checks)(), Guard)


def test_the_governance_and_the_test_guards_are_guards():
    governance = Governance(PolicySet([]), ledger=None, pricer=Pricer(), env={})
    assert isinstance(governance, Guard)
    assert isinstance(RefusesModel("b"), Guard)
