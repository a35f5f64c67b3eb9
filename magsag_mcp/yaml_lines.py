"""The line of a YAML file a value is written on, found by its place (``policies.0.thresholds.max_cost_per_run_usd``):
what a problem of a policy file names beside the file, ``FILE:LINE``, as a compiler's does, for an editor to open the
file there (a 200-line policy file, told ``policies.7.requirements.pii_processing.3``, was counted through by hand)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["YamlLines", "placed_on_its_line"]


class YamlLines:
    """The nodes of one YAML file, composed once (no value constructed: what :func:`~.catalog_yaml.read_yaml` read
    already), asked for the line of each place a problem names. A file that cannot be read or composed again (changed
    meanwhile) has no lines: its problems name the file alone, as they did."""

    __slots__ = ("path", "root")

    def __init__(self, path: Path) -> None:
        import yaml

        from .catalog_yaml import yaml_text

        self.path = path
        try:
            self.root: Any = yaml.compose(yaml_text(path), Loader=yaml.SafeLoader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            self.root = None

    def line(self, loc: Sequence[Any]) -> int | None:
        """The line (1 for the first) where ``loc`` is written: a mapping's key's, a list's item's; where the file
        has no such place (a key the value lacks, which pydantic says is missing), the line of the deepest that is."""
        import yaml

        node = self.root
        if node is None:
            return None
        line = node.start_mark.line
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                if (entry := _entry(node, str(part))) is None:
                    break
                line, node = entry[0].start_mark.line, entry[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line
            else:
                break
        return line + 1

    def where(self, loc: Sequence[Any]) -> str:
        """``FILE:LINE`` of ``loc``, or ``FILE`` where no line is known."""
        line = self.line(loc)
        return f"{self.path}:{line}" if line is not None else str(self.path)


_MERGE = "tag:yaml.org,2002:merge"


def _entry(node: Any, key: str) -> tuple[Any, Any] | None:
    """The key node and value node of ``key`` in mapping ``node``; where the mapping takes it from another by a merge
    (``<<: *base``, the mapping written once and reused), that one's, the line where the key is written (not the
    merging item's, where the user looked for it in vain). As YAML merges: a key of the mapping's own wins, then the
    merged mappings in their order."""
    import yaml

    merged: list[Any] = []
    for k, value in node.value:
        if isinstance(k, yaml.ScalarNode):
            if k.tag == _MERGE:
                merged.extend(value.value if isinstance(value, yaml.SequenceNode) else [value])
            elif k.value == key:
                return k, value
    for mapping in merged:
        if isinstance(mapping, yaml.MappingNode) and (found := _entry(mapping, key)) is not None:
            return found
    return None


def placed_on_its_line(place: str, read: dict[Path, YamlLines] | None = None) -> str:
    """A policy's place as :meth:`~.governance.policy.PolicySet.place` says it (``FILE: policies.0.allowed_models.1``)
    with its line (``FILE:12: policies.0.allowed_models.1``), for a problem the catalog's checks find; as it was where
    the file cannot be read again (a place whose file name was redacted). ``read``: the files' lines composed so far,
    kept by a caller placing many (a policy file copied whole, each of its names used twice: a file composed for
    each, twice, where once does)."""
    file, sep, dotted = place.partition(": ")
    if not sep or not dotted.startswith("policies"):
        return place
    path = Path(file)
    if not path.is_file():
        return place
    loc = [int(part) if part.isdigit() else part for part in dotted.split(".")]
    lines = read.get(path) if read is not None else None
    if lines is None:
        lines = YamlLines(path)
        if read is not None:
            read[path] = lines
    return f"{lines.where(loc)}: {dotted}"
