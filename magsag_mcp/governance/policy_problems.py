"""What is wrong with a policy, one line for each of pydantic's errors, in the words a policy file's problems are said
in (its place, what was written, the fix): for a file's policies (:mod:`.policy_files`) and for a
:class:`~.policy_models.Policy` or :class:`~.policy_models.Thresholds` built in Python, which raised pydantic's own
``ValidationError`` ("Input should be greater than 0 [type=greater_than, input_value=-5, ...] For further
information visit https://errors.pydantic.dev/...") where the same policy in a file was told its fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import ConfigError
from ..exact_money import amount_problem
from .policy_keys import unknown_key

if TYPE_CHECKING:
    from ..yaml_lines import YamlLines


class InvalidPolicy(ConfigError, ValueError):
    """A :class:`~.policy_models.Policy` or :class:`~.policy_models.Thresholds` built in Python with a problem; its
    ``details["problems"]`` lists each, said as a policy file's is. A ValueError still, as pydantic's error was: code
    that caught that catches this."""


def policy_problems(exc: ValidationError, at: Sequence[Any] = (), file: YamlLines | None = None) -> list[str]:
    """Each of ``exc``'s errors as ``PLACE: MESSAGE``, its place where it was found (``policies.0.thresholds`` in a
    file, ``thresholds.max_cost_per_run_usd`` in a Policy); ``at``: where that place is in a policy file
    (``("policies", 0)`` for a Policy's), so that a misspelt key is told the keys of its level. Read from ``file``:
    ``FILE:LINE: PLACE: MESSAGE``, the line the place is written on."""
    from ..suggest import unknown_field, value_fix, wrong_shape
    from .policy_models import PolicyFile

    said = []
    for err in exc.errors():
        loc = (*at, *err["loc"])
        msg = wrong_shape(loc, err["type"], err["msg"].removeprefix("Value error, "))
        if "thresholds" in loc:
            msg = amount_problem(err, "USD") or msg + value_fix(err)
        else:
            msg += value_fix(err)
        if err["type"] == "extra_forbidden":
            # a misspelt key: the one meant, and the ones there are; or a rule magsag keeps in another form (a list of
            # forbidden models, a monthly limit), whose nearest key would put another rule in force
            msg = unknown_key(loc, msg, lambda loc: unknown_field(PolicyFile, loc))
        place = ".".join(str(x) for x in err["loc"])
        said.append(f"{place}: {msg}" if place else msg)
        if file is not None:
            said[-1] = f"{file.where(err['loc'])}: {said[-1]}"
    return said


def built_in_python(model: str, name: object, exc: ValidationError, at: Sequence[Any]) -> InvalidPolicy:
    """The error a ``model`` (``Policy``, ``Thresholds``) built in Python with ``exc``'s problems raises: each said as
    in a policy file, the policy named where it has a name."""
    problems = policy_problems(exc, at)
    named = f" {name!r}" if isinstance(name, str) and name else ""
    return InvalidPolicy(f"invalid {model}{named}: " + "; ".join(problems), problems=problems)
