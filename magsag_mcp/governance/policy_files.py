"""Reading the catalog's policy files (``catalog/policies/*.yaml``) and one given to ``flow gate --policy``: each
file's policies checked as :class:`~.policy.PolicyFile` says, every problem named with its file and place (a policy
name used twice named at both), an empty file a problem rather than a catalog without governance."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ..errors import CatalogError, ConfigError, redact
from .policy import PolicySet
from .policy_models import Policy, PolicyFile
from .policy_problems import policy_problems

if TYPE_CHECKING:
    from ..yaml_lines import YamlLines


def _files(catalog_dir: Path, problems: list[str]) -> list[Path]:
    """The policy files, each ``policies/*.yaml`` (a catalog with no ``policies`` has no governance). A ``policies``
    that is there but no folder (a file, a link to a mount that is not there), and a policy file in a folder under it,
    which is not read, are problems: passed over, their limits and allowed models were gone without a word."""
    # (as _read: the YAML reader is imported where a catalog is read)
    from ..catalog_yaml import catalog_file_to_read, catalog_yaml_file

    folder = catalog_dir / "policies"
    if not folder.is_dir():
        if folder.is_symlink() and not folder.exists():
            problems.append(
                f"{folder}: policies is a link to nothing ({os.readlink(folder)}), so no policy is read and no model "
                "or budget would be governed; mount or restore the folder it points to, or remove the link for a "
                "catalog without governance"
            )
        elif folder.exists():
            problems.append(
                f"{folder}: policies is a file, not a folder, so no policy is read and no model or budget would be "
                "governed; make it a folder holding the policy files (policies/model_governance.yaml)"
            )
        return []
    nested = sorted(
        p
        for sub in folder.iterdir()
        if sub.is_dir() and not sub.name.startswith(".")
        for p in sub.rglob("*")
        if catalog_yaml_file(p) and p.is_file()
    )
    problems.extend(
        f"{p}: policies/{p.relative_to(folder).as_posix()} is not read: only the files directly in policies/ are; "
        f"move it to {folder / p.name}, or out of the catalog if it is no policy in force"
        for p in nested
    )
    # Policy.YAML is a policy file too (a Windows editor's name for it): skipped, its limits would be gone unsaid; an
    # editor's lock beside one is none (see catalog_file_to_read, which reads a policy file that is a link to nothing,
    # said as one, where passed over its limits would be gone unsaid).
    return sorted(p for p in folder.iterdir() if catalog_file_to_read(p))


#: what a policy file must hold, for the message about an empty one
_NEEDS = "a policy file holds `policies:`, a list of policies (`policies: []` for none)"


def _read(path: Path, env: Mapping[str, str], problems: list[str]) -> list[Policy] | None:
    """One policy file's policies, or None with its problems appended. An empty (or comments-only) file
    is a problem, as for skills and routing: loaded as no policies, it would drop every limit unseen."""
    from ..catalog_yaml import read_yaml, yaml_kind

    before = len(problems)
    data = read_yaml(path, env, problems)
    if len(problems) > before:
        return None
    if data is None:
        problems.append(f"{path}: the file is empty; {_NEEDS}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: the file holds {yaml_kind(data)}, not a mapping; {_NEEDS}")
        return None
    if "policies" not in data and _not_policies(path, data, problems):
        return None
    try:
        return PolicyFile.model_validate(data).policies
    except ValidationError as exc:
        from ..yaml_lines import YamlLines

        problems.extend(policy_problems(exc, file=YamlLines(path)))
        return None


def _not_policies(path: Path, data: dict[str, object], problems: list[str]) -> bool:
    """A file with no ``policies:`` that is some other file, or a policy written without its list: said as such (and
    True), where pydantic listed "policies: Field required" and each key the file has as not permitted. Given to
    ``flow gate --policy``, the summary itself (the two files swapped) or a routing file read so, with no word of it."""
    keys = [str(key) for key in data]
    if "model_stats" in data or "totals" in data:
        problems.append(
            f"{path}: the file is a usage summary (model_stats, totals: what `magsag flow summarize` writes), not a "
            f"policy file; {_NEEDS}: give the summary as the gate's first argument and the policy file as --policy "
            "(`magsag flow gate SUMMARY.json --policy POLICY.yaml`)"
        )
        return True
    policy_keys = [key for key in keys if key in Policy.model_fields]
    if "name" in policy_keys:
        problems.append(
            f"{path}: the file holds one policy's keys ({', '.join(policy_keys)}) at its top; {_NEEDS}: indent them "
            "as an item of the list, under `policies:` and `  - name: ...`"
        )
        return True
    if not policy_keys and any(key in data for key in ("routes", "default", "tiers", "provider_defaults")):
        problems.append(f"{path}: the file is a routing file (it holds {', '.join(keys)}), not a policy file; {_NEEDS}")
        return True
    return False


def _place(path: Path, read: list[Policy], places: dict[str, str], problems: list[str]) -> None:
    """Each policy's place (``FILE: policies.N``) added to ``places``; a name already placed (in this file or an
    earlier one) is a problem naming both places."""
    # redacted: the place is said in results (explain's and check_budget's reasons), not only in errors, which redact
    # what they say; a folder named by a credential (a CI checkout named by its token) was said there as it was
    file = redact(str(path))
    lines: dict[Path, YamlLines] = {}  # (each file a problem names, composed once)
    for i, policy in enumerate(read):
        here = f"{file}: policies.{i}"
        if policy.name in places:
            from ..yaml_lines import placed_on_its_line  # (a problem's: with the line each is written on)

            problems.append(
                f"{placed_on_its_line(f'{here}.name', lines)}: policy name {policy.name!r} is also used in "
                f"{placed_on_its_line(places[policy.name], lines)}; "
                "give each policy a name of its own (a denial or a limit names the policy that set it)"
            )
        places.setdefault(policy.name, here)


def _load(
    catalog_dir: Path, env: Mapping[str, str] | None
) -> tuple[list[Policy], list[str], list[str], dict[str, str]]:
    """The catalog's policies, with ``${VAR}`` expanded from ``env`` (the environment the catalog's
    skills and routing are read with; ``os.environ`` when None), their files, problems and places."""
    env = os.environ if env is None else env
    problems: list[str] = []
    policies: list[Policy] = []
    sources: list[str] = []
    places: dict[str, str] = {}  # policy name -> where it is first written
    for path in _files(catalog_dir, problems):
        read = _read(path, env, problems)
        if read is None:
            continue
        _place(path, read, places, problems)
        policies.extend(read)
        sources.append(str(path))
    return policies, sources, problems, places


def load_policy_file(path: str | os.PathLike[str]) -> PolicySet:
    """One policy file (``flow gate --policy FILE``), checked as the catalog's policy files are."""
    path = Path(path)
    problems: list[str] = []
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise CatalogError(
            f"policy file {path} {what}; give --policy a YAML file of policies, as in a catalog's policies/ folder"
            + _policies_in_use()
        )
    policies = _read(path, os.environ, problems)
    places: dict[str, str] = {}
    if policies is not None:
        _place(path, policies, places, problems)  # a name used twice, named at both places
    if policies is None or problems:
        raise CatalogError("; ".join(problems), problems=problems)
    return PolicySet(policies, [str(path)], places)


def _policies_in_use() -> str:
    """Where the catalog magsag uses keeps its policy files: the guide's ``--policy
    catalog/policies/model_governance.yaml`` names none where no ./catalog is (an installed magsag)."""
    from ..catalog import find_catalog
    from ..catalog_yaml import catalog_yaml_file

    try:
        root = find_catalog()
    except ConfigError:
        return ""
    try:
        files = sorted(p for p in (root / "policies").iterdir() if catalog_yaml_file(p) and p.is_file())
    except OSError:  # (no policies folder, or one that cannot be listed: none named)
        files = []
    return f" (the catalog in use ({root}) has: {', '.join(str(p) for p in files)})" if files else ""


def load_policies(catalog_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> PolicySet:
    policies, sources, problems, places = _load(Path(catalog_dir), env)
    if problems:
        raise CatalogError("invalid governance policy:\n  " + "\n  ".join(problems), problems=problems)
    return PolicySet(policies, sources, places)


def validate_policies(catalog_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> list[str]:
    return _load(Path(catalog_dir), env)[2]
