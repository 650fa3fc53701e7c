"""YAML documents that remember the line of every key and item, for errors users can act on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class YamlDoc:
    filename: str
    data: Any
    lines: Mapping[Path_, int]
    duplicates: tuple[tuple[Path_, int], ...] = field(default=())

    def line(self, *path: Any) -> int:
        """The line of the longest known prefix of `path` (1 for the document itself)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return 1

    def where(self, *path: Any) -> str:
        return f"{self.filename}:{self.line(*path)}"


class YamlError(Exception):
    """Not valid YAML (or unreadable): the message names file and line."""


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, filename: str) -> YamlDoc:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        raise YamlError(
            f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"
        ) from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    duplicates: list[tuple[Path_, int]] = []

    def walk(n: yaml.Node, path: Path_) -> None:
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            seen: set[Any] = set()
            for key, value in n.value:
                child = (*path, key.value)
                if key.value in seen:
                    duplicates.append((child, key.start_mark.line + 1))
                seen.add(key.value)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    if node is not None:
        walk(node, ())
    return YamlDoc(filename, data, lines, tuple(duplicates))


def read_yaml(path: Path) -> YamlDoc:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_yaml(text, str(path))
