"""Adding entries to a YAML file as text, so that everything already in it stays as it
was written: its comments, quoting, flow lists and line breaks.

New entries go at the end of the block they belong to (after its last entry, before
the comments that introduce the next section), indented like the block's own entries.
A block written in flow style (``people: [...]``) cannot be extended this way and is
refused with a message saying so.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from tocsin.importers.http import ImportFailed

__all__ = ["dump", "extend", "yaml"]


def yaml() -> YAML:
    found = YAML(typ="rt")
    found.width = 4096
    found.indent(mapping=2, sequence=4, offset=2)
    return found


def dump(document: Any) -> str:
    buffer = io.StringIO()
    yaml().dump(document, buffer)
    return buffer.getvalue()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _quiet(line: str) -> bool:
    """Blank or only a comment."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _locate(text: str, path: tuple[str, ...]) -> tuple[int, int, Any] | None:
    """(line, column, value) of the key at ``path``, or ``None`` if it is not there."""
    node: Any = yaml().load(text)
    found: tuple[int, int, Any] | None = None
    for key in path:
        if not isinstance(node, CommentedMap) or key not in node:
            return None
        line, column = node.lc.key(key)
        node = node[key]
        found = (line, column, node)
    return found


def _block_end(lines: list[str], key_line: int, indent: int) -> int:
    end = key_line + 1
    while end < len(lines) and (
        _quiet(lines[end]) or _indent(lines[end]) > indent or lines[end][indent:].startswith("- ")
    ):
        end += 1
    while end - 1 > key_line and (
        not lines[end - 1].strip() or (_quiet(lines[end - 1]) and _indent(lines[end - 1]) <= indent)
    ):
        end -= 1
    return end


def _entries_text(items: list[Any] | dict[str, Any], indent: int) -> list[str]:
    rendered = dump({"x": items}).splitlines(keepends=True)[1:]
    shift = indent - _indent(rendered[0])
    if shift >= 0:
        return [" " * shift + line if line.strip() else line for line in rendered]
    return [line[-shift:] if line.strip() else line for line in rendered]


def extend(text: str, path: tuple[str, ...], items: list[Any] | dict[str, Any]) -> str:
    """``text`` with ``items`` (sequence entries or mapping keys) added at the end of
    the block at ``path``, which is created (at the end of its parent) if missing."""
    if not text.endswith("\n"):
        text += "\n"
    located = _locate(text, path)
    if located is None:
        if len(path) == 1:
            separator = "" if text.endswith("\n\n") or not text.strip() else "\n"
            return text + separator + dump({path[0]: items})
        return extend(text, path[:-1], {path[-1]: items})
    line, column, value = located
    lines = text.splitlines(keepends=True)
    after_key = lines[line][column:].split(":", 1)[-1].strip()
    flow = isinstance(value, CommentedSeq | CommentedMap) and value.fa.flow_style()
    if flow or after_key.startswith(("[", "{")):
        where = ".".join(path)
        raise ImportFailed(
            f"`{where}` is written in flow style ([...] or {{...}}); write it as a block "
            "(one entry a line) to merge into it"
        )
    end = _block_end(lines, line, column)
    first_entry = next((lines[i] for i in range(line + 1, end) if not _quiet(lines[i])), None)
    indent = _indent(first_entry) if first_entry is not None else column + 2
    return "".join(lines[:end] + _entries_text(items, indent) + lines[end:])
